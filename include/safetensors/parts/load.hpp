// safetensors for C++, part 14 of 14: the parallel loader. load() copies a set of tensors (whole
// or sliced) from a file, a mapped file or a sharded checkpoint into the caller's buffers, or
// hands them chunk by chunk to a sink, with worker threads, an optional dtype conversion fused
// into the same pass, progress and cancellation (docs/loading.md). `template <class = void>`
// marks what is compiled only when used (docs/design.md#compile-cost); the loader itself is
// defined under SAFETENSORS_DEFINITIONS (docs/design.md#separate-compilation).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_LOAD_HPP
#define SAFETENSORS_PARTS_LOAD_HPP

#include <functional>

#include "convert.hpp"
#include "sharded.hpp"

#if SAFETENSORS_DEFINITIONS
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#endif

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// One tensor to load: its name, the part of it to take, the dtype to deliver and where to.
struct load_request {
  /// The tensor's name in the file or checkpoint.
  std::string name;
  /// Where the bytes go: at least load_size() bytes (ignored when the load has a sink).
  span<std::byte> dst;
  /// The ranges of a slice (see plan_slice); empty for the whole tensor.
  std::vector<dim_range> slice;
  /// The dtype to deliver, converted while loading (docs/loading.md#conversions); nullopt for
  /// the file's bytes as they are.
  std::optional<dtype> to;
};

/// Bytes read so far and in all (the source bytes of every request).
struct load_progress {
  std::uint64_t bytes_done = 0;   ///< source bytes read and delivered
  std::uint64_t bytes_total = 0;  ///< source bytes the load reads in all
};

/// Options of load().
struct load_options {
  /// Worker threads; 0 for std::thread::hardware_concurrency(), at most max_load_threads.
  unsigned threads = 0;
  /// Largest piece of a tensor one worker reads at a time (rounded to whole elements).
  std::size_t chunk_bytes = std::size_t{4} << 20;
  /// Called after each chunk with the bytes done, never from two threads at once; returning
  /// false cancels the load (which then fails with errc::cancelled).
  std::function<bool(const load_progress&)> progress;
  /// load_tensors() only: advise transparent huge pages (Linux MADV_HUGEPAGE; nothing
  /// elsewhere) for its buffers of 2 MiB or more. Faster to fill where fresh memory is backed,
  /// much slower where the hypervisor reclaims free guest memory: docs/loading.md#huge-pages.
  bool huge_pages = false;
};

/// Most worker threads load() starts.
inline constexpr unsigned max_load_threads = 64;

/// What a finished load did.
struct load_report {
  std::size_t tensors = 0;          ///< requests loaded
  std::uint64_t bytes_read = 0;     ///< source bytes read
  std::uint64_t bytes_written = 0;  ///< destination bytes delivered
  std::size_t chunks = 0;           ///< pieces the work was split into
  unsigned threads = 0;             ///< worker threads used
  std::uint64_t mapped_bytes = 0;   ///< source bytes copied out of a mapping (the rest: read_at)
};

/// Receives a load's bytes piece by piece instead of destination buffers: to upload to a device
/// or another store while reading, with no device API in this library.
class load_sink {
 public:
  virtual ~load_sink() = default;
  /// Bytes [offset, offset + bytes.size()) of what request `index` delivers (after conversion).
  /// Called from the worker threads at once, for disjoint ranges, in no particular order; the
  /// bytes are valid only during the call. An error stops the load and is what it returns.
  virtual result<void> write(std::size_t index, std::uint64_t offset,
                             span<const std::byte> bytes) = 0;
};

/// Whether load() can deliver dtype `to` from dtype `from`: the same dtype; F32 from any dtype
/// but C64; F64, F16, BF16, F8_E4M3, F8_E5M2, F8_E4M3FNUZ and F8_E5M2FNUZ from any float dtype
/// (F4 to F64), each value rounded once (docs/dtypes.md#between-float-dtypes).
constexpr bool can_convert(dtype from, dtype to) noexcept {
  if (from == to) return true;
  if (to == dtype::F32) return from != dtype::C64;
  return detail::is_float(from) && detail::is_float_target(to);
}

/// The destination bytes request `request` needs for tensor `info`: the slice's element count
/// in dtype `request.to` (or the file's). InvalidArgument or MisalignedSlice for a slice
/// plan_slice refuses, InvalidArgument for a conversion can_convert() refuses.
template <class = void>
result<std::uint64_t> load_size(const tensor_info& info, const load_request& request);

/// Loads every request from the file `reader` reads (pread; no mapping), in parallel.
/// Every request is checked before any byte is read (TensorNotFound, a refused slice or
/// conversion, a destination too small or overlapping another: InvalidArgument). On failure
/// the first error, prefixed with its tensor's name, is returned and the destinations hold
/// unspecified bytes; a cancelled load fails with errc::cancelled.
template <class = void>
result<load_report> load(const source_reader& reader, span<const load_request> requests,
                         const load_options& options = {});
/// load() from a mapped file: copies (or converts) from the mapping.
template <class = void>
result<load_report> load(const mapped_file& file, span<const load_request> requests,
                         const load_options& options = {});
