// safetensors-cli as a Unix tool (docs/cli.md#help-and-version,
// docs/cli.md#exit-codes-and-errors): help and version on stdout with exit 0, no arguments, and
// usage errors as one line on stderr with exit 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_writer.hpp"

namespace {

using st_test::cli_output;
using st_test::first_line;

/// Runs the CLI in `dir`: whatever a wrong argument makes it create stays there.
cli_output run_in(const st_test::temp_dir& dir, const std::vector<std::string>& args) {
  return st_test::run_cli_in(dir, dir.path(), args);
}

const std::vector<std::string> all_commands{"inspect", "validate", "diff",  "stats", "rewrite",
                                            "convert", "split",    "merge", "demo"};

/// Every option of each command (docs/cli.md#commands).
const std::map<std::string, std::vector<std::string>> command_options{
    {"inspect",
     {"--json", "--summary", "--values K", "--max-header-size SIZE", "--allow-trailing-bytes",
      "--prefix NAME", "--header 'NAME: VALUE'", "--timeout SECONDS"}},
    {"validate",
     {"--max-header-size SIZE", "--allow-trailing-bytes", "--prefix NAME", "--header 'NAME: VALUE'",
      "--timeout SECONDS"}},
    {"diff",
     {"--json", "--atol X", "--rtol Y", "--quiet", "-q", "--max-header-size SIZE",
      "--allow-trailing-bytes", "--prefix NAME", "--header 'NAME: VALUE'", "--timeout SECONDS"}},
    {"stats",
     {"--json", "--filter REGEX", "--max-header-size SIZE", "--allow-trailing-bytes",
      "--prefix NAME", "--header 'NAME: VALUE'", "--timeout SECONDS"}},
    {"rewrite", {"--align A", "--max-header-size SIZE", "--allow-trailing-bytes"}},
    {"convert",
     {"--dtype D", "--dtype-from D,...", "--include GLOB", "--exclude GLOB", "--rename FROM=TO",
      "--metadata KEY=VALUE", "--max-shard-size SIZE", "--prefix NAME", "--align A",
      "--chunk-size SIZE", "--max-header-size SIZE", "--allow-trailing-bytes",
      "--header 'NAME: VALUE'", "--timeout SECONDS"}},
    {"split",
     {"--max-shard-size SIZE", "--prefix NAME", "--max-header-size SIZE",
      "--allow-trailing-bytes"}},
    {"merge", {"--max-header-size SIZE", "--allow-trailing-bytes", "--prefix NAME"}},
    {"demo", {}},
};

/// " (see 'safetensors-cli [COMMAND ]--help')", the hint that ends a usage error.
std::string see(const std::string& command) {
  return " (see 'safetensors-cli " + (command.empty() ? "" : command + " ") + "--help')";
}

/// A usage error: exit 2, nothing on stdout, and exactly one line on stderr.
void check_usage_error(const cli_output& r, const std::string& line) {
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err == line + "\n");
}

/// Help: exit 0, the text on stdout, nothing on stderr.
void check_help(const cli_output& r, const std::string& first) {
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(first_line(r.out) == first);
}

std::vector<std::uint8_t> small_file() { return st_test::make_file({{"w", "U8", {2}, {1, 2}}}); }

}  // namespace

