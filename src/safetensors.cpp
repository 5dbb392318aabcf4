// The implementation translation unit of the separate-compilation mode
// (docs/design.md#separate-compilation): compile this file once into a program whose other
// translation units include <safetensors/safetensors.hpp> with SAFETENSORS_HEADER_ONLY defined
// to 0. It compiles the library's definitions; they alone include nlohmann/json.hpp and the
// operating system's headers. The same two lines work with the parts (include/) and with the
// copied single header (single_include/).
//
// SPDX-License-Identifier: MIT
#define SAFETENSORS_IMPLEMENTATION
#include <safetensors/safetensors.hpp>