/// load() from a checkpoint, whatever its shard access; shards are opened before reading.
template <class = void>
result<load_report> load(const checkpoint& ckpt, span<const load_request> requests,
                         const load_options& options = {});
/// load() into `sink` instead of the requests' dst (ignored).
template <class = void>
result<load_report> load(const source_reader& reader, span<const load_request> requests,
                         load_sink& sink, const load_options& options = {});
/// load() from a mapped file into `sink`: pieces of the mapping are passed as they are when
/// nothing is converted.
template <class = void>
result<load_report> load(const mapped_file& file, span<const load_request> requests,
                         load_sink& sink, const load_options& options = {});
/// load() from a checkpoint into `sink`.
template <class = void>
result<load_report> load(const checkpoint& ckpt, span<const load_request> requests, load_sink& sink,
                         const load_options& options = {});

namespace detail {
template <class S>
inline constexpr bool is_load_source_v =
    std::is_same_v<S, source_reader> || std::is_same_v<S, mapped_file> ||
    std::is_same_v<S, checkpoint>;
}  // namespace detail
/// load() with the requests in a braced list, `load(file, {{"a", dst_a}, {"b", dst_b}})`, in
/// C++17 and C++20 alike (a span, std::span included, takes a braced list only inside a second
/// pair of braces).
template <class Source, std::enable_if_t<detail::is_load_source_v<Source>, int> = 0>
result<load_report> load(const Source& source, std::initializer_list<load_request> requests,
                         const load_options& options = {}) {
  return load(source, span<const load_request>(requests.begin(), requests.size()), options);
}
/// load() into `sink` with the requests in a braced list.
template <class Source, std::enable_if_t<detail::is_load_source_v<Source>, int> = 0>
result<load_report> load(const Source& source, std::initializer_list<load_request> requests,
                         load_sink& sink, const load_options& options = {}) {
  return load(source, span<const load_request>(requests.begin(), requests.size()), sink, options);
}

