// The parallel loader (docs/loading.md): byte equality with the serial read paths over random
// files, selections and slices, through a reader, a mapping and a sharded checkpoint, with and
// without a sink; fused conversions against decode_to_float / encode_from_float; every error
// checked before reading; errors and cancellation midway. Run under ThreadSanitizer by
// .ci/steps/50-hardening.sh.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;

struct load_fixture {
  std::vector<st_test::tensor_spec> specs;
  std::vector<std::uint8_t> file;
};

// Random tensors of every dtype (sub-byte ones with whole-byte rows), random bytes.
load_fixture load_make(std::uint64_t seed, std::size_t tensors) {
  load_fixture f;
  std::mt19937_64 rng(seed);
  const auto names = st_test::dtype_names();
  for (std::size_t i = 0; i < tensors; ++i) {
    st_test::tensor_spec t;
    t.name = "t" + std::to_string(i);
    t.dtype = names[rng() % names.size()];
    const std::size_t rank = rng() % 4;
    for (std::size_t d = 0; d < rank; ++d) t.shape.push_back(1 + rng() % 24);
    if (!t.shape.empty()) t.shape.back() = (1 + rng() % 6) * 8;  // whole bytes for F4, F6
    if (i % 11 == 5) t.shape = {0, 8};
    if (i % 7 == 3) t.shape = {64 + rng() % 64, 256};  // big enough for several chunks
    if (t.shape.empty() && st_test::dtype_bits(t.dtype) % 8 != 0) t.shape = {8};
    t.data.resize(st_test::byte_size(t.dtype, t.shape));
    for (auto& x : t.data) x = static_cast<std::uint8_t>(rng());
    f.specs.push_back(std::move(t));
  }
  f.file = st_test::make_file(f.specs, std::nullopt, 1);
  return f;
}

// A sink that assembles what it receives, checking that no byte comes twice.
class collecting_sink final : public st::load_sink {
 public:
  explicit collecting_sink(std::vector<std::uint64_t> sizes) : sizes_(std::move(sizes)) {
    for (const auto n : sizes_) {
      data_.emplace_back(static_cast<std::size_t>(n));
      seen_.emplace_back(static_cast<std::size_t>(n), false);
    }
  }
  st::result<void> write(std::size_t index, std::uint64_t offset,
                         st::span<const std::byte> bytes) override {
    std::lock_guard<std::mutex> g(lock_);
    if (index >= data_.size() || offset > sizes_[index] || bytes.size() > sizes_[index] - offset) {
      return st::error(st::errc::invalid_argument, "sink: out of range");
    }
    for (std::size_t k = 0; k < bytes.size(); ++k) {
      const auto at = static_cast<std::size_t>(offset) + k;
      if (seen_[index][at]) twice_ = true;
      seen_[index][at] = true;
      data_[index][at] = bytes[k];
    }
    ++calls_;
    return {};
  }
  bool complete() const {
    for (const auto& s : seen_) {
      if (std::find(s.begin(), s.end(), false) != s.end()) return false;
    }
    return !twice_;
  }
  const std::vector<std::byte>& data(std::size_t i) const { return data_[i]; }
  std::size_t calls() const { return calls_; }

 private:
  std::mutex lock_;
  std::vector<std::uint64_t> sizes_;
  std::vector<std::vector<std::byte>> data_;
  std::vector<std::vector<bool>> seen_;
  bool twice_ = false;
  std::size_t calls_ = 0;
};

