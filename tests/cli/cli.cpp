// The command-line tool's contract (docs/cli.md#safetensors-cli): output, exit codes, first stderr
// line.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::first_line;
using st_test::run_cli;

std::vector<std::uint8_t> sample_file() {
  std::vector<st_test::tensor_spec> tensors{
      {"b", "F32", {2}, {0, 0, 128, 63, 0, 0, 0, 64}},
      {"a/..\n", "U8", {3}, {1, 2, 3}},
      {"z", "I64", {}, {7, 0, 0, 0, 0, 0, 0, 0}},
  };
  return st_test::make_file(tensors,
                            std::vector<std::pair<std::string, std::string>>{{"format", "pt"}});
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("inspect --json prints the table in offset order as docs/cli.md#json-output") {
    st_test::temp_dir dir;
    const auto bytes = sample_file();
    st_test::write_file(dir.file("m.safetensors"), bytes);
    const auto r = run_cli(dir, {"inspect", dir.file("m.safetensors").string(), "--json"});
    REQUIRE(r.code == 0);
    CHECK(r.err.empty());
    const auto j = nlohmann::json::parse(r.out);
    // header_size is the length prefix of the file.
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
    CHECK(j.at("header_size").get<std::uint64_t>() == n);
    CHECK(j.at("metadata") == nlohmann::json{{"format", "pt"}});
    const auto& t = j.at("tensors");
    REQUIRE(t.size() == 3);
    // make_file lays data out in the given order: b [0,8), "a/..\n" [8,11), z [11,19).
    CHECK(t[0] == nlohmann::json{
                      {"name", "b"}, {"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}});
    CHECK(t[1] ==
          nlohmann::json{
              {"name", "a/..\n"}, {"dtype", "U8"}, {"shape", {3}}, {"data_offsets", {8, 11}}});
    CHECK(t[2] == nlohmann::json{{"name", "z"},
                                 {"dtype", "I64"},
                                 {"shape", nlohmann::json::array()},
                                 {"data_offsets", {11, 19}}});
    // Key order of the object is part of the contract.
    CHECK(r.out.rfind("{\"header_size\":", 0) == 0);
    CHECK(r.out.find("\"metadata\"") < r.out.find("\"tensors\""));
  }

  TEST_CASE("inspect --json: metadata null when absent") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("m.safetensors"), st_test::make_file({{"x", "U8", {1}, {9}}}));
    const auto r = run_cli(dir, {"inspect", "--json", dir.file("m.safetensors").string()});
    REQUIRE(r.code == 0);
    CHECK(nlohmann::json::parse(r.out).at("metadata").is_null());
  }

  TEST_CASE("inspect prints a readable table") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("m.safetensors"), sample_file());
    const auto r = run_cli(dir, {"inspect", dir.file("m.safetensors").string()});
    REQUIRE(r.code == 0);
    CHECK(r.out.find("format: pt") != std::string::npos);
    CHECK(r.out.find("F32") != std::string::npos);
    CHECK(r.out.find("[2]") != std::string::npos);
    CHECK(r.out.find("a/..\\x0a") != std::string::npos);  // control bytes escaped
    CHECK(r.out.find("[11, 19)") != std::string::npos);
  }

  TEST_CASE("validate: valid files exit 0") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("a.safetensors"), sample_file());
    st_test::write_file(dir.file("b.safetensors"), st_test::make_file({}));
    const auto r = run_cli(
        dir, {"validate", dir.file("a.safetensors").string(), dir.file("b.safetensors").string()});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out.find("OK") != std::string::npos);
  }

  TEST_CASE("validate: an invalid file exits 1 with error: <Name>: first") {
    st_test::temp_dir dir;
    struct bad_case {
      std::vector<std::uint8_t> bytes;
      const char* name;
    };
    const std::vector<bad_case> cases{
        {{1, 2, 3}, "HeaderTooSmall"},
        {st_test::make_raw(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", {0, 0, 0}),
         "InvalidOffset"},
        {st_test::make_raw(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
                           std::vector<std::uint8_t>(12)),
         "TensorInvalidInfo"},
        {st_test::make_raw(
             R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
             {0}),
         "DuplicateKey"},
        {st_test::make_raw("{\"a\":1}"), "InvalidHeaderDeserialization"},
        {st_test::make_raw(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", {0, 0}),
         "MetadataIncompleteBuffer"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      st_test::write_file(dir.file("bad.safetensors"), c.bytes);
      const auto r = run_cli(dir, {"validate", dir.file("bad.safetensors").string()});
      CHECK(r.code == 1);
      CHECK(first_line(r.err).rfind(std::string("error: ") + c.name + ": ", 0) == 0);
      CHECK(first_line(r.err).find("bad.safetensors") != std::string::npos);
      const auto i = run_cli(dir, {"inspect", dir.file("bad.safetensors").string()});
      CHECK(i.code == 1);
      CHECK(first_line(i.err).rfind(std::string("error: ") + c.name + ": ", 0) == 0);
    }
  }

  TEST_CASE("validate: one invalid among valid files exits 1, and every file is checked") {
    st_test::temp_dir dir;
    st_test::write_file(dir.file("good.safetensors"), sample_file());
    st_test::write_file(dir.file("bad.safetensors"), {1, 2});
    const auto r = run_cli(dir, {"validate", dir.file("bad.safetensors").string(),
                                 dir.file("good.safetensors").string()});
    CHECK(r.code == 1);
    CHECK(r.out.find("good.safetensors: OK") != std::string::npos);
  }

  TEST_CASE("files that cannot be opened and usage errors exit 2") {
    st_test::temp_dir dir;
    const auto missing = run_cli(dir, {"validate", dir.file("missing.safetensors").string()});
    CHECK(missing.code == 2);
    CHECK(first_line(missing.err).rfind("error: IoError: ", 0) == 0);
    CHECK(first_line(missing.err).find("missing.safetensors") != std::string::npos);
    CHECK(run_cli(dir, {"inspect", dir.file("missing.safetensors").string()}).code == 2);
    CHECK(run_cli(dir, {"frobnicate"}).code == 2);
    CHECK(run_cli(dir, {"inspect"}).code == 2);
    CHECK(run_cli(dir, {"validate"}).code == 2);
    CHECK(run_cli(dir, {"inspect", "a", "b"}).code == 2);
    CHECK(run_cli(dir, {"inspect", "--bogus", "a"}).code == 2);
  }

  TEST_CASE("demo writes a valid multi-dtype model with metadata and inspects it") {
    st_test::temp_dir dir;
    const auto r = run_cli(dir, {"demo", dir.file("out").string()});
    REQUIRE(r.code == 0);
    const auto file = dir.file("out") / "demo.safetensors";
    REQUIRE(std::filesystem::exists(file));
    CHECK(r.out.find("demo.safetensors") != std::string::npos);
    const auto v = run_cli(dir, {"validate", file.string()});
    CHECK(v.code == 0);
    const auto j = nlohmann::json::parse(run_cli(dir, {"inspect", "--json", file.string()}).out);
    CHECK(j.at("metadata").at("format") == "pt");
    std::set<std::string> dtypes;
    for (const auto& t : j.at("tensors")) dtypes.insert(t.at("dtype").get<std::string>());
    CHECK(dtypes.size() >= 5);
  }

  TEST_CASE("rewrite writes the canonical form: sorted, metadata keys sorted, padded to 8") {
    st_test::temp_dir dir;
    // Written unpadded (align 1) with the tensors and metadata keys out of canonical order.
    const std::vector<st_test::tensor_spec> given{
        {"b", "U8", {3}, {7, 8, 9}},
        {"a", "F32", {1}, {0, 0, 0x80, 0x3f}},
        {"c", "F32", {}, {0, 0, 0, 0x40}},
    };
    const st_test::metadata_t md =
        std::vector<std::pair<std::string, std::string>>{{"z", "last"}, {"format", "pt"}};
    st_test::write_file(dir.file("in.safetensors"), st_test::make_file(given, md, 1));
    // The reference writer's order: dtype rank descending (F32 before U8), then name; keys sorted.
    const std::vector<st_test::tensor_spec> canonical{given[1], given[2], given[0]};
    const st_test::metadata_t sorted_md =
        std::vector<std::pair<std::string, std::string>>{{"format", "pt"}, {"z", "last"}};
    const auto r = run_cli(dir, {"rewrite", dir.file("in.safetensors").string(),
                                 dir.file("out.safetensors").string()});
    REQUIRE(r.code == 0);
    CHECK(st_test::read_file(dir.file("out.safetensors")) ==
          st_test::make_file(canonical, sorted_md, 8));
    // In place: OUT may be IN.
    const auto again = run_cli(
        dir, {"rewrite", dir.file("in.safetensors").string(), dir.file("in.safetensors").string()});
    REQUIRE(again.code == 0);
    CHECK(st_test::read_file(dir.file("in.safetensors")) ==
          st_test::make_file(canonical, sorted_md, 8));
  }

  TEST_CASE("rewrite --align pads the header so the data starts at that multiple") {
    st_test::temp_dir dir;
    const std::vector<st_test::tensor_spec> given{{"w", "F16", {2}, {1, 2, 3, 4}}};
    st_test::write_file(dir.file("in.safetensors"), st_test::make_file(given, std::nullopt, 1));
    for (const char* align : {"16", "4096", "65536"}) {
      CAPTURE(align);
      const auto r = run_cli(dir, {"rewrite", dir.file("in.safetensors").string(),
                                   dir.file("out.safetensors").string(), "--align", align});
      REQUIRE(r.code == 0);
      const auto out = st_test::read_file(dir.file("out.safetensors"));
      REQUIRE(out.size() >= 8);
      std::uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | out[static_cast<std::size_t>(i)];
      CHECK((8 + n) % std::strtoull(align, nullptr, 10) == 0);
      CHECK(out.size() == 8 + n + 4);
      CHECK(std::vector<std::uint8_t>(out.end() - 4, out.end()) ==
            std::vector<std::uint8_t>{1, 2, 3, 4});
      CHECK(run_cli(dir, {"validate", dir.file("out.safetensors").string()}).code == 0);
    }
  }

  TEST_CASE("rewrite: invalid input exits 1, bad options exit 2, and OUT is not created") {
    st_test::temp_dir dir;
    // Two tensors claiming the same bytes: InvalidOffset.
    const std::string bad_header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                   R"("b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    st_test::write_file(dir.file("bad.safetensors"), st_test::make_raw(bad_header, {1, 2}));
    const auto r = run_cli(dir, {"rewrite", dir.file("bad.safetensors").string(),
                                 dir.file("out.safetensors").string()});
    CHECK(r.code == 1);
    CHECK(r.err.rfind("error: InvalidOffset: ", 0) == 0);
    CHECK_FALSE(std::filesystem::exists(dir.file("out.safetensors")));

    const std::vector<st_test::tensor_spec> good{{"w", "U8", {1}, {5}}};
    st_test::write_file(dir.file("good.safetensors"), st_test::make_file(good));
    for (const char* align : {"3", "4", "131072", "x", "-8"}) {
      CAPTURE(align);
      const auto u = run_cli(dir, {"rewrite", dir.file("good.safetensors").string(),
                                   dir.file("out.safetensors").string(), "--align", align});
      CHECK(u.code == 2);
      CHECK_FALSE(std::filesystem::exists(dir.file("out.safetensors")));
    }
    CHECK(run_cli(dir, {"rewrite", dir.file("good.safetensors").string()}).code == 2);
    CHECK(run_cli(dir, {"rewrite", dir.file("good.safetensors").string(),
                        dir.file("out.safetensors").string(), "--align"})
              .code == 2);
    CHECK(run_cli(dir, {"rewrite", dir.file("missing.safetensors").string(),
                        dir.file("out.safetensors").string()})
              .code == 2);
  }

  TEST_CASE(
      "inspect --values K decodes the first K values of every dtype (docs/cli.md#decoded-values)") {
    st_test::temp_dir dir;
    const auto f32 = [](std::uint32_t bits) {
      return std::vector<std::uint8_t>{
          static_cast<std::uint8_t>(bits), static_cast<std::uint8_t>(bits >> 8),
          static_cast<std::uint8_t>(bits >> 16), static_cast<std::uint8_t>(bits >> 24)};
    };
    std::vector<std::uint8_t> floats;
    for (const std::uint32_t b : {0x3dcccccdu /* 0.1f */, 0x7fc00000u /* nan */,
                                  0xff800000u /* -inf */, 0x7f800000u /* inf */}) {
      const auto v = f32(b);
      floats.insert(floats.end(), v.begin(), v.end());
    }
    std::vector<std::uint8_t> c64 = f32(0xbf800000u);  // -1 + 1i
    const auto im = f32(0x3f800000u);
    c64.insert(c64.end(), im.begin(), im.end());
    const std::vector<st_test::tensor_spec> tensors{
        {"f", "F32", {4}, floats},
        {"i64",
         "I64",
         {2},
         {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
        {"u64", "U64", {1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
        {"c", "C64", {1}, c64},
        {"bf", "BF16", {2}, {0x80, 0x3f, 0xc0, 0xff}},  // 1.0, nan
        {"e4m3", "F8_E4M3", {3}, {0x38, 0x7e, 0xb0}},   // 1.0, 448, -0.5
        {"b", "BOOL", {2}, {0, 7}},
        {"e", "U8", {0}, {}},
    };
    const auto path = dir.file("v.safetensors");
    st_test::write_file(path, st_test::make_file(tensors));
    const auto r = run_cli(dir, {"inspect", "--json", "--values", "3", path.string()});
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    std::map<std::string, nlohmann::json> by_name;
    for (const auto& t : j.at("tensors")) by_name[t.at("name").get<std::string>()] = t.at("values");
    // Floats with the fewest digits that read back as the same float: 0.1f is 0.1.
    CHECK(by_name["f"].dump() == R"([0.1,"nan","-inf"])");
    CHECK(by_name["i64"].dump() == "[-9223372036854775808,9223372036854775807]");
    CHECK(by_name["u64"].dump() == "[18446744073709551615]");
    CHECK(by_name["c"].dump() == "[[-1.0,1.0]]");
    CHECK(by_name["bf"].dump() == R"([1.0,"nan"])");
    CHECK(by_name["e4m3"].dump() == "[1.0,448.0,-0.5]");
    CHECK(by_name["b"].dump() == "[0,1]");
    CHECK(by_name["e"].dump() == "[]");
    // K = 0: empty lists; without --values: no "values" key.
    const auto z = nlohmann::json::parse(
        run_cli(dir, {"inspect", "--json", "--values", "0", path.string()}).out);
    for (const auto& t : z.at("tensors")) CHECK(t.at("values").empty());
    const auto none = nlohmann::json::parse(run_cli(dir, {"inspect", "--json", path.string()}).out);
    for (const auto& t : none.at("tensors")) CHECK_FALSE(t.contains("values"));
    // The table shows them too, with "..." when there are more.
    const auto table = run_cli(dir, {"inspect", "--values", "1", path.string()});
    REQUIRE(table.code == 0);
    CHECK(table.out.find("[0.1, ...]") != std::string::npos);
    CHECK(table.out.find("[18446744073709551615]") != std::string::npos);
    // Bad counts are usage errors.
    for (const char* bad : {"x", "-1", "1.5", ""}) {
      CAPTURE(bad);
      CHECK(run_cli(dir, {"inspect", "--values", bad, path.string()}).code == 2);
    }
    CHECK(run_cli(dir, {"inspect", path.string(), "--values"}).code == 2);
  }
}