// The definitions: what the translation units of the separate-compilation mode do not see
// (docs/design.md#separate-compilation).
#if SAFETENSORS_DEFINITIONS
namespace detail {

/// Where one request's tensor is: its shard's bytes (a mapping or a source) and table entry.
struct load_origin {
  const random_access_source* source = nullptr;  // pread, when not mapped
  const std::byte* mapped = nullptr;             // the tensor's first byte in a mapping
  std::uint64_t base = 0;                        // the tensor's first byte in the source
};

/// A request, checked: where it reads, what it delivers.
struct load_job {
  load_origin origin;
  tensor_info info;
  dtype from = dtype::U8;
  dtype to = dtype::U8;
  std::optional<slice_plan> plan;  // nullopt: the whole tensor, one run
  std::uint64_t elements = 0;      // elements delivered
  std::uint64_t src_bytes = 0;     // source bytes read
  std::uint64_t dst_bytes = 0;     // destination bytes delivered
  std::byte* dst = nullptr;        // nullptr with a sink
};

/// One piece of work: elements [first, last) of job `job` (whole groups of elements, so that
/// both the source and the destination start on byte boundaries).
struct load_chunk {
  std::size_t job = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

// Elements per group: the smallest count whose bits are a whole number of bytes in every dtype.
inline constexpr std::uint64_t load_group = 8;
// Largest chunk of a converting job: read, then converted while still in cache.
inline constexpr std::uint64_t convert_chunk_bytes = std::uint64_t{256} << 10;

inline std::uint64_t bytes_of_elements(dtype t, std::uint64_t elements) noexcept {
  return elements * bit_size(t) / 8;  // elements <= a validated tensor's count: no overflow
}

template <class = void>
result<load_job> check_request(const tensor_info& info, const load_request& r,
                               const load_origin& origin, bool has_sink) {
  const auto fail = [&r](errc code, const std::string& why) {
    return error(code, "load: " + detail::tensor_name(r.name) + ": " + why);
  };
  load_job job;
  job.origin = origin;
  job.info = info;
  job.from = info.dtype();
  job.to = r.to.value_or(job.from);
  if (!can_convert(job.from, job.to)) {
    return fail(errc::invalid_argument, "cannot deliver " + std::string(to_string(job.to)) +
                                            " from " + std::string(to_string(job.from)));
  }
  if (r.slice.empty()) {
    job.elements = info.element_count();
    job.src_bytes = info.byte_size();
  } else {
    auto plan = plan_slice(info, span<const dim_range>(r.slice.data(), r.slice.size()));
    if (!plan) {  // "slice of tensor 'w': why" -> "load: tensor 'w': slice: why"
      std::string why = plan.error().message();
      const std::string named = "slice of tensor " + detail::quote(info.name()) + ": ";
      if (why.compare(0, named.size(), named) == 0) why.replace(0, named.size(), "slice: ");
      return fail(plan.error().code(), why);
    }
    if (plan->tensor_byte_size() > info.byte_size()) {
      return fail(errc::invalid_argument, "holds fewer bytes than its shape needs");
    }
    job.elements = plan->element_count();
    job.src_bytes = plan->byte_size();
    job.plan = std::move(*plan);
  }
  if (!detail::checked_mul(job.elements, bit_size(job.to), job.dst_bytes)) {
    return fail(errc::validation_overflow, "the destination size overflows");
  }
  job.dst_bytes = job.dst_bytes / 8 + (job.dst_bytes % 8 != 0 ? 1 : 0);
  if (!has_sink) {
    if (r.dst.size() < job.dst_bytes) {
      return fail(errc::invalid_argument, "needs " + detail::num(job.dst_bytes) +
                                              " destination bytes, the buffer holds " +
                                              detail::num(r.dst.size()));
    }
    job.dst = r.dst.data();
  }
  return job;
}

/// The source byte offset (within the tensor) of element `e` of the job's delivered order, and
/// how many source bytes from there are contiguous.
inline void locate_element(const load_job& job, std::uint64_t e, std::uint64_t& offset,
                           std::uint64_t& contiguous) noexcept {
  const std::uint64_t src_bits = bit_size(job.from);
  if (!job.plan) {
    offset = e * src_bits / 8;
    contiguous = job.src_bytes - offset;
    return;
  }
  const slice_plan& p = *job.plan;
  const std::uint64_t run_elements = p.run_size() * 8 / src_bits;
  std::uint64_t run = e / run_elements;
  const std::uint64_t within = (e % run_elements) * src_bits / 8;
  // The run's position by mixed radix over counts(), innermost last.
  std::uint64_t at = p.first_offset();
  const auto counts = p.counts();
  const auto strides = p.strides();
  for (std::size_t d = counts.size(); d-- > 0;) {
    at += (run % counts[d]) * strides[d];
    run /= counts[d];
  }
  offset = at + within;
  contiguous = p.run_size() - within;
}

/// Runs a checked set of jobs on worker threads. `sink` is nullptr when the jobs have
/// destinations.
template <class = void>
result<load_report> run_load(std::vector<load_job>& jobs, load_sink* sink,
                             const std::vector<std::string>& names, const load_options& options) {
  load_report report;
  report.tensors = jobs.size();
  // Destinations must not overlap: two workers would write the same bytes.
  if (sink == nullptr) {
    std::vector<std::size_t> order(jobs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&jobs](std::size_t a, std::size_t b) {
      return std::less<const std::byte*>()(jobs[a].dst, jobs[b].dst);
    });
    for (std::size_t k = 1; k < order.size(); ++k) {
      const load_job& a = jobs[order[k - 1]];
      const load_job& b = jobs[order[k]];
      if (a.dst_bytes == 0 || b.dst_bytes == 0) continue;
      if (std::less<const std::byte*>()(b.dst, a.dst + a.dst_bytes)) {
        return error(errc::invalid_argument, "load: the destinations of tensors " +
                                                 detail::quote(names[order[k - 1]]) + " and " +
                                                 detail::quote(names[order[k]]) + " overlap");
      }
    }
  }
  // Split every job into chunks of whole groups, at most chunk_bytes of source each (at most
  // convert_chunk_bytes when converting, so that the bytes read are still in cache when
  // converted).
  const std::uint64_t chunk_bytes = std::max<std::uint64_t>(options.chunk_bytes, 1);
  std::vector<load_chunk> chunks;
  std::uint64_t total = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const load_job& job = jobs[j];
    total += job.src_bytes;
    report.bytes_written += job.dst_bytes;
    if (job.origin.mapped != nullptr) report.mapped_bytes += job.src_bytes;
    const std::uint64_t limit =
        job.from == job.to ? chunk_bytes : std::min(chunk_bytes, convert_chunk_bytes);
    const std::uint64_t group_bytes = bytes_of_elements(job.from, load_group);
    const std::uint64_t step = std::max<std::uint64_t>(limit / group_bytes, 1) * load_group;
    for (std::uint64_t e = 0; e < job.elements;) {
      const std::uint64_t n = std::min(step, job.elements - e);
      chunks.push_back({j, e, e + n});
      e += n;
    }
  }
  report.chunks = chunks.size();
  report.bytes_read = total;
  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  threads = std::min(std::max(threads, 1u), max_load_threads);
  if (chunks.size() < threads)
    threads = static_cast<unsigned>(std::max<std::size_t>(chunks.size(), 1));
  report.threads = threads;

  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex lock;  // guards failure, done and progress calls
  std::optional<error> failure;
  std::uint64_t done = 0;
  const auto fail = [&](error e) {
    std::lock_guard<std::mutex> g(lock);
    if (!failure) failure = std::move(e);
    stop.store(true, std::memory_order_relaxed);
  };

