// The one-call load into memory the library allocates (load_tensors;
// docs/loading.md#the-one-call-load): the same bytes as load() into caller buffers for whole
// tensors, slices and conversions, from a reader, a mapping and a checkpoint; entries as
// delivered; empty and 0-d tensors; every buffer aligned; copies out of a mapped file read by
// pread (load_report::mapped_bytes), and from the mapping when its path names another file
// since; huge pages only when asked; typed errors; allocation failure as an error value.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <safetensors/safetensors.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;

// Tensors of every dtype with random bytes: sub-byte rows of whole bytes, some large enough for
// several chunks and for a buffer of pages of its own (>= 64 KiB), one empty, one 0-d.
std::vector<st_test::tensor_spec> lt_specs(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  const auto names = st_test::dtype_names();
  std::vector<st_test::tensor_spec> specs;
  for (std::size_t i = 0; i < count; ++i) {
    st_test::tensor_spec t;
    t.name = "t" + std::to_string(i);
    t.dtype = names[rng() % names.size()];
    const std::size_t rank = 1 + rng() % 3;
    for (std::size_t d = 0; d < rank; ++d) t.shape.push_back(1 + rng() % 12);
    t.shape.back() = (1 + rng() % 4) * 8;              // whole bytes for F4 and F6 rows
    if (i % 5 == 2) t.shape = {96 + rng() % 64, 512};  // 48 KiB to 1.3 MiB at most
    if (i == 1) t.shape = {0, 8};                      // empty
    if (i == 3) {                                      // 0-d: one element
      t.shape = {};
      if (st_test::dtype_bits(t.dtype) % 8 != 0) t.dtype = "BF16";
    }
    t.data.resize(st_test::byte_size(t.dtype, t.shape));
    for (auto& x : t.data) x = static_cast<std::uint8_t>(rng());
    specs.push_back(std::move(t));
  }
  return specs;
}

// A slice of `info` that plan_slice accepts (rows of whole bytes), or none.
std::vector<st::dim_range> lt_slice(std::mt19937_64& rng, const st::tensor_info& info) {
  std::vector<st::dim_range> ranges;
  const auto shape = info.shape();
  if (shape.empty() || rng() % 3 == 0) return ranges;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::uint64_t n = shape[d];
    std::uint64_t a = n == 0 ? 0 : rng() % n;
    std::uint64_t b = n == 0 ? 0 : a + rng() % (n - a + 1);
    if (d + 1 == shape.size()) {
      a -= a % 8;
      b -= b % 8;
      if (b < a) b = a;
    }
    ranges.push_back({a, b});
  }
  if (!st::plan_slice(info, st::span<const st::dim_range>(ranges)).has_value()) ranges.clear();
  return ranges;
}

// Random requests (a selection, slices, conversions, shuffled) for the tensors of `table`.
template <class Table>
std::vector<st::load_request> lt_requests(std::mt19937_64& rng, const Table& table) {
  std::vector<st::load_request> out;
  for (const st::tensor_info info : table.header().tensors()) {
    if (rng() % 5 == 0) continue;
    st::load_request r;
    r.name = std::string(info.name());
    r.slice = lt_slice(rng, info);
    const auto pick = rng() % 4;
    if (pick == 1 && st::can_convert(info.dtype(), st::dtype::F32)) r.to = st::dtype::F32;
    if (pick == 2 && info.dtype() == st::dtype::F32) r.to = st::dtype::BF16;
    if (pick == 3) r.to = info.dtype();
    out.push_back(std::move(r));
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

// What load() delivers for `requests` into caller buffers, one buffer per request.
template <class Source>
std::vector<std::vector<std::byte>> lt_expected(const Source& src,
                                                std::vector<st::load_request> requests) {
  std::vector<std::vector<std::byte>> buffers;
  for (const auto& r : requests) {
    buffers.emplace_back(
        static_cast<std::size_t>(st::load_size(src.at(r.name).value(), r).value()));
  }
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].dst = st::span<std::byte>(buffers[i]);
  }
  REQUIRE(st::load(src, requests).has_value());
  return buffers;
}

