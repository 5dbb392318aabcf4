// safetensors-cli's error messages speak in flags (docs/cli.md#exit-codes-and-errors): the
// library's messages name the C++ option that changes a limit or a choice
// ("(parse_options::max_header_size)"); the tool shows the flag that sets it instead.
#ifndef SAFETENSORS_CLI_MESSAGES_HPP
#define SAFETENSORS_CLI_MESSAGES_HPP

#include <string>
#include <string_view>
#include <utility>

namespace safetensors_cli {

/// The library's option names and the flags that set them (examples/safetensors_cli.cpp maps
/// each flag to these options). Longer names first where one contains another.
inline constexpr std::pair<std::string_view, std::string_view> option_flags[] = {
    {"set checkpoint_options::prefix", "pass --prefix NAME"},
    {"checkpoint_options::prefix", "--prefix"},
    {"sharded_write_options::prefix", "--prefix"},
    {"checkpoint_options::max_index_size", "--max-header-size"},
    {"parse_options::max_header_size", "--max-header-size"},
    {"write_options::max_header_size", "--max-header-size"},
    {"parse_options::allow_trailing_bytes", "--allow-trailing-bytes"},
    {"write_options::alignment", "--align"},
};

/// `message` with every option name of option_flags replaced by its flag.
inline std::string in_flags(std::string message) {
  for (const auto& [option, flag] : option_flags) {
    for (std::size_t at = message.find(option); at != std::string::npos;
         at = message.find(option, at + flag.size())) {
      message.replace(at, option.size(), flag);
    }
  }
  return message;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_MESSAGES_HPP