  const auto work = [&]() {
    std::vector<std::byte> scratch;  // source bytes to convert, or converted bytes for a sink
    std::vector<std::byte> converted;
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return;
      const std::size_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks.size()) return;
      const load_chunk& ch = chunks[c];
      const load_job& job = jobs[ch.job];
      const bool convert = job.from != job.to;
      const auto src_at = [&job](std::uint64_t e) {
        return e == job.elements ? job.src_bytes : bytes_of_elements(job.from, e);
      };
      const auto dst_at = [&job](std::uint64_t e) {
        return e == job.elements ? job.dst_bytes : bytes_of_elements(job.to, e);
      };
      const std::uint64_t src_size = src_at(ch.last) - src_at(ch.first);
      const std::uint64_t dst_begin = dst_at(ch.first);
      const std::uint64_t dst_size = dst_at(ch.last) - dst_begin;
      const auto failed = [&](const error& e) {
        fail(error(e.code(), "load: " + detail::tensor_name(names[ch.job]) + ": " + e.message()));
      };
      // The chunk's source bytes: in place in a mapping when contiguous there, else gathered
      // run by run, straight into the destination when they are delivered as they are.
      const std::byte* src = nullptr;
      std::uint64_t offset = 0;
      std::uint64_t contiguous = 0;
      locate_element(job, ch.first, offset, contiguous);
      if (job.origin.mapped != nullptr && contiguous >= src_size) {
        src = job.origin.mapped + offset;
        if (!convert && sink == nullptr && src_size != 0) {
          std::memcpy(job.dst + dst_begin, src, detail::int_cast<std::size_t>(src_size));
        }
      } else {
        std::byte* gather = nullptr;
        if (!convert && sink == nullptr) {
          gather = job.dst + dst_begin;
        } else {
          scratch.resize(detail::int_cast<std::size_t>(src_size));
          gather = scratch.data();
        }
        std::uint64_t e = ch.first;
        std::uint64_t filled = 0;
        while (filled < src_size) {
          if (filled != 0) locate_element(job, e, offset, contiguous);
          const std::uint64_t piece = std::min(contiguous, src_size - filled);
          const auto n = detail::int_cast<std::size_t>(piece);
          if (job.origin.mapped != nullptr) {
            std::memcpy(gather + filled, job.origin.mapped + offset, n);
          } else if (auto r =
                         job.origin.source->read_at(job.origin.base + offset, gather + filled, n);
                     !r) {
            return failed(r.error());
          }
          filled += piece;
          e += piece * 8 / bit_size(job.from);
        }
        src = gather;
      }
      const std::byte* out = src;  // what the sink receives
      if (convert) {
        std::byte* to = job.dst != nullptr ? job.dst + dst_begin : nullptr;
        if (to == nullptr) {
          converted.resize(detail::int_cast<std::size_t>(dst_size));
          to = converted.data();
        }
        convert_elements(job.from, job.to, src, ch.last - ch.first, to);
        out = to;
      }
      if (sink != nullptr) {
        if (auto r =
                sink->write(ch.job, dst_begin,
                            span<const std::byte>(out, detail::int_cast<std::size_t>(dst_size)));
            !r) {
          return failed(r.error());
        }
      }
      std::lock_guard<std::mutex> g(lock);
      done += src_size;
      if (options.progress && !stop.load(std::memory_order_relaxed) &&
          !options.progress(load_progress{done, total})) {
        if (!failure) {
          failure = error(errc::cancelled, "load: cancelled after " + detail::num(done) + " of " +
                                               detail::num(total) + " bytes");
        }
        stop.store(true, std::memory_order_relaxed);
      }
    }
  };
#if SAFETENSORS_NO_EXCEPTIONS == 0
  // A sink or progress callback that throws: the first exception is rethrown after every worker
  // has stopped.
  std::exception_ptr thrown;
  const auto guarded = [&]() {
    try {
      work();
    } catch (...) {
      std::lock_guard<std::mutex> g(lock);
      if (!thrown) thrown = std::current_exception();
      stop.store(true, std::memory_order_relaxed);
    }
  };
#else
  const auto& guarded = work;
#endif
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(guarded);
  guarded();  // the calling thread is a worker too
  for (std::thread& t : pool) t.join();
#if SAFETENSORS_NO_EXCEPTIONS == 0
  if (thrown) std::rethrow_exception(thrown);
#endif
  if (failure) return std::move(*failure);
  return report;
}

/// Checks `requests` against a lookup (name -> table entry and origin) and runs them.
template <class Lookup>
result<load_report> load_with(span<const load_request> requests, load_sink* sink,
                              const load_options& options, Lookup&& lookup) {
  std::vector<load_job> jobs;
  std::vector<std::string> names;
  jobs.reserve(requests.size());
  names.reserve(requests.size());
  for (const load_request& r : requests) {
    load_origin origin;
    auto info = lookup(r.name, origin);
    if (!info) return error(info.error().code(), "load: " + info.error().message());
    auto job = check_request(*info, r, origin, sink != nullptr);
    if (!job) return job.error();
    jobs.push_back(std::move(*job));
    names.push_back(r.name);
  }
  return run_load(jobs, sink, names, options);
}

inline auto reader_lookup(const source_reader& reader) {
  return [&reader](const std::string& name, load_origin& origin) -> result<tensor_info> {
    auto info = reader.at(name);
    if (!info) return info.error();
    origin.source = &reader.source();
    origin.base = reader.header().data_offset() + info->offsets().begin;
    return info;
  };
}

