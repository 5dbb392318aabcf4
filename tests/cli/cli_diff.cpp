// safetensors-cli diff (docs/cli.md#diff): identical inputs whatever their layout and tensor
// order exit 0; every kind of difference (names, dtypes, shapes, bytes, metadata) exits 1 and is
// listed, with the first differing element decoded; errors exit 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

namespace st = safetensors;
using st_test::cli_output;
using st_test::first_line;
using metadata = std::vector<std::pair<std::string, std::string>>;

cli_output run(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli(dir, args);
}

/// Little-endian bytes of floats (independent of the host's byte order).
std::vector<std::uint8_t> f32_bytes(const std::vector<float>& values) {
  std::vector<std::uint8_t> out;
  for (const float v : values) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    for (int k = 0; k < 4; ++k) out.push_back(static_cast<std::uint8_t>(bits >> (8 * k)));
  }
  return out;
}

std::vector<st_test::tensor_spec> model_tensors() {
  return {
      {"encoder.weight", "F32", {2, 3}, f32_bytes({-1, -0.5f, 0, 0.5f, 1, 1.5f})},
      {"encoder.bias", "BF16", {4}, {0x80, 0x3f, 0x00, 0x40, 0x00, 0xbf, 0x80, 0x3e}},
      {"step", "I64", {}, {42, 0, 0, 0, 0, 0, 0, 0}},
      {"packed", "F4", {2, 2}, {0x21, 0x43}},
      {"mask", "BOOL", {3}, {1, 0, 1}},
      {"empty", "U8", {0}, {}},
  };
}

const metadata model_metadata{{"format", "pt"}, {"origin", "cli diff test"}};

/// `tensors` written as one file at `path`.
void write_model(const std::filesystem::path& path,
                 const std::vector<st_test::tensor_spec>& tensors,
                 const st_test::metadata_t& md = model_metadata) {
  st_test::write_file(path, st_test::make_file(tensors, md));
}

/// The tensor named `name` of `tensors`.
st_test::tensor_spec& tensor(std::vector<st_test::tensor_spec>& tensors, const std::string& name) {
  for (auto& t : tensors) {
    if (t.name == name) return t;
  }
  FAIL("no tensor " << name);
  return tensors.front();
}

