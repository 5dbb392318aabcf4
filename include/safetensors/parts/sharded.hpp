// safetensors for C++, part 10 of 14: reading sharded checkpoints. checkpoint reads a model in one
// file or in shards with an index as one table (shards opened lazily, verify, merge);
// sharded_writer.hpp writes one. `template <class = void>` marks what is compiled only when used
// (docs/design.md#compile-cost); the definitions are under SAFETENSORS_DEFINITIONS
// (docs/design.md#separate-compilation).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_SHARDED_HPP
#define SAFETENSORS_PARTS_SHARDED_HPP

#include <mutex>

#include "index.hpp"
#include "reader.hpp"
#include "writer.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// How a checkpoint reads its shards.
enum class shard_access : std::uint8_t {
  mapped,  ///< memory-mapped (mapped_file): zero-copy tensor views
  reader,  ///< pread / ReadFile (source_reader): read_into only, no mapping
};

/// Options of checkpoint::open.
struct checkpoint_options {
  /// Mapped (zero copy) or pread shards.
  shard_access access = shard_access::mapped;
  /// Applied to every shard.
  parse_options parse;
  /// Applied to every mapped shard.
  map_options map;
  /// A directory holds `<prefix>.safetensors.index.json` or `<prefix>.safetensors`.
  std::string prefix = "model";
  /// Largest index file accepted, in bytes (HeaderTooLarge above).
  std::uint64_t max_index_size = 100'000'000;
  /// Opens shards as sources instead of files (an object store, HTTP: docs/remote.md): called
  /// with a shard's file name as the index gives it (a single file: its file name) when the
  /// shard is first used; a source_reader then reads it. Needs shard_access::reader
  /// (InvalidArgument with mapped). Called from several threads at once when several shards
  /// open at once. Empty: shards are the files of the checkpoint's directory.
  std::function<result<std::unique_ptr<random_access_source>>(const std::string& file_name)>
      open_shard;
};

/// What verify() found. ok() when there is no problem.
struct verify_report {
  std::vector<error> problems;     ///< every problem, in the order found
  std::size_t tensor_count = 0;    ///< index entries found in their shards
  std::uint64_t tensor_bytes = 0;  ///< their byte sizes, summed
  std::size_t shards_opened = 0;   ///< shards that opened and validated
  /// True when no problem was found.
  bool ok() const noexcept { return problems.empty(); }
};

/// Options of checkpoint::verify.
struct verify_options {
  /// Do not report tensors that a shard holds but the index does not list (the index is the
  /// authority; some tools leave such tensors behind).
  bool allow_unlisted_tensors = false;
};

namespace detail {
/// verify()'s check of the index's `metadata.total_size`: a non-negative integer, equal to the
/// listed tensors' bytes (report.tensor_bytes) when `complete`. Problems go to report.problems.
template <class = void>
void check_total_size(const shard_index& index, bool complete, verify_report& report);

template <class = void>
struct shard_slot {
  std::string name;  // as in the index
  std::filesystem::path path;
  std::atomic<bool> ready{false};  // set (release) once the open was attempted
  std::mutex opening;
  std::optional<mapped_file> mapped;
  std::optional<source_reader> reader;
  std::optional<error> failure;

  void open(const checkpoint_options& o) {
    if (o.open_shard) {
      if (o.access == shard_access::mapped) {
        failure.emplace(errc::invalid_argument,
                        "checkpoint_options::open_shard needs shard_access::reader");
        return;
      }
      auto s = o.open_shard(name);
      if (!s) {
        failure.emplace(s.error());
        return;
      }
      auto r = source_reader::open(std::move(*s), o.parse);
      if (r) {
        reader.emplace(std::move(*r));
      } else {
        failure.emplace(r.error());
      }
    } else if (o.access == shard_access::mapped) {
      auto v = mapped_file::open(path, o.parse, o.map);
      if (v) {
        mapped.emplace(std::move(*v));
      } else {
        failure.emplace(v.error());
      }
    } else {
      auto r = source_reader::open(path, o.parse);
      if (r) {
        reader.emplace(std::move(*r));
      } else {
        failure.emplace(r.error());
      }
    }
  }
  const safetensors::header& header() const noexcept {
    return mapped ? mapped->header() : reader->header();
  }
};

/// True when the file name `name` is `<prefix>-NNNNN-of-MMMMM.safetensors` as shard_layout
/// names shards: `prefix` exactly (compared unit by unit, in the platform's encoding), then
/// five ASCII digits each, with 1 <= NNNNN <= MMMMM.
template <class = void>
bool is_layout_shard_name(const std::filesystem::path::string_type& name,
                          const std::filesystem::path::string_type& prefix);
}  // namespace detail

