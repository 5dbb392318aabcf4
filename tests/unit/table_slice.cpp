// Slicing: plan_slice (strided byte runs), slice / slice_into (copies), read_slice_into
// (through a source_reader), and the errors of the reference's slice.rs (too many ranges, stops
// past the end without clamping, sub-byte slices off byte boundaries).
//
// Expected bytes come from a naive element-by-element gather written here, not from the plan.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;

namespace {

template <class T>
std::string outcome(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}

// A parsed one-tensor file that keeps its bytes alive.
struct one_tensor {
  std::vector<std::uint8_t> file;
  st::file_view view;
  st::tensor_view tensor() const { return *view.tensor("t"); }
};

one_tensor make_tensor(const std::string& dtype, const std::vector<std::uint64_t>& shape,
                       std::vector<std::uint8_t> data) {
  one_tensor t;
  t.file = st_test::make_file({{"t", dtype, shape, std::move(data)}});
  auto f = st::parse(st::as_bytes(t.file));
  REQUIRE(f);
  t.view = std::move(*f);
  return t;
}

std::vector<std::uint8_t> iota_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i * 37u + 11u);
  return out;
}

// The slice gathered element by element: for each index of the slice in row-major order, the
// `width` bytes of the source element at the same index plus the starts.
std::vector<std::uint8_t> naive_slice(const std::vector<std::uint8_t>& data,
                                      const std::vector<std::uint64_t>& shape,
                                      const std::vector<st::dim_range>& ranges, std::size_t width) {
  const std::size_t rank = shape.size();
  std::vector<std::uint64_t> lo(rank), hi(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    lo[d] = d < ranges.size() ? ranges[d].start : 0;
    hi[d] = d < ranges.size() ? ranges[d].stop : shape[d];
    if (lo[d] == hi[d]) return {};
  }
  std::vector<std::uint8_t> out;
  std::vector<std::uint64_t> idx = lo;
  while (true) {
    std::uint64_t linear = 0;
    for (std::size_t d = 0; d < rank; ++d) linear = linear * shape[d] + idx[d];
    for (std::size_t k = 0; k < width; ++k) out.push_back(data[linear * width + k]);
    std::size_t d = rank;
    while (d > 0) {
      --d;
      if (++idx[d] < hi[d]) break;
      idx[d] = lo[d];
      if (d == 0) return out;
    }
    if (rank == 0) return out;
  }
}

std::vector<std::uint8_t> to_u8(const std::vector<std::byte>& b) {
  std::vector<std::uint8_t> out;
  for (std::byte x : b) out.push_back(std::to_integer<std::uint8_t>(x));
  return out;
}

}  // namespace

TEST_CASE("slice: the reference's test_slicing vectors (F32 [1,2,3])") {
  // Values 0..5 as F32 little-endian: 0.0f = 00000000, 1.0f = 0000803F, 2.0f = 00000040,
  // 3.0f = 00004040, 4.0f = 00008040, 5.0f = 0000A040.
  const std::vector<std::uint8_t> data = {0, 0, 0,    0,    0, 0, 0x80, 0x3F, 0, 0, 0,    0x40,
                                          0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xA0, 0x40};
  auto t = make_tensor("F32", {1, 2, 3}, data);
  // [:, :1] -> elements 0, 1, 2 (shape [1,1,3]).
  auto a = st::slice(t.tensor(), {{0, 1}, {0, 1}});
  REQUIRE(a);
  CHECK(to_u8(*a) == std::vector<std::uint8_t>(data.begin(), data.begin() + 12));
  // [:, :, :1] -> elements 0 and 3 (shape [1,2,1]).
  auto b = st::slice(t.tensor(), {{0, 1}, {0, 2}, {0, 1}});
  REQUIRE(b);
  std::vector<std::uint8_t> want(data.begin(), data.begin() + 4);
  want.insert(want.end(), data.begin() + 12, data.begin() + 16);
  CHECK(to_u8(*b) == want);
  auto plan = st::plan_slice(t.tensor().info(), {{0, 1}, {0, 2}, {0, 1}});
  REQUIRE(plan);
  CHECK(plan->shape()[0] == 1);
  CHECK(plan->shape()[1] == 2);
  CHECK(plan->shape()[2] == 1);
  CHECK(plan->element_count() == 2);
  CHECK(plan->byte_size() == 8);
  CHECK(plan->run_size() == 4);
  CHECK(plan->run_count() == 2);
  CHECK(plan->first_offset() == 0);
  REQUIRE(plan->counts().size() == 1);  // the size-1 dimension 0 drops out of the strides
  CHECK(plan->counts()[0] == 2);
  CHECK(plan->strides()[0] == 12);
}

