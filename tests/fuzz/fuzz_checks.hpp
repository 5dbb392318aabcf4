// The bodies of the fuzz targets, shared by the libFuzzer executables (tests/fuzz/fuzz_*.cpp) and
// by the unit test that replays tests/fuzz/regressions/ (tests/unit/parse_differential.cpp). A
// failed check prints a message and aborts, so libFuzzer records the input as a crash; the unit
// test sets st_fuzz::on_failure to a handler that throws instead, so that a failing input is one
// failed test case and the test cases after it still run.
#ifndef SAFETENSORS_TESTS_FUZZ_FUZZ_CHECKS_HPP
#define SAFETENSORS_TESTS_FUZZ_FUZZ_CHECKS_HPP

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reference_checker.hpp"

namespace st_fuzz {
namespace st = safetensors;

// What a failed check does before it aborts: nothing when null (the fuzz targets); a handler that
// does not return (throws) replaces the abort.
inline void (*on_failure)(const std::string& message) = nullptr;

[[noreturn]] inline void die(const char* what, const std::string& detail) {
  if (on_failure != nullptr) on_failure(std::string(what) + ": " + detail);
  std::fprintf(stderr, "st_fuzz: %s: %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

#define ST_FUZZ_REQUIRE(cond, detail)             \
  do {                                            \
    if (!(cond)) ::st_fuzz::die(#cond, (detail)); \
  } while (0)

// Written after every touch, so the reads cannot be optimized away.
inline volatile std::uint64_t touch_sink = 0;

// Sums every byte, so that ASan sees each one read; the result is used so it is not elided.
inline std::uint64_t touch(st::span<const std::byte> b) {
  std::uint64_t sum = 0;
  for (const std::byte x : b) sum = sum * 31 + std::to_integer<std::uint64_t>(x);
  return sum;
}

// Element views of the tensor's dtype, when a C++ type maps to it: decode every element.
inline std::uint64_t touch_typed(const st::tensor_view& v) {
  std::uint64_t sum = 0;
  auto add = [&sum](auto view_result) {
    ST_FUZZ_REQUIRE(view_result.has_value(), "as<T>() refused the tensor's own dtype");
    const auto& ev = *view_result;
    for (std::size_t i = 0; i < ev.size(); ++i) {
      const auto x = ev[i];
      unsigned char raw[sizeof(x)];
      std::memcpy(raw, &x, sizeof(x));
      sum += raw[0];
    }
  };
  switch (v.dtype()) {
    case st::dtype::BOOL:
      add(v.as<bool>());
      break;
    case st::dtype::U8:
      add(v.as<std::uint8_t>());
      break;
    case st::dtype::I8:
      add(v.as<std::int8_t>());
      break;
    case st::dtype::I16:
      add(v.as<std::int16_t>());
      break;
    case st::dtype::U16:
      add(v.as<std::uint16_t>());
      break;
    case st::dtype::I32:
      add(v.as<std::int32_t>());
      break;
    case st::dtype::U32:
      add(v.as<std::uint32_t>());
      break;
    case st::dtype::F32:
      add(v.as<float>());
      break;
    case st::dtype::F64:
      add(v.as<double>());
      break;
    case st::dtype::C64:
      add(v.as<std::complex<float>>());
      break;
    case st::dtype::I64:
      add(v.as<std::int64_t>());
      break;
    case st::dtype::U64:
      add(v.as<std::uint64_t>());
      break;
    default:
      break;
  }
  return sum;
}

// The library's table and the checker's must be identical.
inline void require_same_table(const st::header& h, const st_ref::verdict& want) {
  ST_FUZZ_REQUIRE(h.header_size() == want.header_size, "header_size");
  ST_FUZZ_REQUIRE(h.data_size() == want.data_size, "data_size");
  ST_FUZZ_REQUIRE(h.size() == want.tensors.size(), "tensor count");
  ST_FUZZ_REQUIRE(h.metadata().has_value() == want.metadata.has_value(), "metadata presence");
  if (want.metadata) {
    ST_FUZZ_REQUIRE(h.metadata()->size() == want.metadata->size(), "metadata size");
    for (const auto& [k, v] : *want.metadata) {
      const auto it = h.metadata()->find(k);
      ST_FUZZ_REQUIRE(it != h.metadata()->end() && it->second == v, "metadata entry " + k);
    }
  }
  std::size_t i = 0;
  for (const st::tensor_info t : h.tensors()) {
    const st_ref::tensor& w = want.tensors[i++];
    ST_FUZZ_REQUIRE(t.name() == w.name, "name");
    ST_FUZZ_REQUIRE(st::to_string(t.dtype()) == w.dtype, "dtype of " + w.name);
    ST_FUZZ_REQUIRE(std::vector<std::uint64_t>(t.shape().begin(), t.shape().end()) == w.shape,
                    "shape of " + w.name);
    ST_FUZZ_REQUIRE(t.offsets().begin == w.begin && t.offsets().end == w.end,
                    "offsets of " + w.name);
  }
}

// Every invariant of an accepted file, and every byte touched through the views.
inline void require_invariants(const st::file_view& f, const std::uint8_t* data, std::size_t size,
                               bool trailing_allowed) {
  const st::header& h = f.header();
  ST_FUZZ_REQUIRE(h.data_offset() == 8 + h.header_size(), "data_offset");
  ST_FUZZ_REQUIRE(trailing_allowed ? h.file_size() <= size : h.file_size() == size, "file_size");
  ST_FUZZ_REQUIRE(f.data().size() == h.data_size(), "data() size");
  ST_FUZZ_REQUIRE(f.data().size() == 0 ||
                      f.data().data() == reinterpret_cast<const std::byte*>(data) + h.data_offset(),
                  "data() address");
  std::uint64_t covered = 0;
  std::uint64_t sum = 0;
  for (const st::tensor_info t : h.tensors()) {
    ST_FUZZ_REQUIRE(t.offsets().begin == covered, "coverage: gap or overlap");
    ST_FUZZ_REQUIRE(t.offsets().end >= t.offsets().begin, "reversed range");
    ST_FUZZ_REQUIRE(t.offsets().end <= h.data_size(), "range past the data");
    covered = t.offsets().end;
    st_ref::u128 elements = 1;
    for (const std::uint64_t d : t.shape()) elements *= d;
    ST_FUZZ_REQUIRE(elements == t.element_count(), "element_count");
    ST_FUZZ_REQUIRE(
        elements * st::bit_size(t.dtype()) == static_cast<st_ref::u128>(t.byte_size()) * 8,
        "byte size != dtype x shape");
    const st::tensor_view v = f.tensor(t);
    ST_FUZZ_REQUIRE(v.byte_size() == t.byte_size(), "view size");
    sum += touch(v.bytes()) + touch_typed(v);
    const auto found = f.tensor(t.name());
    ST_FUZZ_REQUIRE(found && found->data() == v.data() && found->byte_size() == v.byte_size(),
                    "tensor(name) disagrees with tensors()");
    const auto info = f.find(t.name());
    ST_FUZZ_REQUIRE(info && info->offsets().begin == t.offsets().begin &&
                        info->offsets().end == t.offsets().end && f.contains(t.name()),
                    "find() disagrees with tensors()");
    ST_FUZZ_REQUIRE(h.contains(t.name()), "contains()");
  }
  ST_FUZZ_REQUIRE(covered == h.data_size(), "coverage: data_size");
  std::string previous_name;
  bool first = true;
  for (const st::tensor_info t : h.tensors_by_name()) {
    ST_FUZZ_REQUIRE(first || previous_name < t.name(), "tensors_by_name order");
    previous_name = std::string(t.name());
    first = false;
  }
  ST_FUZZ_REQUIRE(!f.find("\xff not a name: invalid UTF-8 never parses").has_value(),
                  "find() of an impossible name");
  touch_sink = sum;
}

inline st_ref::options to_ref(const st::parse_options& o) {
  st_ref::options r;
  r.max_header_size = o.max_header_size;
  r.allow_trailing_bytes = o.allow_trailing_bytes;
  return r;
}

inline void require_agreement(const std::uint8_t* data, std::size_t size,
                              const st::parse_options& opts) {
  const st_ref::verdict want = st_ref::check(data, size, to_ref(opts));
  const auto got =
      st::parse(st::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), opts);
  if (got.has_value() != want.ok) {
    die("verdict differs", got ? "library accepts, checker says " + want.error
                               : "library says " + got.error().to_string() + ", checker accepts");
  }
  if (!got) {
    if (got.error().name() != want.error) {
      die("error name differs", "library " + got.error().to_string() + ", checker " + want.error);
    }
    return;
  }
  require_same_table(got->header(), want);
  require_invariants(*got, data, size, opts.allow_trailing_bytes);
}

/// Target 1: parse from a buffer, compare with the checker, check the invariants; also with a
/// header limit and the trailing-bytes option taken from the input.
inline void check_parse(const std::uint8_t* data, std::size_t size) {
  // A copy, so the library sees exactly `size` bytes in their own heap block (ASan bounds).
  const std::vector<std::uint8_t> copy(data, data + size);
  require_agreement(copy.empty() ? nullptr : copy.data(), copy.size(), {});
  st::parse_options opts;
  opts.allow_trailing_bytes = true;
  opts.max_header_size = size == 0 ? 0 : static_cast<std::uint64_t>(data[size - 1]) * 4;
  require_agreement(copy.empty() ? nullptr : copy.data(), copy.size(), opts);
}

/// The tokens of one JSON parse as text, one line each ("k3:abc" for the key "abc"), from the
/// calls both the library's detail::json_sax_parse and nlohmann's sax_parse make, so that the
/// two readers can be compared token by token. Nesting deeper than the library reader's limit
/// stops the parse, as the library's reader does.
struct json_tokens {
  std::string lines;
  std::size_t depth = 0;
  bool failed = false;

  bool add(char kind, std::string_view text) {
    lines += kind;
    lines += std::to_string(text.size());
    lines += ':';
    lines.append(text.data(), text.size());
    lines += '\n';
    return true;
  }
  bool null() { return add('n', ""); }
  bool boolean(bool v) { return add(v ? 't' : 'f', ""); }
  bool number_integer(std::int64_t v) { return add('i', std::to_string(v)); }
  bool number_unsigned(std::uint64_t v) { return add('u', std::to_string(v)); }
  bool number_float(double v, const std::string& text) {
    char bits[64];
    std::snprintf(bits, sizeof bits, " %a", v);  // the exact value
    return add('d', text + bits);
  }
  bool string(std::string& v) { return add('s', v); }
  bool key(std::string& v) { return add('k', v); }
  bool binary(nlohmann::json::binary_t& /*unused*/) { return add('b', ""); }
  bool open(char kind) {
    if (depth == st::detail::json_reader::max_depth) return false;
    ++depth;
    return add(kind, "");
  }
  bool start_object(std::size_t /*unused*/ = 0) { return open('{'); }
  bool start_array(std::size_t /*unused*/ = 0) { return open('['); }
  bool end_object() {
    --depth;
    return add('}', "");
  }
  bool end_array() {
    --depth;
    return add(']', "");
  }
  bool parse_error(std::size_t /*unused*/, const std::string& /*unused*/) {
    failed = true;
    return false;
  }
  template <class Exception>
  bool parse_error(std::size_t /*unused*/, const std::string& /*unused*/, const Exception&) {
    failed = true;
    return false;
  }
};

/// Target 5: the library's JSON reader against nlohmann's parser on the same text: the same
/// verdict and the same tokens (every key and string decoded, every number classified and
/// valued alike), up to the first error. Differences by design: a byte order mark at the start
/// (nlohmann skips it, the reader refuses it), a NUL byte (nlohmann's lexer takes it for the end
/// of the input; here the reference sees 0x01 instead, which is invalid wherever NUL is), nesting
/// deeper than json_reader::max_depth. Then the text as a safetensors header (with no data):
/// the library and the reference checker agree (verdict, error name, table).
inline void check_json(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> copy(reinterpret_cast<const char*>(data),
                               reinterpret_cast<const char*>(data) + size);
  const char* const first = copy.data();
  json_tokens got;
  const bool ok = st::detail::json_sax_parse(first, first + copy.size(), got);
  ST_FUZZ_REQUIRE(ok != got.failed, "json_sax_parse's result and its parse_error disagree");
  if (size >= 3 && std::memcmp(first, "\xEF\xBB\xBF", 3) == 0) {
    ST_FUZZ_REQUIRE(!ok && got.lines.empty(), "a byte order mark accepted");
  } else {
    std::vector<char> ref = copy;
    for (char& c : ref) {
      if (c == '\0') c = '\x01';
    }
    json_tokens want;
    const bool want_ok = nlohmann::json::sax_parse(ref.begin(), ref.end(), &want,
                                                   nlohmann::json::input_format_t::json, true);
    const bool too_deep = !want_ok && !want.failed;  // only open() stops nlohmann's parse
    ST_FUZZ_REQUIRE(ok == want_ok, std::string("verdict differs: the library ") +
                                       (ok ? "accepts" : "refuses") + ", nlohmann " +
                                       (want_ok    ? "accepts"
                                        : too_deep ? "nests too deep"
                                                   : "refuses"));
    ST_FUZZ_REQUIRE(got.lines == want.lines,
                    "tokens differ:\nlibrary:\n" + got.lines + "nlohmann:\n" + want.lines);
  }
  std::vector<std::uint8_t> file(8 + size);
  for (std::size_t i = 0; i < 8; ++i) {
    file[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(size) >> (8 * i));
  }
  if (size != 0) std::memcpy(file.data() + 8, data, size);
  require_agreement(file.data(), file.size(), {});
}

/// Target 3: the same bytes through a file: the mapped file and the pread reader agree with the
/// buffer parser (same verdict and code; same table; same tensor bytes).
inline void check_files(const std::uint8_t* data, std::size_t size,
                        const std::filesystem::path& path) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (size != 0)
      out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    ST_FUZZ_REQUIRE(!out.fail(), "cannot write the temporary file " + path.string());
  }
  const std::vector<std::uint8_t> copy(data, data + size);
  const auto buffer = st::parse(st::span<const std::byte>(
      reinterpret_cast<const std::byte*>(copy.empty() ? nullptr : copy.data()), copy.size()));
  const auto mapped = st::mapped_file::open(path);
  const auto reader = st::source_reader::open(path);
  for (const st::error* e :
       {mapped ? nullptr : &mapped.error(), reader ? nullptr : &reader.error()}) {
    if (e == nullptr) continue;
    ST_FUZZ_REQUIRE(!buffer.has_value(),
                    "a file path fails where the buffer parses: " + e->to_string());
    ST_FUZZ_REQUIRE(
        e->code() == buffer.error().code(),
        "codes differ: file " + e->to_string() + ", buffer " + buffer.error().to_string());
  }
  if (!buffer) {
    ST_FUZZ_REQUIRE(!mapped && !reader,
                    "a file path parses where the buffer fails: " + buffer.error().to_string());
    return;
  }
  ST_FUZZ_REQUIRE(mapped && reader, "file paths failed");
  const st::header& h = buffer->header();
  ST_FUZZ_REQUIRE(mapped->header().size() == h.size() && reader->header().size() == h.size(),
                  "tensor counts differ");
  ST_FUZZ_REQUIRE(mapped->metadata() == h.metadata() && reader->header().metadata() == h.metadata(),
                  "metadata differs");
  ST_FUZZ_REQUIRE(mapped->header().header_size() == h.header_size() &&
                      reader->header().data_size() == h.data_size(),
                  "sizes differ");
  std::vector<std::byte> scratch;
  for (const st::tensor_info t : h.tensors()) {
    const auto bv = buffer->tensor(t);
    const auto mv = mapped->tensor(t.name());
    const auto ri = reader->header().find(t.name());
    ST_FUZZ_REQUIRE(mv && ri, "tensor missing from a file path");
    ST_FUZZ_REQUIRE(mv->dtype() == t.dtype() && ri->dtype() == t.dtype(), "dtype differs");
    ST_FUZZ_REQUIRE(
        mv->info().offsets().begin == t.offsets().begin && ri->offsets().end == t.offsets().end,
        "offsets differ");
    ST_FUZZ_REQUIRE(mv->byte_size() == bv.byte_size(), "mapped size differs");
    ST_FUZZ_REQUIRE(bv.byte_size() == 0 || std::memcmp(mv->data(), bv.data(), bv.byte_size()) == 0,
                    "mapped bytes differ");
    scratch.assign(bv.byte_size() + 1, std::byte{0x5A});
    const auto r = reader->read_into(*ri, st::span<std::byte>(scratch));
    ST_FUZZ_REQUIRE(r.has_value(),
                    "read_into failed: " + (r ? std::string() : r.error().to_string()));
    ST_FUZZ_REQUIRE(
        bv.byte_size() == 0 || std::memcmp(scratch.data(), bv.data(), bv.byte_size()) == 0,
        "pread bytes differ");
    ST_FUZZ_REQUIRE(scratch.back() == std::byte{0x5A}, "read_into wrote past the tensor");
    if (bv.byte_size() > 0) {
      const auto small =
          reader->read_into(*ri, st::span<std::byte>(scratch.data(), bv.byte_size() - 1));
      ST_FUZZ_REQUIRE(!small && small.error().code() == st::errc::invalid_argument,
                      "read_into accepted a short buffer");
    }
  }
}

/// Target 2: parse, rewrite with the writer, parse again: same table and bytes; a second
/// rewrite is byte-identical to the first.
inline void check_roundtrip(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> copy(data, data + size);
  const auto f = st::parse(st::span<const std::byte>(
      reinterpret_cast<const std::byte*>(copy.empty() ? nullptr : copy.data()), copy.size()));
  if (!f) return;
  std::vector<st::tensor_spec> specs;
  for (const st::tensor_info t : f->tensors()) specs.push_back(st::to_spec(f->tensor(t)));
  const auto first = st::serialize(specs, f->metadata());
  ST_FUZZ_REQUIRE(first.has_value(), "the writer refused a parsed file: " +
                                         (first ? std::string() : first.error().to_string()));
  const auto g = st::parse(*first);
  ST_FUZZ_REQUIRE(g.has_value(),
                  "the rewrite does not parse: " + (g ? std::string() : g.error().to_string()));
  ST_FUZZ_REQUIRE(g->header().size() == f->header().size(), "tensor count changed");
  ST_FUZZ_REQUIRE(g->metadata() == f->metadata(), "metadata changed");
  ST_FUZZ_REQUIRE(g->header().data_offset() % 8 == 0, "the rewrite's data is not 8-aligned");
  for (const st::tensor_info t : f->tensors()) {
    const auto a = f->tensor(t);
    const auto b = g->tensor(t.name());
    ST_FUZZ_REQUIRE(b.has_value(), "tensor lost");
    ST_FUZZ_REQUIRE(b->dtype() == a.dtype(), "dtype changed");
    ST_FUZZ_REQUIRE(std::vector<std::uint64_t>(b->shape().begin(), b->shape().end()) ==
                        std::vector<std::uint64_t>(a.shape().begin(), a.shape().end()),
                    "shape changed");
    ST_FUZZ_REQUIRE(
        b->byte_size() == a.byte_size() &&
            (a.byte_size() == 0 || std::memcmp(a.data(), b->data(), a.byte_size()) == 0),
        "bytes changed");
  }
  // The checker agrees with the rewrite too.
  const auto& bytes = *first;
  const auto want =
      st_ref::check(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  ST_FUZZ_REQUIRE(want.ok, "the checker rejects the rewrite: " + want.error);
  std::vector<st::tensor_spec> specs2;
  for (const st::tensor_info t : g->tensors()) specs2.push_back(st::to_spec(g->tensor(t)));
  const auto second = st::serialize(specs2, g->metadata());
  ST_FUZZ_REQUIRE(second.has_value() && *second == *first, "the second rewrite differs");
}

/// Target 4: the sharded-checkpoint index parser (parse_index) and formatter (format_index).
/// Errors are the index's codes with a message; an accepted index agrees with nlohmann's DOM
/// (same weight_map size and shard names) and keeps its invariants (weight_map sorted and unique,
/// shard positions in range, shards sorted, distinct, used and plain file names; find() finds
/// every entry); format_index reparses to the same index and is a fixed point; checkpoint::open
/// accepts it (nothing is opened: shards are lazy).
inline void check_index(const std::uint8_t* data, std::size_t size) {
  // A copy in its own heap block of exactly `size` bytes (ASan bounds), as in check_parse.
  const std::vector<char> copy(reinterpret_cast<const char*>(data),
                               reinterpret_cast<const char*>(data) + size);
  const std::string_view text(copy.data(), copy.size());
  auto idx = st::parse_index(text);
  if (!idx) {
    const st::errc c = idx.error().code();
    ST_FUZZ_REQUIRE(c == st::errc::invalid_header_deserialization || c == st::errc::duplicate_key,
                    idx.error().to_string());
    ST_FUZZ_REQUIRE(!idx.error().message().empty(), "empty message");
    return;
  }
  // nlohmann's DOM accepts what we accept (we are stricter: duplicates, depth, BOM, NUL).
  const auto dom = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  ST_FUZZ_REQUIRE(!dom.is_discarded() && dom.is_object(), "accepted, but not a JSON object");
  const auto wm = dom.find("weight_map");
  ST_FUZZ_REQUIRE(wm != dom.end() && wm->is_object(), "accepted without a weight_map object");
  ST_FUZZ_REQUIRE(wm->size() == idx->weight_map.size(), "weight_map size differs from the DOM");
  const auto md = dom.find("metadata");
  ST_FUZZ_REQUIRE(*idx->metadata == (md == dom.end() ? nlohmann::json() : *md),
                  "metadata differs from the DOM");

  const auto& map = idx->weight_map;
  for (std::size_t i = 0; i < map.size(); ++i) {
    ST_FUZZ_REQUIRE(map[i].shard < idx->shards.size(), "shard position out of range");
    if (i > 0) {
      ST_FUZZ_REQUIRE(map[i - 1].name < map[i].name, "weight_map not sorted and unique");
    }
    const auto found = idx->find(map[i].name);
    ST_FUZZ_REQUIRE(found && *found == map[i].shard, "find() misses an entry");
    const auto it = wm->find(map[i].name);
    ST_FUZZ_REQUIRE(it != wm->end() && it->is_string() &&
                        *it->get_ptr<const std::string*>() == idx->shards[map[i].shard],
                    "the shard name differs from the DOM");
  }
  std::vector<bool> used(idx->shards.size(), false);
  for (const auto& e : map) used[e.shard] = true;
  for (std::size_t i = 0; i < idx->shards.size(); ++i) {
    const std::string& s = idx->shards[i];
    ST_FUZZ_REQUIRE(used[i], "an unused shard");
    if (i > 0) ST_FUZZ_REQUIRE(idx->shards[i - 1] < s, "shards not sorted and distinct");
    ST_FUZZ_REQUIRE(!s.empty() && s != "." && s != "..", "a directory shard name: " + s);
    ST_FUZZ_REQUIRE(s.find_first_of(std::string_view("/\\:\0", 4)) == std::string::npos,
                    "a shard name with a separator: " + s);
  }
  ST_FUZZ_REQUIRE(idx->metadata->is_null() || idx->metadata->is_object(), "metadata type");
  (void)idx->total_size();

  // format -> parse is the identity, and format is a fixed point.
  const auto same = [](const st::shard_index& a, const st::shard_index& b) {
    if (a.metadata != b.metadata || a.shards != b.shards) return false;
    if (a.weight_map.size() != b.weight_map.size()) return false;
    for (std::size_t i = 0; i < a.weight_map.size(); ++i) {
      if (a.weight_map[i].name != b.weight_map[i].name ||
          a.weight_map[i].shard != b.weight_map[i].shard) {
        return false;
      }
    }
    return true;
  };
  auto text2 = st::format_index(*idx);
  ST_FUZZ_REQUIRE(text2.has_value(), text2.error().to_string());
  auto idx2 = st::parse_index(*text2);
  ST_FUZZ_REQUIRE(idx2.has_value(), idx2.error().to_string() + "\n" + *text2);
  ST_FUZZ_REQUIRE(same(*idx, *idx2), "format -> parse changed the index:\n" + *text2);
  auto text3 = st::format_index(*idx2);
  ST_FUZZ_REQUIRE(text3.has_value() && *text3 == *text2, "format is not a fixed point");

  // A checkpoint over it: names are checked again, nothing is opened.
  const std::size_t tensors = idx->weight_map.size();
  const std::size_t shards = idx->shards.size();
  auto ckpt = st::checkpoint::open(std::move(*idx), "/nonexistent-fuzz-dir");
  ST_FUZZ_REQUIRE(ckpt.has_value(), ckpt.error().to_string());
  ST_FUZZ_REQUIRE(ckpt->size() == tensors && ckpt->shard_count() == shards, "checkpoint sizes");
  if (tensors > 0) {
    ST_FUZZ_REQUIRE(ckpt->contains(ckpt->entries().front().name), "contains()");
  }
}

}  // namespace st_fuzz

#endif  // SAFETENSORS_TESTS_FUZZ_FUZZ_CHECKS_HPP
