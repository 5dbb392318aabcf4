// safetensors for C++, part 8 of 11: sharded checkpoints. checkpoint reads a model in one file
// or in shards with an index as one table (shards opened lazily, verify, merge); shard_layout,
// save_sharded and sharded_stream_writer write one, shards first and the index last
// (docs/index.md#write-order). `template <class = void>` marks what is compiled only when
// used (docs/design.md#compile-cost). What touches the index's JSON metadata is defined under
// SAFETENSORS_DEFINITIONS (docs/design.md#separate-compilation).
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
SAFETENSORS_FUNC void check_total_size(const shard_index& index, bool complete,
                                       verify_report& report);

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

/// Options of the sharded writers.
struct sharded_write_options {
  /// Largest sum of tensor byte sizes in one shard (headers not counted), as the Hub tools
  /// count. A tensor larger than this gets a shard of its own.
  std::uint64_t max_shard_size = default_max_shard_size;
  /// File names: `<prefix>-00001-of-00003.safetensors`, `<prefix>.safetensors.index.json`, or
  /// `<prefix>.safetensors` for a single shard ("model", "diffusion_pytorch_model", ...).
  std::string prefix = "model";
  /// Every shard's `__metadata__` when save_sharded or sharded_stream_writer::create gets no
  /// metadata argument; a metadata argument replaces it. (transformers' loader wants "format"
  /// in pt/tf/flax/mlx.)
  std::optional<metadata_map> shard_metadata = metadata_map{{"format", "pt"}};
  /// Extra keys for the index's `metadata` object (any JSON values; must be an object or null).
  /// `total_size` is always the computed sum and replaces a `total_size` given here.
  /// `*index_metadata` is the nlohmann::json (json_value).
  json_value index_metadata;
  /// Alignment, header limit, sync and progress of every shard file (progress: bytes over all
  /// shards for save_sharded, per shard file for sharded_stream_writer).
  write_options write;
};

/// How tensors are assigned to shards, as huggingface_hub's split_state_dict_into_shards does:
/// tensors in the caller's order are packed greedily until the next one would exceed
/// max_shard_size; a tensor larger than the limit gets a shard of its own, placed before the
/// shard being filled. Only tensor bytes count; the names and the index are computed here.
class shard_layout {
 public:
  /// Plans `tensors` (their bytes are not read; dtype and shape give the sizes). Errors: those
  /// of docs/writer.md#validation without the byte checks, and InvalidArgument for a prefix that
  /// is not a plain file name or index_metadata that is not an object.
  template <class = void>
  static result<shard_layout> create(const std::vector<tensor_spec>& tensors,
                                     const sharded_write_options& options = {});

  std::size_t shard_count() const noexcept { return files_.size(); }
  /// True when there is more than one shard (and so an index).
  bool sharded() const noexcept { return files_.size() > 1; }
  /// The shard file names, in shard order (as shard_index::shards holds them).
  const std::vector<std::string>& shards() const noexcept { return files_; }
  /// For each shard, the positions of its tensors in the writer's input, in input order.
  const std::vector<std::vector<std::size_t>>& members() const noexcept { return members_; }
  /// The sum of every tensor's byte size (the index's `metadata.total_size`).
  std::uint64_t total_size() const noexcept { return total_size_; }
  /// The index's contents, exactly as transformers writes them; empty when not sharded().
  const std::string& index_json() const noexcept { return index_json_; }

 private:
  std::vector<std::string> files_;
  std::vector<std::vector<std::size_t>> members_;
  std::uint64_t total_size_ = 0;
  std::string index_json_;
};

namespace detail {
/// save_sharded's work, once the path argument is converted (`root`: its error first).
template <class = void>
result<shard_layout> save_sharded_at(result<std::filesystem::path> root,
                                     const std::vector<tensor_spec>& tensors,
                                     const std::optional<metadata_map>& metadata,
                                     const sharded_write_options& options);
}  // namespace detail

namespace detail {
/// The metadata argument of save_sharded and sharded_stream_writer::create: a metadata_map, an
/// optional of one or std::nullopt, deduced, so that a braced `{}` third argument still means
/// default options (the overload without metadata) as it did before that argument existed.
template <class M>
inline constexpr bool is_metadata_arg_v =
    std::is_convertible_v<const M&, std::optional<metadata_map>> &&
    !std::is_convertible_v<const M&, sharded_write_options>;
}  // namespace detail