TEST_CASE("slice: runs merge over whole inner dimensions") {
  auto t = make_tensor("U16", {4, 3, 5}, iota_bytes(4 * 3 * 5 * 2));
  // Rows 1..3 of dimension 0, everything else whole: one contiguous run.
  auto p = st::plan_slice(t.tensor().info(), {{1, 3}});
  REQUIRE(p);
  CHECK(p->run_count() == 1);
  CHECK(p->run_size() == 2 * 3 * 5 * 2);
  CHECK(p->first_offset() == 1 * 3 * 5 * 2);
  CHECK(p->counts().empty());
  // No ranges at all: the whole tensor as one run.
  auto whole = st::plan_slice(t.tensor().info(), {});
  REQUIRE(whole);
  CHECK(whole->run_count() == 1);
  CHECK(whole->run_size() == t.tensor().byte_size());
  // [0:4, 1:2, 0:5]: dimension 2 whole merges into dimension 1's single row: 4 runs of 10 bytes.
  auto q = st::plan_slice(t.tensor().info(), {{0, 4}, {1, 2}, {0, 5}});
  REQUIRE(q);
  CHECK(q->run_count() == 4);
  CHECK(q->run_size() == 10);
  CHECK(q->first_offset() == 10);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  CHECK(q->for_each_run([&](std::uint64_t o, std::uint64_t n) { runs.emplace_back(o, n); }));
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> want = {
      {10, 10}, {40, 10}, {70, 10}, {100, 10}};
  CHECK(runs == want);
  // A callback returning false stops the walk.
  int visited = 0;
  CHECK_FALSE(q->for_each_run([&](std::uint64_t, std::uint64_t) { return ++visited < 2; }));
  CHECK(visited == 2);
}

TEST_CASE("slice: random shapes and ranges match the naive gather") {
  std::mt19937 rng(2024);
  const std::pair<const char*, std::size_t> dtypes[] = {
      {"U8", 1}, {"BF16", 2}, {"F32", 4}, {"C64", 8}};
  for (int iter = 0; iter < 400; ++iter) {
    const auto& [dtype, width] = dtypes[iter % 4];
    const std::size_t rank = static_cast<std::size_t>(rng() % 5);  // 0..4 (0: a scalar)
    std::vector<std::uint64_t> shape(rank);
    std::size_t count = 1;
    for (auto& d : shape) {
      d = rng() % 5;  // 0..4, zero-sized dimensions included
      count *= static_cast<std::size_t>(d);
    }
    const std::vector<std::uint8_t> data = iota_bytes(count * width);
    auto t = make_tensor(dtype, shape, data);
    std::vector<st::dim_range> ranges(rng() % (rank + 1));
    for (std::size_t d = 0; d < ranges.size(); ++d) {
      const std::uint64_t a = rng() % (shape[d] + 1), b = rng() % (shape[d] + 1);
      ranges[d] = {std::min(a, b), std::max(a, b)};
    }
    INFO("iteration " << iter);
    auto s = st::slice(t.tensor(), st::span<const st::dim_range>(ranges));
    REQUIRE(s);
    CHECK(to_u8(*s) == naive_slice(data, shape, ranges, width));
    auto p = st::plan_slice(t.tensor().info(), st::span<const st::dim_range>(ranges));
    REQUIRE(p);
    CHECK(p->byte_size() == s->size());
    std::uint64_t runs = 0, bytes = 0;
    p->for_each_run([&](std::uint64_t o, std::uint64_t n) {
      CHECK(o + n <= t.tensor().byte_size());
      ++runs;
      bytes += n;
    });
    CHECK(runs == p->run_count());
    CHECK(bytes == p->byte_size());
    // slice_into a larger buffer writes exactly the slice and leaves the rest.
    std::vector<std::byte> buf(s->size() + 3, std::byte{0xEE});
    REQUIRE(st::slice_into(t.tensor(), st::span<const st::dim_range>(ranges), buf));
    for (std::size_t i = 0; i < s->size(); ++i) CHECK(buf[i] == (*s)[i]);
    for (std::size_t i = s->size(); i < buf.size(); ++i) CHECK(buf[i] == std::byte{0xEE});
  }
}

