// Every error path of every safetensors-cli command (docs/cli.md#exit-codes-and-errors): files
// that cannot be opened or written (exit 2, "error: IoError: ..."), invalid inputs (exit 1,
// "error: <Name>: ..."), and the flags that the messages name instead of the library's options
// (--max-header-size, --allow-trailing-bytes, --prefix, --align).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::cli_output;
using st_test::first_line;

/// Runs the CLI; whatever it prints never names a C++ option of the library.
cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  auto r = st_test::run_cli(dir, args);
  CHECK(r.err.find("options::") == std::string::npos);
  CHECK(r.err.find("_options") == std::string::npos);
  return r;
}

/// An error: exit `code`, nothing on stdout, and `prefix` starts the first stderr line.
void check_error(const cli_output& r, int code, const std::string& prefix) {
  CHECK(r.code == code);
  CHECK(r.out.empty());
  CHECK(first_line(r.err).rfind(prefix, 0) == 0);
}

/// A canonical file of four tensors (the writer's order) with metadata.
std::vector<std::uint8_t> model_file() {
  const std::vector<st_test::tensor_spec> tensors{
      {"encoder.layer.0.weight", "F32", {1, 1, 1, 2, 2}, std::vector<std::uint8_t>(16, 1)},
      {"encoder.layer.1.weight", "F32", {1, 1, 1, 1, 3}, std::vector<std::uint8_t>(12, 2)},
      {"encoder.layer.2.bias", "F16", {1, 1, 2}, std::vector<std::uint8_t>(4, 3)},
      {"mask", "BOOL", {1, 1, 2}, {1, 0}},
  };
  return st_test::make_file(tensors,
                            std::vector<std::pair<std::string, std::string>>{{"format", "pt"}});
}

/// The header length N of a file.
std::uint64_t header_length(const std::filesystem::path& p) {
  const auto bytes = st_test::read_file(p);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  return n;
}

/// `dir/model.safetensors` split into three shards in `dir/shards`.
std::filesystem::path make_checkpoint(const st_test::temp_dir& dir) {
  st_test::write_file(dir.file("model.safetensors"), model_file());
  const auto shards = dir.path() / "shards";
  const auto r = st_test::run_cli(dir, {"split", dir.file("model.safetensors").string(),
                                        shards.string(), "--max-shard-size", "16"});
  REQUIRE(r.code == 0);
  REQUIRE(std::filesystem::exists(shards / "model-00003-of-00003.safetensors"));
  return shards;
}

}  // namespace

