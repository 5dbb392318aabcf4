// What a killed writer leaves behind, and how the next save removes it
// (docs/writing.md#what-a-kill-leaves): a save removes the stale temporary files of its own
// target, never a live writer's (POSIX: one whose flock is held; Windows: one that is open) nor
// any other name; the sharded writers also remove those of their prefix's other names. Threads
// saving to one target at once all succeed. The cross-process case (a writer killed with SIGKILL,
// its temporary file kept while it lives) is tests/crash/crash_writer.cpp's `cleanup` test.
//
// Expected bytes come from the independent test writer (tests/support/test_writer.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <safetensors/safetensors.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_writer.hpp"

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

using bytes_t = std::vector<std::uint8_t>;

bytes_t pattern(std::uint8_t seed, std::size_t n) {
  bytes_t out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(seed * 31u + i * 7u);
  return out;
}

st::span<const std::byte> bspan(const bytes_t& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

std::vector<st::tensor_spec> u8_spec(const bytes_t& data, bool with_bytes = true) {
  st::tensor_spec s;
  s.name = "t";
  s.dtype = st::dtype::U8;
  s.shape = {data.size()};
  if (with_bytes) s.bytes = bspan(data);
  return {s};
}

// The file the writer must produce for u8_spec(data).
bytes_t u8_file(const bytes_t& data) {
  return st_test::make_file({{"t", "U8", {data.size()}, data}});
}

std::string utf8_name(const fs::path& p) {
#if defined(__cpp_char8_t)
  const auto u8 = p.filename().u8string();
  return std::string(u8.begin(), u8.end());
#else
  return p.filename().u8string();
#endif
}

// The regular files in `dir` named like a temporary file of `target` (".<target>.<16 hex>.tmp").
std::vector<std::string> temps_of(const fs::path& dir, const std::string& target) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = utf8_name(e.path());
    if (!e.is_regular_file() || name.size() != target.size() + 22 || name[0] != '.' ||
        name.compare(1, target.size(), target) != 0 || name[target.size() + 1] != '.' ||
        name.compare(name.size() - 4, 4, ".tmp") != 0) {
      continue;
    }
    const std::string digits = name.substr(target.size() + 2, 16);
    if (digits.find_first_not_of("0123456789abcdef") == std::string::npos) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("writer: a save removes its target's stale temporary files, keeps a live writer's") {
  st_test::temp_dir dir;
  const fs::path target = dir.file("model.safetensors");
  const bytes_t a = pattern(1, 1000), b = pattern(2, 2000), c = pattern(3, 300);
  REQUIRE(st::save_file(target, u8_spec(a)).has_value());

  // A live writer of the same target: its temporary file exists until its commit.
  auto live = st::stream_writer::create(target, u8_spec(c, false));
  REQUIRE(live.has_value());
  const auto live_temp = temps_of(dir.path(), "model.safetensors");
  REQUIRE(live_temp.size() == 1);

  // Left by a writer that died: the library's name for this target, a file nobody has open.
  const std::string stale = ".model.safetensors.0123456789abcdef.tmp";
  st_test::write_file(dir.file(stale), {1, 2, 3});
  // Not this target's temporaries, or not the library's names: never removed.
  // (Distinct digits: on case-insensitive file systems, names that differ in case only are one.)
  const std::vector<std::string> others{
      ".other.safetensors.0123456789abcdef.tmp",      // another target's
      ".model.safetensors.ABCDEF0123456789.tmp",      // upper-case digits
      ".model.safetensors.6666666666abcdeg.tmp",      // a letter past f
      ".model.safetensors.1111111111abcde.tmp",       // 15 digits
      ".model.safetensors.22222222222abcdef.tmp",     // 17 digits
      "model.safetensors.3333333333abcdef.tmp",       // no leading dot
      ".model.safetensors.4444444444abcdef.tmp.bak",  // another suffix
      ".model.safetensors.5555555555abcdef.TMP",      // another suffix
      ".model.safetensor.0123456789abcdef.tmp",       // another target's
  };

  for (const auto& o : others) st_test::write_file(dir.file(o), {4, 5, 6});
  const fs::path subdir = dir.file(".model.safetensors.fedcba9876543210.tmp");
  fs::create_directory(subdir);  // a directory with a temporary file's name
  st_test::write_file(subdir / "inside", {7});
  REQUIRE(temps_of(dir.path(), "model.safetensors").size() == 2);  // the live and the stale one

  REQUIRE(st::save_file(target, u8_spec(b)).has_value());
  CHECK(st_test::read_file(target) == u8_file(b));
  CHECK(temps_of(dir.path(), "model.safetensors") == live_temp);  // the stale one is gone
  for (const auto& o : others) {
    CAPTURE(o);
    REQUIRE(fs::exists(dir.file(o)));
    CHECK(st_test::read_file(dir.file(o)) == bytes_t{4, 5, 6});
  }
  CHECK(fs::is_directory(subdir));
  CHECK(fs::exists(subdir / "inside"));

  // The live writer is unharmed: it commits, and its temporary file is gone.
  REQUIRE(live->write("t", bspan(c)).has_value());
  REQUIRE(live->commit().has_value());
  CHECK(st_test::read_file(target) == u8_file(c));
  CHECK(temps_of(dir.path(), "model.safetensors").empty());

  // stream_writer::create removes stale temporaries too, before creating its own.
  st_test::write_file(dir.file(stale), {1, 2, 3});
  auto again = st::stream_writer::create(target, u8_spec(a, false));
  REQUIRE(again.has_value());
  CHECK_FALSE(fs::exists(dir.file(stale)));
  again->discard();
  CHECK(temps_of(dir.path(), "model.safetensors").empty());
  CHECK(st_test::read_file(target) == u8_file(c));
}

#if !defined(_WIN32)
TEST_CASE("writer: a link named like a stale temporary file is not followed nor removed") {
  st_test::temp_dir dir;
  const fs::path target = dir.file("model.safetensors");
  const fs::path victim = dir.file("victim.bin");
  st_test::write_file(victim, {9, 9});
  const fs::path link = dir.file(".model.safetensors.0123456789abcdef.tmp");
  fs::create_symlink(victim, link);
  REQUIRE(st::save_file(target, u8_spec(pattern(1, 10))).has_value());
  CHECK(fs::is_symlink(link));
  CHECK(st_test::read_file(victim) == bytes_t{9, 9});
}
#endif

TEST_CASE("writer: stale temporary files of a 255-byte name and of a relative path") {
  st_test::temp_dir dir;
  // The temporary file's name keeps the first 200 bytes of the target's name.
  const std::string long_name(255, 'n');
  const std::string stale = "." + long_name.substr(0, 200) + ".00000000deadbeef.tmp";
  st_test::write_file(dir.file(stale), {1});
  REQUIRE(st::save_file(dir.file(long_name), u8_spec(pattern(1, 10))).has_value());
  CHECK_FALSE(fs::exists(dir.file(stale)));

  // A target given without a directory: its temporaries are in the current directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  st_test::write_file(".plain.safetensors.00000000deadbeef.tmp", {1});
  const auto r = st::save_file("plain.safetensors", u8_spec(pattern(2, 10)));
  const bool removed = !fs::exists(".plain.safetensors.00000000deadbeef.tmp");
  fs::current_path(cwd);
  CHECK(r.has_value());
  CHECK(removed);
  CHECK(st_test::read_file(dir.file("plain.safetensors")) == u8_file(pattern(2, 10)));
}

TEST_CASE("sharded writers remove the stale temporary files of their prefix's names") {
  st_test::temp_dir dir;
  std::vector<bytes_t> data;
  for (std::uint8_t i = 0; i < 4; ++i) data.push_back(pattern(i, 100));
  std::vector<st::tensor_spec> specs;
  for (std::size_t i = 0; i < data.size(); ++i) {
    st::tensor_spec s;
    s.name = "w" + std::to_string(i);
    s.dtype = st::dtype::U8;
    s.shape = {data[i].size()};
    s.bytes = bspan(data[i]);
    specs.push_back(s);
  }
  st::sharded_write_options o;
  o.write.sync = false;
  o.max_shard_size = 200;  // 2 shards
  REQUIRE(st::save_sharded(dir.path(), specs, o).has_value());

  const std::string hex = ".0123456789abcdef.tmp";
  const std::vector<std::string> stale{
      ".model-00001-of-00002.safetensors" + hex,  // a shard of this layout
      ".model-00003-of-00005.safetensors" + hex,  // a shard of another layout
      ".model.safetensors" + hex,                 // the single file
      ".model.safetensors.index.json" + hex,      // the index
  };
  const std::vector<std::string> kept{
      ".other-00001-of-00002.safetensors" + hex,  // another prefix's
      ".model-1-of-2.safetensors" + hex,          // not a layout's name
      ".README.md" + hex,
  };
  for (const auto& n : stale) st_test::write_file(dir.file(n), {1});
  for (const auto& n : kept) st_test::write_file(dir.file(n), {2});

  // A live writer of the prefix, in another layout (4 shards): its temporary files stay.
  o.max_shard_size = 100;
  auto live = st::sharded_stream_writer::create(dir.path(), specs, o);
  REQUIRE(live.has_value());
  auto live_temps = [&dir] {
    std::size_t n = 0;
    for (int k = 1; k <= 4; ++k) {
      n += temps_of(dir.path(), "model-0000" + std::to_string(k) + "-of-00004.safetensors").size();
    }
    return n;
  };
  REQUIRE(live_temps() == 4);

  o.max_shard_size = 200;
  REQUIRE(st::save_sharded(dir.path(), specs, o).has_value());
  for (const auto& n : stale) {
    CAPTURE(n);
    CHECK_FALSE(fs::exists(dir.file(n)));
  }
  for (const auto& n : kept) {
    CAPTURE(n);
    CHECK(fs::exists(dir.file(n)));
  }
  CHECK(live_temps() == 4);

  // The live writer commits its 4 shards; the 2-shard files are then stale and removed.
  for (std::size_t i = 0; i < data.size(); ++i) {
    REQUIRE(live->write("w" + std::to_string(i), bspan(data[i])).has_value());
  }
  REQUIRE(live->commit().has_value());
  CHECK(live_temps() == 0);
  auto c = st::checkpoint::open(dir.path());
  REQUIRE(c.has_value());
  CHECK(c->index().shards.size() == 4);
  CHECK(c->verify().ok());
  CHECK_FALSE(fs::exists(dir.file("model-00001-of-00002.safetensors")));
}

TEST_CASE("writer: threads saving to one target at once never remove each other's files") {
  st_test::temp_dir dir;
  const fs::path target = dir.file("model.safetensors");
  constexpr int threads = 4;
  constexpr int saves = 20;
  std::vector<bytes_t> contents;
  for (int t = 0; t < threads; ++t) {
    contents.push_back(
        pattern(static_cast<std::uint8_t>(t + 1), 64 * 1024 + static_cast<std::size_t>(t)));
  }
  std::atomic<int> ok{0}, io_error{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      st::write_options wo;
      wo.sync = false;
      for (int i = 0; i < saves; ++i) {
        auto r = (i % 2 == 0)
                     ? st::save_file(target, u8_spec(contents[static_cast<std::size_t>(t)]),
                                     std::nullopt, wo)
                     : [&]() -> st::result<void> {
          const auto& d = contents[static_cast<std::size_t>(t)];
          auto w = st::stream_writer::create(target, u8_spec(d, false), std::nullopt, wo);
          if (!w) return w.error();
          if (auto wr = w->write("t", bspan(d)); !wr) return wr;
          return w->commit();
        }();
        if (r) {
          ++ok;
        } else if (r.error().code() == st::errc::io_error) {
          ++io_error;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(other == 0);
#if defined(_WIN32)
  // Windows: a rename can fail while another thread's rename of the same target is under way
  // (docs/writing.md#what-a-kill-leaves); such a save fails cleanly with IoError.
  CHECK(ok + io_error == threads * saves);
  CHECK(ok > 0);
#else
  CHECK(ok == threads * saves);  // POSIX: the cleanup never takes a live writer's file
#endif
  const bytes_t final_bytes = st_test::read_file(target);
  bool one_of = false;
  for (const auto& d : contents) one_of = one_of || final_bytes == u8_file(d);
  CHECK(one_of);
  CHECK(temps_of(dir.path(), "model.safetensors").empty());
}