inline auto mapped_lookup(const mapped_file& file) {
  return [&file](const std::string& name, load_origin& origin) -> result<tensor_info> {
    auto info = file.at(name);
    if (!info) return info.error();
    origin.mapped = file.tensor(*info).bytes().data();
    return info;
  };
}

inline auto checkpoint_lookup(const checkpoint& ckpt) {
  return [&ckpt](const std::string& name, load_origin& origin) -> result<tensor_info> {
    auto info = ckpt.at(name);  // opens the shard
    if (!info) return info.error();
    auto shard = ckpt.shard(*ckpt.shard_of(name));
    if (!shard) return shard.error();
    if (const mapped_file* m = shard->mapped()) {
      origin.mapped = m->tensor(*info).bytes().data();
    } else if (const source_reader* r = shard->reader()) {
      origin.source = &r->source();
      origin.base = r->header().data_offset() + info->offsets().begin;
    }
    return info;
  };
}

}  // namespace detail

template <class>
result<std::uint64_t> load_size(const tensor_info& info, const load_request& request) {
  auto job = detail::check_request(info, request, detail::load_origin{}, true);
  if (!job) return job.error();
  return job->dst_bytes;
}

template <class>
result<load_report> load(const source_reader& reader, span<const load_request> requests,
                         const load_options& options) {
  return detail::load_with(requests, nullptr, options, detail::reader_lookup(reader));
}

template <class>
result<load_report> load(const mapped_file& file, span<const load_request> requests,
                         const load_options& options) {
  return detail::load_with(requests, nullptr, options, detail::mapped_lookup(file));
}

template <class>
result<load_report> load(const checkpoint& ckpt, span<const load_request> requests,
                         const load_options& options) {
  return detail::load_with(requests, nullptr, options, detail::checkpoint_lookup(ckpt));
}

template <class>
result<load_report> load(const source_reader& reader, span<const load_request> requests,
                         load_sink& sink, const load_options& options) {
  return detail::load_with(requests, &sink, options, detail::reader_lookup(reader));
}

template <class>
result<load_report> load(const mapped_file& file, span<const load_request> requests,
                         load_sink& sink, const load_options& options) {
  return detail::load_with(requests, &sink, options, detail::mapped_lookup(file));
}

template <class>
result<load_report> load(const checkpoint& ckpt, span<const load_request> requests, load_sink& sink,
                         const load_options& options) {
  return detail::load_with(requests, &sink, options, detail::checkpoint_lookup(ckpt));
}
#endif  // SAFETENSORS_DEFINITIONS

// --- the one-call load: into memory the library allocates (docs/loading.md#the-one-call-load) ---

namespace detail {
struct loaded_access;
}  // namespace detail

/// A tensor load_tensors() delivered, in a buffer it allocated and this object owns: the entry as
/// delivered and its bytes. Move-only; moving keeps the buffer where it is (data() stays valid in
/// the new owner), but not the views info() and view() gave before.
class loaded_tensor {
 public:
  /// Every buffer starts on a multiple of this; from 64 KiB on, buffers are whole pages of their
  /// own (docs/loading.md#memory).
  static constexpr std::size_t alignment = detail::buffer_alignment;

  loaded_tensor() = default;
  /// The entry as delivered: the request's name, dtype (`to`, or the file's), shape (the
  /// slice's) and offsets [0, byte_size()). Points into this object: valid until it is moved
  /// from or destroyed.
  tensor_info info() const noexcept {
    return tensor_info(name_, type_, shape(), data_offsets{0, buffer_.size()}, elements_);
  }
  std::string_view name() const noexcept { return name_; }
  safetensors::dtype dtype() const noexcept { return type_; }
  span<const std::uint64_t> shape() const noexcept { return {shape_.data(), shape_.size()}; }
  std::uint64_t element_count() const noexcept { return elements_; }
  /// The bytes: little-endian as in the file, except a conversion to F32, which delivers the
  /// host's floats (as load() does). Writable: the memory is yours.
  span<std::byte> bytes() noexcept { return {buffer_.data(), buffer_.size()}; }
  span<const std::byte> bytes() const noexcept { return {buffer_.data(), buffer_.size()}; }
  /// The first byte (nullptr for an empty tensor), aligned to `alignment`.
  std::byte* data() noexcept { return buffer_.data(); }
  const std::byte* data() const noexcept { return buffer_.data(); }
  std::size_t byte_size() const noexcept { return buffer_.size(); }
  /// The entry and bytes as a tensor_view (for slice_into, to_float...). Its as<T>() decodes
  /// little-endian elements, which a conversion to F32 on a big-endian host does not deliver:
  /// read those with as<float>(). Valid until this object is moved from or destroyed.
  tensor_view view() const noexcept { return tensor_view(info(), bytes()); }
  /// The elements in place, typed and aligned: DtypeMismatch unless dtype_of<T> is dtype();
  /// InvalidArgument on a big-endian host for little-endian elements wider than a byte (decode
  /// those with view().as<T>()). Not for BOOL: view().as<bool>() reads any non-zero byte as true.
  template <class T>
  result<span<T>> as() {
    return typed<T>(buffer_.data());
  }
  template <class T>
  result<span<const T>> as() const {
    return typed<const T>(buffer_.data());
  }

