// Runs safetensors-cli (SAFETENSORS_CLI_PATH) through the shell for the CLI contract tests,
// capturing stdout, stderr and the exit code. POSIX shell quoting: the CLI suites do not run
// under Wine or qemu (see .ci/steps).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_writer.hpp"

#if !defined(_WIN32)
#include <sys/wait.h>
#endif

namespace st_test {

struct cli_output {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

/// Runs the CLI with `args` in the working directory `cwd` (empty: the test's own); its output
/// goes through files in `dir`.
inline cli_output run_cli_in(const temp_dir& dir, const std::filesystem::path& cwd,
                             const std::vector<std::string>& args) {
  std::string command;
  if (!cwd.empty()) command = "cd " + shell_quote(cwd.string()) + " && ";
  command += shell_quote(SAFETENSORS_CLI_PATH);
  for (const auto& a : args) command += " " + shell_quote(a);
  const auto out = dir.file("stdout.txt");
  const auto err = dir.file("stderr.txt");
  command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  cli_output r;
#if defined(_WIN32)
  r.code = status;
#else
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
#endif
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Runs the CLI with `args`; its output goes through files in `dir`.
inline cli_output run_cli(const temp_dir& dir, const std::vector<std::string>& args) {
  return run_cli_in(dir, {}, args);
}

/// The first line of `s`.
inline std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// The number of lines of `s` (a last line without '\n' counts).
inline std::size_t line_count(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s) n += c == '\n' ? 1 : 0;
  return n + (!s.empty() && s.back() != '\n' ? 1 : 0);
}

}  // namespace st_test
