// safetensors-cli's command line and messages (examples/cli_args.hpp, examples/cli_messages.hpp;
// docs/cli.md#commands, docs/cli.md#exit-codes-and-errors), without running the tool.
#include "cli_args.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "ci_skip.hpp"
#include "cli_messages.hpp"

namespace {

const safetensors_cli::command_spec copy_command{
    "copy", "IN OUT [MORE...]", "", "", {{"--json", "", ""}, {"--level", "N", ""}}};

std::string problem(const std::vector<std::string>& args) {
  const auto r = safetensors_cli::parse_args(copy_command, args);
  return r ? std::string() : r.error().message();
}

}  // namespace

TEST_CASE("parse_args: positional arguments, options, --name=VALUE, --, -h") {
  auto r = safetensors_cli::parse_args(
      copy_command, {"--level=3", "a", "--json", "b", "--level", "4", "--", "-c"});
  REQUIRE(r);
  CHECK(r->positional == std::vector<std::string>{"a", "b", "-c"});
  CHECK(*r->get("--level") == "4");  // the last one wins
  CHECK(r->has("--json"));
  CHECK_FALSE(r->help);
  r = safetensors_cli::parse_args(copy_command, {"-", "b"});
  REQUIRE(r);
  CHECK(r->positional == std::vector<std::string>{"-", "b"});
  r = safetensors_cli::parse_args(copy_command, {"--bogus", "-h"});
  REQUIRE(r);
  CHECK(r->help);
  r = safetensors_cli::parse_args(copy_command, {"a", "--", "--help"});
  REQUIRE(r);  // after --, --help is an argument
  CHECK_FALSE(r->help);
  CHECK(r->positional == std::vector<std::string>{"a", "--help"});

  CHECK(problem({}) == "missing IN");
  CHECK(problem({"a", "b", "c", "d"}).empty());  // MORE... repeats
  CHECK(problem({"a", "b", "--frob"}) == "unknown option '--frob'");
  CHECK(problem({"a", "b", "--frob=1"}) == "unknown option '--frob'");
  CHECK(problem({"a", "b", "-x"}) == "unknown option '-x'");
  CHECK(problem({"a", "b", "--json=1"}) == "the option '--json' takes no value");
  CHECK(problem({"a", "b", "--level"}) == "the option '--level' needs a value (N)");
  CHECK(problem({"a", "b\n", "--\x01"}) == "unknown option '--\\x01'");
  const safetensors_cli::command_spec demo{"demo", "[DIR]", "", "", {}};
  CHECK(safetensors_cli::parse_args(demo, {}));
  CHECK(safetensors_cli::parse_args(demo, {"a", "b"}).error().message() ==
        "unexpected argument 'b'");
}

TEST_CASE("command_help lists the usage line, the description and the options, aligned") {
  const safetensors_cli::command_spec c{
      "copy",
      "IN OUT",
      "copies",
      "Copies IN to OUT.",
      {{"--json", "", "print JSON"}, {"--level", "N", "the level\n(default 1)"}}};
  CHECK(safetensors_cli::command_help(c) ==
        "usage: safetensors-cli copy IN OUT [options]\n"
        "\n"
        "Copies IN to OUT.\n"
        "\n"
        "options:\n"
        "  --json      print JSON\n"
        "  --level N   the level\n"
        "              (default 1)\n"
        "  -h, --help  print this help\n");
}

TEST_CASE("in_flags: the library's option names become the CLI's flags") {
  using safetensors_cli::in_flags;
  CHECK(in_flags("above the limit of 5 (parse_options::max_header_size); is this") ==
        "above the limit of 5 (--max-header-size); is this");
  CHECK(in_flags("(write_options::max_header_size) and (checkpoint_options::max_index_size)") ==
        "(--max-header-size) and (--max-header-size)");
  CHECK(in_flags("5 bytes; parse_options::allow_trailing_bytes accepts them") ==
        "5 bytes; --allow-trailing-bytes accepts them");
  CHECK(in_flags("name the file, or set checkpoint_options::prefix") ==
        "name the file, or pass --prefix NAME");
  CHECK(in_flags("checkpoint_options::prefix '' is empty") == "--prefix '' is empty");
  CHECK(in_flags("sharded_write_options::prefix 'a/b' contains") == "--prefix 'a/b' contains");
  CHECK(in_flags("write_options::alignment is 3; write_options::alignment") ==
        "--align is 3; --align");
  CHECK(in_flags("nothing to change: options") == "nothing to change: options");
}

TEST_CASE("in_flags covers every option name in the library's messages that the CLI can meet") {
  // The header's parts, found from this file: tests/cli/ -> include/safetensors/parts/.
  const auto parts = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                     "include" / "safetensors" / "parts";
  if (!std::filesystem::is_directory(parts)) {
    st_test::skip_or_fail_in_ci("no " + parts.string() + " (the source tree) here");
    return;
  }
  // Options the CLI never sets to a value the library refuses.
  // (open_shard: the CLI sets it only through open_http_checkpoint, always with reader access.)
  const std::set<std::string> unreachable{"sharded_write_options::index_metadata",
                                          "checkpoint_options::open_shard"};
  const std::regex name("[a-z_]+_options::[a-z_]+");
  std::size_t found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(parts)) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      const auto quote = line.find('"');
      if (quote == std::string::npos || line.find("//") < quote) continue;
      for (std::sregex_iterator
               it(line.begin() + static_cast<std::ptrdiff_t>(quote), line.end(), name),
           end;
           it != end; ++it) {
        const std::string option = it->str();
        if (unreachable.count(option) != 0) continue;
        CAPTURE(entry.path().filename().string());
        CAPTURE(option);
        ++found;
        CHECK(safetensors_cli::in_flags(option).find("options::") == std::string::npos);
      }
    }
  }
  CHECK(found >= 8);
}
