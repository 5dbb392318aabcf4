// Compile-fail cases (tests/compile_fail/check.cmake builds this file once per CASE): each
// CASE >= 1 must NOT compile, because it would leave a file_view whose bytes are unmapped when
// the temporary mapped_file is destroyed at the end of the statement. CASE 0 is the same code
// kept alive correctly, and must compile: it proves that the failures come from the API, not
// from the harness.
#include <safetensors/safetensors.hpp>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* path = argv[1];
#if CASE == 0
  auto file = safetensors::mapped_file::open(path);
  const safetensors::file_view v = file->view();
  const safetensors::file_view w = (*file).view();
  return static_cast<int>(v.size() + w.size());
#elif CASE == 1
  // A mapped_file is no file_view (it holds one; it does not derive from it).
  const safetensors::file_view v = *safetensors::mapped_file::open(path);
  return static_cast<int>(v.size());
#elif CASE == 2
  // The view of a temporary mapped_file.
  const safetensors::file_view v = (*safetensors::mapped_file::open(path)).view();
  return static_cast<int>(v.size());
#elif CASE == 3
  // The same through operator-> of a temporary result.
  const safetensors::file_view v = safetensors::mapped_file::open(path)->view();
  return static_cast<int>(v.size());
#elif CASE == 4
  // The same through value() of a temporary result.
  const safetensors::file_view v = safetensors::mapped_file::open(path).value().view();
  return static_cast<int>(v.size());
#elif CASE == 5
  // A reference to a mapped_file's file_view may not bind to a temporary either.
  const safetensors::file_view& v = safetensors::mapped_file::open(path).value().view();
  return static_cast<int>(v.size());
#else
#error "unknown CASE"
#endif
}