TEST_SUITE("cli usage") {
  TEST_CASE("--help, -h and help print the usage on stdout and exit 0") {
    st_test::temp_dir dir;
    const auto reference = run_in(dir, {"--help"});
    for (const char* form : {"--help", "-h", "help"}) {
      CAPTURE(form);
      const auto r = run_in(dir, {form});
      check_help(r, "usage: safetensors-cli COMMAND [options] ARGUMENTS...");
      CHECK(r.out == reference.out);
      for (const auto& command : all_commands) {
        CAPTURE(command);
        CHECK(r.out.find("\n  " + command + " ") != std::string::npos);
      }
      CHECK(r.out.find("'safetensors-cli demo'") != std::string::npos);
      CHECK(r.out.find("safetensors-cli COMMAND --help") != std::string::npos);
      CHECK(r.out.find("--version") != std::string::npos);
      CHECK(r.out.find("exit codes: 0 ") != std::string::npos);
    }
  }

  TEST_CASE("--version prints the library's version on stdout and exits 0") {
    st_test::temp_dir dir;
    const auto r = run_in(dir, {"--version"});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "safetensors-cli " + std::to_string(SAFETENSORS_VERSION_MAJOR) + "." +
                       std::to_string(SAFETENSORS_VERSION_MINOR) + "." +
                       std::to_string(SAFETENSORS_VERSION_PATCH) + "\n");
  }

  TEST_CASE("no arguments: the usage on stderr, mentioning demo, and exit 2") {
    st_test::temp_dir dir;
    const auto r = run_in(dir, {});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == run_in(dir, {"--help"}).out);
    CHECK(r.err.find("'safetensors-cli demo'") != std::string::npos);
  }

  TEST_CASE("COMMAND --help, COMMAND -h, help COMMAND: the command's usage and options") {
    st_test::temp_dir dir;
    for (const auto& command : all_commands) {
      CAPTURE(command);
      const auto reference = run_in(dir, {command, "--help"});
      const std::vector<std::vector<std::string>> forms{{command, "--help"},
                                                        {command, "-h"},
                                                        {"help", command},
                                                        {"--help", command},
                                                        {"-h", command},
                                                        // --help wins over everything else
                                                        {command, "x", "--bogus", "--help"}};
      for (const auto& form : forms) {
        CAPTURE(form.size());
        const auto r = run_in(dir, form);
        CHECK(r.code == 0);
        CHECK(r.err.empty());
        CHECK(r.out == reference.out);
      }
      CHECK(first_line(reference.out).rfind("usage: safetensors-cli " + command + " ", 0) == 0);
      CHECK(reference.out.find("  -h, --help ") != std::string::npos);
      // Its options, and no other command's.
      for (const auto& [other, options] : command_options) {
        for (const auto& option : options) {
          CAPTURE(option);
          const bool listed = reference.out.find("  " + option + " ") != std::string::npos;
          const auto& own = command_options.at(command);
          const bool owned = std::find(own.begin(), own.end(), option) != own.end();
          CHECK(listed == owned);
        }
      }
    }
  }

  TEST_CASE("demo --help creates nothing, validate --help opens nothing; -- ends the options") {
    st_test::temp_dir dir;
    auto r = st_test::run_cli_in(dir, dir.path(), {"demo", "--help"});
    check_help(r, "usage: safetensors-cli demo [DIR] [options]");
    CHECK_FALSE(std::filesystem::exists(dir.path() / "--help"));
    r = st_test::run_cli_in(dir, dir.path(), {"validate", "--help"});
    check_help(r, "usage: safetensors-cli validate FILE... [options]");
    // After --, "--help" is a FILE.
    r = st_test::run_cli_in(dir, dir.path(), {"validate", "--", "--help"});
    CHECK(r.code == 2);
    CHECK(first_line(r.err) == "error: IoError: cannot open '--help': No such file or directory");
    // A file whose name starts with '-'.
    st_test::write_file(dir.path() / "-w.safetensors", small_file());
    r = st_test::run_cli_in(dir, dir.path(), {"validate", "--", "-w.safetensors"});
    CHECK(r.code == 0);
    CHECK(r.out == "-w.safetensors: OK (1 tensor, 66 bytes)\n");
    check_usage_error(st_test::run_cli_in(dir, dir.path(), {"validate", "-w.safetensors"}),
                      "error: usage: validate: unknown option '-w.safetensors'" + see("validate"));
    // A lone "-" is an argument, not an option.
    r = st_test::run_cli_in(dir, dir.path(), {"inspect", "-"});
    CHECK(r.code == 2);
    CHECK(first_line(r.err).rfind("error: IoError: cannot open '-'", 0) == 0);
  }

  TEST_CASE("an unknown command or option: exit 2, one line on stderr with a hint") {
    st_test::temp_dir dir;
    check_usage_error(run_in(dir, {"frobnicate"}),
                      "error: usage: unknown command 'frobnicate'" + see(""));
    check_usage_error(run_in(dir, {"--frobnicate"}),
                      "error: usage: unknown option '--frobnicate'" + see(""));
    check_usage_error(run_in(dir, {"-x", "inspect"}),
                      "error: usage: unknown option '-x'" + see(""));
    const std::map<std::string, std::vector<std::string>> enough_arguments{
        {"inspect", {"a"}},    {"validate", {"a"}},   {"rewrite", {"a", "b"}},
        {"split", {"a", "b"}}, {"merge", {"a", "b"}}, {"demo", {}}};
    for (const auto& entry : enough_arguments) {
      const auto& command = entry.first;
      const auto& positional = entry.second;
      CAPTURE(command);
      for (const char* option : {"--frobnicate", "-x", "--version", "--frobnicate=1"}) {
        CAPTURE(option);
        std::vector<std::string> args{command};
        args.insert(args.end(), positional.begin(), positional.end());
        args.push_back(option);
        const std::string shown = std::string(option) == "--frobnicate=1" ? "--frobnicate" : option;
        check_usage_error(run_in(dir, args), "error: usage: " + command + ": unknown option '" +
                                                 shown + "'" + see(command));
      }
    }
    // Options of another command are unknown too.
    check_usage_error(run_in(dir, {"inspect", "a", "--align", "16"}),
                      "error: usage: inspect: unknown option '--align'" + see("inspect"));
    check_usage_error(run_in(dir, {"demo", "--json"}),
                      "error: usage: demo: unknown option '--json'" + see("demo"));
  }

  TEST_CASE("missing and extra arguments: exit 2, one line on stderr") {
    st_test::temp_dir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"inspect"}, "inspect: missing FILE"},
        {{"inspect", "--json"}, "inspect: missing FILE"},
        {{"inspect", "a", "b"}, "inspect: unexpected argument 'b'"},
        {{"validate"}, "validate: missing FILE"},
        {{"rewrite"}, "rewrite: missing IN"},
        {{"rewrite", "a"}, "rewrite: missing OUT"},
        {{"rewrite", "a", "b", "c"}, "rewrite: unexpected argument 'c'"},
        {{"split"}, "split: missing IN"},
        {{"split", "a"}, "split: missing OUTDIR"},
        {{"split", "a", "b", "c"}, "split: unexpected argument 'c'"},
        {{"merge"}, "merge: missing INDEX|DIR"},
        {{"merge", "a"}, "merge: missing OUT"},
        {{"merge", "a", "b", "c"}, "merge: unexpected argument 'c'"},
        {{"demo", "a", "b"}, "demo: unexpected argument 'b'"},
    };
    for (const auto& entry : cases) {
      const auto& args = entry.first;
      const auto& message = entry.second;
      CAPTURE(message);
      check_usage_error(run_in(dir, args), "error: usage: " + message + see(args.front()));
    }
    check_usage_error(run_in(dir, {"help", "inspect", "split"}),
                      "error: usage: help takes at most one COMMAND, got 'split' too" + see(""));
    check_usage_error(run_in(dir, {"help", "frobnicate"}),
                      "error: usage: unknown command 'frobnicate'" + see(""));
    check_usage_error(run_in(dir, {"--version", "inspect"}),
                      "error: usage: --version takes no arguments, got 'inspect'" + see(""));
  }

  TEST_CASE("an option without its value, or a flag with one: exit 2") {
    st_test::temp_dir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"inspect", "a", "--values"}, "inspect: the option '--values' needs a value (K)"},
        {{"inspect", "a", "--max-header-size"},
         "inspect: the option '--max-header-size' needs a value (SIZE)"},
        {{"inspect", "a", "--prefix"}, "inspect: the option '--prefix' needs a value (NAME)"},
        {{"validate", "a", "--max-header-size"},
         "validate: the option '--max-header-size' needs a value (SIZE)"},
        {{"validate", "a", "--prefix"}, "validate: the option '--prefix' needs a value (NAME)"},
        {{"rewrite", "a", "b", "--align"}, "rewrite: the option '--align' needs a value (A)"},
        {{"rewrite", "a", "b", "--max-header-size"},
         "rewrite: the option '--max-header-size' needs a value (SIZE)"},
        {{"split", "a", "b", "--max-shard-size"},
         "split: the option '--max-shard-size' needs a value (SIZE)"},
        {{"split", "a", "b", "--prefix"}, "split: the option '--prefix' needs a value (NAME)"},
        {{"split", "a", "b", "--max-header-size"},
         "split: the option '--max-header-size' needs a value (SIZE)"},
        {{"merge", "a", "b", "--max-header-size"},
         "merge: the option '--max-header-size' needs a value (SIZE)"},
        {{"merge", "a", "b", "--prefix"}, "merge: the option '--prefix' needs a value (NAME)"},
        {{"inspect", "a", "--json=yes"}, "inspect: the option '--json' takes no value"},
        {{"validate", "a", "--allow-trailing-bytes=1"},
         "validate: the option '--allow-trailing-bytes' takes no value"},
    };
    for (const auto& entry : cases) {
      const auto& args = entry.first;
      const auto& message = entry.second;
      CAPTURE(message);
      check_usage_error(run_in(dir, args), "error: usage: " + message + see(args.front()));
    }
  }

  TEST_CASE("numbers and sizes that cannot be read: exit 2, one line naming the flag") {
    st_test::temp_dir dir;
    const auto file = dir.file("m.safetensors");
    st_test::write_file(file, small_file());
    const std::string f = file.string();
    const std::string out = dir.file("out.safetensors").string();
    const std::string outdir = (dir.path() / "shards").string();
    const std::string size_examples = " (examples: 5GB, 500MB, 10GiB, 1048576)";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"inspect", f, "--values", "x"}, "inspect: --values needs a count, got 'x'"},
        {{"inspect", f, "--values", "-1"}, "inspect: --values needs a count, got '-1'"},
        {{"inspect", f, "--values", "1.5"}, "inspect: --values needs a count, got '1.5'"},
        {{"inspect", f, "--values", ""}, "inspect: --values needs a count, got ''"},
        {{"inspect", f, "--values=99999999999999999999"},
         "inspect: --values needs a count, got '99999999999999999999'"},
        {{"rewrite", f, out, "--align", "x"}, "rewrite: --align needs a number, got 'x'"},
        {{"rewrite", f, out, "--align", "-8"}, "rewrite: --align needs a number, got '-8'"},
        {{"rewrite", f, out, "--align", ""}, "rewrite: --align needs a number, got ''"},
        {{"rewrite", f, out, "--align", "16.0"}, "rewrite: --align needs a number, got '16.0'"},
        {{"rewrite", f, out, "--align", "3"},
         "rewrite: --align is 3; it must be a power of two from 8 to 65536"},
        {{"rewrite", f, out, "--align", "4"},
         "rewrite: --align is 4; it must be a power of two from 8 to 65536"},
        {{"rewrite", f, out, "--align=131072"},
         "rewrite: --align is 131072; it must be a power of two from 8 to 65536"},
        {{"split", f, outdir, "--max-shard-size", "5XB"},
         "split: --max-shard-size: the size '5XB' has an unknown unit" + size_examples},
        {{"split", f, outdir, "--max-shard-size", "-5GB"},
         "split: --max-shard-size: the size '-5GB' does not start with a number" + size_examples},
        {{"split", f, outdir, "--max-shard-size", ""},
         "split: --max-shard-size: the size '' does not start with a number" + size_examples},
    };
    for (const auto& entry : cases) {
      const auto& args = entry.first;
      const auto& message = entry.second;
      CAPTURE(message);
      check_usage_error(run_in(dir, args), "error: usage: " + message + see(args.front()));
    }
    const std::map<std::string, std::vector<std::string>> positional{{"inspect", {f}},
                                                                     {"validate", {f}},
                                                                     {"rewrite", {f, out}},
                                                                     {"split", {f, outdir}},
                                                                     {"merge", {f, out}}};
    for (const auto& entry : positional) {
      const auto& command = entry.first;
      const auto& args = entry.second;
      CAPTURE(command);
      for (const char* bad : {"5XB", "-1", "lots"}) {
        std::vector<std::string> argv{command};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--max-header-size", bad});
        const std::string why =
            std::string(bad) == "5XB" ? "has an unknown unit" : "does not start with a number";
        check_usage_error(run_in(dir, argv), "error: usage: " + command +
                                                 ": --max-header-size: the size '" + bad + "' " +
                                                 why + size_examples + see(command));
      }
    }
    // Nothing was written.
    CHECK_FALSE(std::filesystem::exists(dir.file("out.safetensors")));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "shards"));
  }

  TEST_CASE("--values with a checkpoint, and a --prefix that is not a file name: exit 2") {
    st_test::temp_dir dir;
    st_test::write_file(dir.path() / "model.safetensors", small_file());
    check_usage_error(
        run_in(dir, {"inspect", dir.path().string(), "--values", "2"}),
        "error: usage: inspect: --values takes a single safetensors FILE, not a checkpoint" +
            see("inspect"));
    check_usage_error(
        run_in(dir,
               {"inspect", dir.file("model.safetensors.index.json").string(), "--values", "2"}),
        "error: usage: inspect: --values takes a single safetensors FILE, not a checkpoint" +
            see("inspect"));
    const std::vector<std::pair<std::string, std::string>> bad_prefixes{
        {"../up", "contains a path separator"},
        {"", "is empty"},
        {"..", "names a directory, not a file"},
        {"a:b", "contains ':' (a drive or stream designator on Windows)"},
        {"NUL", "is a Windows device name"}};
    const std::string d = dir.path().string();
    const std::string out = dir.file("out.safetensors").string();
    const std::map<std::string, std::vector<std::string>> positional{
        {"inspect", {d}},
        {"validate", {d}},
        {"split", {d, dir.file("o").string()}},
        {"merge", {d, out}}};
    for (const auto& use : positional) {
      const auto& command = use.first;
      const auto& args = use.second;
      for (const auto& entry : bad_prefixes) {
        const auto& prefix = entry.first;
        const auto& why = entry.second;
        CAPTURE(command);
        CAPTURE(prefix);
        std::vector<std::string> argv{command};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--prefix", prefix});
        check_usage_error(run_in(dir, argv), "error: usage: " + command + ": --prefix '" + prefix +
                                                 "' " + why + see(command));
      }
    }
    CHECK_FALSE(std::filesystem::exists(dir.file("o")));
    CHECK_FALSE(std::filesystem::exists(dir.file("out.safetensors")));
  }

  TEST_CASE("--name=VALUE is --name VALUE; options may come anywhere; the last one wins") {
    st_test::temp_dir dir;
    const auto file = dir.file("m.safetensors");
    st_test::write_file(file, small_file());
    const auto a = run_in(dir, {"inspect", "--values=1", file.string(), "--json"});
    const auto b =
        run_in(dir, {"inspect", "--json", "--values", "5", file.string(), "--values", "1"});
    REQUIRE(a.code == 0);
    CHECK(a.out == b.out);
    CHECK(a.out.find("\"values\":[1]") != std::string::npos);
  }
}
