// Reading BF16 (bfloat16) weights as float. Many checkpoints store BF16, which C++ has no type
// for: to_float(view) decodes any float dtype (F16, BF16, the 8-bit floats...) to float exactly,
// and view.as<safetensors::bf16>() reads the elements in place. encode_from_float makes BF16
// bytes from float (round to nearest even), on hosts of either endianness.
//
//   safetensors-bf16-to-float DIR     writes DIR/bf16.safetensors, then reads it back
//
// Exits 0 on success, 1 on an error (printed), 2 on a usage error.
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <vector>

static int fail(const safetensors::error& e) {
  std::cerr << e << "\n";  // "<Name>: <message>"
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: safetensors-bf16-to-float DIR\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);  // a failure shows as save_file's IoError
  const auto path = std::filesystem::path(argv[1]) / "bf16.safetensors";

  // Write: six floats rounded to BF16, two bytes each.
  const std::vector<float> original{1.0f, 0.1f, -2.5f, 3.14159f, 1e-3f, 65504.0f};
  std::vector<std::byte> bytes(original.size() * 2);
  if (auto r = safetensors::encode_from_float(original, safetensors::dtype::BF16, bytes); !r) {
    return fail(r.error());
  }
  if (auto r = safetensors::save_file(path, {{"w", safetensors::dtype::BF16, {2, 3}, bytes, {}}});
      !r) {
    return fail(r.error());
  }

  // Read: the whole tensor as std::vector<float>, then one element in place.
  auto file = safetensors::mapped_file::open(path);
  if (!file) return fail(file.error());
  auto w = file->tensor("w");
  if (!w) return fail(w.error());
  auto floats = safetensors::to_float(*w);  // DtypeMismatch for C64, which is not a float
  if (!floats) return fail(floats.error());
  for (std::size_t i = 0; i < floats->size(); ++i) {
    std::cout << original[i] << " -> BF16 -> " << (*floats)[i] << "\n";
  }
  auto elements = w->as<safetensors::bf16>();  // DtypeMismatch unless BF16
  if (!elements) return fail(elements.error());
  const safetensors::bf16 x = (*elements)[1];
  std::cout << "element 1: bits 0x" << std::hex << x.bits() << std::dec << " = "
            << static_cast<float>(x) << "\n";
  return 0;
}