/// Writes `tensors` into the directory `dir` as a checkpoint whose every shard has `metadata` as
/// its `__metadata__`, as save_file writes it (nullopt: none; options.shard_metadata is not
/// used; transformers' loader wants a "format" key). In order (docs/index.md#write-order): every
/// shard is validated first; then `dir` is created if missing (with its parents); the shards per
/// shard_layout and the index are written and flushed under temporary names; then an existing
/// `<prefix>.safetensors.index.json` is removed (also when the result is a single
/// `<prefix>.safetensors`), the shards are renamed over their names and the index last, so an
/// index never points at missing, partial or replaced shards. Only then are the previous
/// checkpoint's files of the same prefix that the new one does not use removed
/// (`<prefix>-NNNNN-of-MMMMM.safetensors`, and `<prefix>.safetensors` when the result is
/// sharded), best effort; other files are left alone. Returns the layout (file names,
/// assignment). The writer's errors, shard_layout's, and IoError for a `dir` that is not a
/// directory or cannot be created. An error before the renames leaves the previous checkpoint
/// as it was; until the renames the new checkpoint takes its full size on disk next to it, and
/// one file descriptor per shard stays open (it holds the shard's lock, see
/// docs/writing.md#what-a-kill-leaves).
template <class P, class M,
          std::enable_if_t<detail::is_path_like_v<P> && detail::is_metadata_arg_v<M>, int> = 0>
result<shard_layout> save_sharded(const P& dir, const std::vector<tensor_spec>& tensors,
                                  const M& metadata_arg,
                                  const sharded_write_options& options = {}) {
  return detail::save_sharded_at(detail::to_fs_path(dir), tensors, metadata_arg, options);
}

/// save_sharded with options.shard_metadata (by default {"format":"pt"}) as every shard's
/// `__metadata__`.
template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
result<shard_layout> save_sharded(const P& dir, const std::vector<tensor_spec>& tensors,
                                  const sharded_write_options& options = {}) {
  return save_sharded(dir, tensors, options.shard_metadata, options);
}

/// A checkpoint written tensor by tensor across shards, for data larger than memory: declare
/// every tensor (this fixes the layout and every shard's header), write each tensor's bytes in
/// chunks (tensors in any order), then commit(): it checks that every tensor is complete,
/// flushes every shard, then renames the shards and the index last and removes the previous
/// checkpoint's unused files, as save_sharded does. Before commit() only the directory (created by
/// create() when missing) and temporary files appear; destruction without commit removes every
/// temporary file. One temporary file per shard is open until commit. Move-only; not thread-safe.
template <class = void>
class basic_sharded_stream_writer {
 public:
  basic_sharded_stream_writer() = default;
  basic_sharded_stream_writer(basic_sharded_stream_writer&&) noexcept = default;
  basic_sharded_stream_writer& operator=(basic_sharded_stream_writer&&) noexcept = default;
  ~basic_sharded_stream_writer() = default;

  /// Plans the shards of `tensors` (bytes and producers ignored), each with `metadata` as its
  /// `__metadata__` as save_sharded writes it (options.shard_metadata is not used), creates the
  /// directory `dir` when missing (with its parents; IoError when it is not a directory or
  /// cannot be created) and creates a temporary file per shard in it.
  template <class P, class M,
            std::enable_if_t<detail::is_path_like_v<P> && detail::is_metadata_arg_v<M>, int> = 0>
  static result<basic_sharded_stream_writer> create(const P& dir,
                                                    const std::vector<tensor_spec>& tensors,
                                                    const M& metadata_arg,
                                                    const sharded_write_options& options = {}) {
    return create_at(detail::to_fs_path(dir), tensors, metadata_arg, options);
  }
  /// create() with options.shard_metadata (by default {"format":"pt"}) as every shard's
  /// `__metadata__`.
  template <class P, std::enable_if_t<detail::is_path_like_v<P>, int> = 0>
  static result<basic_sharded_stream_writer> create(const P& dir,
                                                    const std::vector<tensor_spec>& tensors,
                                                    const sharded_write_options& options = {}) {
    return create(dir, tensors, options.shard_metadata, options);
  }

