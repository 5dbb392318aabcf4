// safetensors-cli inspect for a person (docs/cli.md#inspect): sizes in decimal units next to the
// bytes, parameters per dtype and in total, the --summary view grouping numbered layers, long
// metadata values shortened in the text (whole in JSON), and table columns aligned by display
// width. Also the helpers of examples/cli_human.hpp and examples/cli_inspect.hpp directly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_human.hpp"
#include "cli_inspect.hpp"
#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::cli_output;

cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// The column (display width of what precedes it) at which `word` starts in `line`.
std::size_t column_of(const std::string& line, const std::string& word) {
  const std::size_t at = line.find(word);
  REQUIRE(at != std::string::npos);
  return safetensors_cli::display_width(line.substr(0, at));
}

st_test::tensor_spec zeros(std::string name, std::string dtype, std::vector<std::uint64_t> shape) {
  st_test::tensor_spec t{std::move(name), std::move(dtype), std::move(shape), {}};
  t.data.resize(st_test::byte_size(t.dtype, t.shape));
  return t;
}

}  // namespace

TEST_SUITE("cli inspect summary") {
  TEST_CASE("sizes in decimal units, parameters per dtype and in total; JSON params and dtypes") {
    st_test::temp_dir dir;
    const auto path = dir.file("m.safetensors");
    st_test::write_file(path, st_test::make_file({zeros("w", "BF16", {1000, 1100}),
                                                  zeros("b", "F32", {10}), zeros("s", "I64", {})}));
    auto r = run(dir, {"inspect", path.string()});
    REQUIRE(r.code == 0);
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() > 8);
    CHECK(lines[2] == "data:     2200048 bytes (2.20 MB) in 3 tensors");
    CHECK(lines[3] == "params:   1100011 (1.10 M)");
    CHECK(lines[4] == "  BF16  1100000 (1.10 M) params, 2200000 bytes (2.20 MB) in 1 tensor");
    CHECK(lines[5] == "  F32   10 params, 40 bytes in 1 tensor");
    CHECK(lines[6] == "  I64   1 param, 8 bytes in 1 tensor");
    CHECK(lines[7] == "metadata: none");

    r = run(dir, {"inspect", path.string(), "--json"});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["params"] == 1100011);
    CHECK(j["dtypes"] == nlohmann::json::parse(
                             R"([{"dtype":"BF16","tensors":1,"params":1100000,"bytes":2200000},
                                 {"dtype":"F32","tensors":1,"params":10,"bytes":40},
                                 {"dtype":"I64","tensors":1,"params":1,"bytes":8}])"));
    CHECK_FALSE(j.contains("groups"));
  }

  TEST_CASE("--summary: numbered layers collapsed, per dtype and shape, with count and size") {
    st_test::temp_dir dir;
    std::vector<st_test::tensor_spec> tensors{zeros("model.embed_tokens.weight", "BF16", {64, 16}),
                                              zeros("model.norm.weight", "F32", {16})};
    for (int layer = 0; layer < 22; ++layer) {
      const std::string l = "model.layers." + std::to_string(layer) + ".";
      // Layer 5's up_proj has another shape: a group of its own.
      tensors.push_back(zeros(l + "mlp.up_proj.weight", "BF16", {layer == 5 ? 40u : 44u, 16}));
      tensors.push_back(zeros(l + "input_layernorm.weight", "F32", {16}));
      for (int e = 0; e < 4; ++e) {
        if (layer % 2 == 1 && e == 3) continue;  // not a full cross product: the count says
        tensors.push_back(zeros(l + "experts." + std::to_string(e) + ".w1", "BF16", {8, 16}));
      }
    }
    const auto path = dir.file("m.safetensors");
    st_test::write_file(path, st_test::make_file(tensors));
    auto r = run(dir, {"inspect", path.string(), "--summary"});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    const std::string table = r.out.substr(r.out.find("\n\nname"));
    const std::vector<std::vector<std::string>> rows{
        {"name", "dtype", "shape", "count", "size"},
        {"model.embed_tokens.weight", "BF16", "[64, 16]", "x1", "2.05 KB"},
        {"model.layers.{0..21}.experts.{0..3}.w1", "BF16", "[8, 16]", "x77", "19.7 KB"},
        {"model.layers.{0..21}.input_layernorm.weight", "F32", "[16]", "x22", "1.41 KB"},
        {"model.layers.{0..4,6..21}.mlp.up_proj.weight", "BF16", "[44, 16]", "x21", "29.6 KB"},
        {"model.layers.5.mlp.up_proj.weight", "BF16", "[40, 16]", "x1", "1.28 KB"},
        {"model.norm.weight", "F32", "[16]", "x1", "64 B"}};
    std::vector<std::size_t> width(5, 0);
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < 5; ++c) width[c] = std::max(width[c], row[c].size());
    }
    std::string expected = "\n\n";
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < 4; ++c)
        expected += row[c] + std::string(width[c] + 2 - row[c].size(), ' ');
      expected += row[4] + "\n";
    }
    CHECK(table == expected);
    r = run(dir, {"inspect", path.string(), "--summary", "--json"});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["groups"].size() == 6);
    CHECK(j["groups"][1] == nlohmann::json::parse(
                                R"({"name":"model.layers.{0..21}.experts.{0..3}.w1","dtype":"BF16",
                                    "shape":[8,16],"count":77,"params":9856,"bytes":19712})"));
    CHECK(j["tensors"].size() == tensors.size());  // the tensors are still there
    // A checkpoint: the same groups.
    const auto shards = dir.path() / "shards";
    REQUIRE(run(dir, {"split", path.string(), shards.string(), "--max-shard-size", "20KB"}).code ==
            0);
    r = run(dir, {"inspect", shards.string(), "--summary"});
    REQUIRE(r.code == 0);
    CHECK(r.out.substr(r.out.find("\n\nname")) == table);
    // --values lists every tensor: not with --summary.
    r = run(dir, {"inspect", path.string(), "--summary", "--values", "2"});
    CHECK(r.code == 2);
    CHECK(r.err ==
          "error: usage: inspect: --values and --summary exclude each other (see "
          "'safetensors-cli inspect --help')\n");
  }

  TEST_CASE("long metadata values are cut in the text, whole in JSON") {
    st_test::temp_dir dir;
    std::string config = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":2048";
    while (config.size() < 480) config += ",\"key" + std::to_string(config.size()) + "\":1";
    config += "}";
    const std::string wide = "\xe5\x90\x8d\xe5\x89\x8d";  // two characters, 4 columns
    std::string long_wide;
    for (int i = 0; i < 60; ++i) long_wide += wide;
    const auto path = dir.file("m.safetensors");
    st_test::write_file(
        path, st_test::make_file({zeros("w", "U8", {1})},
                                 std::vector<std::pair<std::string, std::string>>{
                                     {"config", config}, {"format", "pt"}, {"names", long_wide}}));
    auto r = run(dir, {"inspect", path.string()});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("  config: " + config.substr(0, 100) + "... (" +
                     std::to_string(config.size()) + " bytes)\n") != std::string::npos);
    CHECK(r.out.find("  format: pt\n") != std::string::npos);
    // 100 columns of two-column characters: 50 characters, 150 bytes.
    std::string cut;
    for (int i = 0; i < 25; ++i) cut += wide;
    CHECK(r.out.find("  names: " + cut + "... (360 bytes)\n") != std::string::npos);
    r = run(dir, {"inspect", path.string(), "--json"});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["metadata"]["config"] == config);
    CHECK(j["metadata"]["names"] == long_wide);
  }

  TEST_CASE("table columns are aligned by display width, non-ASCII names included") {
    st_test::temp_dir dir;
    const auto path = dir.file("m.safetensors");
    st_test::write_file(
        path,
        st_test::make_file(
            {zeros("caf\xc3\xa9.weight", "F32", {2}), zeros("\xe5\x90\x8d\xe5\x89\x8d", "F16", {3}),
             zeros("plain", "I8", {4}), zeros("e\xcc\x81", "U8", {1})}));  // e, combining acute
    auto r = run(dir, {"inspect", path.string()});
    REQUIRE(r.code == 0);
    // The column at which each line of the table (from its "name" heading on) has its dtype.
    const auto dtype_columns = [](const std::string& out) {
      std::vector<std::size_t> columns;
      bool table = false;
      for (const auto& line : lines_of(out)) {
        table = table || line.rfind("name ", 0) == 0;
        if (!table) continue;
        for (const char* dtype : {" dtype", " F32 ", " F16 ", " I8 ", " U8 "}) {
          if (line.find(dtype) != std::string::npos) columns.push_back(column_of(line, dtype));
        }
      }
      return columns;
    };
    auto columns = dtype_columns(r.out);
    REQUIRE(columns.size() == 5);  // the heading and four rows
    for (const std::size_t c : columns) CHECK(c == columns.front());
    // The stats table too.
    r = run(dir, {"stats", path.string()});
    REQUIRE(r.code == 0);
    columns = dtype_columns(r.out);
    REQUIRE(columns.size() == 5);
    for (const std::size_t c : columns) CHECK(c == columns.front());
  }
}