template <class>
class basic_checkpoint;

/// An opened shard of a checkpoint. A handle: valid while its checkpoint lives.
class shard_view {
 public:
  /// The shard's file name as the index gives it.
  const std::string& file_name() const noexcept { return slot_->name; }
  /// The shard's path (the index's directory joined with the file name).
  const std::filesystem::path& path() const noexcept { return slot_->path; }
  /// The shard's parsed header.
  const safetensors::header& header() const noexcept { return slot_->header(); }
  /// The mapped file, or nullptr when the checkpoint reads with shard_access::reader.
  const mapped_file* mapped() const noexcept { return slot_->mapped ? &*slot_->mapped : nullptr; }
  /// The pread reader, or nullptr when the checkpoint maps its shards.
  const source_reader* reader() const noexcept { return slot_->reader ? &*slot_->reader : nullptr; }
  /// Copies the bytes of `info` (an entry of this shard's header) into `dst`.
  result<void> read_into(const tensor_info& info, span<std::byte> dst) const {
    if (slot_->reader) return slot_->reader->read_into(info, dst);
    const mapped_file& m = *slot_->mapped;
    if (!m.header().holds(info)) {
      return error(errc::invalid_argument, "read_into: " + detail::tensor_name(info.name()) +
                                               " is not an entry of this shard");
    }
    if (dst.size() < info.byte_size()) {
      return error(errc::invalid_argument, "read_into: " + detail::tensor_name(info.name()) +
                                               " has " + detail::num(info.byte_size()) +
                                               " bytes, the buffer holds " +
                                               detail::num(dst.size()));
    }
    const auto bytes = m.tensor(info).bytes();
    if (!bytes.empty()) std::memcpy(dst.data(), bytes.data(), bytes.size());
    return {};
  }

 private:
  template <class>
  friend class basic_checkpoint;
  explicit shard_view(const detail::shard_slot<>* slot) noexcept : slot_(slot) {}
  const detail::shard_slot<>* slot_;
};

/// A model in one file or in shards with an index, read as one: lookup, iteration in name order
/// with each tensor's shard, typed views (mapped) or read_into (both access modes), verify.
/// Shards are opened and validated on first use; a shard that fails to open keeps its error.
/// Thread-safety: every const member function may be called from several threads at once
/// (each shard opens once, under a lock); views and shard handles live as long as the checkpoint.
/// Move-only (moving does not invalidate views; do not move it while other threads use it).
template <class = void>
class basic_checkpoint {
 public:
  basic_checkpoint() = default;
  basic_checkpoint(basic_checkpoint&&) noexcept = default;
  basic_checkpoint& operator=(basic_checkpoint&&) noexcept = default;

