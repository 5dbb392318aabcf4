// Many threads reading tensors at once from one parsed buffer, one mapped file and one pread
// reader (source_reader over file_source), each checking every byte against the bytes the test
// writer put in the file. Run under ThreadSanitizer by .ci/steps/50-hardening.sh.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <safetensors/safetensors.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_writer.hpp"

namespace {
namespace st = safetensors;

struct cc_fixture {
  std::vector<st_test::tensor_spec> specs;
  std::vector<std::uint8_t> file;
};

cc_fixture cc_make(std::size_t tensors) {
  cc_fixture f;
  std::mt19937_64 rng(42);
  const auto names = st_test::dtype_names();
  for (std::size_t i = 0; i < tensors; ++i) {
    st_test::tensor_spec t;
    t.name = "block." + std::to_string(i) + ".w";
    t.dtype = i % 3 == 0 ? "F32" : (i % 3 == 1 ? "U8" : "BF16");
    t.shape = {1 + rng() % 64, 1 + rng() % 64};
    if (i % 17 == 0) t.shape = {0, 3};  // zero-sized tensors too
    t.data.resize(st_test::byte_size(t.dtype, t.shape));
    for (auto& x : t.data) x = static_cast<std::uint8_t>(rng());
    f.specs.push_back(std::move(t));
  }
  f.file = st_test::make_file(f.specs, std::nullopt, 1);
  return f;
}

bool cc_equal(const std::byte* p, const std::vector<std::uint8_t>& want) {
  return want.empty() || std::memcmp(p, want.data(), want.size()) == 0;
}

TEST_CASE("concurrency: threads read one buffer, one mapping and one pread reader at once") {
  const cc_fixture fx = cc_make(96);
  st_test::temp_dir dir;
  const auto path = dir.file("concurrent.safetensors");
  st_test::write_file(path, fx.file);

  const auto buffer = st::parse(st::as_bytes(fx.file));
  REQUIRE(buffer.has_value());
  const auto mapped = st::mapped_file::open(path);
  REQUIRE(mapped.has_value());
  const auto reader = st::source_reader::open(path);
  REQUIRE(reader.has_value());

  const unsigned threads = 8;
  const int rounds = 6;
  std::atomic<std::size_t> failures{0};
  std::atomic<std::size_t> reads{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      std::mt19937_64 rng(1000 + t);
      std::vector<std::byte> scratch;
      for (int r = 0; r < rounds; ++r) {
        std::vector<std::size_t> order(fx.specs.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::shuffle(order.begin(), order.end(), rng);
        for (const std::size_t i : order) {
          const auto& spec = fx.specs[i];
          // 1. the parsed buffer
          const auto b = buffer->tensor(spec.name);
          if (!b || b->byte_size() != spec.data.size() || !cc_equal(b->data(), spec.data))
            ++failures;
          // 2. the mapped file
          const auto m = mapped->tensor(spec.name);
          if (!m || m->byte_size() != spec.data.size() || !cc_equal(m->data(), spec.data))
            ++failures;
          // 3. the pread reader, into a per-thread buffer, then into a fresh vector
          const auto info = reader->header().at(spec.name);
          if (!info) {
            ++failures;
            continue;
          }
          scratch.assign(spec.data.size(), std::byte{0});
          const auto ok = reader->read_into(*info, st::span<std::byte>(scratch));
          if (!ok || !cc_equal(scratch.data(), spec.data)) ++failures;
          const auto copy = reader->read(*info);
          if (!copy || copy->size() != spec.data.size() || !cc_equal(copy->data(), spec.data))
            ++failures;
          // typed access from several threads
          if (spec.dtype == "F32") {
            const auto floats = m->as<float>();
            if (!floats || floats->to_vector().size() != spec.data.size() / 4) ++failures;
          }
          reads += 4;
        }
      }
    });
  }
  go = true;
  for (auto& th : pool) th.join();
  CHECK(failures.load() == 0);
  CHECK(reads.load() == std::size_t{threads} * rounds * fx.specs.size() * 4);
}

TEST_CASE("concurrency: threads parse and open the same file independently") {
  const cc_fixture fx = cc_make(24);
  st_test::temp_dir dir;
  const auto path = dir.file("shared.safetensors");
  st_test::write_file(path, fx.file);
  std::atomic<std::size_t> failures{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < 6; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < 10; ++r) {
        if (t % 3 == 0) {
          const auto f = st::parse(st::as_bytes(fx.file));
          if (!f || f->size() != fx.specs.size()) ++failures;
        } else if (t % 3 == 1) {
          const auto m = st::mapped_file::open(path);
          if (!m || m->size() != fx.specs.size()) ++failures;
        } else {
          const auto rd = st::source_reader::open(path);
          if (!rd || rd->header().size() != fx.specs.size()) {
            ++failures;
            continue;
          }
          const auto info = rd->header().at(fx.specs.back().name);
          const auto last =
              info ? rd->read(*info) : st::result<std::vector<std::byte>>(info.error());
          if (!last || !cc_equal(last->data(), fx.specs.back().data)) ++failures;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures.load() == 0);
}

}  // namespace