// A random slice of `info` that plan_slice accepts, or none (whole tensor).
std::vector<st::dim_range> random_slice(std::mt19937_64& rng, const st::tensor_info& info) {
  std::vector<st::dim_range> ranges;
  const auto shape = info.shape();
  if (shape.empty() || rng() % 3 == 0) return ranges;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::uint64_t n = shape[d];
    std::uint64_t a = n == 0 ? 0 : rng() % n;
    std::uint64_t b = n == 0 ? 0 : a + rng() % (n - a + 1);
    if (d + 1 == shape.size()) {  // whole bytes for the sub-byte dtypes
      a -= a % 8;
      b -= b % 8;
      if (b < a) b = a;
    }
    ranges.push_back({a, b});
  }
  const std::vector<st::dim_range> copy = ranges;
  if (!st::plan_slice(info, st::span<const st::dim_range>(copy)).has_value()) ranges.clear();
  return ranges;
}

// What the serial path gives for request `r` of `info`: read_slice_into or read_into, then the
// conversion, one tensor at a time.
std::vector<std::byte> serial(const st::source_reader& reader, const st::tensor_info& info,
                              const st::load_request& r) {
  std::vector<std::byte> raw;
  if (r.slice.empty()) {
    raw = reader.read(info).value();
  } else {
    const auto plan = st::plan_slice(info, st::span<const st::dim_range>(r.slice)).value();
    raw.resize(static_cast<std::size_t>(plan.byte_size()));
    REQUIRE(reader.read_slice_into(info, st::span<const st::dim_range>(r.slice),
                                   st::span<std::byte>(raw)));
  }
  if (!r.to || *r.to == info.dtype()) return raw;
  std::uint64_t elements = info.element_count();
  if (!r.slice.empty()) {
    elements = st::plan_slice(info, st::span<const st::dim_range>(r.slice))->element_count();
  }
  if (*r.to == st::dtype::F32) {
    std::vector<float> floats(static_cast<std::size_t>(elements));
    REQUIRE(
        st::decode_to_float(info.dtype(), st::span<const std::byte>(raw), st::span<float>(floats)));
    std::vector<std::byte> out(floats.size() * 4);
    if (!out.empty()) std::memcpy(out.data(), floats.data(), out.size());
    return out;
  }
  // Between float dtypes: the whole slice in one call (its values are checked against a
  // reference in convert_pairs.cpp; here, that chunks and threads change nothing).
  std::vector<std::byte> out(static_cast<std::size_t>(elements * st::bit_size(*r.to) / 8));
  st::detail::convert_elements(info.dtype(), *r.to, raw.data(), elements, out.data());
  return out;
}

struct planned {
  std::vector<st::load_request> requests;
  std::vector<std::vector<std::byte>> buffers;
  std::vector<std::vector<std::byte>> expected;
};

// A random selection of the file's tensors, random slices and conversions, with buffers.
planned plan_requests(std::mt19937_64& rng, const st::source_reader& reader) {
  planned p;
  for (const st::tensor_info info : reader.header().tensors()) {
    if (rng() % 4 == 0) continue;  // a selection, not every tensor
    st::load_request r;
    r.name = std::string(info.name());
    r.slice = random_slice(rng, info);
    const int pick = static_cast<int>(rng() % 4);
    if (pick == 1 && st::can_convert(info.dtype(), st::dtype::F32)) r.to = st::dtype::F32;
    if (pick == 2) {  // between float dtypes
      const st::dtype targets[] = {
          st::dtype::F64,     st::dtype::F32,     st::dtype::F16,         st::dtype::BF16,
          st::dtype::F8_E4M3, st::dtype::F8_E5M2, st::dtype::F8_E4M3FNUZ, st::dtype::F8_E5M2FNUZ};
      const st::dtype to = targets[rng() % 8];
      if (st::can_convert(info.dtype(), to)) r.to = to;
    }
    if (pick == 3) r.to = info.dtype();
    const std::uint64_t need = st::load_size(info, r).value();
    p.buffers.emplace_back(static_cast<std::size_t>(need) + 3, std::byte{0xEE});
    p.expected.push_back(serial(reader, info, r));
    p.requests.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < p.requests.size(); ++i) {
    p.requests[i].dst = st::span<std::byte>(p.buffers[i]);
  }
  std::shuffle(p.requests.begin(), p.requests.end(), rng);  // any order
  return p;
}