  /// Opens `path` (UTF-8 string or std::filesystem::path): a directory (its
  /// `<prefix>.safetensors.index.json`, else `<prefix>.safetensors`, else its only
  /// `*.safetensors.index.json`, else its only `*.safetensors` unless named as one shard of
  /// several: IoError, docs/index.md#resolving-a-path), an index file (`*.json`) or a
  /// single safetensors file. An index is parsed at once (parse_index's errors, prefixed with
  /// its path); shards open lazily, except a single file, which opens here.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<basic_checkpoint> open(const P& path, const checkpoint_options& options = {}) {
    auto p = detail::to_fs_path(path);
    if (!p) return p.error();
    return open_path(*p, options);
  }

  /// A checkpoint over a parsed index whose shard names are relative to `directory` (the names
  /// are checked as parse_index does; the weight_map is sorted; a name twice is DuplicateKey).
  static result<basic_checkpoint> open(shard_index index, const std::filesystem::path& directory,
                                       const checkpoint_options& options = {});

  /// True when opened from an index (false for a single file).
  bool sharded() const noexcept { return sharded_; }
  /// The directory that holds the shards.
  const std::filesystem::path& directory() const noexcept { return directory_; }
  /// The index file's path (empty for a single file).
  const std::filesystem::path& index_path() const noexcept { return index_path_; }
  /// The index (for a single file: one shard, every tensor, null metadata).
  const shard_index& index() const noexcept { return index_; }
  /// Number of tensors (weight_map entries).
  std::size_t size() const noexcept { return index_.weight_map.size(); }
  /// The weight_map in tensor name order: each tensor's name and shard (see shard_name()).
  const std::vector<index_entry>& entries() const noexcept { return index_.weight_map; }
  /// Number of shard files.
  std::size_t shard_count() const noexcept { return slots_.size(); }
  /// The file name of shard `i` (unchecked).
  const std::string& shard_name(std::size_t i) const noexcept { return slots_[i]->name; }
  /// The shard of tensor `name` per the index, or nullopt.
  std::optional<std::size_t> shard_of(std::string_view name) const noexcept;
  /// True when the index lists `name` (no shard is opened).
  bool contains(std::string_view name) const noexcept { return index_.find(name).has_value(); }

  /// Shard `i`, opened (and fully validated) on first use: IoError, a parse error, or
  /// InvalidArgument for `i` out of range.
  result<shard_view> shard(std::size_t i) const;

  /// The table entry of tensor `name` (opens its shard). TensorNotFound when the index does not
  /// list it or its shard does not hold it; the shard's error when it cannot be opened.
  result<tensor_info> at(std::string_view name) const;
  /// The table entry of tensor `name` (opens its shard), or nullopt when at() fails: use at() to
  /// learn why (a shard that cannot be opened is reported there).
  std::optional<tensor_info> find(std::string_view name) const;
  /// Every tensor the index lists, in the order of the bytes: shard by shard in the order of
  /// index().shards, each shard's in offset order (for a single file, its tensors() order).
  /// Opens every shard: a shard's error when one cannot be opened, TensorNotFound for a listed
  /// tensor its shard does not hold; a tensor a shard holds but the index does not list is left
  /// out. The entries live as long as the checkpoint. Without opening a shard, a checkpoint
  /// knows each tensor's name and shard only: entries() (name order), contains(), shard_of().
  result<std::vector<tensor_info>> tensors() const;
  /// A zero-copy view of tensor `name` (shard_access::mapped; InvalidArgument with reader).
  result<tensor_view> tensor(std::string_view name) const;
  /// Copies the bytes of tensor `name` into `dst` (at least its byte size), in either mode.
  result<void> read_into(std::string_view name, span<std::byte> dst) const;
  /// The bytes of tensor `name` in a new vector (with shard_access::reader, grown as they
  /// arrive: source_reader::read). OutOfMemory when the vector cannot be had.
  result<std::vector<std::byte>> read(std::string_view name) const;

  /// Opens every shard and checks the checkpoint against its index, reporting every problem:
  /// a shard that cannot be opened (IoError) or is invalid (its error), a listed tensor its
  /// shard does not hold (TensorNotFound), a tensor in two shards (DuplicateKey), a tensor of a
  /// shard the index does not list (TensorNotFound; see verify_options), and `total_size`
  /// (when present) that is not an integer or not the sum of the listed tensors' byte sizes
  /// (InvalidHeaderDeserialization).
  verify_report verify(const verify_options& options = {}) const;

  /// Every listed tensor as a tensor_spec for the writer, in name order: bytes referenced in the
  /// mapping (mapped) or a producer reading the shard (reader). Valid while the checkpoint lives.
  result<std::vector<tensor_spec>> specs() const;

  /// The shards' `__metadata__` merged (shards in name order; the first value of a key wins);
  /// nullopt when no shard has metadata. Opens every shard.
  result<std::optional<metadata_map>> merged_metadata() const;

 private:
  static result<basic_checkpoint> open_path(const std::filesystem::path& p,
                                            const checkpoint_options& options);

  static result<basic_checkpoint> open_directory(const std::filesystem::path& dir,
                                                 const checkpoint_options& options);

  static result<basic_checkpoint> open_index_file(const std::filesystem::path& p,
                                                  const checkpoint_options& options);

  static result<basic_checkpoint> open_single(const std::filesystem::path& p,
                                              const checkpoint_options& options);

  result<std::pair<shard_view, tensor_info>> locate(std::string_view name) const;

  checkpoint_options options_;
  std::filesystem::path directory_;
  std::filesystem::path index_path_;
  shard_index index_;
  std::vector<std::unique_ptr<detail::shard_slot<>>> slots_;  // stable addresses for views
  bool sharded_ = false;
};

/// A model in one file or in shards with an index (a class template only so that it is compiled
/// when used).
using checkpoint = basic_checkpoint<>;