  /// Writes the next `chunk` of tensor `name` (TensorNotFound for an undeclared name,
  /// InvalidArgument past its end).
  result<void> write(std::string_view name, span<const std::byte> chunk);
  /// Bytes written so far for tensor `name` (0 for an unknown name).
  std::uint64_t bytes_written(std::string_view name) const;
  /// The layout being written.
  const shard_layout& layout() const noexcept;
  /// Checks that every tensor of every shard is complete (TensorInvalidInfo names one, and the
  /// writer stays usable), flushes and closes every shard and the index under temporary names,
  /// removes a stale index, renames the shards in order and the index last, then removes the
  /// previous checkpoint's unused files of the prefix (as save_sharded does). After any other
  /// error the writer is discarded: before the renames, the previous checkpoint is as it was;
  /// during them, shards already renamed remain, without an index.
  result<void> commit();
  /// Removes every temporary file; nothing is written.
  void discard() noexcept { state_.reset(); }

 private:
  static result<basic_sharded_stream_writer> create_at(result<std::filesystem::path> root,
                                                       const std::vector<tensor_spec>& tensors,
                                                       const std::optional<metadata_map>& metadata,
                                                       const sharded_write_options& options);
  struct state {
    shard_layout layout;
    std::vector<stream_writer> writers;
    std::unordered_map<std::string, std::size_t> shard_of;
    std::filesystem::path index_path;
    std::filesystem::path directory;
    std::string prefix;
    bool sync = true;
  };
  std::unique_ptr<state> state_;
};

/// The streaming sharded writer (a class template only so that it is compiled when used).
using sharded_stream_writer = basic_sharded_stream_writer<>;

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

SAFETENSORS_FUNC void detail::check_total_size(const shard_index& index, bool complete,
                                               verify_report& report) {
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

template <class>
result<shard_layout> shard_layout::create(const std::vector<tensor_spec>& tensors,
                                          const sharded_write_options& options) {
  using detail::quote;
  auto why = detail::shard_name_problem(options.prefix);
  if (!why) why = detail::shard_name_problem(options.prefix + ".safetensors");
  if (why) {
    return error(errc::invalid_argument,
                 "sharded_write_options::prefix " + quote(options.prefix) + " " + *why);
  }
  if (auto e = detail::check_utf8(options.prefix, "the prefix")) return std::move(*e);
  if (!options.index_metadata->is_object() && !options.index_metadata->is_null()) {
    return error(errc::invalid_argument,
                 "sharded_write_options::index_metadata must be a JSON object");
  }
  auto sizes = detail::validate_specs(tensors, false);
  if (!sizes) return sizes.error();
  std::uint64_t total = 0;
  for (const std::uint64_t size : *sizes) {
    if (!detail::checked_add(total, size, total)) {
      return error(errc::validation_overflow, "the checkpoint's size overflows 64 bits");
    }
  }

  shard_layout out;
  out.total_size_ = total;
  std::vector<std::size_t> current;
  std::uint64_t current_size = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if ((*sizes)[i] > options.max_shard_size) {
      out.members_.push_back({i});
      continue;
    }
    if (current_size + (*sizes)[i] > options.max_shard_size) {  // both <= the limit: no overflow
      out.members_.push_back(std::move(current));
      current.clear();
      current_size = 0;
    }
    current.push_back(i);
    current_size += (*sizes)[i];
  }
  if (!current.empty() || out.members_.empty()) out.members_.push_back(std::move(current));

  const std::size_t n = out.members_.size();
  if (n == 1) {
    out.files_.push_back(options.prefix + ".safetensors");
    return out;
  }
  auto pad5 = [](std::size_t v) {
    std::string s = std::to_string(v);
    return std::string(s.size() < 5 ? 5 - s.size() : 0, '0') + s;
  };
  for (std::size_t k = 0; k < n; ++k) {
    out.files_.push_back(options.prefix + "-" + pad5(k + 1) + "-of-" + pad5(n) + ".safetensors");
  }
  shard_index index;
  index.metadata =
      options.index_metadata->is_object() ? options.index_metadata : nlohmann::json::object();
  (*index.metadata)["total_size"] = total;
  index.shards = out.files_;  // already in byte order: same prefix, zero-padded numbers
  index.weight_map.reserve(tensors.size());
  for (std::size_t k = 0; k < n; ++k) {
    for (const std::size_t i : out.members_[k]) index.weight_map.push_back({tensors[i].name, k});
  }
  std::sort(index.weight_map.begin(), index.weight_map.end(),
            [](const index_entry& a, const index_entry& b) { return a.name < b.name; });
  auto json = format_index(index);
  if (!json) return json.error();
  out.index_json_ = std::move(*json);
  return out;
}

