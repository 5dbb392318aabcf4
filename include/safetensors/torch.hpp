// safetensors for C++: LibTorch tensors and modules (docs/torch.md). Loads files and checkpoints
// into named torch::Tensors (zero-copy over a copy-on-write mapping where the bytes allow it, else
// on the parallel loader), saves named tensors through the library's writers, and loads and saves
// a torch::nn::Module's state dict under the keys Python's module.state_dict() uses. Not a part
// of the header-only core, and not included by safetensors.hpp: include this header where you
// need it and link LibTorch (CMake: the target safetensors::torch, defined when Torch is found).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_TORCH_HPP
#define SAFETENSORS_TORCH_HPP

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>
#include <torch/version.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "safetensors.hpp"

// The LibTorch version the dtypes depend on (docs/torch.md#dtypes).
#define SAFETENSORS_TORCH_VERSION_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||                      \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace safetensors {
inline namespace SAFETENSORS_ABI {
namespace libtorch {

/// Tensors by name, in name order: what load() returns and state_dict() gives.
using tensor_map = std::map<std::string, at::Tensor, std::less<>>;

/// The LibTorch scalar type of dtype `t`, or nullopt when this LibTorch has none: BOOL, U8, I8,
/// I16, I32, I64, F16, BF16, F32, F64 and C64 always; F8_E5M2 and F8_E4M3 from LibTorch 2.1,
/// F8_E5M2FNUZ and F8_E4M3FNUZ from 2.2, U16, U32 and U64 from 2.3; never F4, F6_* or F8_E8M0.
inline std::optional<at::ScalarType> to_scalar_type(dtype t) noexcept {
  switch (t) {
    case dtype::BOOL:
      return at::kBool;
    case dtype::U8:
      return at::kByte;
    case dtype::I8:
      return at::kChar;
    case dtype::I16:
      return at::kShort;
    case dtype::I32:
      return at::kInt;
    case dtype::I64:
      return at::kLong;
    case dtype::F16:
      return at::kHalf;
    case dtype::BF16:
      return at::kBFloat16;
    case dtype::F32:
      return at::kFloat;
    case dtype::F64:
      return at::kDouble;
    case dtype::C64:
      return at::kComplexFloat;
#if SAFETENSORS_TORCH_VERSION_AT_LEAST(2, 1)
    case dtype::F8_E5M2:
      return at::ScalarType::Float8_e5m2;
    case dtype::F8_E4M3:
      return at::ScalarType::Float8_e4m3fn;
#endif
#if SAFETENSORS_TORCH_VERSION_AT_LEAST(2, 2)
    case dtype::F8_E5M2FNUZ:
      return at::ScalarType::Float8_e5m2fnuz;
    case dtype::F8_E4M3FNUZ:
      return at::ScalarType::Float8_e4m3fnuz;
#endif
#if SAFETENSORS_TORCH_VERSION_AT_LEAST(2, 3)
    case dtype::U16:
      return at::ScalarType::UInt16;
    case dtype::U32:
      return at::ScalarType::UInt32;
    case dtype::U64:
      return at::ScalarType::UInt64;
#endif
    default:
      return std::nullopt;
  }
}

/// The dtype of LibTorch scalar type `t`, or nullopt for one the format has none of (complex
/// double, the quantized types...): the inverse of to_scalar_type().
inline std::optional<dtype> to_dtype(at::ScalarType t) noexcept {
  for (std::size_t i = 0; i < dtype_count; ++i) {
    const auto d = static_cast<dtype>(i);
    if (to_scalar_type(d) == t) return d;
  }
  return std::nullopt;
}

/// Options of load().
struct load_options {
  /// The device the tensors are delivered on; other than the CPU, each is loaded into host
  /// memory and copied there (no zero-copy).
  at::Device device = at::kCPU;
  /// Deliver every floating-point tensor (F4 to F64; not C64, not integers) in this dtype,
  /// converted by the parallel loader (docs/loading.md#conversions): InvalidArgument where
  /// can_convert() refuses the pair. The way to load F8 and sub-byte tensors into a LibTorch
  /// without those dtypes (docs/torch.md#dtypes).
  std::optional<dtype> to;
  /// Deliver tensors that allow it as views of the mapping (docs/torch.md#zero-copy); false:
  /// every tensor is a copy.
  bool zero_copy = true;
  /// How a path is opened: a file, a directory or an index (checkpoint::open). load() of a
  /// path sets map.copy_on_write when zero_copy is on and the access is mapped.
  checkpoint_options checkpoint;
  /// Threads, chunk size, progress and cancellation of the copies.
  safetensors::load_options loader;
};

/// Options of load_state_dict().
struct state_dict_options {
  /// Missing and unexpected keys are an error (as PyTorch's strict=True); false: they are
  /// only reported. Shape and dtype mismatches are an error either way.
  bool strict = true;
  /// A floating-point tensor of another float dtype than the module's is converted by the
  /// loader (where can_convert() allows) instead of being a dtype mismatch.
  bool convert = false;
  /// How a path is opened; load_state_dict() of a path reads with pread
  /// (shard_access::reader), as its values are copied anyway.
  checkpoint_options checkpoint = reader_access();
  /// Threads, chunk size, progress and cancellation of the copies.
  safetensors::load_options loader;

 private:
  static checkpoint_options reader_access() {
    checkpoint_options o;
    o.access = shard_access::reader;
    return o;
  }
};

/// What load_state_dict() found besides what it loaded (PyTorch's missing_keys and
/// unexpected_keys), in name order.
struct state_dict_report {
  std::vector<std::string> missing_keys;     ///< the module's keys the checkpoint lacks
  std::vector<std::string> unexpected_keys;  ///< the checkpoint's keys the module lacks
  std::size_t loaded = 0;                    ///< tensors copied into the module
};

/// Options of save() and save_state_dict().
struct save_options {
  /// Alignment, header limit, flush and progress of each file (docs/writing.md).
  write_options write;
  /// Set: `path` is a directory that receives a sharded checkpoint (save_sharded) whose shards
  /// hold at most this many tensor bytes each; unset: one file at `path`.
  std::optional<std::uint64_t> max_shard_size;
  /// The file names of a sharded checkpoint (sharded_write_options::prefix).
  std::string prefix = "model";
};

namespace detail {

using safetensors::detail::num;
using safetensors::detail::quote;
using safetensors::detail::tensor_name;

// The context of a zero-copy tensor's storage: a share of the checkpoint whose mapping holds
// its bytes, released with the storage (release_mapping is the storage's deleter).
using mapping_owner = std::shared_ptr<const checkpoint>;
inline void release_mapping(void* owner) noexcept { delete static_cast<mapping_owner*>(owner); }

// A LibTorch call: its exception (a c10::Error, an allocation failure...) becomes an error.
template <class F>
auto guarded(std::string_view what, F&& f) -> result<decltype(f())> {
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      return {};
    } else {
      return f();
    }
  } catch (const std::bad_alloc&) {
    return error(errc::out_of_memory, std::string(what) + ": LibTorch cannot allocate the memory");
  } catch (const c10::Error& e) {
    return error(errc::invalid_argument,
                 std::string(what) + ": LibTorch: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return error(errc::invalid_argument, std::string(what) + ": LibTorch: " + e.what());
  }
}

// "[2,3]" for LibTorch sizes, as the core writes a file's shape.
inline std::string shape_text(at::IntArrayRef sizes) {
  std::vector<std::uint64_t> shape;
  for (const std::int64_t d : sizes) shape.push_back(static_cast<std::uint64_t>(d));
  return safetensors::detail::shape_string(shape);
}

// A file's shape as LibTorch sizes (each at most INT64_MAX; the format checked the product).
inline result<std::vector<std::int64_t>> sizes_of(const tensor_info& info) {
  std::vector<std::int64_t> sizes;
  sizes.reserve(info.shape().size());
  for (const std::uint64_t d : info.shape()) {
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return error(errc::validation_overflow, tensor_name(info.name()) + " has a dimension of " +
                                                  num(d) + ", above LibTorch's INT64_MAX");
    }
    sizes.push_back(static_cast<std::int64_t>(d));
  }
  return sizes;
}

inline bool same_shape(const tensor_info& info, at::IntArrayRef sizes) noexcept {
  const auto shape = info.shape();
  if (shape.size() != sizes.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (sizes[i] < 0 || shape[i] != static_cast<std::uint64_t>(sizes[i])) return false;
  }
  return true;
}

// The dtype a tensor of dtype `from` is delivered in under the option `to`: `to` for a
// floating-point dtype, `from` otherwise.
inline result<dtype> delivered(const tensor_info& info, const std::optional<dtype>& to) {
  if (!to || !safetensors::detail::is_float(info.dtype()) || *to == info.dtype()) {
    return info.dtype();
  }
  if (!can_convert(info.dtype(), *to)) {
    return error(errc::invalid_argument,
                 tensor_name(info.name()) + " is " + std::string(to_string(info.dtype())) +
                     ": the loader cannot convert it to " + std::string(to_string(*to)) +
                     " (docs/loading.md#conversions)");
  }
  return *to;
}

inline error no_scalar_type(const tensor_info& info, dtype d) {
  return error(errc::invalid_argument,
               tensor_name(info.name()) + " is " + std::string(to_string(d)) + ": LibTorch " +
                   TORCH_VERSION + " has no such dtype; load it converted with load_options::to" +
                   (safetensors::detail::is_float(d) ? " (F32, F16, BF16 or F64)" : "") +
                   " (docs/torch.md#dtypes)");
}

// Whether the loader delivers dtype `d` in the host's byte order when converting into it (to
// F32 or F64) rather than as little-endian bytes.
inline bool host_order(dtype file, dtype d) noexcept {
  return file != d && (d == dtype::F32 || d == dtype::F64);
}

// Little-endian bytes to the host's order in place (a no-op on little-endian hosts). C64 is two
// F32s.
inline void to_host_order(void* data, std::size_t bytes, dtype d) noexcept {
  if (!SAFETENSORS_BIG_ENDIAN) return;
  std::size_t w = bit_size(d) / 8;
  if (d == dtype::C64) w = 4;
  if (w <= 1) return;
  auto* p = static_cast<unsigned char*>(data);
  for (std::size_t i = 0; i + w <= bytes; i += w) std::reverse(p + i, p + i + w);
}

// The bytes of a tensor at `address` may be used in place as elements of dtype `d`.
inline bool aligned_for(const void* address, dtype d) noexcept {
  const std::size_t w = bit_size(d) / 8;
  return w != 0 && reinterpret_cast<std::uintptr_t>(address) % w == 0;
}

// One tensor of a save: a name and the CPU, contiguous tensor whose bytes are written (kept
// alive through the write), plus their little-endian copy on a big-endian host.
struct saved_tensor {
  std::string name;
  at::Tensor cpu;
  std::vector<unsigned char> swapped;
};

template <class Item>
std::pair<const std::string&, const at::Tensor&> name_and_tensor(const Item& item) {
  if constexpr (std::is_same_v<std::decay_t<decltype(item)>,
                               typename torch::OrderedDict<std::string, at::Tensor>::Item>) {
    return {item.key(), item.value()};
  } else {
    return {item.first, item.second};
  }
}

template <class Range>
result<std::vector<tensor_spec>> save_specs(const Range& tensors, std::vector<saved_tensor>& keep) {
  for (const auto& item : tensors) {
    const auto nt = name_and_tensor(item);
    const std::string& name = nt.first;
    const at::Tensor& t = nt.second;
    if (!t.defined()) {
      return error(errc::invalid_argument, "save: " + tensor_name(name) + " is undefined");
    }
    if (t.layout() != at::kStrided) {
      return error(errc::invalid_argument,
                   "save: " + tensor_name(name) + " is not a strided (dense) tensor");
    }
    if (!to_dtype(t.scalar_type())) {
      return error(errc::invalid_argument, "save: " + tensor_name(name) + " is " +
                                               c10::toString(t.scalar_type()) +
                                               ", which the format has no dtype for");
    }
    auto cpu = guarded("save: " + tensor_name(name), [&] {
      return t.detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
    });
    if (!cpu) return cpu.error();
    keep.push_back(saved_tensor{name, std::move(*cpu), {}});
  }
  std::vector<tensor_spec> specs;
  specs.reserve(keep.size());
  for (saved_tensor& s : keep) {
    const dtype d = *to_dtype(s.cpu.scalar_type());
    tensor_spec spec;
    spec.name = s.name;
    spec.dtype = d;
    for (const std::int64_t n : s.cpu.sizes()) spec.shape.push_back(static_cast<std::uint64_t>(n));
    const std::size_t bytes = s.cpu.numel() == 0 ? 0 : s.cpu.nbytes();
    const auto* data = static_cast<const std::byte*>(bytes ? s.cpu.data_ptr() : nullptr);
    if (SAFETENSORS_BIG_ENDIAN && bytes) {
      s.swapped.assign(reinterpret_cast<const unsigned char*>(data),
                       reinterpret_cast<const unsigned char*>(data) + bytes);
      to_host_order(s.swapped.data(), bytes, d);  // the same swap, host to little-endian
      data = reinterpret_cast<const std::byte*>(s.swapped.data());
    }
    spec.bytes = span<const std::byte>(data, bytes);
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace detail

/// Loads every tensor of `ckpt` into named tensors on options.device. A tensor is a zero-copy
/// view of its shard's mapping (docs/torch.md#zero-copy) when options.zero_copy is on, the
/// checkpoint maps its shards with map_options::copy_on_write, the device is the CPU, nothing is
/// converted, the host is little-endian (or the elements are bytes) and the bytes are aligned
/// for the dtype; the tensor then keeps the checkpoint alive, and writes to it copy pages,
/// never reaching the file. Every other tensor is copied by one parallel load (load(), with
/// options.loader). Errors, checked before any byte is read: a shard that cannot be opened, a
/// conversion the loader refuses, a dtype this LibTorch lacks (InvalidArgument naming the
/// tensor and the fix); then the loader's, and LibTorch's (InvalidArgument, OutOfMemory).
template <class = void>
result<tensor_map> load(std::shared_ptr<const checkpoint> ckpt, const load_options& options = {}) {
  if (!ckpt) return error(errc::invalid_argument, "libtorch::load: no checkpoint");
  struct pending {
    std::string name;
    dtype file;
    dtype to;
    at::Tensor host;
  };
  tensor_map out;
  std::vector<pending> copies;
  const bool on_cpu = options.device.is_cpu();
  for (const index_entry& e : ckpt->entries()) {
    auto info = ckpt->at(e.name);
    if (!info) return info.error();
    auto to = detail::delivered(*info, options.to);
    if (!to) return to.error();
    const auto st = to_scalar_type(*to);
    if (!st) return detail::no_scalar_type(*info, *to);
    auto sizes = detail::sizes_of(*info);
    if (!sizes) return sizes.error();
    const auto topts = at::TensorOptions().dtype(*st);
    const mapped_file* mapped = nullptr;
    if (auto shard = ckpt->shard(*ckpt->shard_of(e.name)); shard) mapped = shard->mapped();
    const bool in_place = options.zero_copy && on_cpu && *to == info->dtype() && mapped &&
                          mapped->mapping().copy_on_write() && info->byte_size() > 0 &&
                          (!SAFETENSORS_BIG_ENDIAN || bit_size(*to) == 8);
    const std::byte* address = in_place ? mapped->tensor(*info).bytes().data() : nullptr;
    if (address && detail::aligned_for(address, *to)) {
      auto t = detail::guarded("libtorch::load: " + detail::tensor_name(e.name), [&] {
        auto owner = std::make_unique<detail::mapping_owner>(ckpt);
        // The maker owns the share from here (and frees it if make_tensor() throws); then the
        // storage does.
        return at::for_blob(const_cast<std::byte*>(address), *sizes)
            .context(owner.release(), &detail::release_mapping)
            .options(topts)
            .make_tensor();
      });
      if (!t) return t.error();
      out.emplace(e.name, std::move(*t));
      continue;
    }
    auto host = detail::guarded("libtorch::load: " + detail::tensor_name(e.name),
                                [&] { return at::empty(*sizes, topts); });
    if (!host) return host.error();
    copies.push_back(pending{e.name, info->dtype(), *to, std::move(*host)});
  }
  std::vector<load_request> requests;
  requests.reserve(copies.size());
  for (pending& p : copies) {
    load_request r;
    r.name = p.name;
    if (p.host.numel() > 0) {
      r.dst = span<std::byte>(static_cast<std::byte*>(p.host.data_ptr()), p.host.nbytes());
    }
    if (p.to != p.file) r.to = p.to;
    requests.push_back(std::move(r));
  }
  if (!requests.empty()) {
    auto report = safetensors::load(*ckpt, requests, options.loader);
    if (!report) return report.error();
  }
  for (pending& p : copies) {
    if (p.host.numel() > 0 && !detail::host_order(p.file, p.to)) {
      detail::to_host_order(p.host.data_ptr(), p.host.nbytes(), p.to);
    }
    at::Tensor t = std::move(p.host);
    if (!on_cpu) {
      auto moved = detail::guarded("libtorch::load: " + detail::tensor_name(p.name),
                                   [&] { return t.to(options.device); });
      if (!moved) return moved.error();
      t = std::move(*moved);
    }
    out.emplace(std::move(p.name), std::move(t));
  }
  return out;
}

/// load() of a checkpoint you opened (open_http_checkpoint for a URL, say); the tensors that are
/// views keep it alive.
template <class = void>
result<tensor_map> load(checkpoint&& ckpt, const load_options& options = {}) {
  return load(std::make_shared<const checkpoint>(std::move(ckpt)), options);
}

/// load() of the file, directory or index at `path` (checkpoint::open with
/// options.checkpoint; mapped with copy_on_write when zero-copy is on).
template <class P, std::enable_if_t<safetensors::detail::is_path_like_v<P>, int> = 0>
result<tensor_map> load(const P& path, const load_options& options = {}) {
  checkpoint_options co = options.checkpoint;
  if (options.zero_copy && co.access == shard_access::mapped) co.map.copy_on_write = true;
  auto ckpt = checkpoint::open(path, co);
  if (!ckpt) return ckpt.error();
  return load(std::move(*ckpt), options);
}

/// True when `t` (or the tensor it views) is a zero-copy view of a mapping that load() made:
/// its storage keeps the checkpoint mapped.
inline bool is_mapped(const at::Tensor& t) noexcept {
  return t.defined() && t.has_storage() &&
         t.storage().data_ptr().get_deleter() == &detail::release_mapping;
}

/// Writes the named tensors (any range of pairs of name and at::Tensor, or a
/// torch::OrderedDict<std::string, at::Tensor>) with `metadata` as `__metadata__`: one file at
/// `path` (save_file), or with options.max_shard_size a sharded checkpoint in the directory
/// `path` (save_sharded). Tensors of any device, contiguous or not, conjugated or not, are
/// copied to contiguous CPU memory first when they are not so already (one tensor at a time
/// is not: every tensor is held until the write ends). The writers' bytes, atomicity and errors
/// (docs/writing.md); InvalidArgument for an undefined, sparse or quantized tensor or a scalar
/// type the format lacks.
template <class P, class Range, std::enable_if_t<safetensors::detail::is_path_like_v<P>, int> = 0>
result<void> save(const P& path, const Range& tensors,
                  const std::optional<metadata_map>& metadata = std::nullopt,
                  const save_options& options = {}) {
  std::vector<detail::saved_tensor> keep;
  auto specs = detail::save_specs(tensors, keep);
  if (!specs) return specs.error();
  if (!options.max_shard_size) return save_file(path, *specs, metadata, options.write);
  sharded_write_options so;
  so.max_shard_size = *options.max_shard_size;
  so.prefix = options.prefix;
  so.write = options.write;
  auto layout = save_sharded(path, *specs, metadata, so);
  if (!layout) return layout.error();
  return {};
}

/// The module's state dict as Python's module.state_dict() has it for the same module: every
/// defined parameter and buffer, recursively, under its dotted path ("0.weight",
/// "encoder.layers.1.norm.running_mean"); the tensors share the module's memory (detached).
inline tensor_map state_dict(const torch::nn::Module& module) {
  tensor_map out;
  for (const auto& p : module.named_parameters(true)) out.emplace(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) out.emplace(b.key(), b.value().detach());
  return out;
}

/// Copies the checkpoint's tensors into the module's parameters and buffers, in place (no tensor
/// is reallocated), matched by state_dict() keys. Everything is checked before any byte is
/// read, and every problem is reported in one InvalidArgument, as PyTorch's load_state_dict
/// words them: missing and unexpected keys (with options.strict), every shape mismatch, every
/// dtype mismatch (a float tensor is converted instead with options.convert). Contiguous CPU
/// tensors are loaded into directly by one parallel load; others (another device, strided)
/// through a host copy, then copy_(). Returns the keys that did not match (non-strict).
template <class = void>
result<state_dict_report> load_state_dict(torch::nn::Module& module, const checkpoint& ckpt,
                                          const state_dict_options& options = {}) {
  const tensor_map targets = state_dict(module);
  state_dict_report report;
  std::vector<std::string> problems;
  for (const auto& [name, t] : targets) {
    if (!ckpt.contains(name)) report.missing_keys.push_back(name);
  }
  for (const index_entry& e : ckpt.entries()) {
    if (targets.find(e.name) == targets.end()) report.unexpected_keys.push_back(e.name);
  }
  struct job {
    at::Tensor target;
    at::Tensor host;  // defined: loaded here, then copied into target
    dtype file;
    dtype to;
  };
  std::vector<job> jobs;
  std::vector<load_request> requests;
  for (const auto& [name, t] : targets) {
    if (!ckpt.contains(name)) continue;
    auto info = ckpt.at(name);
    if (!info) return info.error();
    if (!detail::same_shape(*info, t.sizes())) {
      problems.push_back("size mismatch for " + name + ": copying a param with shape " +
                         safetensors::detail::shape_string(info->shape()) +
                         " from checkpoint, the shape in current model is " +
                         detail::shape_text(t.sizes()) + ".");
    }
    const auto want = to_dtype(t.scalar_type());
    dtype to = info->dtype();
    if (want && *want != info->dtype() && options.convert &&
        safetensors::detail::is_float(info->dtype()) && can_convert(info->dtype(), *want)) {
      to = *want;
    }
    if (!want || *want != to) {
      problems.push_back("dtype mismatch for " + name + ": copying a param of dtype " +
                         std::string(to_string(info->dtype())) +
                         " from checkpoint, the dtype in current model is " +
                         c10::toString(t.scalar_type()) + ".");
    }
    if (!problems.empty()) continue;
    jobs.push_back(job{t, at::Tensor(), info->dtype(), to});
    load_request r;
    r.name = name;
    if (to != info->dtype()) r.to = to;
    requests.push_back(std::move(r));
  }
  // PyTorch's order: missing keys, unexpected keys, then the mismatches.
  const auto keys_line = [](const char* what, const std::vector<std::string>& keys) {
    std::string s = std::string(what) + " key(s) in state_dict: ";
    for (std::size_t i = 0; i < keys.size(); ++i) {  // in double quotes, as PyTorch's
      s += (i ? ", \"" : "\"") + safetensors::detail::escape_controls(keys[i]) + "\"";
    }
    return s + ".";
  };
  if (options.strict && !report.unexpected_keys.empty()) {
    problems.insert(problems.begin(), keys_line("Unexpected", report.unexpected_keys));
  }
  if (options.strict && !report.missing_keys.empty()) {
    problems.insert(problems.begin(), keys_line("Missing", report.missing_keys));
  }
  if (!problems.empty()) {
    std::string s = "Error(s) in loading state_dict for " + module.name() + ":";
    for (const std::string& p : problems) s += "\n\t" + p;
    return error(errc::invalid_argument, s);
  }
  // Destinations: the target's own memory when it is contiguous CPU memory in the file's byte
  // order and overlaps no other destination (tied weights); else a host copy.
  std::vector<std::pair<const std::byte*, std::size_t>> taken;  // [begin, end) of direct ones
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    job& j = jobs[i];
    if (j.target.numel() == 0) continue;
    const bool swaps = SAFETENSORS_BIG_ENDIAN && bit_size(j.to) > 8;
    auto* begin = static_cast<std::byte*>(
        j.target.is_cpu() && j.target.is_contiguous() && !swaps ? j.target.data_ptr() : nullptr);
    const std::size_t n = j.target.nbytes();
    const bool overlaps = begin && std::any_of(taken.begin(), taken.end(), [&](const auto& r) {
                            return begin < r.first + r.second && r.first < begin + n;
                          });
    if (begin && !overlaps) {
      taken.emplace_back(begin, n);
      requests[i].dst = span<std::byte>(begin, n);
      continue;
    }
    auto host = detail::guarded("load_state_dict: " + detail::tensor_name(requests[i].name), [&] {
      return at::empty(j.target.sizes(), j.target.options().device(at::kCPU));
    });
    if (!host) return host.error();
    j.host = std::move(*host);
    requests[i].dst = span<std::byte>(static_cast<std::byte*>(j.host.data_ptr()), n);
  }
  if (!requests.empty()) {
    auto loaded = safetensors::load(ckpt, requests, options.loader);
    if (!loaded) return loaded.error();
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    job& j = jobs[i];
    if (!j.host.defined()) continue;
    if (!detail::host_order(j.file, j.to)) {
      detail::to_host_order(j.host.data_ptr(), j.host.nbytes(), j.to);
    }
    auto copied = detail::guarded("load_state_dict: " + detail::tensor_name(requests[i].name), [&] {
      at::NoGradGuard no_grad;
      j.target.copy_(j.host);
    });
    if (!copied) return copied.error();
  }
  report.loaded = jobs.size();
  return report;
}

/// load_state_dict() from the file, directory or index at `path` (checkpoint::open with
/// options.checkpoint: pread by default).
template <class P, std::enable_if_t<safetensors::detail::is_path_like_v<P>, int> = 0>
result<state_dict_report> load_state_dict(torch::nn::Module& module, const P& path,
                                          const state_dict_options& options = {}) {
  auto ckpt = checkpoint::open(path, options.checkpoint);
  if (!ckpt) return ckpt.error();
  return load_state_dict(module, *ckpt, options);
}

/// load_state_dict() into the module a holder (torch::nn::Linear, a TORCH_MODULE) holds.
template <class M, class Source>
result<state_dict_report> load_state_dict(torch::nn::ModuleHolder<M>& module, const Source& source,
                                          const state_dict_options& options = {}) {
  return load_state_dict(static_cast<torch::nn::Module&>(*module), source, options);
}

/// Saves state_dict(module) with save(), `__metadata__` {"format": "pt"} as Python's
/// safetensors.torch.save_model and transformers write it.
template <class P, std::enable_if_t<safetensors::detail::is_path_like_v<P>, int> = 0>
result<void> save_state_dict(const torch::nn::Module& module, const P& path,
                             const save_options& options = {}) {
  return save(path, state_dict(module), metadata_map{{"format", "pt"}}, options);
}

/// save_state_dict() of the module a holder holds.
template <class M, class P, std::enable_if_t<safetensors::detail::is_path_like_v<P>, int> = 0>
result<void> save_state_dict(const torch::nn::ModuleHolder<M>& module, const P& path,
                             const save_options& options = {}) {
  return save_state_dict(static_cast<const torch::nn::Module&>(*module), path, options);
}

}  // namespace libtorch
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#endif  // SAFETENSORS_TORCH_HPP