TEST_CASE("slice: errors (too many ranges, out of range without clamping, reversed, buffer)") {
  auto t = make_tensor("F32", {2, 3}, iota_bytes(24));
  CHECK(outcome(st::slice(t.tensor(), {{0, 1}, {0, 1}, {0, 1}})) == "InvalidArgument");
  CHECK(outcome(st::slice(t.tensor(), {{0, 3}})) == "InvalidArgument");  // stop 3 > size 2
  CHECK(outcome(st::slice(t.tensor(), {{0, 2}, {0, 4}})) == "InvalidArgument");
  CHECK(outcome(st::slice(t.tensor(), {{3, 3}})) == "InvalidArgument");  // start past the end
  CHECK(outcome(st::slice(t.tensor(), {{2, 1}})) == "InvalidArgument");  // start > stop
  CHECK(outcome(st::slice(t.tensor(), {{2, 2}})) == "value");            // empty, at the end
  CHECK(outcome(st::slice(t.tensor(), {{0, 2}, {0, 3}})) == "value");
  auto msg = st::slice(t.tensor(), {{0, 2}, {1, 20}});
  REQUIRE(!msg);
  CHECK(msg.error().message().find("dimension 1") != std::string::npos);
  CHECK(msg.error().message().find("20") != std::string::npos);
  // Scalars take no ranges.
  auto s = make_tensor("F32", {}, iota_bytes(4));
  CHECK(outcome(st::slice(s.tensor(), {{0, 1}})) == "InvalidArgument");
  auto whole = st::slice(s.tensor(), {});
  REQUIRE(whole);
  CHECK(whole->size() == 4);
  // The caller's buffer must hold the slice.
  std::vector<std::byte> small(11);
  CHECK(outcome(st::slice_into(t.tensor(), {{0, 1}}, small)) == "InvalidArgument");
  std::vector<std::byte> enough(12);
  CHECK(outcome(st::slice_into(t.tensor(), {{0, 1}}, enough)) == "value");
  // A hand-made view whose bytes are shorter than its shape.
  const std::vector<std::uint64_t> shape = {4, 4};
  const std::vector<std::byte> few(8);
  const st::tensor_view liar(
      st::tensor_info("liar", st::dtype::F32, st::span<const std::uint64_t>(shape), {0, 8}, 16),
      st::span<const std::byte>(few));
  std::vector<std::byte> out(64);
  CHECK(outcome(st::slice_into(liar, {{3, 4}}, out)) == "InvalidArgument");
  CHECK(outcome(st::slice(liar, {{3, 4}})) == "InvalidArgument");
  // Sub-byte: F4 [3] is 12 bits, so it needs 2 bytes (rounded up); 1 byte is too few even for
  // the first two elements, which 1 byte holds.
  const std::vector<std::uint64_t> three = {3};
  const std::vector<std::byte> two_bytes{std::byte{0x21}, std::byte{0x03}};
  for (const std::size_t held : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(held);
    const st::tensor_view nibbles(
        st::tensor_info("nibbles", st::dtype::F4, st::span<const std::uint64_t>(three), {0, held},
                        3),
        st::span<const std::byte>(two_bytes.data(), held));
    std::vector<std::byte> first_two(1);
    CHECK(outcome(st::slice_into(nibbles, {{0, 2}}, first_two)) ==
          (held == 2 ? "value" : "InvalidArgument"));
  }
  // A hand-made entry whose shape overflows 64 bits.
  const std::vector<std::uint64_t> huge = {1ull << 40, 1ull << 40};
  const st::tensor_info big("big", st::dtype::U8, st::span<const std::uint64_t>(huge), {0, 0}, 0);
  CHECK(outcome(st::plan_slice(big, {{0, 1}})) == "ValidationOverflow");
}

