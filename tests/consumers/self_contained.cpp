// The header compiles on its own: nothing is included before it.
#include <safetensors/safetensors.hpp>
