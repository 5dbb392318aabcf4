// Linked with safetensors::safetensors_compiled: the header only declares here
// (docs/design.md#separate-compilation).
#include <safetensors/safetensors.hpp>

#if SAFETENSORS_HEADER_ONLY || SAFETENSORS_DEFINITIONS
#error "safetensors::safetensors_compiled must define SAFETENSORS_HEADER_ONLY=0 for its users"
#endif
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "the declarations include nlohmann/json.hpp"
#endif
