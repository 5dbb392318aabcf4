// Two translation units include the header and link into one program (odr_b.cpp holds main):
// any non-inline definition in the header would be a multiple-definition link error.
#include <safetensors/safetensors.hpp>
#include <string>

std::string dtype_name_a(safetensors::dtype d) { return std::string(safetensors::to_string(d)); }