void check_loaded(const planned& p) {
  for (const auto& r : p.requests) {
    const auto i = static_cast<std::size_t>(
        std::find_if(p.buffers.begin(), p.buffers.end(),
                     [&r](const std::vector<std::byte>& b) { return b.data() == r.dst.data(); }) -
        p.buffers.begin());
    REQUIRE(i < p.buffers.size());
    const auto& want = p.expected[i];
    CAPTURE(r.name);
    REQUIRE(p.buffers[i].size() == want.size() + 3);
    CHECK(std::equal(want.begin(), want.end(), p.buffers[i].begin()));
    // Nothing written past what the request delivers.
    CHECK(p.buffers[i][want.size()] == std::byte{0xEE});
  }
}

TEST_SUITE("load") {
  TEST_CASE("random files, selections, slices and conversions equal the serial path") {
    st_test::temp_dir dir;
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
      CAPTURE(seed);
      const load_fixture fx = load_make(seed, 24);
      const auto path = dir.file("f" + std::to_string(seed) + ".safetensors");
      st_test::write_file(path, fx.file);
      const auto reader = st::source_reader::open(path).value();
      const auto mapped = st::mapped_file::open(path).value();
      std::mt19937_64 rng(seed * 7919);
      for (int round = 0; round < 3; ++round) {
        st::load_options opt;
        opt.threads = 1 + static_cast<unsigned>(rng() % 4);
        opt.chunk_bytes = std::size_t{1} << (4 + rng() % 14);  // 16 B .. 128 KiB
        {
          planned p = plan_requests(rng, reader);
          const auto rep = st::load(reader, p.requests, opt);
          REQUIRE(rep.has_value());
          CHECK(rep->tensors == p.requests.size());
          check_loaded(p);
        }
        {
          planned p = plan_requests(rng, reader);
          REQUIRE(st::load(mapped, p.requests, opt));
          check_loaded(p);
        }
        {  // a sink, from both kinds of source
          planned p = plan_requests(rng, reader);
          std::vector<std::uint64_t> sizes;
          for (const auto& r : p.requests)
            sizes.push_back(st::load_size(*reader.find(r.name), r).value());
          for (const bool use_map : {false, true}) {
            collecting_sink sink(sizes);
            const auto rep = use_map ? st::load(mapped, p.requests, sink, opt)
                                     : st::load(reader, p.requests, sink, opt);
            REQUIRE(rep.has_value());
            CHECK(sink.complete());
            for (std::size_t i = 0; i < p.requests.size(); ++i) {
              const auto& want = p.expected[static_cast<std::size_t>(
                  std::find_if(p.buffers.begin(), p.buffers.end(),
                               [&](const std::vector<std::byte>& b) {
                                 return b.data() == p.requests[i].dst.data();
                               }) -
                  p.buffers.begin())];
              CHECK(sink.data(i) == want);
            }
          }
        }
      }
    }
  }

  TEST_CASE("a sharded checkpoint loads as its tensors, in either access mode") {
    st_test::temp_dir dir;
    const load_fixture fx = load_make(99, 40);
    std::vector<st::tensor_spec> specs;
    for (const auto& t : fx.specs) {
      std::vector<std::uint64_t> shape(t.shape.begin(), t.shape.end());
      specs.push_back({t.name, *st::dtype_from_string(t.dtype), shape, st::as_bytes(t.data), {}});
    }
    st::sharded_write_options wo;
    wo.max_shard_size = 20000;
    const auto layout = st::save_sharded(dir.path() / "ckpt", specs, wo).value();
    REQUIRE(layout.shards().size() > 2);
    for (const auto access : {st::shard_access::mapped, st::shard_access::reader}) {
      st::checkpoint_options co;
      co.access = access;
      const auto ckpt = st::checkpoint::open(dir.path() / "ckpt", co).value();
      std::vector<st::load_request> requests;
      std::vector<std::vector<std::byte>> buffers;
      for (const auto& t : fx.specs) buffers.emplace_back(t.data.size());
      for (std::size_t i = 0; i < fx.specs.size(); ++i) {
        requests.push_back({fx.specs[i].name, st::span<std::byte>(buffers[i]), {}, std::nullopt});
      }
      st::load_options opt;
      opt.threads = 3;
      opt.chunk_bytes = 1000;
      const auto rep = st::load(ckpt, requests, opt);
      REQUIRE(rep.has_value());
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < fx.specs.size(); ++i) {
        CAPTURE(fx.specs[i].name);
        REQUIRE(buffers[i].size() == fx.specs[i].data.size());
        CHECK(std::equal(buffers[i].begin(), buffers[i].end(), fx.specs[i].data.begin(),
                         [](std::byte x, std::uint8_t y) { return x == std::byte{y}; }));
        total += buffers[i].size();
      }
      CHECK(rep->bytes_read == total);
      CHECK(rep->bytes_written == total);
      CHECK(rep->threads == 3);
    }
  }

  TEST_CASE("every request is checked before any byte is read") {
    st_test::temp_dir dir;
    const load_fixture fx = load_make(5, 8);
    const auto path = dir.file("f.safetensors");
    st_test::write_file(path, fx.file);
    const auto reader = st::source_reader::open(path).value();
    st::tensor_info info = reader.header().tensors()[0];
    for (const st::tensor_info t : reader.header().tensors()) {
      if (t.byte_size() > info.byte_size()) info = t;
    }
    REQUIRE(info.byte_size() > 1);
    std::vector<std::byte> a(static_cast<std::size_t>(info.byte_size()) + 8);
    std::vector<std::byte> b(a.size());
    const std::string name(info.name());
    const auto outcome = [&](std::vector<st::load_request> rs) {
      std::fill(a.begin(), a.end(), std::byte{0x11});
      const auto r = st::load(reader, rs);
      CHECK(std::all_of(a.begin(), a.end(), [](std::byte x) { return x == std::byte{0x11}; }));
      return r.has_value() ? st::errc{} : r.error().code();
    };
    const st::load_request good{name, st::span<std::byte>(a), {}, std::nullopt};
    CHECK(outcome({good, {"missing", st::span<std::byte>(b), {}, std::nullopt}}) ==
          st::errc::tensor_not_found);
    CHECK(outcome({good, {name, st::span<std::byte>(b.data(), 0), {}, std::nullopt}}) ==
          (info.byte_size() == 0 ? st::errc{} : st::errc::invalid_argument));
    const auto one_short = static_cast<std::size_t>(info.byte_size()) - 1;  // byte_size() > 1
    CHECK(outcome({good, {name, st::span<std::byte>(b.data(), one_short), {}, std::nullopt}}) ==
          st::errc::invalid_argument);
    CHECK(outcome({good, {name, st::span<std::byte>(a).subspan(1), {}, std::nullopt}}) ==
          (info.byte_size() == 0 ? st::errc{} : st::errc::invalid_argument));  // overlap
    CHECK(outcome({good, {name, st::span<std::byte>(b), {{0, 99999}}, std::nullopt}}) ==
          st::errc::invalid_argument);
    CHECK(outcome({good, {name, st::span<std::byte>(b), {}, st::dtype::C64}}) ==
          (info.dtype() == st::dtype::C64 ? st::errc{} : st::errc::invalid_argument));
    const std::vector<st::load_request> missing{
        {"missing", st::span<std::byte>(b), {}, std::nullopt}};
    const auto bad = st::load(reader, missing);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message().find("missing") != std::string::npos);
  }

  TEST_CASE("destinations: overlapping by one byte is refused, adjacent is accepted") {
    // Two 16-byte tensors into one 32-byte buffer: the second at byte 16 (adjacent) loads, at
    // byte 15 (the last byte of the first shared) is refused before any byte is written.
    std::vector<std::uint8_t> x(16);
    std::vector<std::uint8_t> y(16);
    for (std::size_t i = 0; i < 16; ++i) {
      x[i] = static_cast<std::uint8_t>(i + 1);
      y[i] = static_cast<std::uint8_t>(100 + i);
    }
    const auto file = st_test::make_file({{"x", "U8", {16}, x}, {"y", "U8", {16}, y}});
    const auto reader =
        st::source_reader::open(std::make_unique<st::memory_source>(st::as_bytes(file))).value();
    std::vector<std::byte> buf(32);
    for (const bool reversed : {false, true}) {  // the order of the requests does not matter
      CAPTURE(reversed);
      const auto requests = [reversed, &buf](std::size_t y_at) {
        std::vector<st::load_request> rs{
            {"x", st::span<std::byte>(buf.data(), 16), {}, std::nullopt},
            {"y", st::span<std::byte>(buf.data() + y_at, 16), {}, std::nullopt}};
        if (reversed) std::swap(rs[0], rs[1]);
        return rs;
      };
      std::fill(buf.begin(), buf.end(), std::byte{0xEE});
      const auto one_byte = requests(15);
      const auto overlapping = st::load(reader, one_byte);
      REQUIRE_FALSE(overlapping.has_value());
      CHECK(overlapping.error().code() == st::errc::invalid_argument);
      CHECK(overlapping.error().message().find("overlap") != std::string::npos);
      CHECK(std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
      const auto adjacent = requests(16);
      REQUIRE(st::load(reader, adjacent));
      CHECK(std::memcmp(buf.data(), x.data(), 16) == 0);
      CHECK(std::memcmp(buf.data() + 16, y.data(), 16) == 0);
    }
  }

  TEST_CASE("conversions the loader refuses, and the ones it makes") {
    CHECK(st::can_convert(st::dtype::BF16, st::dtype::F32));
    CHECK(st::can_convert(st::dtype::F4, st::dtype::F32));
    CHECK(st::can_convert(st::dtype::I64, st::dtype::F32));
    CHECK(st::can_convert(st::dtype::F32, st::dtype::F8_E4M3));
    CHECK(st::can_convert(st::dtype::C64, st::dtype::C64));
    CHECK(st::can_convert(st::dtype::F16, st::dtype::BF16));
    CHECK(st::can_convert(st::dtype::F64, st::dtype::F8_E5M2));
    CHECK_FALSE(st::can_convert(st::dtype::C64, st::dtype::F32));
    CHECK_FALSE(st::can_convert(st::dtype::I32, st::dtype::F16));
    CHECK_FALSE(st::can_convert(st::dtype::F32, st::dtype::F8_E8M0));
    CHECK_FALSE(st::can_convert(st::dtype::F16, st::dtype::F4));
    CHECK_FALSE(st::can_convert(st::dtype::F32, st::dtype::I32));
    // Every pair: convert_pairs.cpp.
  }

  // A source that fails every read at or after byte `fail_at`.
  class failing_source final : public st::random_access_source {
   public:
    failing_source(std::vector<std::uint8_t> bytes, std::uint64_t fail_at)
        : bytes_(std::move(bytes)), fail_at_(fail_at) {}
    std::uint64_t byte_size() const noexcept override { return bytes_.size(); }
    st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
      if (offset + n > fail_at_) return st::error(st::errc::io_error, "the disk is gone");
      std::memcpy(dst, bytes_.data() + offset, n);
      return {};
    }

   private:
    std::vector<std::uint8_t> bytes_;
    std::uint64_t fail_at_;
  };

  TEST_CASE("a read error midway fails the load with the tensor's name") {
    const load_fixture fx = load_make(3, 30);
    const std::uint64_t fail_at = fx.file.size() * 2 / 3;
    const auto reader =
        st::source_reader::open(std::make_unique<failing_source>(fx.file, fail_at)).value();
    std::vector<st::load_request> requests;
    std::vector<std::vector<std::byte>> buffers;
    for (const auto& t : fx.specs) buffers.emplace_back(t.data.size());
    for (std::size_t i = 0; i < fx.specs.size(); ++i) {
      requests.push_back({fx.specs[i].name, st::span<std::byte>(buffers[i]), {}, std::nullopt});
    }
    st::load_options opt;
    opt.threads = 2;
    opt.chunk_bytes = 512;
    const auto r = st::load(reader, requests, opt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::io_error);
    CHECK(r.error().message().find("the disk is gone") != std::string::npos);
    CAPTURE(r.error().message());
    CHECK(r.error().message().find("load: tensor 't") != std::string::npos);
  }

  TEST_CASE("progress counts every byte once; returning false cancels midway") {
    const load_fixture fx = load_make(4, 30);
    const auto mapped_bytes = st::as_bytes(fx.file);
    const auto reader =
        st::source_reader::open(std::make_unique<st::memory_source>(mapped_bytes)).value();
    std::vector<st::load_request> requests;
    std::vector<std::vector<std::byte>> buffers;
    std::uint64_t total = 0;
    for (const auto& t : fx.specs) {
      buffers.emplace_back(t.data.size());
      total += t.data.size();
    }
    for (std::size_t i = 0; i < fx.specs.size(); ++i) {
      requests.push_back({fx.specs[i].name, st::span<std::byte>(buffers[i]), {}, std::nullopt});
    }
    st::load_options opt;
    opt.threads = 2;
    opt.chunk_bytes = 256;
    std::vector<st::load_progress> seen;
    opt.progress = [&seen](const st::load_progress& p) {
      seen.push_back(p);  // never called concurrently: no lock needed
      return true;
    };
    REQUIRE(st::load(reader, requests, opt));
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back().bytes_done == total);
    for (std::size_t i = 0; i < seen.size(); ++i) {
      CHECK(seen[i].bytes_total == total);
      if (i > 0) CHECK(seen[i].bytes_done > seen[i - 1].bytes_done);
    }
    std::size_t calls = 0;
    opt.progress = [&calls](const st::load_progress& p) {
      ++calls;
      return p.bytes_done < p.bytes_total / 3;
    };
    const auto r = st::load(reader, requests, opt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::cancelled);
    CHECK(calls < seen.size());
    CHECK(st::error_name(st::errc::cancelled) == "Cancelled");
  }

  // A sink that refuses the n-th write.
  class refusing_sink final : public st::load_sink {
   public:
    st::result<void> write(std::size_t, std::uint64_t, st::span<const std::byte>) override {
      if (++calls_ == 5) return st::error(st::errc::io_error, "device full");
      return {};
    }

   private:
    std::atomic<int> calls_{0};
  };

  TEST_CASE("a sink's error stops the load and is what it returns") {
    const load_fixture fx = load_make(6, 20);
    const auto parsed =
        st::source_reader::open(std::make_unique<st::memory_source>(st::as_bytes(fx.file))).value();
    std::vector<st::load_request> requests;
    for (const auto& t : fx.specs) requests.push_back({t.name, {}, {}, std::nullopt});
    st::load_options opt;
    opt.chunk_bytes = 64;
    refusing_sink sink;
    const auto r = st::load(parsed, requests, sink, opt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::io_error);
    CHECK(r.error().message().find("device full") != std::string::npos);
  }

  TEST_CASE("conversions with the F32 side at an odd address, from a mapping and into bytes") {
    // A one-byte tensor first puts the next tensor's bytes at an odd offset in the mapping.
    std::mt19937_64 rng(5);
    std::vector<float> values(3000);
    for (auto& v : values)
      v = static_cast<float>(static_cast<double>(rng() % 20001) / 100.0 - 100.0);
    std::vector<std::uint8_t> f32(values.size() * 4);  // little-endian, as the format stores it
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::uint32_t u = 0;
      std::memcpy(&u, &values[i], 4);
      for (std::size_t k = 0; k < 4; ++k) f32[4 * i + k] = static_cast<std::uint8_t>(u >> (8 * k));
    }
    std::vector<std::uint8_t> bf16(values.size() * 2);
    for (auto& x : bf16) x = static_cast<std::uint8_t>(rng());
    const auto file = st_test::make_file(
        {{"a", "U8", {1}, {7}}, {"f", "F32", {3000}, f32}, {"b", "BF16", {3000}, bf16}},
        std::nullopt, 1);
    st_test::temp_dir dir;
    const auto path = dir.file("odd.safetensors");
    st_test::write_file(path, file);
    const auto mapped = st::mapped_file::open(path).value();
    REQUIRE(reinterpret_cast<std::uintptr_t>(mapped.tensor("f")->data()) % 4 != 0);

    std::vector<std::byte> want_bf16(bf16.size());
    REQUIRE(st::encode_from_float(st::span<const float>(values), st::dtype::BF16,
                                  st::span<std::byte>(want_bf16)));
    std::vector<float> want_f32(values.size());
    REQUIRE(st::decode_to_float(st::dtype::BF16, st::as_bytes(bf16), st::span<float>(want_f32)));

    // F32 out lands at byte 1 of the buffer: unaligned for float.
    std::vector<std::byte> to_bf16(want_bf16.size());
    std::vector<std::byte> to_f32(want_f32.size() * 4 + 1);
    const std::vector<st::load_request> rs{
        {"f", st::span<std::byte>(to_bf16), {}, st::dtype::BF16},
        {"b", st::span<std::byte>(to_f32.data() + 1, want_f32.size() * 4), {}, st::dtype::F32}};
    // Chunks of 250 elements, and chunks of all 3,000, which go through the aligned block of
    // 1,024 floats three times (each block at its own offset on both sides).
    for (const std::size_t chunk : {std::size_t{1001}, std::size_t{1} << 20}) {
      CAPTURE(chunk);
      std::fill(to_bf16.begin(), to_bf16.end(), std::byte{0});
      std::fill(to_f32.begin(), to_f32.end(), std::byte{0});
      st::load_options opt;
      opt.threads = 2;
      opt.chunk_bytes = chunk;
      REQUIRE(st::load(mapped, rs, opt));
      CHECK(to_bf16 == want_bf16);
      CHECK(std::memcmp(to_f32.data() + 1, want_f32.data(), want_f32.size() * 4) == 0);
    }
  }

  TEST_CASE("BF16 into float buffers: the fused conversion is to_float's") {
    std::vector<std::uint8_t> bf16(2 * 100000);
    std::mt19937_64 rng(11);
    for (auto& x : bf16) x = static_cast<std::uint8_t>(rng());
    st_test::tensor_spec t{"w", "BF16", {100000}, bf16};
    const auto file = st_test::make_file({t}, std::nullopt, 1);
    const auto view = st::parse(st::as_bytes(file)).value();
    const auto want = st::to_float(*view.tensor("w")).value();
    const auto reader =
        st::source_reader::open(std::make_unique<st::memory_source>(st::as_bytes(file))).value();
    std::vector<float> got(want.size());
    const std::vector<st::load_request> rs{
        {"w", st::as_writable_bytes(st::span<float>(got)), {}, st::dtype::F32}};
    st::load_options opt;
    opt.threads = 2;
    opt.chunk_bytes = 1000;
    const auto rep = st::load(reader, rs, opt).value();
    CHECK(std::memcmp(got.data(), want.data(), want.size() * 4) == 0);
    CHECK(rep.bytes_read == bf16.size());
    CHECK(rep.bytes_written == bf16.size() * 2);
  }
}

}  // namespace