template <class T>
struct detail::owns_views<basic_checkpoint<T>> : std::true_type {};

/// Writes every listed tensor of `ckpt` into one file at `path`, atomically, with the shards'
/// merged `__metadata__` (checkpoint::merged_metadata). Tensors a shard holds but the index
/// does not list are not written. Byte-identical to a file the canonical writer wrote with the
/// same tensors and metadata (a split of it merges back to the same bytes).
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<void> merge_checkpoint(const checkpoint& ckpt, const P& path,
                              const write_options& options = {}) {
  auto specs = ckpt.specs();
  if (!specs) return specs.error();
  auto md = ckpt.merged_metadata();
  if (!md) return md.error();
  return save_file(path, *specs, *md, options);
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {

namespace detail {
template <class>
bool is_layout_shard_name(const std::filesystem::path::string_type& name,
                          const std::filesystem::path::string_type& prefix) {
  using char_type = std::filesystem::path::value_type;
  constexpr std::string_view tail = "-#####-of-#####.safetensors";
  if (name.size() != prefix.size() + tail.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  std::uint32_t number[2] = {0, 0};  // NNNNN at tail[1..5], MMMMM at tail[10..14]
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const char_type c = name[prefix.size() + i];
    if (tail[i] != '#') {
      if (c != static_cast<char_type>(tail[i])) return false;
      continue;
    }
    if (c < '0' || c > '9') return false;
    std::uint32_t& n = number[i < 6 ? 0 : 1];
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return number[0] >= 1 && number[0] <= number[1];
}
}  // namespace detail

template <class T>
auto basic_checkpoint<T>::open(shard_index index, const std::filesystem::path& directory,
                               const checkpoint_options& options) -> result<basic_checkpoint> {
  if (options.open_shard && options.access == shard_access::mapped) {
    return error(errc::invalid_argument,
                 "checkpoint_options::open_shard needs shard_access::reader");
  }
  basic_checkpoint c;
  c.options_ = options;
  c.directory_ = directory;
  c.sharded_ = true;
  for (const std::string& name : index.shards) {
    if (auto why = detail::shard_name_problem(name)) {
      return error(errc::invalid_header_deserialization,
                   "the shard name " + detail::quote(name) + " " + *why);
    }
    auto file = detail::to_fs_path(name);
    if (!file) return file.error();
    auto slot = std::make_unique<detail::shard_slot<>>();
    slot->name = name;
    slot->path = directory / *file;
    c.slots_.push_back(std::move(slot));
  }
  for (const index_entry& e : index.weight_map) {
    if (e.shard >= c.slots_.size()) {
      return error(errc::invalid_argument,
                   "checkpoint::open: tensor " + detail::quote(e.name) + " has no shard");
    }
  }
  auto& map = index.weight_map;  // parse_index sorts it; an index built by hand may not be
  if (!std::is_sorted(map.begin(), map.end(),
                      [](const index_entry& a, const index_entry& b) { return a.name < b.name; })) {
    std::stable_sort(map.begin(), map.end(),
                     [](const index_entry& a, const index_entry& b) { return a.name < b.name; });
  }
  for (std::size_t i = 1; i < map.size(); ++i) {
    if (map[i].name == map[i - 1].name) {
      return error(errc::duplicate_key,
                   "the weight_map lists tensor " + detail::quote(map[i].name) + " twice");
    }
  }
  c.index_ = std::move(index);
  return c;
}

template <class T>
auto basic_checkpoint<T>::shard_of(std::string_view name) const noexcept
    -> std::optional<std::size_t> {
  return index_.find(name);
}

template <class T>
auto basic_checkpoint<T>::shard(std::size_t i) const -> result<shard_view> {
  if (i >= slots_.size()) {
    return error(errc::invalid_argument, "shard " + detail::num(i) + " of " +
                                             detail::num(slots_.size()) + " does not exist");
  }
  detail::shard_slot<>& s = *slots_[i];
  // Double-checked: std::mutex needs no -pthread on older glibc, unlike std::call_once.
  if (!s.ready.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(s.opening);
    if (!s.ready.load(std::memory_order_relaxed)) {
      s.open(options_);
      s.ready.store(true, std::memory_order_release);
    }
  }
  if (s.failure) return *s.failure;
  return shard_view(&s);
}

template <class T>
auto basic_checkpoint<T>::at(std::string_view name) const -> result<tensor_info> {
  auto s = locate(name);
  if (!s) return s.error();
  return s->second;
}

template <class T>
auto basic_checkpoint<T>::find(std::string_view name) const -> std::optional<tensor_info> {
  auto s = locate(name);
  if (!s) return std::nullopt;
  return s->second;
}

template <class T>
auto basic_checkpoint<T>::tensors() const -> result<std::vector<tensor_info>> {
  std::vector<tensor_info> out;
  out.reserve(index_.weight_map.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto s = shard(i);
    if (!s) return s.error();
    for (const tensor_info t : s->header().tensors()) {
      if (index_.find(t.name()) == std::optional<std::size_t>(i)) out.push_back(t);
    }
  }
  if (out.size() != index_.weight_map.size()) {  // a listed tensor is missing: locate names it
    for (const index_entry& e : index_.weight_map) {
      if (auto s = locate(e.name); !s) return s.error();
    }
  }
  return out;
}

template <class T>
auto basic_checkpoint<T>::tensor(std::string_view name) const -> result<tensor_view> {
  auto s = locate(name);
  if (!s) return s.error();
  const mapped_file* m = s->first.mapped();
  if (m == nullptr) {
    return error(errc::invalid_argument,
                 "tensor(): the checkpoint reads its shards with shard_access::reader; use "
                 "read_into or read");
  }
  return m->tensor(s->second);
}

template <class T>
auto basic_checkpoint<T>::read_into(std::string_view name, span<std::byte> dst) const
    -> result<void> {
  auto s = locate(name);
  if (!s) return s.error();
  return s->first.read_into(s->second, dst);
}

template <class T>
auto basic_checkpoint<T>::read(std::string_view name) const -> result<std::vector<std::byte>> {
  auto s = locate(name);
  if (!s) return s.error();
  if (const source_reader* r = s->first.reader()) return r->read(s->second);
  auto size = detail::to_size_t(s->second.byte_size(), "a tensor");
  if (!size) return size.error();
  std::vector<std::byte> out;
  if (!detail::try_resize(out, *size)) {
    return detail::out_of_memory("read: " + detail::tensor_name(name), *size);
  }
  if (auto r = s->first.read_into(s->second, span<std::byte>(out)); !r) return r.error();
  return out;
}

template <class T>
auto basic_checkpoint<T>::verify(const verify_options& options) const -> verify_report {
  using detail::quote;
  verify_report report;
  std::vector<const safetensors::header*> headers(slots_.size(), nullptr);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto s = shard(i);
    if (!s) {
      report.problems.push_back(
          error(s.error().code(), "shard " + quote(slots_[i]->name) + ": " + s.error().message()));
      continue;
    }
    headers[i] = &s->header();
    ++report.shards_opened;
  }
  // Where each tensor name first appears, across shards in name order.
  std::unordered_map<std::string_view, std::size_t> holder;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i] == nullptr) continue;
    for (const tensor_info t : headers[i]->tensors_by_name()) {
      const auto [it, inserted] = holder.emplace(t.name(), i);
      if (!inserted) {
        report.problems.push_back(error(errc::duplicate_key, "tensor " + quote(t.name()) +
                                                                 " is in shards " +
                                                                 quote(slots_[it->second]->name) +
                                                                 " and " + quote(slots_[i]->name)));
      }
    }
  }
  bool complete = true;
  for (const index_entry& e : index_.weight_map) {
    const safetensors::header* h = headers[e.shard];
    if (h == nullptr) {
      complete = false;
      continue;
    }
    if (auto t = h->find(e.name)) {
      ++report.tensor_count;
      report.tensor_bytes += t->byte_size();  // each <= a shard's size: no overflow in practice
    } else {
      complete = false;
      std::string elsewhere;
      if (const auto it = holder.find(e.name); it != holder.end()) {
        elsewhere = " (it is in shard " + quote(slots_[it->second]->name) + ")";
      }
      report.problems.push_back(
          error(errc::tensor_not_found, "tensor " + quote(e.name) + " is listed in shard " +
                                            quote(slots_[e.shard]->name) +
                                            ", which does not hold it" + elsewhere));
    }
  }
  if (!options.allow_unlisted_tensors) {
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (headers[i] == nullptr) continue;
      for (const tensor_info t : headers[i]->tensors_by_name()) {
        if (!index_.find(t.name())) {
          report.problems.push_back(error(errc::tensor_not_found,
                                          "shard " + quote(slots_[i]->name) + " holds tensor " +
                                              quote(t.name()) + ", which the index does not list"));
        }
      }
    }
  }
  if (sharded_) detail::check_total_size(index_, complete, report);
  return report;
}

