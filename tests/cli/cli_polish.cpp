// What a new user meets first (docs/cli.md): error messages that read as one sentence, a size of 0
// refused, and split saying which files of the checkpoint it replaced it removed. Runs the CLI at
// SAFETENSORS_CLI_PATH.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::first_line;

st_test::cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

/// Six tensors of 8 bytes each.
std::vector<std::uint8_t> six_tensors() {
  std::vector<st_test::tensor_spec> tensors;
  for (char c = 'a'; c <= 'f'; ++c) {
    tensors.push_back({std::string(1, c), "U8", {8}, std::vector<std::uint8_t>(8, 1)});
  }
  return st_test::make_file(tensors);
}

std::vector<std::string> listing(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_SUITE("cli polish") {
  TEST_CASE("an output in a missing directory: the path, then the reason, once") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("in.safetensors"), six_tensors());
    const std::string out = (dir.path() / "nope" / "x.safetensors").string();
    const auto r = run(dir, {"rewrite", dir.file("in.safetensors").string(), out});
    CHECK(r.code == 2);
    CHECK(first_line(r.err) == "error: IoError: cannot write '" + out +
                                   "': cannot create a temporary file in its directory: No such "
                                   "file or directory");
  }

  TEST_CASE("a git-lfs pointer: the hint, without the --max-header-size advice") {
    st_test::temp_dir dir;
    const std::string text =
        "version https://git-lfs.github.com/spec/v1\noid sha256:0123abcd\nsize 4932\n";
    const auto path = dir.file("lfs.safetensors");
    st_test::write_file(path, std::vector<std::uint8_t>(text.begin(), text.end()));
    for (const char* command : {"inspect", "validate"}) {
      const auto r = run(dir, {command, path.string()});
      CHECK(r.code == 1);
      const std::string line = first_line(r.err);
      CAPTURE(line);
      CHECK(line.rfind("error: HeaderTooLarge: '" + path.string() + "': ", 0) == 0);
      CHECK(line.find("git-lfs pointer file (the real file is 4932 bytes): run `git lfs pull`") !=
            std::string::npos);
      CHECK(line.find("--max-header-size") == std::string::npos);
    }
  }

  TEST_CASE("split --max-shard-size 0 is a usage error; nothing is written") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("in.safetensors"), six_tensors());
    const auto out = dir.path() / "out";
    for (const char* size : {"0", "0GB", "0.4B"}) {
      CAPTURE(size);
      const auto r = run(dir, {"split", dir.file("in.safetensors").string(), out.string(),
                               "--max-shard-size", size});
      CHECK(r.code == 2);
      CHECK(first_line(r.err) == std::string("error: usage: split: --max-shard-size must be at "
                                             "least 1 byte, got '") +
                                     size + "' (see 'safetensors-cli split --help')");
      CHECK(r.out.empty());
    }
    CHECK_FALSE(std::filesystem::exists(out));
  }

  TEST_CASE("split over an older checkpoint lists the files it removed") {
    st_test::temp_dir dir;
    const std::string in = dir.file("in.safetensors").string();
    st_test::write_file(dir.file("in.safetensors"), six_tensors());
    const auto out = dir.path() / "out";
    auto r = run(dir, {"split", in, out.string(), "--max-shard-size", "16"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("removed") == std::string::npos);  // nothing was there
    st_test::write_file(out / "notes.txt", {1});
    st_test::write_file(out / "other-00001-of-00002.safetensors", {1});

    // 3 shards -> 2: the three old shards go (the index is replaced, not removed).
    r = run(dir, {"split", in, out.string(), "--max-shard-size", "24"});
    REQUIRE(r.code == 0);
    CHECK(r.out == "wrote 2 shards (6 tensors, 48 bytes) to " + out.string() +
                       "\n"
                       "  model-00001-of-00002.safetensors\n"
                       "  model-00002-of-00002.safetensors\n"
                       "  model.safetensors.index.json\n"
                       "removed 3 files of the previous checkpoint:\n"
                       "  model-00001-of-00003.safetensors\n"
                       "  model-00002-of-00003.safetensors\n"
                       "  model-00003-of-00003.safetensors\n");

    // 2 shards -> one file: the shards and the index go.
    r = run(dir, {"split", in, out.string()});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("removed 3 files of the previous checkpoint:\n"
                     "  model-00001-of-00002.safetensors\n"
                     "  model-00002-of-00002.safetensors\n"
                     "  model.safetensors.index.json\n") != std::string::npos);
    CHECK(listing(out) == std::vector<std::string>{"model.safetensors", "notes.txt",
                                                   "other-00001-of-00002.safetensors"});

    // The same layout again: the file is replaced, nothing is removed.
    r = run(dir, {"split", in, out.string()});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("removed") == std::string::npos);
  }
}
