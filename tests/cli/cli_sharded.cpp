// The command-line tool on sharded checkpoints (docs/cli.md#split,
// docs/index.md#sharded-checkpoints): split, merge, and inspect / validate of an index file or a
// model directory. Runs the CLI at SAFETENSORS_CLI_PATH.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using cli_result = st_test::cli_output;
cli_result run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}
std::string line1(const std::string& s) { return st_test::first_line(s); }
using st_test::slurp;

/// A canonical file: tensors in dtype rank descending, then name order; metadata sorted.
std::vector<std::uint8_t> canonical_file() {
  std::vector<st_test::tensor_spec> tensors{
      {"big", "F64", {8}, std::vector<std::uint8_t>(64, 1)},
      {"m", "F32", {4}, std::vector<std::uint8_t>(16, 2)},
      {"n", "F32", {5}, std::vector<std::uint8_t>(20, 3)},
      {"flag", "BOOL", {2}, {1, 0}},
  };
  return st_test::make_file(tensors, std::vector<std::pair<std::string, std::string>>{
                                         {"format", "pt"}, {"origin", "cli test"}});
}

}  // namespace

TEST_SUITE("cli sharded") {
  TEST_CASE("split -> validate -> inspect -> merge gives the original bytes") {
    st_test::temp_dir dir;
    const auto original = canonical_file();
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, original);
    const auto out = dir.path() / "shards";

    auto r = run(dir, {"split", in.string(), out.string(), "--max-shard-size", "36B"});
    REQUIRE(r.code == 0);
    // 64 alone (over 36), 16 + 20 = 36 (exactly the limit), 2.
    for (const char* name : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"}) {
      CHECK(std::filesystem::exists(out / name));
    }
    const auto index = nlohmann::json::parse(slurp(out / "model.safetensors.index.json"));
    CHECK(index["metadata"]["total_size"] == 64 + 16 + 20 + 2);
    CHECK(index["weight_map"]["n"] == "model-00002-of-00003.safetensors");

    for (const std::string& target :
         std::vector<std::string>{out.string(), (out / "model.safetensors.index.json").string()}) {
      r = run(dir, {"validate", target});
      CHECK(r.code == 0);
      CHECK(r.out.find("OK (4 tensors, 102 bytes in 3 shards)") != std::string::npos);
    }
    r = run(dir, {"inspect", out.string(), "--json"});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["total_size"] == 102);
    CHECK(j["shards"].size() == 3);
    REQUIRE(j["tensors"].size() == 4);
    CHECK(j["tensors"][0]["name"] == "big");
    CHECK(j["tensors"][0]["shard"] == "model-00001-of-00003.safetensors");
    r = run(dir, {"inspect", out.string()});
    CHECK(r.code == 0);
    CHECK(r.out.find("model-00003-of-00003.safetensors") != std::string::npos);

    const auto merged = dir.file("merged.safetensors");
    r = run(dir, {"merge", out.string(), merged.string()});
    REQUIRE(r.code == 0);
    CHECK(st_test::read_file(merged) == original);
  }

  TEST_CASE("inspect DIR lists the shards in a section of their own, after the metadata") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, canonical_file());
    const auto out = dir.path() / "shards";
    REQUIRE(run(dir, {"split", in.string(), out.string(), "--max-shard-size", "36B"}).code == 0);
    const auto r = run(dir, {"inspect", out.string()});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    std::vector<std::string> lines;
    std::istringstream text(r.out);
    for (std::string line; std::getline(text, line);) lines.push_back(line);
    REQUIRE(lines.size() == 18);
    CHECK(lines[0] == "index:    " + (out / "model.safetensors.index.json").string());
    CHECK(lines[1] == "tensors:  4 (102 bytes; total_size 102)");
    // Parameters per dtype, the most bytes first (docs/cli.md#inspect).
    CHECK(lines[2] == "params:   19");
    CHECK(lines[3] == "  F64   8 params, 64 bytes in 1 tensor");
    CHECK(lines[4] == "  F32   9 params, 36 bytes in 2 tensors");
    CHECK(lines[5] == "  BOOL  2 params, 2 bytes in 1 tensor");
    lines.erase(lines.begin() + 2, lines.begin() + 6);
    CHECK(lines[2] == "metadata: 1 key");
    CHECK(lines[3] == "  total_size: 102");
    CHECK(lines[4] == "shards:   3");
    const std::vector<std::pair<std::string, int>> shards{{"model-00001-of-00003.safetensors", 1},
                                                          {"model-00002-of-00003.safetensors", 2},
                                                          {"model-00003-of-00003.safetensors", 1}};
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const auto& [name, tensors] = shards[i];
      CHECK(lines[5 + i] == "  " + name + ": " + std::to_string(tensors) +
                                (tensors == 1 ? " tensor, " : " tensors, ") +
                                std::to_string(std::filesystem::file_size(out / name)) + " bytes");
    }
    CHECK(lines[8].empty());
    CHECK(lines[9].rfind("name ", 0) == 0);
    CHECK(lines[9].find(" shard") != std::string::npos);
    CHECK(lines[10].rfind("big ", 0) == 0);
  }

  TEST_CASE("split with a large limit writes one model.safetensors; --prefix") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, canonical_file());
    auto r = run(dir, {"split", in.string(), (dir.path() / "one").string()});
    REQUIRE(r.code == 0);
    CHECK(st_test::read_file(dir.path() / "one" / "model.safetensors") == canonical_file());
    CHECK_FALSE(std::filesystem::exists(dir.path() / "one" / "model.safetensors.index.json"));
    r = run(dir, {"split", in.string(), (dir.path() / "d").string(), "--prefix",
                  "diffusion_pytorch_model", "--max-shard-size", "0.036KB"});
    REQUIRE(r.code == 0);
    CHECK(std::filesystem::exists(dir.path() / "d" /
                                  "diffusion_pytorch_model.safetensors.index.json"));
    CHECK(std::filesystem::exists(dir.path() / "d" /
                                  "diffusion_pytorch_model-00001-of-00003.safetensors"));
    r = run(dir, {"validate", (dir.path() / "d").string()});
    CHECK(r.code == 0);
  }

  TEST_CASE("validate lists every problem; exit codes") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, canonical_file());
    const auto out = dir.path() / "shards";
    REQUIRE(run(dir, {"split", in.string(), out.string(), "--max-shard-size", "36"}).code == 0);
    // A wrong total_size and a missing shard.
    auto index = nlohmann::json::parse(slurp(out / "model.safetensors.index.json"));
    index["metadata"]["total_size"] = 1;
    index["weight_map"]["ghost"] = "model-00009-of-00009.safetensors";
    std::ofstream(out / "model.safetensors.index.json") << index.dump(2);
    auto r = run(dir, {"validate", out.string()});
    CHECK(r.code == 1);
    CHECK(line1(r.err).rfind("error: IoError: ", 0) == 0);
    CHECK(r.err.find("model-00009-of-00009.safetensors") != std::string::npos);
    // With the ghost gone, total_size is compared.
    index["weight_map"].erase("ghost");
    std::ofstream(out / "model.safetensors.index.json") << index.dump(2);
    r = run(dir, {"validate", out.string()});
    CHECK(r.code == 1);
    CHECK(line1(r.err).rfind("error: InvalidHeaderDeserialization: ", 0) == 0);
    CHECK(line1(r.err).find("total_size") != std::string::npos);
    // An index naming a file outside its directory.
    std::ofstream(out / "model.safetensors.index.json")
        << R"({"metadata":{},"weight_map":{"m":"../in.safetensors"}})";
    r = run(dir, {"validate", out.string()});
    CHECK(r.code == 1);
    CHECK(line1(r.err).rfind("error: InvalidHeaderDeserialization: ", 0) == 0);
    r = run(dir, {"inspect", out.string()});
    CHECK(r.code == 1);
    r = run(dir, {"merge", out.string(), dir.file("m.safetensors").string()});
    CHECK(r.code == 1);
    CHECK_FALSE(std::filesystem::exists(dir.file("m.safetensors")));
    // Duplicate weight_map keys.
    std::ofstream(out / "model.safetensors.index.json")
        << R"({"weight_map":{"m":"model-00002-of-00003.safetensors","m":"x.safetensors"}})";
    r = run(dir, {"validate", out.string()});
    CHECK(r.code == 1);
    CHECK(line1(r.err).rfind("error: DuplicateKey: ", 0) == 0);
    // Nothing there: 2.
    r = run(dir, {"validate", (dir.path() / "nothing").string()});
    CHECK(r.code == 2);
    r = run(dir, {"merge", (dir.path() / "nothing").string(), dir.file("m.safetensors").string()});
    CHECK(r.code == 2);
  }

  TEST_CASE("split and merge usage errors exit 2") {
    st_test::temp_dir dir;
    const auto in = dir.file("in.safetensors");
    st_test::write_file(in, canonical_file());
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"split"},
             {"split", in.string()},
             {"split", in.string(), dir.file("o").string(), "--max-shard-size"},
             {"split", in.string(), dir.file("o").string(), "--max-shard-size", "5XB"},
             {"split", in.string(), dir.file("o").string(), "--bogus"},
             {"merge"},
             {"merge", dir.path().string()},
             {"merge", "--x", "a", "b"}}) {
      CAPTURE(args.size());
      const auto r = run(dir, args);
      CHECK(r.code == 2);
      CHECK(line1(r.err).rfind("error: usage: ", 0) == 0);
    }
    // An invalid input file: 1.
    st_test::write_file(dir.file("bad.safetensors"), {1, 2, 3});
    const auto r =
        run(dir, {"split", dir.file("bad.safetensors").string(), dir.file("o").string()});
    CHECK(r.code == 1);
    CHECK(line1(r.err).rfind("error: HeaderTooSmall: ", 0) == 0);
  }
}
