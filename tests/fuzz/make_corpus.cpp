// Writes the fuzzers' seed corpus into a directory: the reference's test vectors, hand-written
// edge headers, and deterministic random valid files of every dtype (built with the independent
// test writer). Run by CI before fuzzing; nothing binary is checked in.
//   fuzz_make_corpus OUTDIR
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

std::vector<bytes> seeds() {
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
  // Random valid files of every dtype.
  std::mt19937_64 rng(20261130);
  const auto names = st_test::dtype_names();
  for (int f = 0; f < 40; ++f) {
    std::vector<st_test::tensor_spec> tensors;
    const std::size_t count = 1 + rng() % 4;
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
    out.push_back(st_test::make_file(tensors, md, f % 2 ? 8 : 1));
  }
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const auto all = seeds();
  for (std::size_t i = 0; i < all.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "seed_%03zu.safetensors", i);
    st_test::write_file(dir / name, all[i]);
  }
  std::printf("%zu seeds in %s\n", all.size(), dir.string().c_str());
  return 0;
}