template <class T>
auto basic_checkpoint<T>::specs() const -> result<std::vector<tensor_spec>> {
  std::vector<tensor_spec> out;
  out.reserve(index_.weight_map.size());
  for (const index_entry& e : index_.weight_map) {
    auto s = locate(e.name);
    if (!s) return s.error();
    const tensor_info& t = s->second;
    tensor_spec spec;
    spec.name = e.name;
    spec.dtype = t.dtype();
    spec.shape.assign(t.shape().begin(), t.shape().end());
    if (const mapped_file* m = s->first.mapped()) {
      spec.bytes = m->tensor(t).bytes();
    } else if (const source_reader* r = s->first.reader()) {
      const random_access_source* src = &r->source();
      const std::uint64_t base = r->header().data_offset() + t.offsets().begin;
      spec.producer = [src, base](std::uint64_t offset, span<std::byte> dst) -> result<void> {
        return src->read_at(base + offset, dst.data(), dst.size());
      };
    }
    out.push_back(std::move(spec));
  }
  return out;
}

template <class T>
auto basic_checkpoint<T>::merged_metadata() const -> result<std::optional<metadata_map>> {
  std::optional<metadata_map> out;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto s = shard(i);
    if (!s) return s.error();
    const auto& md = s->header().metadata();
    if (!md) continue;
    if (!out) out.emplace();
    for (const auto& kv : *md) out->insert(kv);
  }
  return out;
}

