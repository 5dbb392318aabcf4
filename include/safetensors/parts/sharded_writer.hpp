// safetensors for C++, part 11 of 14: writing sharded checkpoints. shard_layout plans the shards
// as the Hub tools do; save_sharded and sharded_stream_writer write them, shards first and the
// index last (docs/index.md#write-order). `template <class = void>` marks what is compiled only
// when used (docs/design.md#compile-cost); the definitions are under SAFETENSORS_DEFINITIONS
// (docs/design.md#separate-compilation).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_SHARDED_WRITER_HPP
#define SAFETENSORS_PARTS_SHARDED_WRITER_HPP

#include "sharded.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

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
template class basic_sharded_stream_writer<void>;
template result<shard_layout> detail::save_sharded_at<void>(result<std::filesystem::path>,
                                                            const std::vector<tensor_spec>&,
                                                            const std::optional<metadata_map>&,
                                                            const sharded_write_options&);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_SHARDED_WRITER_HPP