namespace detail {
template <class = void>
std::vector<tensor_spec> shard_specs(const std::vector<tensor_spec>& tensors,
                                     const std::vector<std::size_t>& which) {
  std::vector<tensor_spec> out;
  out.reserve(which.size());
  for (const std::size_t i : which) out.push_back(tensors[i]);
  return out;
}

/// Removes a stale index before shards are replaced, so that it never points at new shards.
template <class = void>
result<void> remove_stale_index(const std::filesystem::path& index) {
  std::error_code ec;
  std::filesystem::remove(index, ec);
  if (ec) {
    return error(errc::io_error,
                 "cannot remove the old index " + quote(display_path(index)) + ": " + ec.message());
  }
  return {};
}

/// Makes `dir` a directory the writers can write into: an existing directory (or a link to
/// one) is used as it is; a missing one is created with its missing parents, as
/// std::filesystem::create_directories does. IoError when `dir` exists and is not a directory,
/// or cannot be created (with the operating system's reason). An empty path is the current
/// directory.
template <class = void>
result<void> ensure_directory(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (dir.empty()) return {};
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (fs::is_directory(status)) return {};
  if (fs::exists(status)) {
    return error(errc::io_error, "cannot write a checkpoint into " + quote(display_path(dir)) +
                                     ": it exists and is not a directory");
  }
  fs::create_directories(dir, ec);  // a status error (permissions, ...) is reported here
  if (ec) {
    return error(errc::io_error,
                 "cannot create the directory " + quote(display_path(dir)) + ": " + ec.message());
  }
  return {};
}

/// Removes, from `dir`, the files of an earlier checkpoint of `prefix` that the new one (whose
/// files are `keep`) no longer uses: regular files (or links to one: the link is removed) named
/// `<prefix>-NNNNN-of-MMMMM.safetensors` (is_layout_shard_name), and `<prefix>.safetensors`
/// when `single_too`; never a name in `keep`. Called only after the new checkpoint is complete
/// on disk (its index committed), so an index never names a missing shard. Also removes the
/// temporary files that killed writers left for any of the prefix's names (shards of any
/// layout, `<prefix>.safetensors`, the index) when no process is writing them
/// (docs/writing.md#what-a-kill-leaves). Best effort: a directory that cannot be listed, or a
/// file that cannot be removed, stays as it is.
template <class = void>
void remove_stale_shards(const std::filesystem::path& dir, const std::string& prefix,
                         const std::vector<std::string>& keep, bool single_too) {
  namespace fs = std::filesystem;
  using string_type = fs::path::string_type;
  auto native_prefix = to_fs_path(prefix);
  auto single = to_fs_path(prefix + ".safetensors");
  auto index = to_fs_path(prefix + ".safetensors.index.json");
  if (!native_prefix || !single || !index) return;
  std::vector<string_type> kept;
  for (const std::string& name : keep) {
    auto p = to_fs_path(name);
    if (!p) return;  // cannot happen: these names were written; remove nothing rather than guess
    kept.push_back(p->native());
  }
  const fs::path where = dir.empty() ? fs::path(".") : dir;
  std::vector<fs::path> stale;
  std::vector<string_type> temps;
  std::error_code ec;
  fs::directory_iterator it(where, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const string_type name = it->path().filename().native();
    const string_type target = temp_target_of(name);
    if (!target.empty() && (is_layout_shard_name(target, native_prefix->native()) ||
                            target == single->native() || target == index->native())) {
      temps.push_back(it->path().native());
      continue;
    }
    if (std::find(kept.begin(), kept.end(), name) != kept.end()) continue;
    if (!is_layout_shard_name(name, native_prefix->native()) &&
        !(single_too && name == single->native())) {
      continue;
    }
    std::error_code fec;
    if (fs::is_regular_file(it->path(), fec)) stale.push_back(it->path());
  }
  for (const string_type& t : temps) remove_if_stale(t);  // writers alive keep theirs
  if (ec) return;                                         // not listed completely: remove no shard
  for (const fs::path& p : stale) {
    std::error_code rec;
    fs::remove(p, rec);  // best effort; a file left behind is not named by the new index
  }
}

template <class = void>
result<std::filesystem::path> index_path_in(const std::filesystem::path& dir,
                                            const std::string& prefix) {
  auto name = to_fs_path(prefix + ".safetensors.index.json");
  if (!name) return name.error();
  return dir / *name;
}

/// The end of both sharded writers (docs/index.md#write-order), once every shard is written and
/// finished under its temporary name (`shard(k)`, an atomic_file): the index is written and
/// finished under one too; only then, under a flock of the directory (one publication at a
/// time), is the old index removed, every shard renamed over its name and the index renamed
/// last, with directory flushes in between when `sync`, so that they reach the disk in that
/// order; then the previous checkpoint's unused shards are removed. An
/// error before the old index is removed leaves the previous checkpoint as it was. Without
/// `sync`, every shard's writeback is started first, so that the renames, during which the
/// directory has no index, are quick.
template <class Shard>
result<void> publish_checkpoint(const std::filesystem::path& dir,
                                const std::filesystem::path& index_path, const shard_layout& layout,
                                const std::string& prefix, bool sync, Shard&& shard) {
  auto native_index = to_native(index_path);
  if (!native_index) return native_index.error();
  atomic_file index;
  if (layout.sharded()) {
    auto file = create_atomic(index_path);
    if (!file) return file.error();
    const std::string& text = layout.index_json();
    if (auto r = file->write_at(0, text.data(), text.size()); !r) return r;
    if (auto r = file->finish(sync); !r) return r;
    index = std::move(*file);
  }
  if (!sync) {
    for (std::size_t k = 0; k < layout.shard_count(); ++k) shard(k).start_writeback();
  }
  // One publication at a time in a directory (docs/writing.md#concurrent-saves): two saves into
  // it at once leave the whole checkpoint of the one that publishes last, never a mix.
  const os_file published_alone = lock_publication(*native_index);
  // The shards being replaced stay open until the index is in place: their blocks are freed
  // after the renames, not during them (at most 64, to spare file descriptors).
  std::vector<os_file> replaced;
  for (std::size_t k = 0; k < layout.shard_count() && replaced.size() < 64; ++k) {
    if (os_file f = shard(k).open_target(); is_open(f)) replaced.push_back(std::move(f));
  }
  if (auto r = remove_stale_index(index_path); !r) return r;
  if (sync) sync_parent_dir(*native_index);  // no old index before any shard changes
  for (std::size_t k = 0; k < layout.shard_count(); ++k) {
    if (auto r = shard(k).replace(); !r) return r;
  }
  if (sync) sync_parent_dir(*native_index);  // every shard in place before the index
  if (layout.sharded()) {
    if (auto r = index.replace(); !r) return r;
    if (sync) sync_parent_dir(*native_index);
  }
  replaced.clear();
  remove_stale_shards(dir, prefix, layout.shards(), layout.sharded());
  return {};
}
}  // namespace detail