 private:
  friend struct detail::loaded_access;
  template <class T>
  result<span<T>> typed(std::byte* p) const {
    using E = std::remove_const_t<T>;
    static_assert(std::is_trivially_copyable_v<E>, "element types must be trivially copyable");
    static_assert(detail::has_dtype<E>::value, "no dtype_of<T> for this element type");
    static_assert(!std::is_same_v<E, bool>, "BOOL bytes are not bools: use view().as<bool>()");
    if (dtype_of<E>::value != type_) {
      return detail::dtype_mismatch(name_, type_, dtype_of<E>::value);
    }
    if (SAFETENSORS_BIG_ENDIAN && sizeof(E) > 1 && !host_floats_) {
      return error(errc::invalid_argument,
                   detail::cat({detail::tensor_name(name_),
                                " holds little-endian elements: decode them with view().as<T>()"}));
    }
    return span<T>(reinterpret_cast<T*>(p), detail::int_cast<std::size_t>(elements_));
  }
  std::string name_;
  std::vector<std::uint64_t> shape_;
  std::uint64_t elements_ = 0;
  safetensors::dtype type_ = safetensors::dtype::U8;
  bool host_floats_ = false;  // converted to F32: the host's floats, not little-endian bytes
  detail::uninit_buffer buffer_;
};

/// What load_tensors() returns: the loaded tensors in request order, a lookup by name, and the
/// load's report. Move-only. Moving a tensor out (std::move(t[i])) leaves an empty one in place.
class loaded_tensors {
 public:
  using iterator = std::vector<loaded_tensor>::iterator;
  using const_iterator = std::vector<loaded_tensor>::const_iterator;

  loaded_tensors() = default;
  loaded_tensors(const loaded_tensors&) = delete;
  loaded_tensors& operator=(const loaded_tensors&) = delete;
  loaded_tensors(loaded_tensors&&) = default;
  loaded_tensors& operator=(loaded_tensors&&) = default;
  /// Number of tensors (one per request).
  std::size_t size() const noexcept { return tensors_.size(); }
  bool empty() const noexcept { return tensors_.empty(); }
  /// The tensor of request i (unchecked).
  loaded_tensor& operator[](std::size_t i) noexcept { return tensors_[i]; }
  const loaded_tensor& operator[](std::size_t i) const noexcept { return tensors_[i]; }
  iterator begin() noexcept { return tensors_.begin(); }
  iterator end() noexcept { return tensors_.end(); }
  const_iterator begin() const noexcept { return tensors_.begin(); }
  const_iterator end() const noexcept { return tensors_.end(); }
  /// The tensor of the first request named `name`, or nullptr; O(log n). Found by the request's
  /// name even after the tensor was moved out (it is then empty).
  loaded_tensor* find(std::string_view name) noexcept {
    const std::size_t i = index_of(name);
    return i < tensors_.size() ? &tensors_[i] : nullptr;
  }
  const loaded_tensor* find(std::string_view name) const noexcept {
    const std::size_t i = index_of(name);
    return i < tensors_.size() ? &tensors_[i] : nullptr;
  }
  bool contains(std::string_view name) const noexcept { return index_of(name) < tensors_.size(); }
  /// What the load did; mapped_bytes tells how much was copied out of a mapping.
  const load_report& report() const noexcept { return report_; }

 private:
  friend struct detail::loaded_access;
  std::size_t index_of(std::string_view name) const noexcept {
    const auto it = std::lower_bound(
        by_name_.begin(), by_name_.end(), name,
        [this](std::size_t i, std::string_view n) { return std::string_view(names_[i]) < n; });
    return it != by_name_.end() && names_[*it] == name ? *it : tensors_.size();
  }
  std::vector<loaded_tensor> tensors_;
  std::vector<std::string> names_;    // the requests' names, which moving a tensor out keeps
  std::vector<std::size_t> by_name_;  // indices in name order (the first request first)
  load_report report_;
};

template <>
struct detail::owns_views<loaded_tensors> : std::true_type {};

/// Loads every request into memory this library allocates: one buffer per request, never
/// initialised (each page is first touched by the worker thread that reads into it), aligned to
/// loaded_tensor::alignment; from 64 KiB on, pages of their own (on Linux from 2 MiB on aligned
/// for huge pages, advised with load_options::huge_pages); docs/loading.md#the-one-call-load.
/// Reads with the reader's source. The requests' dst are ignored; checks, errors, progress and
/// cancellation as load(). When memory runs out: IoError, and nothing stays allocated.
template <class = void>
result<loaded_tensors> load_tensors(const source_reader& reader, span<const load_request> requests,
                                    const load_options& options = {});
/// load_tensors() from a mapped file: the copies are read with pread from the file the mapping
/// shows (opened again by its path), not through the mapping, whose page faults make copying
/// slower; through the mapping only when that path now names another file or none
/// (report().mapped_bytes).
template <class = void>
result<loaded_tensors> load_tensors(const mapped_file& file, span<const load_request> requests,
                                    const load_options& options = {});
