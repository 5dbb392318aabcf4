// libFuzzer target 3: the input written to a temporary file; the mapped file and the pread
// reader must agree with the buffer parser.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "fuzz_checks.hpp"

namespace {
// One file per process (libFuzzer's -jobs/-workers run several processes), removed at exit.
struct temp_file {
  std::filesystem::path path;
  temp_file() {
    std::error_code ec;
    std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
    if (ec) dir = ".";
    path = dir / ("safetensors_fuzz_files_" + std::to_string(::getpid()) + ".safetensors");
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static temp_file file;
  st_fuzz::check_files(data, size, file.path);
  return 0;
}