/// A diff that found differences: exit 1, nothing on stderr.
nlohmann::json diff_json(const st_test::temp_dir& dir, const std::filesystem::path& a,
                         const std::filesystem::path& b) {
  const auto r = run(dir, {"diff", a.string(), b.string(), "--json"});
  CAPTURE(r.err);
  CHECK(r.code == 1);
  CHECK(r.err.empty());
  CHECK(st_test::line_count(r.out) == 1);
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST_SUITE("cli diff") {
  TEST_CASE("identical files, and a file against itself, exit 0") {
    st_test::temp_dir dir;
    write_model(dir.file("a.safetensors"), model_tensors());
    write_model(dir.file("b.safetensors"), model_tensors());
    for (const auto& b : {dir.file("b.safetensors"), dir.file("a.safetensors")}) {
      const auto r = run(dir, {"diff", dir.file("a.safetensors").string(), b.string()});
      CHECK(r.code == 0);
      CHECK(r.err.empty());
      CHECK(r.out == "identical: 6 tensors, 45 bytes, 2 metadata keys\n");
    }
    const auto r = run(dir, {"diff", "--json", dir.file("a.safetensors").string(),
                             dir.file("b.safetensors").string()});
    CHECK(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["identical"] == true);
    CHECK(j["tensors"]["compared"] == 6);
    CHECK(j["tensors"]["bytes_compared"] == 45);
    for (const char* key : {"only_in_a", "only_in_b", "mismatched", "data", "metadata"}) {
      CHECK(j[key] == nlohmann::json::array());
    }
  }

  TEST_CASE("another tensor order and a sharded copy are identical") {
    st_test::temp_dir dir;
    const auto a = dir.file("a.safetensors");
    write_model(a, model_tensors());
    auto reversed = model_tensors();
    std::reverse(reversed.begin(), reversed.end());
    write_model(dir.file("b.safetensors"), reversed,
                metadata{{"origin", "cli diff test"}, {"format", "pt"}});
    auto r = run(dir, {"diff", a.string(), dir.file("b.safetensors").string()});
    CHECK(r.code == 0);
    CHECK(r.out == "identical: 6 tensors, 45 bytes, 2 metadata keys\n");

    // The library's sharded writer, three shards; every shard gets the metadata.
    auto file = st::checkpoint::open(a.string()).value();
    st::sharded_write_options options;
    options.max_shard_size = 16;
    options.shard_metadata = file.merged_metadata().value();
    std::filesystem::create_directories(dir.path() / "sharded");
    const auto layout = st::save_sharded(dir.path() / "sharded", file.specs().value(), options);
    REQUIRE(layout);
    REQUIRE(layout->shard_count() > 2);
    for (const auto& target :
         {dir.path() / "sharded", dir.path() / "sharded" / "model.safetensors.index.json"}) {
      r = run(dir, {"diff", a.string(), target.string()});
      CHECK(r.code == 0);
      CHECK(r.err.empty());
      CHECK(r.out == "identical: 6 tensors, 45 bytes, 2 metadata keys\n");
      r = run(dir, {"diff", target.string(), a.string()});
      CHECK(r.code == 0);
    }
  }

  TEST_CASE("one byte changed: exit 1, the element's index and both values") {
    st_test::temp_dir dir;
    const auto a = dir.file("a.safetensors");
    const auto b = dir.file("b.safetensors");
    write_model(a, model_tensors());
    auto changed = model_tensors();
    // Element 4 ([1, 1]) of encoder.weight: 1.0f = 0x3f800000 -> 0x40000000 = 2.0f.
    tensor(changed, "encoder.weight").data[4 * 4 + 3] = 0x40;
    tensor(changed, "encoder.weight").data[4 * 4 + 2] = 0x00;
    write_model(b, changed);
    auto r = run(dir, {"diff", a.string(), b.string()});
    CHECK(r.code == 1);
    CHECK(r.err.empty());
    CHECK(r.out ==
          "data: 'encoder.weight' F32 [2, 3]: 1 of 6 elements differ, the first at 4 [1, 1]: "
          "1 vs 2 (0x3f800000 vs 0x40000000)\n"
          "different: 0 tensors only in A, 0 only in B, 1 of 6 in both differ; "
          "0 metadata keys differ\n");

    const auto j = diff_json(dir, a, b);
    CHECK(j["identical"] == false);
    REQUIRE(j["data"].size() == 1);
    const auto& d = j["data"][0];
    CHECK(d["name"] == "encoder.weight");
    CHECK(d["dtype"] == "F32");
    CHECK(d["shape"] == nlohmann::json::array({2, 3}));
    CHECK(d["elements"] == 6);
    CHECK(d["differing"] == 1);
    CHECK(d["first"]["index"] == 4);
    CHECK(d["first"]["position"] == nlohmann::json::array({1, 1}));
    CHECK(d["first"]["a"] == 1.0);
    CHECK(d["first"]["b"] == 2.0);
    CHECK(d["first"]["a_bits"] == "0x3f800000");
    CHECK(d["first"]["b_bits"] == "0x40000000");

    // --quiet and -q: nothing printed, the same exit codes.
    for (const char* quiet : {"--quiet", "-q"}) {
      r = run(dir, {"diff", quiet, a.string(), b.string()});
      CHECK(r.code == 1);
      CHECK(r.out.empty());
      CHECK(r.err.empty());
      r = run(dir, {"diff", quiet, a.string(), a.string()});
      CHECK(r.code == 0);
      CHECK(r.out.empty());
    }
  }

  TEST_CASE("every dtype family: the first difference decoded, integers exactly, NaN bits") {
    st_test::temp_dir dir;
    const std::uint32_t nan_a = 0x7fc00000;
    const std::uint32_t nan_b = 0x7fc00001;
    std::vector<std::uint8_t> nans;
    for (const std::uint32_t bits : {nan_a, nan_a}) {
      for (int k = 0; k < 4; ++k) nans.push_back(static_cast<std::uint8_t>(bits >> (8 * k)));
    }
    const std::vector<st_test::tensor_spec> base{
        {"big", "I64", {2}, {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10}},
        {"bits", "F4", {4}, {0x21, 0x03}},
        {"flags", "BOOL", {2}, {0, 1}},
        {"nan", "F32", {2}, nans},
        {"small", "I8", {3}, {1, 2, 3}},
        {"u", "U64", {1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
    };
    auto changed = base;
    tensor(changed, "big").data[8] = 2;                                 // 2^60 + 1 -> 2^60 + 2
    tensor(changed, "bits").data[0] = 0x71;                             // element 1: 1.0 -> 6.0
    tensor(changed, "flags").data[0] = 2;                               // false -> true
    tensor(changed, "nan").data[4] = static_cast<std::uint8_t>(nan_b);  // element 1's payload
    tensor(changed, "small").data = {1, 0xfe, 0xfd};                    // 2, 3 -> -2, -3
    tensor(changed, "u").data[0] = 0xfe;                                // 2^64 - 1 -> 2^64 - 2
    write_model(dir.file("a.safetensors"), base, std::nullopt);
    write_model(dir.file("b.safetensors"), changed, std::nullopt);
    const auto j = diff_json(dir, dir.file("a.safetensors"), dir.file("b.safetensors"));
    REQUIRE(j["data"].size() == 6);
    const auto& big = j["data"][0];
    CHECK(big["name"] == "big");
    CHECK(big["first"]["index"] == 1);
    CHECK(big["first"]["a"] == (std::int64_t{1} << 60) + 1);
    CHECK(big["first"]["b"] == (std::int64_t{1} << 60) + 2);
    CHECK(big["first"]["a_bits"] == "0x1000000000000001");
    const auto& bits = j["data"][1];
    CHECK(bits["first"]["index"] == 1);
    CHECK(bits["differing"] == 1);
    CHECK(bits["first"]["a"] == 1.0);
    CHECK(bits["first"]["b"] == 6.0);
    CHECK(bits["first"]["a_bits"] == "0x2");
    CHECK(bits["first"]["b_bits"] == "0x7");
    const auto& flags = j["data"][2];
    CHECK(flags["first"]["index"] == 0);
    CHECK(flags["first"]["a"] == 0);
    CHECK(flags["first"]["b"] == 1);
    CHECK(flags["first"]["b_bits"] == "0x02");
    const auto& nan = j["data"][3];
    CHECK(nan["first"]["index"] == 1);
    CHECK(nan["first"]["a"] == "nan");
    CHECK(nan["first"]["b"] == "nan");
    CHECK(nan["first"]["a_bits"] == "0x7fc00000");
    CHECK(nan["first"]["b_bits"] == "0x7fc00001");
    const auto& small = j["data"][4];
    CHECK(small["differing"] == 2);
    CHECK(small["first"]["index"] == 1);
    CHECK(small["first"]["a"] == 2);
    CHECK(small["first"]["b"] == -2);
    CHECK(small["first"]["b_bits"] == "0xfe");
    const auto& u = j["data"][5];
    CHECK(u["first"]["a"] == std::uint64_t{0xffffffffffffffff});
    CHECK(u["first"]["b"] == std::uint64_t{0xfffffffffffffffe});

    const auto r =
        run(dir, {"diff", dir.file("a.safetensors").string(), dir.file("b.safetensors").string()});
    CHECK(r.code == 1);
    CHECK(r.out.find("data: 'nan' F32 [2]: 1 of 2 elements differ, the first at 1 [1]: nan vs "
                     "nan (0x7fc00000 vs 0x7fc00001)\n") != std::string::npos);
    CHECK(r.out.find("data: 'big' I64 [2]: 1 of 2 elements differ, the first at 1 [1]: "
                     "1152921504606846977 vs 1152921504606846978") != std::string::npos);
  }

  TEST_CASE("differences in large tensors: every chunk counted, the first element found") {
    // 6 MiB of F32: more than one chunk of the comparison (4 MiB).
    st_test::temp_dir dir;
    const std::size_t n = std::size_t{6} << 18;
    std::vector<std::uint8_t> data(n * 4);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 1);
    std::vector<st_test::tensor_spec> base{{"w", "F32", {n / 1024, 1024}, data}};
    auto changed = base;
    const std::size_t late = n - 3;      // in the last chunk
    const std::size_t early = 1024 + 5;  // in the first chunk: [1, 5]
    changed[0].data[late * 4] ^= 1;
    changed[0].data[early * 4 + 2] ^= 0x80;
    changed[0].data[early * 4 + 3] ^= 0x01;  // one element, two bytes
    write_model(dir.file("a.safetensors"), base);
    write_model(dir.file("b.safetensors"), changed);
    const auto j = diff_json(dir, dir.file("a.safetensors"), dir.file("b.safetensors"));
    REQUIRE(j["data"].size() == 1);
    CHECK(j["data"][0]["differing"] == 2);
    CHECK(j["data"][0]["first"]["index"] == early);
    CHECK(j["data"][0]["first"]["position"] == nlohmann::json::array({1, 5}));
  }

  TEST_CASE("names, dtypes, shapes and metadata that differ are listed") {
    st_test::temp_dir dir;
    auto other = model_tensors();
    tensor(other, "encoder.bias").dtype = "F16";     // same bytes, another dtype
    tensor(other, "encoder.weight").shape = {3, 2};  // same bytes, another shape
    tensor(other, "mask").name = "mask2";            // only in B; "mask" only in A
    write_model(dir.file("a.safetensors"), model_tensors());
    write_model(dir.file("b.safetensors"), other,
                metadata{{"format", "np"}, {"extra", "x"}});  // origin only in A
    const auto r =
        run(dir, {"diff", dir.file("a.safetensors").string(), dir.file("b.safetensors").string()});
    CHECK(r.code == 1);
    CHECK(r.err.empty());
    CHECK(r.out ==
          "only in A: 'mask' BOOL [3]\n"
          "only in B: 'mask2' BOOL [3]\n"
          "dtype: 'encoder.bias': BF16 vs F16\n"
          "shape: 'encoder.weight': [2, 3] vs [3, 2]\n"
          "metadata: 'extra': only in B ('x')\n"
          "metadata: 'format': 'pt' vs 'np'\n"
          "metadata: 'origin': only in A ('cli diff test')\n"
          "different: 1 tensor only in A, 1 only in B, 2 of 5 in both differ; "
          "3 metadata keys differ\n");
    const auto j = diff_json(dir, dir.file("a.safetensors"), dir.file("b.safetensors"));
    CHECK(j["tensors"]["a"] == 6);
    CHECK(j["tensors"]["b"] == 6);
    CHECK(j["tensors"]["compared"] == 3);
    REQUIRE(j["only_in_a"].size() == 1);
    CHECK(j["only_in_a"][0]["name"] == "mask");
    CHECK(j["only_in_a"][0]["dtype"] == "BOOL");
    REQUIRE(j["only_in_b"].size() == 1);
    CHECK(j["only_in_b"][0]["name"] == "mask2");
    REQUIRE(j["mismatched"].size() == 2);
    CHECK(j["mismatched"][0]["name"] == "encoder.bias");
    CHECK(j["mismatched"][0]["a"]["dtype"] == "BF16");
    CHECK(j["mismatched"][0]["b"]["dtype"] == "F16");
    CHECK(j["mismatched"][1]["a"]["shape"] == nlohmann::json::array({2, 3}));
    CHECK(j["mismatched"][1]["b"]["shape"] == nlohmann::json::array({3, 2}));
    CHECK(j["data"].empty());
    REQUIRE(j["metadata"].size() == 3);
    CHECK(j["metadata"][0] == nlohmann::json{{"key", "extra"}, {"a", nullptr}, {"b", "x"}});
    CHECK(j["metadata"][1] == nlohmann::json{{"key", "format"}, {"a", "pt"}, {"b", "np"}});
    CHECK(j["metadata"][2] ==
          nlohmann::json{{"key", "origin"}, {"a", "cli diff test"}, {"b", nullptr}});

    // --quiet stops at the header differences: exit 1, nothing printed.
    const auto q = run(dir, {"diff", "-q", dir.file("a.safetensors").string(),
                             dir.file("b.safetensors").string()});
    CHECK(q.code == 1);
    CHECK(q.out.empty());
  }

  TEST_CASE("errors exit 2: a missing file, an invalid file; usage errors") {
    st_test::temp_dir dir;
    write_model(dir.file("a.safetensors"), model_tensors());
    auto r = run(dir, {"diff", dir.file("a.safetensors").string(),
                       dir.file("missing.safetensors").string()});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(first_line(r.err).rfind("error: IoError: ", 0) == 0);
    CHECK(r.err.find("missing.safetensors") != std::string::npos);

    st_test::write_file(dir.file("bad.safetensors"), {1, 2, 3});
    r = run(dir,
            {"diff", dir.file("bad.safetensors").string(), dir.file("a.safetensors").string()});
    CHECK(r.code == 2);  // not 1, which means "different"
    CHECK(r.out.empty());
    CHECK(first_line(r.err).rfind("error: HeaderTooSmall: ", 0) == 0);

    r = run(dir, {"diff", dir.file("a.safetensors").string()});
    CHECK(r.code == 2);
    CHECK(r.err == "error: usage: diff: missing B (see 'safetensors-cli diff --help')\n");
    r = run(dir, {"diff", "a", "b", "--values", "3"});
    CHECK(r.code == 2);
    CHECK(r.err ==
          "error: usage: diff: unknown option '--values' (see 'safetensors-cli diff "
          "--help')\n");
  }

  TEST_CASE("diff is in the usage and has its help") {
    st_test::temp_dir dir;
    auto r = run(dir, {"--help"});
    CHECK(r.out.find("\n  diff A B ") != std::string::npos);
    r = run(dir, {"diff", "--help"});
    CHECK(r.code == 0);
    CHECK(first_line(r.out) == "usage: safetensors-cli diff A B [options]");
    for (const char* option : {"  --json ", "  --quiet ", "  -q ", "  --max-header-size SIZE ",
                               "  --allow-trailing-bytes ", "  --prefix NAME "}) {
      CAPTURE(option);
      CHECK(r.out.find(option) != std::string::npos);
    }
  }
}