/// load_tensors() from a checkpoint: reader shards through their sources, mapped shards as from a
/// mapped file.
template <class = void>
result<loaded_tensors> load_tensors(const checkpoint& ckpt, span<const load_request> requests,
                                    const load_options& options = {});
/// Every tensor of the file, whole and as stored, in offset order.
template <class = void>
result<loaded_tensors> load_tensors(const source_reader& reader, const load_options& options = {});
/// Every tensor of the mapped file, whole and as stored, in offset order.
template <class = void>
result<loaded_tensors> load_tensors(const mapped_file& file, const load_options& options = {});
/// Every tensor of the checkpoint, whole and as stored, in name order.
template <class = void>
result<loaded_tensors> load_tensors(const checkpoint& ckpt, const load_options& options = {});

#if SAFETENSORS_DEFINITIONS
namespace detail {

/// A file opened again for pread (reopen_mapped): where a mapped file's copies are read from.
class reopened_file final : public random_access_source {
 public:
  reopened_file(os_file file, std::uint64_t size, std::string path) noexcept
      : file_(std::move(file)), size_(size), path_(std::move(path)) {}
  std::uint64_t byte_size() const noexcept override { return size_; }
  result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    return detail::read_at(file_, offset, dst, n, path_);
  }
  std::string describe() const override { return path_; }

 private:
  os_file file_;
  std::uint64_t size_;
  std::string path_;
};

/// The mapped files of one load, each opened again for pread once (nullptr: it cannot be, and
/// the mapping serves).
class reopened_files {
 public:
  const random_access_source* of(const mapped_file& m) {
    auto it = files_.find(&m);
    if (it == files_.end()) {
      std::unique_ptr<reopened_file> file;
      if (auto f = reopen_mapped(m.mapping())) {
        file.reset(new reopened_file(std::move(*f), m.mapping().byte_size(), m.path()));
      }
      it = files_.emplace(&m, std::move(file)).first;
    }
    return it->second.get();
  }
  /// Where tensor `info` of `m` is read from: the reopened file, else the mapping.
  void locate(const mapped_file& m, const tensor_info& info, load_origin& origin) {
    if (const random_access_source* source = of(m)) {
      origin.source = source;
      origin.base = m.header().data_offset() + info.offsets().begin;
    } else {
      origin.mapped = m.tensor(info).bytes().data();
    }
  }

 private:
  std::map<const mapped_file*, std::unique_ptr<reopened_file>> files_;
};

inline auto mapped_pread_lookup(const mapped_file& file, reopened_files& files) {
  return [&file, &files](const std::string& name, load_origin& origin) -> result<tensor_info> {
    auto info = file.at(name);
    if (!info) return info.error();
    files.locate(file, *info, origin);
    return info;
  };
}

inline auto checkpoint_pread_lookup(const checkpoint& ckpt, reopened_files& files) {
  return [&ckpt, &files](const std::string& name, load_origin& origin) -> result<tensor_info> {
    auto info = ckpt.at(name);  // opens the shard
    if (!info) return info.error();
    auto shard = ckpt.shard(*ckpt.shard_of(name));
    if (!shard) return shard.error();
    if (const mapped_file* m = shard->mapped()) {
      files.locate(*m, *info, origin);
    } else if (const source_reader* r = shard->reader()) {
      origin.source = &r->source();
      origin.base = r->header().data_offset() + info->offsets().begin;
    }
    return info;
  };
}

/// Fills loaded_tensor and loaded_tensors, whose members are private.
struct loaded_access {
  /// Checks every request, allocates its buffer, reads them all (in source order, so that a
  /// cold file is read front to back), and returns the tensors in request order.
  template <class Lookup>
  static result<loaded_tensors> load(span<const load_request> requests, const load_options& options,
                                     Lookup&& lookup) {
#if SAFETENSORS_NO_EXCEPTIONS == 0
    try {
#endif
      loaded_tensors out;
      std::vector<load_job> jobs;
      jobs.reserve(requests.size());
      out.names_.reserve(requests.size());
      for (const load_request& r : requests) {
        load_origin origin;
        auto info = lookup(r.name, origin);
        if (!info) return info.error();
        auto job = check_request(*info, r, origin, true);
        if (!job) return job.error();
        jobs.push_back(std::move(*job));
        out.names_.push_back(r.name);
      }
      out.tensors_.resize(jobs.size());
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        load_job& job = jobs[i];
        loaded_tensor& t = out.tensors_[i];
        if (job.dst_bytes > std::numeric_limits<std::size_t>::max() ||
            !uninit_buffer::allocate(int_cast<std::size_t>(job.dst_bytes), t.buffer_,
                                     options.huge_pages)) {
          return out_of_memory("load: " + tensor_name(out.names_[i]), job.dst_bytes);
        }
        job.dst = t.buffer_.data();
        t.name_ = out.names_[i];
        t.type_ = job.to;
        t.elements_ = job.elements;
        const span<const std::uint64_t> shape = job.plan ? job.plan->shape() : job.info.shape();
        t.shape_.assign(shape.begin(), shape.end());
        t.host_floats_ = job.to == dtype::F32 && job.from != dtype::F32;
      }
      // Source order: by file, then by offset in it.
      const auto key = [&jobs](std::size_t i) {
        const load_origin& o = jobs[i].origin;
        return o.source != nullptr
                   ? std::make_pair(reinterpret_cast<std::uintptr_t>(o.source), o.base)
                   : std::make_pair(
                         std::uintptr_t{0},
                         int_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(o.mapped)));
      };
      std::vector<std::size_t> order(jobs.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&key](std::size_t a, std::size_t b) { return key(a) < key(b); });
      std::vector<load_job> sorted;
      std::vector<std::string> names;
      sorted.reserve(jobs.size());
      names.reserve(jobs.size());
      for (const std::size_t i : order) {
        sorted.push_back(std::move(jobs[i]));
        names.push_back(out.names_[i]);
      }
      auto report = run_load(sorted, nullptr, names, options);
      if (!report) return report.error();
      out.report_ = *report;
      out.by_name_.resize(out.names_.size());
      for (std::size_t i = 0; i < out.by_name_.size(); ++i) out.by_name_[i] = i;
      std::stable_sort(
          out.by_name_.begin(), out.by_name_.end(),
          [&out](std::size_t a, std::size_t b) { return out.names_[a] < out.names_[b]; });
      return out;