namespace detail {
template <class>
result<shard_layout> save_sharded_at(result<std::filesystem::path> root,
                                     const std::vector<tensor_spec>& tensors,
                                     const std::optional<metadata_map>& metadata,
                                     const sharded_write_options& options) {
  if (!root) return root.error();
  auto layout = shard_layout::create(tensors, options);
  if (!layout) return layout.error();
  // Every shard's plan, built once, before anything is written.
  std::vector<std::vector<tensor_spec>> groups;
  std::vector<write_plan> plans;
  std::uint64_t grand_total = 0;
  for (const auto& which : layout->members()) {
    groups.push_back(detail::shard_specs(tensors, which));
    auto plan = write_plan::create(groups.back(), metadata, options.write);
    if (!plan) return plan.error();
    grand_total += plan->file_size();
    plans.push_back(std::move(*plan));
  }
  auto index_path = detail::index_path_in(*root, options.prefix);
  if (!index_path) return index_path.error();
  if (auto r = detail::ensure_directory(*root); !r) return r.error();
  std::vector<detail::atomic_file> files;  // every shard written and finished before any rename
  files.reserve(plans.size());
  std::uint64_t base = 0;
  for (std::size_t k = 0; k < plans.size(); ++k) {
    auto name = detail::to_fs_path(layout->shards()[k]);
    if (!name) return name.error();
    write_options wo = options.write;
    if (options.write.progress) {
      wo.progress = [&options, base, grand_total](std::uint64_t done, std::uint64_t) {
        options.write.progress(base + done, grand_total);
      };
    }
    auto file = detail::create_atomic(*root / *name);
    if (!file) return file.error();
    if (auto r = detail::write_planned_data(*file, plans[k], groups[k], wo); !r) return r.error();
    if (auto r = file->finish(options.write.sync); !r) return r.error();
    files.push_back(std::move(*file));
    base += plans[k].file_size();
  }
  if (auto r = detail::publish_checkpoint(
          *root, *index_path, *layout, options.prefix, options.write.sync,
          [&files](std::size_t k) -> detail::atomic_file& { return files[k]; });
      !r) {
    return r.error();
  }
  return std::move(*layout);
}
}  // namespace detail

