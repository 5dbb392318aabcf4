// The ABI namespace test (docs/design.md#abi-namespace), with abi_no_exceptions.cpp and
// abi_separate.cpp: this translation unit has exceptions on, abi_no_exceptions.cpp is compiled
// with -fno-exceptions, abi_separate.cpp in the separate-compilation mode (its definitions come
// from src/safetensors.cpp), and all three parse the same bytes in one program. Each mode's
// functions live in their own namespace (safetensors::v1, v1_noexcept and v1_lib), so no
// definition replaces another.
#include <cstdio>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#if SAFETENSORS_NO_EXCEPTIONS
#error "abi_throwing.cpp must be compiled with exceptions"
#endif

std::string abi_no_exceptions_parse(const std::vector<std::byte>& file);  // abi_no_exceptions.cpp
std::string abi_no_exceptions_namespace();
std::string abi_separate_parse(const std::vector<std::byte>& file);  // abi_separate.cpp
std::string abi_separate_namespace();

namespace {
std::string parse_here(const std::vector<std::byte>& file) {
  auto f = safetensors::parse(file);
  if (!f) return f.error().to_string();
  return std::to_string(f->size()) + " " + std::to_string(f->header().header_size());
}
}  // namespace

int main() {
  std::vector<std::byte> data(24, std::byte{1});
  std::vector<safetensors::tensor_spec> specs(1);
  specs[0].name = "w";
  specs[0].dtype = safetensors::dtype::F32;
  specs[0].shape = {2, 3};
  specs[0].bytes = safetensors::as_bytes(data);
  const auto file = safetensors::serialize(specs).value();
  std::vector<std::byte> bad = file;
  bad[5] = std::byte{0xff};  // N above 2^40: far above the limit

  const std::string ours = parse_here(file), theirs = abi_no_exceptions_parse(file);
  const std::string ours_bad = parse_here(bad), theirs_bad = abi_no_exceptions_parse(bad);
  const std::string separate = abi_separate_parse(file), separate_bad = abi_separate_parse(bad);
  std::printf("exceptions:    %s | %s\nno exceptions: %s | %s (namespace %s)\n", ours.c_str(),
              ours_bad.c_str(), theirs.c_str(), theirs_bad.c_str(),
              abi_no_exceptions_namespace().c_str());
  std::printf("separate:      %s | %s (namespace %s)\n", separate.c_str(), separate_bad.c_str(),
              abi_separate_namespace().c_str());
  if (ours != theirs || ours_bad != theirs_bad || ours != "1 64" ||
      ours_bad.rfind("HeaderTooLarge", 0) != 0 || abi_no_exceptions_namespace() != "v1_noexcept") {
    std::printf("FAILED: the two modes disagree\n");
    return 1;
  }
  if (separate != ours || separate_bad != ours_bad || abi_separate_namespace() != "v1_lib") {
    std::printf("FAILED: the separate-compilation mode disagrees\n");
    return 1;
  }
  // value() on an error throws here; in the other translation unit it would abort.
  try {
    (void)safetensors::parse(bad).value();
    return 1;
  } catch (const safetensors::exception& e) {
    if (e.code() != safetensors::errc::header_too_large) return 1;
  }
  std::printf("three modes in one program: ok\n");
  return 0;
}
