// safetensors for C++: a strict, zero-copy, header-only reader and an atomic, deterministic
// writer of the safetensors model format, with sharded checkpoints and exact dtype conversions.
// https://github.com/huggingface/safetensors describes the format; docs/format.md states the
// rules this library enforces.
//
// The one header to include. It includes the library's parts in the order the bytes flow
// (docs/design.md#the-header-in-parts); single_include/safetensors/safetensors.hpp is the same
// library as one generated file to copy into a project.
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_SAFETENSORS_HPP
#define SAFETENSORS_SAFETENSORS_HPP

// <windows.h> without NOMINMAX defines min and max as function-like macros, which would break
// every std::min(a, b) and numeric_limits<T>::max() below: set aside while the parts are read,
// restored after (docs/integration.md#compilers-and-platforms).
#if defined(min) || defined(max)
#define SAFETENSORS_MINMAX_PUSHED
#pragma push_macro("min")
#pragma push_macro("max")
#undef min
#undef max
#endif

// The parts in order (cmake/amalgamate.cmake checks it); not sorted by clang-format:
// clang-format off
#include "parts/basics.hpp"          // 1. version, configuration, span, dtypes, errors, result<T>
#include "parts/json.hpp"            // 2. the strict JSON reader
#include "parts/parse.hpp"           // 3. length prefix, JSON header, validation
#include "parts/table.hpp"           // 4. tensor table, element views, slicing
#include "parts/platform.hpp"        // 5. platform I/O: paths, pread, mappings, buffers
#include "parts/atomic_file.hpp"     // 6. atomic files: temporary file, writes, rename
#include "parts/reader.hpp"          // 7. parse(), mapped_file, source_reader
#include "parts/writer.hpp"          // 8. write_plan, serialize, save_file, stream_writer
#include "parts/index.hpp"           // 9. the sharded checkpoint index
#include "parts/sharded.hpp"         // 10. checkpoint: reading sharded checkpoints
#include "parts/sharded_writer.hpp"  // 11. shard_layout, save_sharded, sharded_stream_writer
#include "parts/simd.hpp"            // 12. decoding kernels: scalar loops, SIMD, run-time dispatch
#include "parts/convert.hpp"         // 13. dtype conversions
#include "parts/load.hpp"            // 14. the parallel loader
// clang-format on

#ifdef SAFETENSORS_MINMAX_PUSHED
#pragma pop_macro("max")
#pragma pop_macro("min")
#undef SAFETENSORS_MINMAX_PUSHED
#endif

#endif  // SAFETENSORS_SAFETENSORS_HPP
