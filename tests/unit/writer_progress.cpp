// What a person sees while and after writing or loading: the writers' progress moves within a
// large tensor (docs/writing.md#progress), and the messages of a few errors read as one sentence
// (a target whose directory is missing, a refused slice or a missing tensor in load(), a file
// that is not safetensors at all).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <safetensors/safetensors.hpp>
#include <string>
#include <utility>
#include <vector>

#include "test_writer.hpp"

namespace {

namespace st = safetensors;

/// Every call of a write progress callback.
struct progress_log {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  st::progress_callback callback() {
    return [this](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); };
  }
};

/// Checks that the calls count up to `total` in steps of at most 1 % of it (or 64 KiB, for a
/// small file), the bytes of the one large tensor included.
void check_fine_steps(const progress_log& log, std::uint64_t total) {
  REQUIRE(log.calls.size() >= 50);
  const std::uint64_t step_limit = std::max<std::uint64_t>(total / 100, 64 << 10);
  std::uint64_t last = 0;
  for (const auto& [done, all] : log.calls) {
    CHECK(all == total);
    CHECK(done >= last);
    CHECK(done - last <= step_limit);
    last = done;
  }
  CHECK(last == total);
}

std::string message_of(const st::error& e) { return e.message(); }

}  // namespace

TEST_CASE("write progress: one 24 MiB tensor reports at least every 1 % of the file") {
  st_test::temp_dir dir;
  std::vector<std::byte> data(std::size_t{24} << 20, std::byte{7});
  const std::vector<st::tensor_spec> tensors{
      {"w", st::dtype::U8, {data.size()}, st::span<const std::byte>(data.data(), data.size()), {}}};
  progress_log saved;
  st::write_options options;
  options.sync = false;
  options.progress = saved.callback();
  REQUIRE(st::save_file(dir.file("a.safetensors"), tensors, std::nullopt, options).has_value());
  const auto size = std::filesystem::file_size(dir.file("a.safetensors"));
  check_fine_steps(saved, size);

  // The stream writer, given the tensor as one chunk.
  progress_log streamed;
  options.progress = streamed.callback();
  auto w = st::stream_writer::create(dir.file("b.safetensors"), tensors, std::nullopt, options);
  REQUIRE(w.has_value());
  REQUIRE(w->write("w", tensors[0].bytes).has_value());
  REQUIRE(w->commit().has_value());
  check_fine_steps(streamed, size);

  // The same bytes either way.
  CHECK(st_test::read_file(dir.file("a.safetensors")) ==
        st_test::read_file(dir.file("b.safetensors")));
}

TEST_CASE("a target in a missing directory: the message names the target and the reason once") {
  st_test::temp_dir dir;
  const auto target = dir.file("missing") / "x.safetensors";
  const auto r = st::save_file(target, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::io_error);
  const std::string m = message_of(r.error());
  CAPTURE(m);
  CHECK(m.rfind("cannot write '" + target.string() + "': ", 0) == 0);
  CHECK(m.find("temporary file)") == std::string::npos);  // not "'x.safetensors (temporary ...'"
  CHECK(m.find(".tmp") == std::string::npos);             // nor the temporary file's generated name
  CHECK(m.find("cannot create a temporary file in its directory: ") != std::string::npos);
  CHECK(m.find("cannot create", m.find("in its directory")) == std::string::npos);
}

TEST_CASE("load(): a refused slice names its tensor once; TensorNotFound starts with load:") {
  const auto file = st_test::make_file({{"w", "F32", {2, 2}, std::vector<std::uint8_t>(16, 0)}});
  st_test::temp_dir dir;
  st_test::write_file(dir.file("m.safetensors"), file);
  auto src = st::source_reader::open(dir.file("m.safetensors"));
  REQUIRE(src.has_value());
  std::vector<std::byte> out(64);

  std::vector<st::load_request> slice{
      {"w", st::span<std::byte>(out.data(), out.size()), {{0, 5}}, {}}};
  auto r = st::load(*src, st::span<const st::load_request>(slice.data(), slice.size()));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::invalid_argument);
  CHECK(message_of(r.error()) ==
        "load: tensor 'w': slice: dimension 0 of size 2 cannot take [0, 5)");

  std::vector<st::load_request> missing{
      {"nope", st::span<std::byte>(out.data(), out.size()), {}, {}}};
  r = st::load(*src, st::span<const st::load_request>(missing.data(), missing.size()));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == st::errc::tensor_not_found);
  CHECK(message_of(r.error()) == "load: no tensor named 'nope'");
}

TEST_CASE("a git-lfs pointer or an HTML page: the hint, not the --max-header-size advice") {
  st_test::temp_dir dir;
  const std::string lfs =
      "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 4932\n";
  const std::string html = "<!DOCTYPE html><html><body>Sign in</body></html>";
  for (const std::string& text : {lfs, html}) {
    st_test::write_file(dir.file("x.safetensors"),
                        std::vector<std::uint8_t>(text.begin(), text.end()));
    const auto r = st::source_reader::open(dir.file("x.safetensors"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::header_too_large);
    const std::string m = message_of(r.error());
    CAPTURE(m);
    CHECK(m.find("this looks like") != std::string::npos);
    CHECK(m.find("max_header_size") == std::string::npos);
  }
  // A length above the limit in what may be a safetensors file keeps the advice.
  std::vector<std::uint8_t> big = st_test::le64(std::uint64_t{200'000'000});
  big.resize(64, 0x13);
  st_test::write_file(dir.file("y.safetensors"), big);
  const auto r = st::source_reader::open(dir.file("y.safetensors"));
  REQUIRE_FALSE(r.has_value());
  CHECK(message_of(r.error()).find("(parse_options::max_header_size)") != std::string::npos);
}
