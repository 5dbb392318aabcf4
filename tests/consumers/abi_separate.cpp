// Compiled with SAFETENSORS_HEADER_ONLY=0 and linked with abi_throwing.cpp (see there) and
// src/safetensors.cpp, which compiles the definitions this translation unit declares.
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#if SAFETENSORS_HEADER_ONLY
#error "abi_separate.cpp must be compiled with SAFETENSORS_HEADER_ONLY=0"
#endif

#define SAFETENSORS_STRINGIFY2(x) #x
#define SAFETENSORS_STRINGIFY(x) SAFETENSORS_STRINGIFY2(x)

std::string abi_separate_parse(const std::vector<std::byte>& file) {
  auto f = safetensors::parse(file);
  if (!f) return f.error().to_string();
  return std::to_string(f->size()) + " " + std::to_string(f->header().header_size());
}

std::string abi_separate_namespace() { return SAFETENSORS_STRINGIFY(SAFETENSORS_ABI); }
