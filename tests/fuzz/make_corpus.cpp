// Writes the fuzzers' seed corpora, one directory per target, as checked in under
// tests/fuzz/regressions/ (the unit tests replay every file there; .clusterfuzzlite/build.sh
// zips them into the seed corpora):
//   fuzz_parse/      the reference's test vectors, hand-written edge headers, and headers larger
//                    than 4 KiB (many tensors, large metadata, long names, deep nesting)
//   fuzz_files/      valid and damaged files for the file paths: data of several sizes, trailing
//                    bytes, truncated data, an empty file, a header cut short
//   fuzz_roundtrip/  deterministic random valid files of every dtype (built with the independent
//                    test writer), with and without metadata and alignment
//   fuzz_index/      checkpoint index JSON: transformers-style, minimal, with metadata, large
//                    (over 4 KiB), and refused ones (duplicate key, unsafe shard names)
//   fuzz_json/       JSON text: headers, every escape, surrogates, numbers at the edges of the
//                    integer and double ranges, literals, nesting at the limit, broken text
// The three safetensors targets take the same input, so each one's corpus is the first three
// directories together. The files are named seed_<target>_<NNN> (unique across directories, so
// that the directories can be merged); regenerate them with:
//   fuzz_make_corpus tests/fuzz/regressions
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "test_writer.hpp"

namespace {
using bytes = std::vector<std::uint8_t>;

bytes raw(const std::string& json, std::size_t data = 0) {
  return st_test::make_raw(json, bytes(data, 0));
}

bytes text(const std::string& s) { return st_test::bytes_of(s); }

// A random valid file: 1 to `max_tensors` tensors of random dtypes and shapes (dims < 4).
bytes random_file(std::mt19937_64& rng, std::size_t max_tensors, int f) {
  static const auto names = st_test::dtype_names();
  std::vector<st_test::tensor_spec> tensors;
  const std::size_t count = 1 + rng() % max_tensors;
  for (std::size_t i = 0; i < count; ++i) {
    st_test::tensor_spec t;
    t.name = "layer." + std::to_string(i) + ".weight";
    for (;;) {
      t.dtype = names[rng() % names.size()];
      t.shape.clear();
      const std::size_t rank = rng() % 4;
      std::uint64_t elements = 1;
      for (std::size_t d = 0; d < rank; ++d) {
        t.shape.push_back(rng() % 4);
        elements *= t.shape.back();
      }
      if (elements * st_test::dtype_bits(t.dtype) % 8 == 0) break;
    }
    t.data.resize(st_test::byte_size(t.dtype, t.shape));
    for (auto& x : t.data) x = static_cast<std::uint8_t>(rng());
    tensors.push_back(std::move(t));
  }
  st_test::metadata_t md;
  if (f % 3 == 0)
    md = std::vector<std::pair<std::string, std::string>>{{"format", "pt"}, {"k", "v\n"}};
  return st_test::make_file(tensors, md, f % 2 ? 8 : 1);
}

std::vector<bytes> parse_seeds() {
  std::vector<bytes> out;
  const std::string b = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
  out.push_back(raw(b, 16));
  out.push_back(raw(R"({"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})", 4));
  out.push_back(raw(R"({"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}})"));
  out.push_back(raw("{}\r \t\n"));
  out.push_back(raw("\t\n{}\r "));
  out.push_back(raw(b, 17));
  out.push_back(raw(b, 14));
  out.push_back({});
  out.push_back(st_test::le64(60));
  out.push_back(raw("\xff"));
  out.push_back(raw("{"));
  out.push_back(raw(
      R"({"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}})", 16));
  out.push_back(raw(
      R"({"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}       )",
      16));
  out.push_back(raw(
      R"({"__metadata__":null,"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]},"b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[1,4]}})",
      4));
  out.push_back(raw(
      R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"c":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3],"x":[{"k":1}]}})",
      3));
  out.push_back(raw(
      R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
      1));
  out.push_back(raw(
      R"({"\u0000/..":{"dtype":"C64","shape":[1],"data_offsets":[0,8]},"":{"dtype":"F64","shape":[],"data_offsets":[8,16]}})",
      16));

  // Headers larger than 4 KiB (libFuzzer's default -max_len is 4096).
  // 200 tensors of 4 bytes: a 15 KiB header.
  {
    std::vector<st_test::tensor_spec> tensors;
    for (int i = 0; i < 200; ++i) {
      tensors.push_back({"model.layers." + std::to_string(i) + ".self_attn.q_proj.weight",
                         "F32",
                         {1},
                         bytes(4, static_cast<std::uint8_t>(i))});
    }
    out.push_back(st_test::make_file(tensors));
  }
  // 6 KiB of metadata (one long value and many keys) before one tensor.
  {
    std::vector<std::pair<std::string, std::string>> md{{"format", "pt"},
                                                        {"long", std::string(4000, 'x')}};
    for (int i = 0; i < 100; ++i) md.emplace_back("key" + std::to_string(i), "value");
    out.push_back(st_test::make_file({{"w", "BF16", {2, 2}, bytes(8, 0x3f)}}, md));
  }
  // A 5,000-byte tensor name.
  out.push_back(st_test::make_file({{std::string(5000, 'n'), "U8", {3}, bytes{1, 2, 3}}}));
  // Nesting at the parser's limit in an ignored member (127 levels, the top object is 1), and
  // one level deeper.
  for (const int levels : {125, 126}) {
    std::string deep(static_cast<std::size_t>(levels), '[');
    deep += std::string(static_cast<std::size_t>(levels), ']');
    out.push_back(
        raw(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":)" + deep + "}}", 1));
  }
  // A rank-3,000 shape of ones (a 6 KiB header).
  {
    std::string shape;
    for (int i = 0; i < 3000; ++i) shape += i ? ",1" : "1";
    out.push_back(
        raw(R"({"t":{"dtype":"I16","shape":[)" + shape + R"(],"data_offsets":[0,2]}})", 2));
  }
  return out;
}