template <class T>
auto basic_checkpoint<T>::open_path(const std::filesystem::path& p,
                                    const checkpoint_options& options) -> result<basic_checkpoint> {
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) return open_directory(p, options);
  if (p.extension() == ".json") return open_index_file(p, options);
  return open_single(p, options);
}

template <class T>
auto basic_checkpoint<T>::open_directory(const std::filesystem::path& dir,
                                         const checkpoint_options& options)
    -> result<basic_checkpoint> {
  namespace fs = std::filesystem;
  if (auto why = detail::shard_name_problem(options.prefix)) {
    return error(errc::invalid_argument,
                 "checkpoint_options::prefix " + detail::quote(options.prefix) + " " + *why);
  }
  auto index_name = detail::to_fs_path(options.prefix + ".safetensors.index.json");
  if (!index_name) return index_name.error();
  auto single_name = detail::to_fs_path(options.prefix + ".safetensors");
  if (!single_name) return single_name.error();
  std::error_code ec;
  if (fs::is_regular_file(dir / *index_name, ec))
    return open_index_file(dir / *index_name, options);
  if (fs::is_regular_file(dir / *single_name, ec)) return open_single(dir / *single_name, options);
  std::vector<fs::path> indexes;
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = detail::display_path(it->path().filename());
    auto ends_with = [&name](std::string_view suffix) {
      return name.size() > suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    std::error_code fec;
    if (!fs::is_regular_file(it->path(), fec)) continue;
    if (ends_with(".safetensors.index.json")) indexes.push_back(it->path());
    if (ends_with(".safetensors")) files.push_back(it->path());
  }
  const std::string shown = detail::display_path(dir);
  if (ec) {
    return error(errc::io_error, "cannot list " + detail::quote(shown) + ": " + ec.message());
  }
  if (indexes.size() == 1) return open_index_file(indexes.front(), options);
  if (indexes.empty() && files.size() == 1) {
    // One shard of several, its index and the other shards missing, is not a checkpoint.
    const auto name = files.front().filename().native();
    constexpr std::size_t tail = std::string_view("-#####-of-#####.safetensors").size();
    if (name.size() > tail &&
        detail::is_layout_shard_name(name, name.substr(0, name.size() - tail))) {
      bool several = false;  // MMMMM, the 5 digits before ".safetensors", is not 00001
      for (std::size_t i = name.size() - 17; i < name.size() - 12; ++i)
        several = several || name[i] != (i + 13 == name.size() ? '1' : '0');
      if (several) {
        return error(errc::io_error,
                     "the directory " + detail::quote(shown) + " holds only " +
                         detail::quote(detail::display_path(files.front().filename())) +
                         ", one shard of several, and no index: the index and the other "
                         "shards are missing");
      }
    }
    return open_single(files.front(), options);
  }
  if (indexes.size() > 1 || files.size() > 1) {
    return error(errc::invalid_argument,
                 "the directory " + detail::quote(shown) + " holds several " +
                     (indexes.size() > 1 ? "indexes" : "safetensors files") + " and no " +
                     detail::quote(options.prefix + ".safetensors.index.json") + " or " +
                     detail::quote(options.prefix + ".safetensors") +
                     "; name the file, or set checkpoint_options::prefix");
  }
  return error(errc::io_error, "the directory " + detail::quote(shown) + " holds no " +
                                   detail::quote(options.prefix + ".safetensors.index.json") +
                                   " and no safetensors file");
}