TEST_CASE("slice: sub-byte dtypes must start and end on byte boundaries") {
  // F4 [4, 4]: 8 bytes, rows of 2 bytes. Element 0 is the low nibble of byte 0.
  std::vector<std::uint8_t> data = iota_bytes(8);
  auto t = make_tensor("F4", {4, 4}, data);
  auto rows = st::slice(t.tensor(), {{1, 3}});
  REQUIRE(rows);
  CHECK(to_u8(*rows) == std::vector<std::uint8_t>(data.begin() + 2, data.begin() + 6));
  // Columns 2..4 of every row: the second byte of each row.
  auto cols = st::slice(t.tensor(), {{0, 4}, {2, 4}});
  REQUIRE(cols);
  CHECK(to_u8(*cols) == std::vector<std::uint8_t>{data[1], data[3], data[5], data[7]});
  CHECK(outcome(st::slice(t.tensor(), {{0, 4}, {1, 3}})) == "MisalignedSlice");  // starts mid-byte
  CHECK(outcome(st::slice(t.tensor(), {{0, 4}, {0, 3}})) == "MisalignedSlice");  // ends mid-byte
  CHECK(outcome(st::slice(t.tensor(), {{0, 4}, {0, 1}})) == "MisalignedSlice");  // half a byte
  CHECK(outcome(st::slice(t.tensor(), {{0, 4}, {2, 2}})) == "value");            // empty

  // F4 [2, 6]: rows of 3 bytes, so [:, 0:2] is one byte per row, rows 3 bytes apart: fine.
  // F4 [4, 3]: rows are 12 bits apart: a single row is misaligned unless it starts on a byte.
  auto odd = make_tensor("F4", {4, 3}, iota_bytes(6));
  CHECK(outcome(st::slice(odd.tensor(), {{0, 2}})) == "value");            // 24 bits from 0
  CHECK(outcome(st::slice(odd.tensor(), {{1, 2}})) == "MisalignedSlice");  // starts at bit 12
  CHECK(outcome(st::slice(odd.tensor(), {{2, 4}})) == "value");            // bit 24, 24 bits
  CHECK(outcome(st::slice(odd.tensor(), {{0, 4}, {0, 2}})) ==
        "MisalignedSlice");                              // rows 12 bits apart
  auto two = st::slice(odd.tensor(), {{2, 3}, {0, 2}});  // one row, one byte at byte 3
  REQUIRE(two);
  CHECK(to_u8(*two) == std::vector<std::uint8_t>{iota_bytes(6)[3]});

  // F6 [2, 4]: rows of 3 bytes. Whole rows are fine; two elements (12 bits) are not.
  const std::vector<std::uint8_t> six = iota_bytes(6);
  auto f6 = make_tensor("F6_E3M2", {2, 4}, six);
  auto row1 = st::slice(f6.tensor(), {{1, 2}});
  REQUIRE(row1);
  CHECK(to_u8(*row1) == std::vector<std::uint8_t>(six.begin() + 3, six.end()));
  CHECK(outcome(st::slice(f6.tensor(), {{0, 2}, {0, 2}})) == "MisalignedSlice");
  CHECK(outcome(st::slice(f6.tensor(), {{0, 2}, {0, 4}})) == "value");
  auto f6flat = make_tensor("F6_E2M3", {8}, iota_bytes(6));
  CHECK(outcome(st::slice(f6flat.tensor(), {{4, 8}})) == "value");
  CHECK(outcome(st::slice(f6flat.tensor(), {{2, 6}})) == "MisalignedSlice");
}

TEST_CASE("read_slice_into: only the slice's bytes, through a source_reader") {
  st_test::temp_dir dir;
  const std::vector<std::uint8_t> w = iota_bytes(6 * 4 * 2);
  const std::vector<std::uint8_t> other = iota_bytes(10);
  const auto path = dir.path() / "m.safetensors";
  st_test::write_file(path,
                      st_test::make_file({{"a", "U8", {10}, other}, {"w", "BF16", {6, 4}, w}}));
  auto reader = st::source_reader::open(path.string());
  REQUIRE(reader);
  const st::tensor_info info = *reader->header().find("w");
  // Shard 1 of 3 along dimension 0, and columns 1..3 of rows 2..5.
  for (const std::vector<st::dim_range>& ranges :
       {std::vector<st::dim_range>{{2, 4}}, std::vector<st::dim_range>{{2, 5}, {1, 3}}}) {
    const std::vector<std::uint8_t> want = naive_slice(w, {6, 4}, ranges, 2);
    std::vector<std::byte> out(want.size());
    REQUIRE(reader->read_slice_into(info, st::span<const st::dim_range>(ranges), out));
    CHECK(to_u8(out) == want);
    std::vector<std::byte> small(want.size() - 1);
    CHECK(outcome(reader->read_slice_into(info, st::span<const st::dim_range>(ranges), small)) ==
          "InvalidArgument");
  }
  CHECK(outcome(reader->read_slice_into(info, {{0, 7}}, {})) == "InvalidArgument");
  // An entry of another file (offsets past this file's data).
  const std::vector<std::uint64_t> shape = {4};
  const st::tensor_info foreign("x", st::dtype::U8, st::span<const std::uint64_t>(shape),
                                {100, 104}, 4);
  std::vector<std::byte> out(4);
  CHECK(outcome(reader->read_slice_into(foreign, {{0, 4}}, out)) == "InvalidArgument");
}