bool aligned_to(const void* p, std::size_t a) {
  return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

// Every loaded tensor against `want` (bytes) and the request it came from, and the buffers'
// alignment.
template <class Table>
void lt_check(const st::loaded_tensors& got, const std::vector<st::load_request>& requests,
              const std::vector<std::vector<std::byte>>& want, const Table& table) {
  REQUIRE(got.size() == requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const st::loaded_tensor& t = got[i];
    const st::load_request& r = requests[i];
    CAPTURE(r.name);
    const st::tensor_info src = table.at(r.name).value();
    CHECK(t.name() == r.name);
    CHECK(t.dtype() == r.to.value_or(src.dtype()));
    REQUIRE(t.byte_size() == want[i].size());
    CHECK(std::equal(want[i].begin(), want[i].end(), t.bytes().begin()));
    if (r.slice.empty()) {
      CHECK(std::equal(t.shape().begin(), t.shape().end(), src.shape().begin(), src.shape().end()));
      CHECK(t.element_count() == src.element_count());
    } else {
      const auto plan = st::plan_slice(src, st::span<const st::dim_range>(r.slice)).value();
      CHECK(
          std::equal(t.shape().begin(), t.shape().end(), plan.shape().begin(), plan.shape().end()));
      CHECK(t.element_count() == plan.element_count());
    }
    const st::tensor_info info = t.info();
    CHECK(info.name() == r.name);
    CHECK(info.offsets().begin == 0);
    CHECK(info.byte_size() == t.byte_size());
    CHECK(t.view().bytes().data() == t.data());
    if (t.byte_size() == 0) {
      CHECK(t.data() == nullptr);
    } else {
      CHECK(aligned_to(t.data(), st::loaded_tensor::alignment));
      CHECK(aligned_to(t.data(), 64));
    }
    if (t.byte_size() >= (std::size_t{64} << 10)) CHECK(aligned_to(t.data(), 4096));  // pages
    CHECK(got.find(r.name) != nullptr);
  }
}

// A checkpoint's specs for the sharded writer.
std::vector<st::tensor_spec> lt_tensor_specs(const std::vector<st_test::tensor_spec>& specs) {
  std::vector<st::tensor_spec> out;
  for (const auto& t : specs) {
    std::vector<std::uint64_t> shape(t.shape.begin(), t.shape.end());
    out.push_back({t.name, *st::dtype_from_string(t.dtype), shape, st::as_bytes(t.data), {}});
  }
  return out;
}

bool same(st::span<const std::byte> a, const std::vector<std::uint8_t>& b) {
  return a.size() == b.size() &&
         std::equal(b.begin(), b.end(), a.begin(),
                    [](std::uint8_t x, std::byte y) { return std::byte{x} == y; });
}

// A source whose header declares one U8 tensor of `elements` bytes (then reads zeros): no
// memory holds that many.
class huge_source final : public st::random_access_source {
 public:
  explicit huge_source(std::uint64_t elements) {
    const std::string json = "{\"big\":{\"dtype\":\"U8\",\"shape\":[" + std::to_string(elements) +
                             "],\"data_offsets\":[0," + std::to_string(elements) + "]}}";
    prefix_ = st_test::make_raw(json);
    size_ = prefix_.size() + elements;
  }
  std::uint64_t byte_size() const noexcept override { return size_; }
  st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    auto* out = static_cast<std::uint8_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = offset + i < prefix_.size() ? prefix_[static_cast<std::size_t>(offset + i)] : 0;
    }
    ++reads_after_header_;
    return {};
  }
  mutable std::size_t reads_after_header_ = 0;

 private:
  std::vector<std::uint8_t> prefix_;
  std::uint64_t size_ = 0;
};

}  // namespace