template <class T>
auto basic_checkpoint<T>::open_index_file(const std::filesystem::path& p,
                                          const checkpoint_options& options)
    -> result<basic_checkpoint> {
  const std::string shown = detail::display_path(p);
  auto source = file_source::open(p);
  if (!source) return source.error();
  const std::uint64_t size = (*source)->byte_size();
  if (size > options.max_index_size) {
    return error(errc::header_too_large, detail::quote(shown) + ": the index has " +
                                             detail::num(size) + " bytes, above the limit of " +
                                             detail::num(options.max_index_size) +
                                             " (checkpoint_options::max_index_size)");
  }
  auto length = detail::to_size_t(size, "an index");
  if (!length) return length.error();
  std::string text;
  if (!detail::try_resize(text, *length)) return detail::out_of_memory(detail::quote(shown), size);
  if (size != 0) {
    if (auto r = (*source)->read_at(0, text.data(), text.size()); !r) return r.error();
  }
  auto index = parse_index(text);
  if (!index) {
    return error(index.error().code(), detail::quote(shown) + ": " + index.error().message());
  }
  auto c = open(std::move(*index), p.parent_path(), options);
  if (!c) return c.error();
  c->index_path_ = p;
  return c;
}

template <class T>
auto basic_checkpoint<T>::open_single(const std::filesystem::path& p,
                                      const checkpoint_options& options)
    -> result<basic_checkpoint> {
  basic_checkpoint c;
  c.options_ = options;
  c.directory_ = p.parent_path();
  auto slot = std::make_unique<detail::shard_slot<>>();
  slot->name = detail::display_path(p.filename());
  slot->path = p;
  c.slots_.push_back(std::move(slot));
  c.index_.shards.push_back(c.slots_.front()->name);
  auto s = c.shard(0);
  if (!s) return s.error();
  const safetensors::header& h = s->header();
  c.index_.weight_map.reserve(h.size());
  for (const tensor_info t : h.tensors_by_name()) {
    c.index_.weight_map.push_back(index_entry{std::string(t.name()), 0});
  }
  return c;
}

template <class T>
auto basic_checkpoint<T>::locate(std::string_view name) const
    -> result<std::pair<shard_view, tensor_info>> {
  const auto i = index_.find(name);
  if (!i) {
    return error(errc::tensor_not_found,
                 "the checkpoint has no tensor named " + detail::quote(name));
  }
  auto s = shard(*i);
  if (!s) return s.error();
  auto t = s->header().find(name);
  if (!t) {
    return error(errc::tensor_not_found, "tensor " + detail::quote(name) + " is listed in shard " +
                                             detail::quote(slots_[*i]->name) +
                                             ", which does not hold it");
  }
  return std::pair<shard_view, tensor_info>(*s, *t);
}

template <class>
void detail::check_total_size(const shard_index& index, bool complete, verify_report& report) {
  if (!index.metadata->is_object()) return;
  const auto it = index.metadata->find("total_size");
  if (it == index.metadata->end()) return;
  const auto total = index.total_size();
  if (!total) {
    report.problems.push_back(error(errc::invalid_header_deserialization,
                                    std::string("metadata.total_size is a JSON ") +
                                        it->type_name() + ", not a non-negative integer"));
  } else if (complete && *total != report.tensor_bytes) {
    report.problems.push_back(
        error(errc::invalid_header_deserialization, "metadata.total_size is " + num(*total) +
                                                        ", but the listed tensors hold " +
                                                        num(report.tensor_bytes) + " bytes"));
  }
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template class basic_checkpoint<void>;
template void detail::check_total_size<void>(const shard_index&, bool, verify_report&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_SHARDED_HPP
