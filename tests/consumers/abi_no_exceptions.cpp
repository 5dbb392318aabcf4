// Compiled with -fno-exceptions and linked with abi_throwing.cpp (see there).
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#if !SAFETENSORS_NO_EXCEPTIONS
#error "abi_no_exceptions.cpp must be compiled with -fno-exceptions"
#endif

#define SAFETENSORS_STRINGIFY2(x) #x
#define SAFETENSORS_STRINGIFY(x) SAFETENSORS_STRINGIFY2(x)

std::string abi_no_exceptions_parse(const std::vector<std::byte>& file) {
  auto f = safetensors::parse(file);
  if (!f) return f.error().to_string();
  return std::to_string(f->size()) + " " + std::to_string(f->header().header_size());
}

std::string abi_no_exceptions_namespace() { return SAFETENSORS_STRINGIFY(SAFETENSORS_ABI); }