TEST_SUITE("load_tensors") {
  TEST_CASE("the same bytes as load() into caller buffers: reader and mapping") {
    st_test::temp_dir dir;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      CAPTURE(seed);
      const auto specs = lt_specs(seed, 18);
      const auto path = dir.file("f" + std::to_string(seed) + ".safetensors");
      st_test::write_file(path, st_test::make_file(specs, std::nullopt, seed % 2 == 0 ? 1 : 8));
      const auto reader = st::source_reader::open(path).value();
      const auto mapped = st::mapped_file::open(path).value();
      std::mt19937_64 rng(seed * 104729);
      for (int round = 0; round < 3; ++round) {
        st::load_options opt;
        opt.threads = 1 + static_cast<unsigned>(rng() % 3);
        opt.chunk_bytes = std::size_t{1} << (6 + rng() % 14);
        const auto requests = lt_requests(rng, reader);
        const auto want = lt_expected(reader, requests);
        const auto from_reader = st::load_tensors(reader, requests, opt);
        REQUIRE(from_reader.has_value());
        lt_check(*from_reader, requests, want, reader);
        CHECK(from_reader->report().tensors == requests.size());
        CHECK(from_reader->report().mapped_bytes == 0);
        const auto from_map = st::load_tensors(mapped, requests, opt);
        REQUIRE(from_map.has_value());
        lt_check(*from_map, requests, want, mapped);
        // Copies out of a mapped file are read by pread from the file, not from the mapping...
        CHECK(from_map->report().bytes_read > 0);
        CHECK(from_map->report().mapped_bytes == 0);
        // ...while load() copies from the mapping, and says so.
        const auto want_map = lt_expected(mapped, requests);
        CHECK(want_map == want);
      }
    }
  }

  TEST_CASE("load() from a mapping counts the bytes it copies from it") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(7, 6);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto mapped = st::mapped_file::open(path).value();
    std::vector<std::vector<std::byte>> buffers;
    std::vector<st::load_request> requests;
    for (const auto& t : specs) buffers.emplace_back(t.data.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      requests.push_back({specs[i].name, st::span<std::byte>(buffers[i]), {}, std::nullopt});
    }
    const auto rep = st::load(mapped, requests);
    REQUIRE(rep.has_value());
    CHECK(rep->bytes_read > 0);
    CHECK(rep->mapped_bytes == rep->bytes_read);
  }

  TEST_CASE("every tensor of a file, whole, in offset order; empty and 0-d tensors") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(11, 14);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    const auto mapped = st::mapped_file::open(path).value();
    for (const bool use_map : {false, true}) {
      CAPTURE(use_map);
      auto all = use_map ? st::load_tensors(mapped) : st::load_tensors(reader);
      REQUIRE(all.has_value());
      REQUIRE(all->size() == specs.size());
      CHECK(all->report().mapped_bytes == 0);
      std::size_t k = 0;
      for (const st::tensor_info info : reader.header().tensors()) {  // offset order
        const st::loaded_tensor& t = (*all)[k++];
        CHECK(t.name() == info.name());
      }
      for (const auto& spec : specs) {
        CAPTURE(spec.name);
        const st::loaded_tensor* t = all->find(spec.name);
        REQUIRE(t != nullptr);
        CHECK(same(t->bytes(), spec.data));
        CHECK(st::to_string(t->dtype()) == spec.dtype);
        CHECK(
            std::equal(t->shape().begin(), t->shape().end(), spec.shape.begin(), spec.shape.end()));
      }
      const st::loaded_tensor* empty = all->find("t1");
      REQUIRE(empty != nullptr);
      CHECK(empty->byte_size() == 0);
      CHECK(empty->element_count() == 0);
      CHECK(empty->data() == nullptr);
      const st::loaded_tensor* scalar = all->find("t3");
      REQUIRE(scalar != nullptr);
      CHECK(scalar->shape().empty());
      CHECK(scalar->element_count() == 1);
      CHECK(scalar->byte_size() == specs[3].data.size());
      CHECK_FALSE(all->contains("nope"));
      CHECK(all->find("nope") == nullptr);
    }
  }

  TEST_CASE("a checkpoint, in either access mode, whole and by requests") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(21, 30);
    st::sharded_write_options wo;
    wo.max_shard_size = 300000;
    const auto layout = st::save_sharded(dir.path() / "ckpt", lt_tensor_specs(specs), wo).value();
    REQUIRE(layout.shards().size() > 2);
    for (const auto access : {st::shard_access::mapped, st::shard_access::reader}) {
      CAPTURE(static_cast<int>(access));
      st::checkpoint_options co;
      co.access = access;
      const auto ckpt = st::checkpoint::open(dir.path() / "ckpt", co).value();
      st::load_options opt;
      opt.threads = 3;
      opt.chunk_bytes = 4096;
      const auto all = st::load_tensors(ckpt, opt);
      REQUIRE(all.has_value());
      REQUIRE(all->size() == specs.size());
      CHECK(all->report().mapped_bytes == 0);
      for (std::size_t i = 0; i < all->size(); ++i) {  // name order
        CHECK((*all)[i].name() == ckpt.entries()[i].name);
      }
      for (const auto& spec : specs) {
        CAPTURE(spec.name);
        const st::loaded_tensor* t = all->find(spec.name);
        REQUIRE(t != nullptr);
        CHECK(same(t->bytes(), spec.data));
      }
      // Requests with slices and conversions, against load() into caller buffers.
      std::mt19937_64 rng(5);
      std::vector<st::load_request> requests;
      for (const auto& e : ckpt.entries()) {
        const st::tensor_info info = ckpt.at(e.name).value();
        st::load_request r;
        r.name = e.name;
        r.slice = lt_slice(rng, info);
        if (rng() % 2 == 0 && st::can_convert(info.dtype(), st::dtype::F32)) r.to = st::dtype::F32;
        requests.push_back(std::move(r));
      }
      const auto want = lt_expected(ckpt, requests);
      const auto got = st::load_tensors(ckpt, requests, opt);
      REQUIRE(got.has_value());
      lt_check(*got, requests, want, ckpt);
      CHECK(got->report().mapped_bytes == 0);
    }
  }

