// The header after <windows.h> without NOMINMAX, whose function-like min and max macros would
// break std::min(a, b) and numeric_limits<T>::max() (docs/integration.md#compilers-and-platforms):
// the same two macros, defined here on every platform. The header must compile under them and
// leave them as they were.
#define min(a, b) (((a) < (b)) ? (a) : (b))
#define max(a, b) (((a) > (b)) ? (a) : (b))
#include <safetensors/safetensors.hpp>

static_assert(min(1, 2) == 1 && max(1, 2) == 2, "the caller's min and max macros are restored");