template <class T>
auto basic_sharded_stream_writer<T>::write(std::string_view name, span<const std::byte> chunk)
    -> result<void> {
  if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
  const auto it = state_->shard_of.find(std::string(name));
  if (it == state_->shard_of.end()) {
    return error(errc::tensor_not_found,
                 "sharded_stream_writer: no tensor named " + detail::quote(name) + " was declared");
  }
  return state_->writers[it->second].write(name, chunk);
}

template <class T>
auto basic_sharded_stream_writer<T>::bytes_written(std::string_view name) const -> std::uint64_t {
  if (!state_) return 0;
  const auto it = state_->shard_of.find(std::string(name));
  return it == state_->shard_of.end() ? 0 : state_->writers[it->second].bytes_written(name);
}

template <class T>
auto basic_sharded_stream_writer<T>::layout() const noexcept -> const shard_layout& {
  static const shard_layout empty;
  return state_ ? state_->layout : empty;
}

template <class T>
auto basic_sharded_stream_writer<T>::commit() -> result<void> {
  if (!state_) return error(errc::invalid_argument, "sharded_stream_writer: no checkpoint");
  for (const stream_writer& w : state_->writers) {
    for (const planned_tensor& t : w.plan().tensors()) {
      if (w.bytes_written(t.name) != t.byte_size()) {
        return error(errc::tensor_invalid_info,
                     "sharded_stream_writer: tensor " + detail::quote(t.name) +
                         " is incomplete: " + detail::num(w.bytes_written(t.name)) + " of " +
                         detail::num(t.byte_size()) + " bytes written");
      }
    }
  }
  auto s = std::move(state_);
  for (stream_writer& w : s->writers) {
    if (auto r = w.finish(); !r) return r;
  }
  return detail::publish_checkpoint(
      s->directory, s->index_path, s->layout, s->prefix, s->sync,
      [&s](std::size_t k) -> detail::atomic_file& { return s->writers[k].state_->file; });
}

template <class T>
auto basic_sharded_stream_writer<T>::create_at(result<std::filesystem::path> root,
                                               const std::vector<tensor_spec>& tensors,
                                               const std::optional<metadata_map>& metadata,
                                               const sharded_write_options& options)
    -> result<basic_sharded_stream_writer> {
  if (!root) return root.error();
  auto layout = shard_layout::create(tensors, options);
  if (!layout) return layout.error();
  auto index_path = detail::index_path_in(*root, options.prefix);
  if (!index_path) return index_path.error();
  if (auto r = detail::ensure_directory(*root); !r) return r.error();
  auto s = std::make_unique<state>();
  s->index_path = std::move(*index_path);
  s->directory = *root;
  s->prefix = options.prefix;
  s->sync = options.write.sync;
  for (std::size_t k = 0; k < layout->shard_count(); ++k) {
    auto name = detail::to_fs_path(layout->shards()[k]);
    if (!name) return name.error();
    auto w = stream_writer::create(
        *root / *name, detail::shard_specs(tensors, layout->members()[k]), metadata, options.write);
    if (!w) return w.error();
    s->writers.push_back(std::move(*w));
    for (const std::size_t i : layout->members()[k]) s->shard_of.emplace(tensors[i].name, k);
  }
  s->layout = std::move(*layout);
  basic_sharded_stream_writer out;
  out.state_ = std::move(s);
  return out;
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template result<shard_layout> shard_layout::create<void>(const std::vector<tensor_spec>&,
                                                         const sharded_write_options&);
template class basic_checkpoint<void>;
template class basic_sharded_stream_writer<void>;
template result<shard_layout> detail::save_sharded_at<void>(result<std::filesystem::path>,
                                                            const std::vector<tensor_spec>&,
                                                            const std::optional<metadata_map>&,
                                                            const sharded_write_options&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_SHARDED_HPP