TEST_SUITE("cli human units") {
  TEST_CASE("human_size, human_count: three significant digits, decimal units") {
    using safetensors_cli::human_count;
    using safetensors_cli::human_size;
    CHECK(human_size(0) == "0 B");
    CHECK(human_size(999) == "999 B");
    CHECK(human_size(1000) == "1.00 KB");
    CHECK(human_size(1234) == "1.23 KB");
    CHECK(human_size(99'949) == "99.9 KB");
    CHECK(human_size(99'950) == "100 KB");
    CHECK(human_size(999'499) == "999 KB");
    CHECK(human_size(999'500) == "1.00 MB");
    CHECK(human_size(1'073'741'824) == "1.07 GB");
    CHECK(human_size(507'510'784) == "508 MB");
    CHECK(human_size(~std::uint64_t{0}) == "18.4 EB");
    CHECK(human_count(950) == "950");
    CHECK(human_count(1'100'048'384) == "1.10 B");
    CHECK(human_count(7'000'000'000'000) == "7.00 T");
  }

  TEST_CASE("display_width and shortened") {
    using safetensors_cli::display_width;
    CHECK(display_width("abc") == 3);
    CHECK(display_width("caf\xc3\xa9") == 4);
    CHECK(display_width("\xe5\x90\x8d\xe5\x89\x8d") == 4);  // CJK: 2 columns each
    CHECK(display_width("e\xcc\x81") == 1);                 // a combining accent: 0
    CHECK(display_width("\xf0\x9f\x98\x80") == 2);          // an emoji
    CHECK(display_width("\xff\xfe") == 2);                  // not UTF-8: a column per byte
    CHECK(safetensors_cli::shortened("abcdef", 6) == "abcdef");
    CHECK(safetensors_cli::shortened("abcdefg", 6) == "abcdef... (7 bytes)");
    CHECK(safetensors_cli::shortened("\xe5\x90\x8d\xe5\x89\x8d", 3) == "\xe5\x90\x8d... (6 bytes)");
  }

  TEST_CASE("group_tensors: names, ranges, order") {
    using safetensors_cli::tensor_row;
    const auto row = [](std::string name, std::vector<std::uint64_t> shape) {
      return tensor_row{std::move(name), safetensors::dtype::F32, std::move(shape), 1, 4};
    };
    const auto groups = safetensors_cli::group_tensors(
        {row("h.2.w", {1}), row("h.0.w", {1}), row("h.1.w", {1}), row("h.3.w", {1}),
         row("h.5.w", {1}), row("h.6.w", {1}), row("a.00.w", {1}), row("a.01.w", {1}),
         row("x.1..y", {1}), row("x.2..y", {1})});
    REQUIRE(groups.size() == 4);
    CHECK(groups[0].name == "a.00.w");  // leading zeros: not numbers
    CHECK(groups[1].name == "a.01.w");
    CHECK(groups[2].name == "h.{0..3,5,6}.w");
    CHECK(groups[2].count == 6);
    CHECK(groups[2].bytes == 24);
    CHECK(groups[3].name == "x.{1,2}..y");  // an empty part stays
  }
}
