// What writing a checkpoint into a directory removed of the checkpoint that was there
// (docs/cli.md#split): save_sharded and sharded_stream_writer remove, after the new checkpoint is
// in place, the previous one's shards and index of the same prefix that the new one does not use.
// split and convert say which files went.
#ifndef SAFETENSORS_CLI_REPLACED_HPP
#define SAFETENSORS_CLI_REPLACED_HPP

#include <algorithm>
#include <filesystem>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

namespace safetensors_cli {

/// The files of a checkpoint of `prefix` in `dir` now: its shards (`<prefix>-NNNNN-of-MMMMM
/// .safetensors`), `<prefix>.safetensors` and `<prefix>.safetensors.index.json`, in name order.
/// Empty when `dir` does not exist or cannot be listed.
inline std::vector<std::filesystem::path> checkpoint_files(const std::filesystem::path& dir,
                                                           const std::string& prefix) {
  namespace fs = std::filesystem;
  std::vector<fs::path> out;
  namespace st = safetensors;
  auto native_prefix = st::detail::to_fs_path(prefix);
  auto single = st::detail::to_fs_path(prefix + ".safetensors");
  auto index = st::detail::to_fs_path(prefix + ".safetensors.index.json");
  if (!native_prefix || !single || !index) return out;
  std::error_code ec;
  fs::directory_iterator it(dir.empty() ? fs::path(".") : dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path name = it->path().filename();
    if (name == *single || name == *index ||
        st::detail::is_layout_shard_name(name.native(), native_prefix->native())) {
      out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The names of `before` (checkpoint_files() before a write) that are gone from `dir` now.
inline std::vector<std::string> removed_files(const std::filesystem::path& dir,
                                              const std::vector<std::filesystem::path>& before) {
  std::vector<std::string> out;
  for (const auto& name : before) {
    std::error_code ec;
    if (!std::filesystem::exists(dir / name, ec) && !ec) {
      out.push_back(safetensors::detail::display_path(name));
    }
  }
  return out;
}

/// "removed 2 files of the previous checkpoint:" and one line per file, or nothing.
inline std::string removed_text(const std::vector<std::string>& removed) {
  if (removed.empty()) return {};
  std::string out = "removed " + std::to_string(removed.size()) +
                    (removed.size() == 1 ? " file" : " files") + " of the previous checkpoint:\n";
  for (const auto& name : removed) {
    out += "  " + safetensors::detail::escape_controls(name) + "\n";
  }
  return out;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_REPLACED_HPP