#if !SAFETENSORS_WINDOWS  // Windows refuses to replace a mapped file
  TEST_CASE("a mapped file whose path names another file since: the mapping's bytes") {
    st_test::temp_dir dir;
    const auto before = lt_specs(31, 6);
    auto after = before;
    for (auto& t : after) {
      for (auto& x : t.data) x = static_cast<std::uint8_t>(x ^ 0x5A);
    }
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(before));
    const auto mapped = st::mapped_file::open(path).value();
    const auto other = dir.file("g.safetensors");
    st_test::write_file(other, st_test::make_file(after));
    std::filesystem::rename(other, path);  // the path now names the other file
    const auto all = st::load_tensors(mapped);
    REQUIRE(all.has_value());
    for (const auto& spec : before) {
      CAPTURE(spec.name);
      CHECK(same(all->find(spec.name)->bytes(), spec.data));  // the version the mapping shows
    }
    CHECK(all->report().bytes_read > 0);
    CHECK(all->report().mapped_bytes == all->report().bytes_read);
    std::filesystem::remove(path);  // and no file at all
    const auto gone = st::load_tensors(mapped);
    REQUIRE(gone.has_value());
    CHECK(gone->report().mapped_bytes == gone->report().bytes_read);
    CHECK(same(gone->find(before[0].name)->bytes(), before[0].data));
  }
