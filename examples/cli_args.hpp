// safetensors-cli's command line (docs/cli.md#commands): each command's arguments and options,
// the option parser, and the help text made from them, so that what is parsed and what the help
// says cannot differ.
#ifndef SAFETENSORS_CLI_ARGS_HPP
#define SAFETENSORS_CLI_ARGS_HPP

#include <algorithm>
#include <cstddef>
#include <map>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safetensors_cli {

/// One option of a command: `--name` alone (a flag, `value` empty) or `--name VALUE`.
struct option_spec {
  std::string_view name;   ///< "--json"
  std::string_view value;  ///< "K", or empty for a flag
  std::string_view help;   ///< one or more lines ('\n' separated)
};

/// One command: its positional arguments as the usage line shows them ("IN OUT", "FILE...",
/// "[DIR]": a trailing "..." repeats the last one, brackets make one optional), a one-line
/// summary for the command list, a description for its own help, and its options.
struct command_spec {
  std::string_view name;
  std::string_view arguments;
  std::string_view summary;
  std::string_view description;
  std::vector<option_spec> options;
};

/// What parse_args() found: the positional arguments in order, and the options given (the last
/// one wins when an option is repeated; a flag maps to ""), and every value of each option in
/// order (for a repeatable one).
struct parsed_args {
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> options;
  std::map<std::string, std::vector<std::string>, std::less<>> repeated;
  bool help = false;

  /// Every value given to the option, in order (empty when it was not given).
  const std::vector<std::string>& values(std::string_view name) const {
    static const std::vector<std::string> none;
    const auto it = repeated.find(name);
    return it == repeated.end() ? none : it->second;
  }

  bool has(std::string_view name) const { return options.find(name) != options.end(); }
  /// The option's value, or nullptr when it was not given.
  const std::string* get(std::string_view name) const {
    const auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  }
};

/// An argument quoted for a message, with control bytes escaped: 'x'.
inline std::string quote_arg(std::string_view s) {
  return "'" + safetensors::detail::escape_controls(s) + "'";
}

namespace detail {

/// The positional argument names of a usage line ("[DIR]" -> "DIR", "FILE..." -> "FILE") with
/// whether each is required, and whether the last one repeats.
struct positional_names {
  std::vector<std::string> names;
  std::size_t required = 0;
  bool repeats = false;
};

inline positional_names split_arguments(std::string_view arguments) {
  positional_names out;
  std::size_t i = 0;
  while (i < arguments.size()) {
    while (i < arguments.size() && arguments[i] == ' ') ++i;
    std::size_t j = i;
    while (j < arguments.size() && arguments[j] != ' ') ++j;
    std::string_view token = arguments.substr(i, j - i);
    i = j;
    if (token.empty()) continue;
    bool optional = false;
    if (token.front() == '[' && token.back() == ']') {
      optional = true;
      token = token.substr(1, token.size() - 2);
    }
    constexpr std::string_view dots = "...";
    if (token.size() > dots.size() && token.substr(token.size() - dots.size()) == dots) {
      out.repeats = true;
      token = token.substr(0, token.size() - dots.size());
    }
    if (!optional) out.required = out.names.size() + 1;
    out.names.emplace_back(token);
  }
  return out;
}

}  // namespace detail

/// Parses a command's arguments: options may come before, between or after the positional
/// arguments; `--name=VALUE` is `--name VALUE`; `--` ends the options (what follows is
/// positional, even when it starts with '-'); a lone "-" is positional. `-h` / `--help` anywhere
/// before `--` sets `help`, and then nothing else is checked. Otherwise an unknown option, a
/// missing or unexpected value, or too few or too many positional arguments is InvalidArgument,
/// with a one-line message.
inline safetensors::result<parsed_args> parse_args(const command_spec& command,
                                                   const std::vector<std::string>& args) {
  namespace st = safetensors;
  parsed_args out;
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "-h" || a == "--help") {
      out.help = true;
      return out;
    }
  }
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    const std::size_t eq = a.rfind("--", 0) == 0 ? a.find('=') : std::string::npos;
    const std::string name = a.substr(0, eq);
    const option_spec* spec = nullptr;
    for (const option_spec& o : command.options) {
      if (o.name == name) spec = &o;
    }
    if (spec == nullptr) {
      return st::error(st::errc::invalid_argument, "unknown option " + quote_arg(name));
    }
    if (spec->value.empty()) {
      if (eq != std::string::npos) {
        return st::error(st::errc::invalid_argument,
                         "the option " + quote_arg(name) + " takes no value");
      }
      out.options[name] = "";
    } else if (eq != std::string::npos) {
      out.options[name] = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      out.options[name] = args[++i];
    } else {
      return st::error(
          st::errc::invalid_argument,
          "the option " + quote_arg(name) + " needs a value (" + std::string(spec->value) + ")");
    }
    out.repeated[name].push_back(out.options[name]);
  }
  const detail::positional_names wanted = detail::split_arguments(command.arguments);
  if (out.positional.size() < wanted.required) {
    return st::error(st::errc::invalid_argument, "missing " + wanted.names[out.positional.size()]);
  }
  if (!wanted.repeats && out.positional.size() > wanted.names.size()) {
    return st::error(st::errc::invalid_argument,
                     "unexpected argument " + quote_arg(out.positional[wanted.names.size()]));
  }
  return out;
}

/// The help of one command: usage line, description, options (with -h, --help).
inline std::string command_help(const command_spec& command) {
  std::string out = "usage: safetensors-cli " + std::string(command.name) + " " +
                    std::string(command.arguments) + " [options]\n\n" +
                    std::string(command.description) + "\n\noptions:\n";
  std::vector<std::pair<std::string, std::string_view>> rows;
  for (const option_spec& o : command.options) {
    std::string left(o.name);
    if (!o.value.empty()) left += " " + std::string(o.value);
    rows.emplace_back(std::move(left), o.help);
  }
  rows.emplace_back("-h, --help", "print this help");
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  for (const auto& [left, help] : rows) {
    std::string line = "  " + left + std::string(width - left.size() + 2, ' ');
    std::size_t start = 0;
    while (true) {
      const std::size_t end = help.find('\n', start);
      out += line + std::string(help.substr(start, end - start)) + "\n";
      if (end == std::string_view::npos) break;
      start = end + 1;
      line = std::string(width + 4, ' ');
    }
  }
  return out;
}

}  // namespace safetensors_cli

#endif  // SAFETENSORS_CLI_ARGS_HPP
