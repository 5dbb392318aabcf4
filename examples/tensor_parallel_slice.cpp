// Tensor parallelism: each of WORLD ranks loads only its slice of a weight, reading only the
// bytes of that slice from the file. Split along dimension 0 (rows, as a column-parallel linear
// layer's [out, in] weight) the slice is one contiguous read; split along dimension 1 (columns,
// as a row-parallel layer's) it is one read per row. plan_slice says which bytes a slice takes.
//
//   safetensors-tensor-parallel-slice DIR [RANK WORLD]    writes DIR/weight.safetensors (8 x 8)
//
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  const unsigned long rank = argc == 4 ? std::strtoul(argv[2], nullptr, 10) : 0;
  const unsigned long world = argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 2;
  if ((argc != 2 && argc != 4) || world == 0 || rank >= world || 8 % world != 0) {
    std::cerr << "usage: safetensors-tensor-parallel-slice DIR [RANK WORLD] (WORLD divides 8)\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);  // a failure shows as save_file's IoError
  const auto path = std::filesystem::path(argv[1]) / "weight.safetensors";
  std::vector<float> weight(8 * 8);  // element (row, col) holds 10 * row + col
  for (std::size_t i = 0; i < weight.size(); ++i)
    weight[i] = static_cast<float>(10 * (i / 8) + i % 8);
  const auto bytes = safetensors::as_bytes(weight);
  if (auto r = safetensors::save_file(path, {{"w", safetensors::dtype::F32, {8, 8}, bytes, {}}});
      !r) {
    return fail(r.error());
  }

  auto reader = safetensors::source_reader::open(path);  // no mapping: reads what is asked for
  if (!reader) return fail(reader.error());
  auto info = reader->at("w");
  if (!info) return fail(info.error());
  const std::uint64_t begin = 8 / world * rank, end = begin + 8 / world;  // this rank's share
  const safetensors::dim_range all{0, 8}, mine{begin, end};
  struct split {
    const char* dimension;
    safetensors::dim_range rows, cols;
  };
  for (const split& s : {split{"rows", mine, all}, split{"columns", all, mine}}) {
    auto plan = safetensors::plan_slice(*info, {s.rows, s.cols});  // which bytes, how many reads
    if (!plan) return fail(plan.error());
    std::vector<float> part(static_cast<std::size_t>(plan->element_count()));
    auto r = reader->read_slice_into(*info, {s.rows, s.cols}, safetensors::as_writable_bytes(part));
    if (!r) return fail(r.error());
    std::cout << "rank " << rank << "/" << world << " " << s.dimension << " [" << begin << ", "
              << end << "): " << plan->byte_size() << " bytes, reads: " << plan->run_count()
              << ", values:";
    for (const float x : part) std::cout << " " << x;
    std::cout << "\n";
  }
  return 0;
}