#endif

  TEST_CASE("typed access in place") {
    st_test::temp_dir dir;
    const std::vector<float> values{1.5f, -2.0f, 0.25f, 1e-3f, 3.0f, -7.5f};
    std::vector<std::byte> bf16(values.size() * 2);
    REQUIRE(st::encode_from_float(st::span<const float>(values), st::dtype::BF16,
                                  st::span<std::byte>(bf16)));
    // The format's F32 bytes are little-endian on every host (docs/format.md).
    std::vector<std::byte> f32;
    for (const float v : values) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, &v, sizeof bits);
      for (int k = 0; k < 4; ++k) f32.push_back(static_cast<std::byte>(bits >> (8 * k)));
    }
    const auto path = dir.file("f.safetensors");
    REQUIRE(st::save_file(path.string(),
                          {{"w", st::dtype::F32, {2, 3}, st::span<const std::byte>(f32), {}},
                           {"h", st::dtype::BF16, {6}, st::span<const std::byte>(bf16), {}},
                           {"b", st::dtype::BOOL, {0}, {}, {}}}));
    const auto reader = st::source_reader::open(path).value();
    const std::vector<st::load_request> requests{{"w", {}, {}, std::nullopt},
                                                 {"h", {}, {}, st::dtype::F32},
                                                 {"h", {}, {{2, 4}}, std::nullopt}};
    auto got = st::load_tensors(reader, requests);
    REQUIRE(got.has_value());
    // Two requests of one tensor: find gives the first.
    CHECK(got->find("h") == &(*got)[1]);
    CHECK((*got)[2].element_count() == 2);
    // The file's F32 bytes: in place on a little-endian host.
    auto w = (*got)[0].as<float>();
    auto decoded = (*got)[0].view().as<float>();
    REQUIRE(decoded.has_value());
    CHECK(decoded->to_vector() == values);
    if (SAFETENSORS_BIG_ENDIAN) {
      REQUIRE_FALSE(w.has_value());
      CHECK(w.error().code() == st::errc::invalid_argument);
    } else {
      REQUIRE(w.has_value());
      CHECK(std::vector<float>(w->begin(), w->end()) == values);
      (*w)[0] = 42.0f;  // the memory is the caller's
      CHECK((*got)[0].view().as<float>()->operator[](0) == 42.0f);
    }
    // BF16 converted to F32: the host's floats, in place on every host.
    const st::loaded_tensor& h = (*got)[1];
    const auto floats = h.as<float>();
    REQUIRE(floats.has_value());
    std::vector<float> expect(values.size());
    REQUIRE(st::decode_to_float(st::dtype::BF16, st::span<const std::byte>(bf16),
                                st::span<float>(expect)));
    CHECK(std::vector<float>(floats->begin(), floats->end()) == expect);
    // The wrong type.
    const auto wrong = h.as<std::int32_t>();
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code() == st::errc::dtype_mismatch);
    const auto raw = (*got)[2].as<st::bf16>();
    if (!SAFETENSORS_BIG_ENDIAN) {
      REQUIRE(raw.has_value());
      CHECK(static_cast<float>((*raw)[0]) == expect[2]);
    }
  }

  TEST_CASE("moving a tensor out keeps its buffer; the lookup still finds the request") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(41, 6);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    auto all = st::load_tensors(reader).value();
    st::loaded_tensor* t0 = all.find("t0");
    REQUIRE(t0 != nullptr);
    const std::byte* data = t0->data();
    st::loaded_tensor mine = std::move(*t0);
    CHECK(mine.data() == data);
    CHECK(mine.name() == "t0");
    CHECK(same(mine.bytes(), specs[0].data));
    CHECK(all.find("t0") == t0);
    CHECK(t0->byte_size() == 0);
    CHECK(t0->data() == nullptr);
    st::loaded_tensors moved = std::move(all);
    CHECK(moved.find("t2") != nullptr);
    CHECK(same(moved.find("t2")->bytes(), specs[2].data));
  }

  TEST_CASE("typed errors, checked before anything is allocated or read") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(51, 8);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    const auto mapped = st::mapped_file::open(path).value();
    const auto code_of = [&](const std::vector<st::load_request>& rs, bool use_map) {
      const auto r = use_map ? st::load_tensors(mapped, rs) : st::load_tensors(reader, rs);
      REQUIRE_FALSE(r.has_value());
      const std::string name = rs.back().name;
      CHECK(r.error().message().find("'" + name + "'") != std::string::npos);  // names it
      return r.error().code();
    };
    const st::load_request good{"t0", {}, {}, std::nullopt};
    for (const bool use_map : {false, true}) {
      CAPTURE(use_map);
      CHECK(code_of({good, {"missing", {}, {}, std::nullopt}}, use_map) ==
            st::errc::tensor_not_found);
      CHECK(code_of({good, {"t0", {}, {{0, 99999}}, std::nullopt}}, use_map) ==
            st::errc::invalid_argument);
      CHECK(code_of({{"t0", {}, {{0, 1}, {0, 1}, {0, 1}, {0, 1}}, std::nullopt}}, use_map) ==
            st::errc::invalid_argument);  // more ranges than dimensions
      CHECK(code_of({{"t0", {}, {}, st::dtype::C64}}, use_map) ==
            (specs[0].dtype == "C64" ? st::errc{} : st::errc::invalid_argument));
    }
    const std::vector<st::load_request> none;
    const auto empty = st::load_tensors(reader, st::span<const st::load_request>(none));
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
  }

  TEST_CASE("a sub-byte slice off byte boundaries is MisalignedSlice") {
    st_test::temp_dir dir;
    const std::vector<st_test::tensor_spec> specs{
        {"f4", "F4", {4, 8}, std::vector<std::uint8_t>(16, 0x21)}};
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    const std::vector<st::load_request> rq{{"f4", {}, {{0, 4}, {1, 4}}, std::nullopt}};
    const auto r = st::load_tensors(reader, rq);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::misaligned_slice);
  }

  TEST_CASE("progress returning false cancels; nothing is returned") {
    st_test::temp_dir dir;
    const auto specs = lt_specs(61, 12);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    st::load_options opt;
    opt.chunk_bytes = 256;
    opt.threads = 2;
    opt.progress = [](const st::load_progress& p) { return p.bytes_done < p.bytes_total / 2; };
    const auto r = st::load_tensors(reader, opt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::cancelled);
  }

  TEST_CASE("memory the system refuses is an error value; no tensor byte is read") {
    // 2^60 bytes: more than any address space; 2^40 on 32-bit hosts.
    const std::uint64_t n = sizeof(void*) >= 8 ? std::uint64_t{1} << 60 : std::uint64_t{1} << 40;
    auto source = std::make_unique<huge_source>(n);
    const huge_source* raw = source.get();
    const auto reader = st::source_reader::open(std::move(source)).value();
    const std::size_t header_reads = raw->reads_after_header_;
    const auto r = st::load_tensors(reader);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::out_of_memory);
    CHECK(r.error().message().find("'big'") != std::string::npos);
    CHECK(r.error().message().find("cannot allocate") != std::string::npos);
    CHECK(raw->reads_after_header_ == header_reads);
  }
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))  // native, not emulated
  TEST_CASE("huge_pages: buffers of a huge page or more aligned to one, advised only when asked") {
    std::size_t huge = 0;
    {
      std::ifstream in("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
      in >> huge;
    }
    if (huge == 0) return;  // no transparent huge pages on this kernel
    st_test::temp_dir dir;
    const std::uint64_t rows = huge / 1024 + 3;  // a little over one huge page of U8
    const std::vector<st_test::tensor_spec> specs{
        {"big", "U8", {rows, 1024}, std::vector<std::uint8_t>(rows * 1024, 7)},
        {"small", "U8", {100}, std::vector<std::uint8_t>(100, 9)}};
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, st_test::make_file(specs));
    const auto reader = st::source_reader::open(path).value();
    // The VmFlags of the mapping that holds `p` in /proc/self/smaps ("hg": MADV_HUGEPAGE).
    const auto flags_of = [](const void* p) {
      std::ifstream smaps("/proc/self/smaps");
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      bool inside = false;
      for (std::string line; std::getline(smaps, line);) {
        unsigned long long lo = 0, hi = 0;
        char dash = 0;
        std::istringstream range(line);
        if (range >> std::hex >> lo >> dash >> hi && dash == '-' &&
            line.find(':') > line.find(' ')) {
          inside = lo <= at && at < hi;
        } else if (inside && line.rfind("VmFlags:", 0) == 0) {
          return line;
        }
      }
      return std::string();
    };
    for (const bool advise : {false, true}) {
      CAPTURE(advise);
      st::load_options opt;
      opt.huge_pages = advise;
      const auto all = st::load_tensors(reader, opt);
      REQUIRE(all.has_value());
      const st::loaded_tensor* big = all->find("big");
      REQUIRE(big != nullptr);
      CHECK(same(big->bytes(), specs[0].data));
      CHECK(aligned_to(big->data(), huge));
      const std::string flags = flags_of(big->data());
      REQUIRE_FALSE(flags.empty());
      CHECK((flags.find(" hg") != std::string::npos) == advise);
      CHECK(same(all->find("small")->bytes(), specs[1].data));
    }
  }
#endif
}