TEST_SUITE("cli errors") {
  TEST_CASE("an input that cannot be opened: exit 2, error: IoError: naming it") {
    st_test::temp_dir dir;
    const std::string missing = dir.file("missing.safetensors").string();
    const std::string missing_index = dir.file("missing.safetensors.index.json").string();
    const std::string empty = (dir.path() / "empty").string();
    std::filesystem::create_directory(empty);
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "outdir").string();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"inspect", missing}, "cannot open '" + missing + "'"},
        {{"inspect", "--json", missing_index}, "cannot open '" + missing_index + "'"},
        {{"inspect", empty},
         "the directory '" + empty + "' holds no 'model.safetensors.index.json'"},
        {{"validate", missing}, "cannot open '" + missing + "'"},
        {{"validate", missing_index}, "cannot open '" + missing_index + "'"},
        {{"validate", empty},
         "the directory '" + empty + "' holds no 'model.safetensors.index.json'"},
        {{"rewrite", missing, out}, "cannot open '" + missing + "'"},
        {{"rewrite", empty, out}, "cannot open '" + empty + "'"},
        {{"split", missing, outdir}, "cannot open '" + missing + "'"},
        {{"split", missing_index, outdir}, "cannot open '" + missing_index + "'"},
        {{"merge", missing_index, out}, "cannot open '" + missing_index + "'"},
        {{"merge", empty, out}, "the directory '" + empty + "' holds no"},
        {{"merge", empty, out, "--prefix", "unet"},
         "the directory '" + empty + "' holds no 'unet.safetensors.index.json'"},
    };
    for (const auto& entry : cases) {
      const auto& args = entry.first;
      const auto& detail = entry.second;
      CAPTURE(args.front());
      CAPTURE(detail);
      check_error(run(dir, args), 2, "error: IoError: " + detail);
    }
    CHECK_FALSE(std::filesystem::exists(out));
    CHECK_FALSE(std::filesystem::exists(outdir));
  }

  TEST_CASE("an output that cannot be written: exit 2") {
    st_test::temp_dir dir;
    const auto shards = make_checkpoint(dir);
    const std::string in = dir.file("model.safetensors").string();
    st_test::write_file(dir.file("blocker"), {0});  // a file where a directory should be
    const std::string under = (dir.path() / "blocker" / "x").string();
    check_error(run(dir, {"rewrite", in, under}), 2,
                "error: IoError: cannot write '" + under + "'");
    check_error(run(dir, {"split", in, under}), 2,
                "error: IoError: cannot create directory '" + under + "'");
    check_error(run(dir, {"merge", shards.string(), under}), 2,
                "error: IoError: cannot write '" + under + "'");
    check_error(run(dir, {"demo", under}), 2,
                "error: IoError: cannot create directory '" + under + "'");
    // rewrite: any failure to write OUT exits 2, here a header above --max-header-size (the
    // input's header is below it, the padded output's is not).
    const auto r = run(dir, {"rewrite", in, dir.file("o.safetensors").string(), "--align", "65536",
                             "--max-header-size", "1000"});
    check_error(r, 2,
                "error: HeaderTooLarge: the header would be 65528 bytes, above the limit of 1000 "
                "(--max-header-size)");
    CHECK_FALSE(std::filesystem::exists(dir.file("o.safetensors")));
  }

  TEST_CASE("an invalid input: exit 1, error: <Name>: with the file's path, for every command") {
    st_test::temp_dir dir;
    const auto shards = make_checkpoint(dir);
    st_test::write_file(dir.file("bad.safetensors"), {1, 2, 3});
    const std::string bad = dir.file("bad.safetensors").string();
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "outdir").string();
    const std::string too_small = "error: HeaderTooSmall: '" + bad + "': the input has 3 bytes";
    check_error(run(dir, {"inspect", bad}), 1, too_small);
    check_error(run(dir, {"inspect", bad, "--json", "--values", "1"}), 1, too_small);
    check_error(run(dir, {"validate", bad}), 1, too_small);
    check_error(run(dir, {"rewrite", bad, out}), 1, too_small);
    check_error(run(dir, {"split", bad, outdir}), 1, too_small);
    // A checkpoint with an invalid shard.
    const auto shard = shards / "model-00002-of-00003.safetensors";
    st_test::write_file(shard, {1, 2, 3});
    const std::string shard_error =
        "error: HeaderTooSmall: '" + shard.string() + "': the input has 3 bytes";
    check_error(run(dir, {"inspect", shards.string()}), 1, shard_error);
    check_error(run(dir, {"inspect", shards.string(), "--json"}), 1, shard_error);
    check_error(run(dir, {"merge", shards.string(), out}), 1, shard_error);
    check_error(run(dir, {"split", shards.string(), outdir}), 1, shard_error);
    const auto v = run(dir, {"validate", shards.string()});
    CHECK(v.code == 1);
    CHECK(first_line(v.err).rfind("error: HeaderTooSmall: '" + shards.string() + "': ", 0) == 0);
    CHECK(first_line(v.err).find("model-00002-of-00003.safetensors") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));
  }

  TEST_CASE("--max-header-size: the limit the messages name; 200MB reads what 100MB refuses") {
    st_test::temp_dir dir;
    const auto shards = make_checkpoint(dir);
    const auto in = dir.file("model.safetensors");
    const std::uint64_t n = header_length(in);
    const std::string limit = std::to_string(n - 1);
    const std::string too_large = "error: HeaderTooLarge: '" + in.string() +
                                  "': the header length is " + std::to_string(n) +
                                  " bytes, above the limit of " + limit + " (--max-header-size)";
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "outdir").string();
    check_error(run(dir, {"inspect", in.string(), "--max-header-size", limit}), 1, too_large);
    check_error(run(dir, {"validate", in.string(), "--max-header-size", limit}), 1, too_large);
    check_error(run(dir, {"rewrite", in.string(), out, "--max-header-size", limit}), 1, too_large);
    check_error(run(dir, {"split", in.string(), outdir, "--max-header-size", limit}), 1, too_large);
    CHECK(run(dir, {"inspect", in.string(), "--max-header-size", std::to_string(n)}).code == 0);
    for (const char* size : {"200MB", "1GiB", "150000000"}) {
      CAPTURE(size);
      CHECK(run(dir, {"validate", in.string(), "--max-header-size", size}).code == 0);
    }
    // The index of a checkpoint has the same limit.
    const auto index = shards / "model.safetensors.index.json";
    const auto index_size = std::filesystem::file_size(index);
    const std::string index_limit = std::to_string(index_size - 1);
    const std::string index_too_large = "error: HeaderTooLarge: '" + index.string() +
                                        "': the index has " + std::to_string(index_size) +
                                        " bytes, above the limit of " + index_limit +
                                        " (--max-header-size)";
    check_error(run(dir, {"inspect", shards.string(), "--max-header-size", index_limit}), 1,
                index_too_large);
    check_error(run(dir, {"validate", shards.string(), "--max-header-size", index_limit}), 1,
                index_too_large);
    check_error(run(dir, {"merge", shards.string(), out, "--max-header-size", index_limit}), 1,
                index_too_large);
    check_error(run(dir, {"split", shards.string(), outdir, "--max-header-size", index_limit}), 1,
                index_too_large);
    // merge writes under the limit too: one file's header is larger than the index and the shards'.
    std::uint64_t read_limit = index_size;
    for (const char* s : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                          "model-00003-of-00003.safetensors"}) {
      read_limit = std::max(read_limit, header_length(shards / s));
    }
    REQUIRE(read_limit < n);
    const auto m =
        run(dir, {"merge", shards.string(), out, "--max-header-size", std::to_string(read_limit)});
    check_error(m, 1, "error: HeaderTooLarge: the header would be ");
    CHECK(first_line(m.err).find("(--max-header-size)") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));
    CHECK_FALSE(std::filesystem::exists(outdir));
    REQUIRE(run(dir, {"merge", shards.string(), out, "--max-header-size", "200MB"}).code == 0);
    CHECK(st_test::read_file(out) == model_file());
  }

  TEST_CASE("--allow-trailing-bytes: named by the error, and accepts the bytes") {
    st_test::temp_dir dir;
    const auto shards = make_checkpoint(dir);
    auto bytes = model_file();
    const std::size_t size = bytes.size();
    bytes.insert(bytes.end(), {9, 9, 9, 9, 9});
    const auto in = dir.file("trailing.safetensors");
    st_test::write_file(in, bytes);
    const std::string trailing = "error: MetadataIncompleteBuffer: '" + in.string() +
                                 "': 5 bytes follow the end of the last tensor (at " +
                                 std::to_string(size) + " of " + std::to_string(size + 5) +
                                 " bytes); --allow-trailing-bytes accepts them";
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "outdir").string();
    check_error(run(dir, {"inspect", in.string()}), 1, trailing);
    check_error(run(dir, {"validate", in.string()}), 1, trailing);
    check_error(run(dir, {"rewrite", in.string(), out}), 1, trailing);
    check_error(run(dir, {"split", in.string(), outdir}), 1, trailing);
    CHECK(run(dir, {"inspect", in.string(), "--allow-trailing-bytes"}).code == 0);
    CHECK(run(dir, {"validate", "--allow-trailing-bytes", in.string()}).code == 0);
    REQUIRE(run(dir, {"rewrite", in.string(), out, "--allow-trailing-bytes"}).code == 0);
    CHECK(st_test::read_file(out) == model_file());  // the trailing bytes are not written
    REQUIRE(run(dir, {"split", in.string(), outdir, "--allow-trailing-bytes"}).code == 0);
    CHECK(st_test::read_file(std::filesystem::path(outdir) / "model.safetensors") == model_file());
    // In a shard of a checkpoint.
    const auto shard = shards / "model-00003-of-00003.safetensors";
    auto shard_bytes = st_test::read_file(shard);
    shard_bytes.push_back(0);
    st_test::write_file(shard, shard_bytes);
    const std::string prefix = "error: MetadataIncompleteBuffer: '" + shard.string() + "': 1 bytes";
    check_error(run(dir, {"inspect", shards.string()}), 1, prefix);
    check_error(run(dir, {"merge", shards.string(), dir.file("m.safetensors").string()}), 1,
                prefix);
    const auto v = run(dir, {"validate", shards.string()});
    CHECK(v.code == 1);
    CHECK(first_line(v.err).find("--allow-trailing-bytes accepts them") != std::string::npos);
    CHECK(run(dir, {"inspect", shards.string(), "--allow-trailing-bytes"}).code == 0);
    CHECK(run(dir, {"validate", shards.string(), "--allow-trailing-bytes"}).code == 0);
    REQUIRE(run(dir, {"merge", shards.string(), dir.file("m.safetensors").string(),
                      "--allow-trailing-bytes"})
                .code == 0);
    CHECK(st_test::read_file(dir.file("m.safetensors")) == model_file());
  }

  TEST_CASE("a directory holding several models: the error names --prefix, which chooses") {
    st_test::temp_dir dir;
    const auto two = dir.path() / "two";
    std::filesystem::create_directory(two);
    st_test::write_file(two / "a.safetensors", model_file());
    st_test::write_file(two / "b.safetensors", st_test::make_file({{"only_b", "U8", {1}, {7}}}));
    const std::string several =
        "error: InvalidArgument: the directory '" + two.string() +
        "' holds several safetensors files and no 'model.safetensors.index.json' or "
        "'model.safetensors'; name the file, or pass --prefix NAME";
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "outdir").string();
    check_error(run(dir, {"inspect", two.string()}), 1, several);
    check_error(run(dir, {"validate", two.string()}), 1, several);
    check_error(run(dir, {"merge", two.string(), out}), 1, several);
    check_error(run(dir, {"split", two.string(), outdir}), 1, several);

    auto r = run(dir, {"inspect", two.string(), "--prefix", "b"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("only_b") != std::string::npos);
    r = run(dir, {"validate", "--prefix", "a", two.string()});
    CHECK(r.code == 0);
    CHECK(r.out == two.string() + ": OK (4 tensors, 34 bytes in 1 file)\n");
    REQUIRE(run(dir, {"merge", two.string(), out, "--prefix", "a"}).code == 0);
    CHECK(st_test::read_file(out) == model_file());
    // split: --prefix also names what is read.
    REQUIRE(run(dir, {"split", two.string(), outdir, "--prefix", "a"}).code == 0);
    CHECK(st_test::read_file(std::filesystem::path(outdir) / "a.safetensors") == model_file());

    // Two indexes in one directory.
    const auto both = dir.path() / "both";
    for (const char* prefix : {"x", "y"}) {
      REQUIRE(run(dir, {"split", dir.file("out.safetensors").string(), both.string(),
                        "--max-shard-size", "16", "--prefix", prefix})
                  .code == 0);
    }
    check_error(run(dir, {"inspect", both.string()}), 1,
                "error: InvalidArgument: the directory '" + both.string() +
                    "' holds several indexes and no 'model.safetensors.index.json'");
    r = run(dir, {"inspect", both.string(), "--prefix", "y"});
    REQUIRE(r.code == 0);
    CHECK(first_line(r.out) == "index:    " + (both / "y.safetensors.index.json").string());
  }

  TEST_CASE("rewrite, split and merge show no progress when stderr is not a terminal") {
    st_test::temp_dir dir;
    const auto shards = make_checkpoint(dir);
    const std::string in = dir.file("model.safetensors").string();
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"rewrite", in, dir.file("r.safetensors").string()},
             {"split", in, (dir.path() / "s").string(), "--max-shard-size", "16"},
             {"merge", shards.string(), dir.file("m.safetensors").string()}}) {
      CAPTURE(args.front());
      const auto r = run(dir, args);
      CHECK(r.code == 0);
      CHECK(r.err.empty());
      CHECK(r.out.rfind("wrote ", 0) == 0);
    }
  }
}