#if SAFETENSORS_NO_EXCEPTIONS == 0
    } catch (const std::bad_alloc&) {
      return error(errc::out_of_memory, "load: out of memory");
    }
#endif
  }
};

/// One whole-tensor request per name.
template <class Range, class Name>
std::vector<load_request> whole_tensors(const Range& tensors, Name name_of) {
  std::vector<load_request> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) {
    load_request r;
    r.name = std::string(name_of(t));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace detail

template <class>
result<loaded_tensors> load_tensors(const source_reader& reader, span<const load_request> requests,
                                    const load_options& options) {
  return detail::loaded_access::load(requests, options, detail::reader_lookup(reader));
}

template <class>
result<loaded_tensors> load_tensors(const mapped_file& file, span<const load_request> requests,
                                    const load_options& options) {
  detail::reopened_files files;
  return detail::loaded_access::load(requests, options, detail::mapped_pread_lookup(file, files));
}

template <class>
result<loaded_tensors> load_tensors(const checkpoint& ckpt, span<const load_request> requests,
                                    const load_options& options) {
  detail::reopened_files files;
  return detail::loaded_access::load(requests, options,
                                     detail::checkpoint_pread_lookup(ckpt, files));
}

template <class>
result<loaded_tensors> load_tensors(const source_reader& reader, const load_options& options) {
  const auto requests = detail::whole_tensors(reader.header().tensors(),
                                              [](const tensor_info& t) { return t.name(); });
  return load_tensors(reader, span<const load_request>(requests.data(), requests.size()), options);
}

template <class>
result<loaded_tensors> load_tensors(const mapped_file& file, const load_options& options) {
  const auto requests =
      detail::whole_tensors(file.tensors(), [](const tensor_info& t) { return t.name(); });
  return load_tensors(file, span<const load_request>(requests.data(), requests.size()), options);
}

template <class>
result<loaded_tensors> load_tensors(const checkpoint& ckpt, const load_options& options) {
  const auto requests = detail::whole_tensors(
      ckpt.entries(), [](const index_entry& e) -> const std::string& { return e.name; });
  return load_tensors(ckpt, span<const load_request>(requests.data(), requests.size()), options);
}

#endif  // SAFETENSORS_DEFINITIONS

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template result<std::uint64_t> load_size<void>(const tensor_info&, const load_request&);
template result<load_report> load<void>(const source_reader&, span<const load_request>,
                                        const load_options&);
template result<load_report> load<void>(const mapped_file&, span<const load_request>,
                                        const load_options&);
template result<load_report> load<void>(const checkpoint&, span<const load_request>,
                                        const load_options&);
template result<load_report> load<void>(const source_reader&, span<const load_request>, load_sink&,
                                        const load_options&);
template result<load_report> load<void>(const mapped_file&, span<const load_request>, load_sink&,
                                        const load_options&);
template result<load_report> load<void>(const checkpoint&, span<const load_request>, load_sink&,
                                        const load_options&);
template result<loaded_tensors> load_tensors<void>(const source_reader&, span<const load_request>,
                                                   const load_options&);
template result<loaded_tensors> load_tensors<void>(const mapped_file&, span<const load_request>,
                                                   const load_options&);
template result<loaded_tensors> load_tensors<void>(const checkpoint&, span<const load_request>,
                                                   const load_options&);
template result<loaded_tensors> load_tensors<void>(const source_reader&, const load_options&);
template result<loaded_tensors> load_tensors<void>(const mapped_file&, const load_options&);
template result<loaded_tensors> load_tensors<void>(const checkpoint&, const load_options&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_LOAD_HPP