std::vector<bytes> files_seeds() {
  std::vector<bytes> out;
  // Data of several sizes (up to 48 KiB), aligned and not.
  std::mt19937_64 rng(7);
  for (const std::size_t n : {std::size_t{1}, std::size_t{4096}, std::size_t{49152}}) {
    bytes d(n);
    for (auto& x : d) x = static_cast<std::uint8_t>(rng());
    out.push_back(st_test::make_file({{"data", "U8", {n}, d}}, std::nullopt, n == 1 ? 1 : 8));
  }
  const bytes valid = st_test::make_file(
      {{"a", "F16", {2, 3}, bytes(12, 0x11)}, {"b", "I64", {2}, bytes(16, 0x22)}},
      std::vector<std::pair<std::string, std::string>>{{"format", "pt"}});
  out.push_back(valid);
  bytes trailing = valid;  // trailing bytes after the data
  trailing.insert(trailing.end(), {0xde, 0xad, 0xbe, 0xef});
  out.push_back(trailing);
  out.push_back(bytes(valid.begin(), valid.end() - 5));     // data cut short
  out.push_back(bytes(valid.begin(), valid.begin() + 20));  // header cut short
  out.push_back(raw("{}"));                                 // no tensors, no data
  out.push_back(raw(R"({"z":{"dtype":"F64","shape":[0],"data_offsets":[0,0]}})"));
  return out;
}

std::vector<bytes> roundtrip_seeds() {
  std::vector<bytes> out;
  std::mt19937_64 rng(20261130);
  for (int f = 0; f < 40; ++f) out.push_back(random_file(rng, 4, f));
  return out;
}

std::vector<bytes> index_seeds() {
  std::vector<bytes> out;
  out.push_back(text(
      "{\n  \"metadata\": {\n    \"total_size\": 24\n  },\n  \"weight_map\": {\n    \"a\": "
      "\"model-00001-of-00002.safetensors\",\n    \"b\": \"model-00002-of-00002.safetensors\"\n  "
      "}\n}\n"));
  out.push_back(text(R"({"weight_map":{"w":"model.safetensors"}})"));
  out.push_back(text(
      R"({"metadata":{"total_size":1e3,"total_parameters":7,"format":"pt","nested":{"a":[1,2,null]}},"weight_map":{},"extra":true})"));
  out.push_back(text(R"({"weight_map":{"w":"a.safetensors","w":"b.safetensors"}})"));
  out.push_back(text(R"({"weight_map":{"w":"../outside.safetensors","v":"sub/dir.safetensors"}})"));
  out.push_back(text(R"({"weight_map":{"\u00e9\ud83d\ude00":"C:x","n":"NUL","\u0000":"x"}})"));
  // 300 tensors in 3 shards: a 20 KiB index.
  std::string big = R"({"metadata":{"total_size":123456789},"weight_map":{)";
  for (int i = 0; i < 300; ++i) {
    big += (i ? "," : "") + std::string("\"model.layers.") + std::to_string(i) +
           ".mlp.down_proj.weight\":\"model-0000" + std::to_string(1 + i % 3) +
           "-of-00003.safetensors\"";
  }
  out.push_back(text(big + "}}"));
  return out;
}

std::vector<bytes> json_seeds() {
  std::vector<bytes> out;
  out.push_back(text(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})"));
  out.push_back(
      text(R"( {"__metadata__":{"format":"pt","k\u00e9":"a\"b\\c\/d\b\f\n\r\t\u0000\ud83d\ude00"},)"
           R"("":{"dtype":"F64","shape":[],"data_offsets":[0,8],"x":[true,false,null,{},[]]}} )"));
  out.push_back(
      text("[0,-0,1,-1,18446744073709551615,18446744073709551616,-9223372036854775808,"
           "-9223372036854775809,0.5,-0.0,1e5,1E+5,1e-5,2.5E-3,1e308,1.7976931348623157e308,"
           "1.7976931348623159e308,1e-400,0e999999999999]"));
  out.push_back(text(R"(["\ud800","\udc00","\ud800\u0041","\udc00\ud800","\uD83D\uDE00x"])"));
  out.push_back(text("[01,1.,.5,-,+1,1e,1e+,tru,nul,fals,\"\x01\",'a',/*c*/]"));
  out.push_back(text(std::string(128, '[') + std::string(128, ']')));
  out.push_back(text(std::string(129, '[') + std::string(129, ']')));
  out.push_back(text(R"({"a":{"b":[1,{"c":"\u00e9\u20ac"}]}} x)"));
  return out;
}

void write_all(const std::filesystem::path& dir, const char* prefix,
               const std::vector<bytes>& files) {
  std::filesystem::create_directories(dir);
  for (std::size_t i = 0; i < files.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "%s_%03zu", prefix, i);
    st_test::write_file(dir / name, files[i]);
  }
  std::printf("%zu seeds in %s\n", files.size(), dir.string().c_str());
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  write_all(dir / "fuzz_parse", "seed_parse", parse_seeds());
  write_all(dir / "fuzz_files", "seed_files", files_seeds());
  write_all(dir / "fuzz_roundtrip", "seed_roundtrip", roundtrip_seeds());
  write_all(dir / "fuzz_index", "seed_index", index_seeds());
  write_all(dir / "fuzz_json", "seed_json", json_seeds());
  return 0;
}
