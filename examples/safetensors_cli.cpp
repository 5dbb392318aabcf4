// safetensors-cli: inspect, validate and convert safetensors files and sharded checkpoints
// (contract: docs/cli.md#safetensors-cli).
//
//   safetensors-cli inspect FILE [--json] [--values K]   the tensor table and metadata
//   safetensors-cli validate FILE...                     checks each file or checkpoint
//   safetensors-cli rewrite IN OUT [--align A]           re-serializes IN canonically (atomic)
//   safetensors-cli split IN OUTDIR [--max-shard-size SIZE] [--prefix NAME]
//   safetensors-cli merge INDEX|DIR OUT                  sharded checkpoints
//   safetensors-cli diff A B [--json] [--quiet]          compares two files or checkpoints
//   safetensors-cli stats FILE [--json] [--filter REGEX] per-tensor min, max, mean, std, counts
//   safetensors-cli demo [DIR]                           writes a small demo model, inspects it
//   safetensors-cli [COMMAND] --help, --version          on stdout, exit 0
//
// The commands' arguments, options and help text are the table in commands() (parsed by
// cli_args.hpp). Exit codes: 0 success; 1 an invalid input (first stderr line
// "error: <Name>: <detail>"); 2 usage errors (one stderr line "error: usage: ...") and files
// that cannot be opened. Messages name the flags, not the library's options (cli_messages.hpp).
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli_args.hpp"
#include "cli_convert.hpp"
#include "cli_diff.hpp"
#include "cli_human.hpp"
#include "cli_inspect.hpp"
#include "cli_messages.hpp"
#include "cli_replaced.hpp"
#include "cli_size.hpp"
#include "cli_stats.hpp"
#include "cli_values.hpp"

// Built with libcurl's headers (CMake found CURL): FILE, INDEX and DIR arguments of inspect,
// validate, diff and stats may be http:// or https:// URLs (docs/remote.md#the-command-line). On
// POSIX systems libcurl is loaded at the first URL (SAFETENSORS_HTTP_DLOPEN), not linked: local
// files never pay for its start-up (docs/cli.md#start-up).
#ifdef SAFETENSORS_CLI_HTTP
#include <safetensors/http_source.hpp>
#endif

#if defined(_WIN32)
#include <io.h>
#define SAFETENSORS_CLI_ISATTY(fd) _isatty(fd)
#else
#include <unistd.h>
#define SAFETENSORS_CLI_ISATTY(fd) isatty(fd)
#endif

namespace {

namespace st = safetensors;
using safetensors_cli::command_spec;
using safetensors_cli::in_flags;
using safetensors_cli::option_spec;
using safetensors_cli::parsed_args;
using safetensors_cli::quote_arg;

constexpr int exit_ok = 0;
constexpr int exit_invalid = 1;
constexpr int exit_usage = 2;

// ---- The command line -----------------------------------------------------------------------

const option_spec max_header_size_option{"--max-header-size", "SIZE",
                                         "accept a header, or an index file, of up to SIZE bytes\n"
                                         "(default 100MB; SIZE as in 200MB, 1GiB, 150000000)"};
const option_spec allow_trailing_bytes_option{
    "--allow-trailing-bytes", "", "accept bytes after the end of the last tensor's data"};
const option_spec prefix_option{"--prefix", "NAME",
                                "in a directory, open the model NAME.safetensors.index.json or\n"
                                "NAME.safetensors (default model)"};
// How URLs are read (docs/cli.md#urls); accepted, and unused, for local files.
const option_spec header_option{"--header", "'NAME: VALUE'",
                                "send this header with each request to a URL's own origin\n"
                                "(not to another one it redirects to); repeatable"};
const option_spec timeout_option{"--timeout", "SECONDS",
                                 "give up on a request to a URL after SECONDS (each attempt;\n"
                                 "default: when it receives under 1 KiB/s for 30 s)"};

const std::vector<command_spec>& commands() {
  static const std::vector<command_spec> table{
      {"inspect",
       "FILE",
       "print the tensor table and metadata of a file or checkpoint",
       "Prints the tensor table and metadata of a safetensors file, or of a checkpoint (a model\n"
       "directory or a .safetensors.index.json). Only headers are read, and with --values the\n"
       "bytes of the values shown.",
       {{"--json", "", "print one line of JSON instead of the table"},
        {"--summary", "",
         "group the tensors whose names differ only in numbered parts\n"
         "(model.layers.{0..21}.mlp.up_proj.weight), one row per group"},
        {"--values", "K", "add the first K values of each tensor (a single file only)"},
        max_header_size_option,
        allow_trailing_bytes_option,
        prefix_option,
        header_option,
        timeout_option}},
      {"validate",
       "FILE...",
       "check each file or checkpoint (exit 1 if any is invalid)",
       "Checks each file or checkpoint, continues after a failure and exits with the highest\n"
       "code met. A checkpoint is verified shard by shard, and every problem is listed.",
       {max_header_size_option, allow_trailing_bytes_option, prefix_option, header_option,
        timeout_option}},
      {"rewrite",
       "IN OUT",
       "write IN again in canonical form into OUT, atomically",
       "Writes the tensors and metadata of the file IN into OUT in canonical form (sorted,\n"
       "compact header, data aligned to A bytes), through a temporary file and a rename: OUT\n"
       "may be IN. Progress is shown on stderr when it is a terminal.",
       {{"--align", "A",
         "start the data at a multiple of A bytes: a power of two from 8 to\n"
         "65536 (default 8)"},
        {"--max-header-size", "SIZE",
         "read and write a header of up to SIZE bytes (default 100MB)"},
        {"--allow-trailing-bytes", "",
         "accept bytes after the last tensor's data in IN (they are not\n"
         "written)"}}},
      {"convert",
       "IN OUT",
       "write IN's tensors into OUT: cast to a dtype, selected, renamed",
       "Writes the tensors of IN (a file, a checkpoint or a URL) into the file OUT, or with\n"
       "--max-shard-size into the directory OUT as shards and an index, atomically and in\n"
       "canonical form: --dtype casts the floating-point tensors, --include and --exclude\n"
       "choose tensors by name, --rename rewrites the start of names. The metadata is kept.\n"
       "Reads and writes in pieces: memory does not grow with the model. Progress is shown on\n"
       "stderr when it is a terminal.",
       {{"--dtype", "D",
         "cast the floating-point tensors to D: F32, F16, BF16, F8_E4M3,\n"
         "F8_E5M2, ... (round to nearest even)"},
        {"--dtype-from", "D,...",
         "cast only the tensors of these dtypes (default: every\n"
         "floating-point dtype; repeatable)"},
        {"--include", "GLOB",
         "only the tensors whose name GLOB matches: *, ?, [a-z]\n"
         "(repeatable: any of them)"},
        {"--exclude", "GLOB", "leave out the tensors whose name GLOB matches (repeatable)"},
        {"--rename", "FROM=TO",
         "a name that starts with FROM starts with TO instead\n"
         "(repeatable: the first that applies)"},
        {"--metadata", "KEY=VALUE", "add or replace a __metadata__ entry (repeatable)"},
        {"--max-shard-size", "SIZE",
         "write OUT as a directory of shards of at most SIZE tensor\n"
         "bytes and an index"},
        {"--prefix", "NAME",
         "with --max-shard-size, name the files NAME-00001-of-0000N...\n"
         "(default model); when IN is a directory, the model read"},
        {"--align", "A", "start the data at a multiple of A bytes (default 8)"},
        {"--chunk-size", "SIZE",
         "convert SIZE bytes of output at a time (default 16MiB): the\n"
         "memory it takes"},
        max_header_size_option,
        allow_trailing_bytes_option,
        header_option,
        timeout_option}},
      {"split",
       "IN OUTDIR",
       "write a file or checkpoint as shards and an index",
       "Writes IN (a file or a checkpoint) into OUTDIR, created if needed, as shards and an\n"
       "index, or as one NAME.safetensors when everything fits in one shard. Progress is shown\n"
       "on stderr when it is a terminal.",
       {{"--max-shard-size", "SIZE",
         "put at most SIZE tensor bytes in a shard (default 5GB; 500MB,\n"
         "10GiB, 1048576)"},
        {"--prefix", "NAME",
         "name the files NAME-00001-of-0000N.safetensors and\n"
         "NAME.safetensors.index.json (default model); when IN is a\n"
         "directory, also the model read from it"},
        {"--max-header-size", "SIZE",
         "read and write a header, or read an index file, of up to SIZE\n"
         "bytes (default 100MB)"},
        allow_trailing_bytes_option}},
      {"merge",
       "INDEX|DIR OUT",
       "write a sharded checkpoint as one file",
       "Writes every tensor of a checkpoint (its index file or its directory) into the one file\n"
       "OUT, atomically. Progress is shown on stderr when it is a terminal.",
       {{"--max-header-size", "SIZE",
         "read and write a header, or read an index file, of up to SIZE\n"
         "bytes (default 100MB)"},
        allow_trailing_bytes_option,
        prefix_option}},
      {"diff",
       "A B",
       "compare two files or checkpoints (exit 1 if they differ)",
       "Compares the tensors (names, dtypes, shapes, bytes) and the __metadata__ of A and B,\n"
       "each a safetensors file or a checkpoint, whatever their layout and tensor order.\n"
       "With --atol or --rtol, floating-point tensors are compared by value instead, in any\n"
       "two float dtypes. Lists every difference; exits with 0 when there is none, 1 when\n"
       "there are, 2 on an error. Progress is shown on stderr when it is a terminal.",
       {{"--json", "", "print one line of JSON instead of the text"},
        {"--atol", "X",
         "compare floating-point tensors by value: an element differs when\n"
         "|a - b| > X + rtol * |b| (default 0)"},
        {"--rtol", "Y", "the relative tolerance of --atol (default 0)"},
        {"--quiet", "", "print nothing, stop at the first difference: the exit code says"},
        {"-q", "", "the same as --quiet"},
        max_header_size_option,
        allow_trailing_bytes_option,
        prefix_option,
        header_option,
        timeout_option}},
      {"stats",
       "FILE",
       "print per-tensor min, max, mean, std and NaN/inf/zero counts",
       "Reads every value of each tensor of a file or checkpoint and prints its minimum,\n"
       "maximum, mean and standard deviation (of the finite values, in double precision) and\n"
       "its counts of NaN, +inf, -inf and zeros. Progress is shown on stderr when it is a\n"
       "terminal.",
       {{"--json", "", "print one line of JSON instead of the table"},
        {"--filter", "REGEX", "only the tensors whose name REGEX matches (anywhere in it)"},
        max_header_size_option,
        allow_trailing_bytes_option,
        prefix_option,
        header_option,
        timeout_option}},
      {"demo",
       "[DIR]",
       "write a small demo model and inspect it",
       "Writes DIR/demo.safetensors, a small model with several dtypes and two metadata keys, and\n"
       "prints what inspect shows of it. DIR defaults to safetensors-cli-demo in the temporary\n"
       "directory, and is created if needed.",
       {}},
  };
  return table;
}

const command_spec* find_command(std::string_view name) {
  for (const command_spec& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string usage_text() {
  std::string out =
      "usage: safetensors-cli COMMAND [options] ARGUMENTS...\n"
      "\n"
      "Inspects, validates, compares and converts safetensors files and sharded checkpoints.\n"
      "\n"
      "commands:\n";
  std::size_t width = 0;
  for (const command_spec& c : commands()) {
    width = std::max(width, c.name.size() + 1 + c.arguments.size());
  }
  for (const command_spec& c : commands()) {
    const std::string left = std::string(c.name) + " " + std::string(c.arguments);
    out += "  " + left + std::string(width - left.size() + 2, ' ') + std::string(c.summary) + "\n";
  }
  out +=
      "\n"
      "FILE, split's and convert's IN and diff's A and B may also be a checkpoint: a model\n"
      "directory or a .safetensors.index.json.\n"
      "New here? 'safetensors-cli demo' writes a small model and shows what inspect prints.\n"
      "\n"
      "  safetensors-cli COMMAND --help   a command's usage and options\n"
      "  safetensors-cli --help           this help\n"
      "  safetensors-cli --version        the version\n"
      "\n"
      "exit codes: 0 success, 1 an invalid input, 2 a usage error or a file that cannot be\n"
      "opened, read or written\n";
  return out;
}

std::string version_text() {
  return "safetensors-cli " + std::to_string(SAFETENSORS_VERSION_MAJOR) + "." +
         std::to_string(SAFETENSORS_VERSION_MINOR) + "." +
         std::to_string(SAFETENSORS_VERSION_PATCH) + "\n";
}

// ---- Errors and progress --------------------------------------------------------------------

/// True while a progress line is on stderr without its newline.
bool progress_line_open = false;

void end_progress_line() {
  if (progress_line_open) std::fputc('\n', stderr);
  progress_line_open = false;
}

/// One line on stderr, such as
/// "error: usage: inspect: missing FILE (see 'safetensors-cli inspect --help')".
int usage_error(std::string_view command, const std::string& message) {
  end_progress_line();
  const std::string name(command);
  std::cerr << "error: usage: " << (name.empty() ? "" : name + ": ") << in_flags(message)
            << " (see 'safetensors-cli " << (name.empty() ? "" : name + " ") << "--help')\n";
  return exit_usage;
}

/// Prints "error: <Name>: <detail>" and returns `code`.
int print_error(const st::error& e, int code) {
  end_progress_line();
  std::cerr << "error: " << e.name() << ": " << in_flags(e.message()) << "\n";
  return code;
}

/// Prints "error: <Name>: <detail>" and returns the exit code for that error: 2 for what could
/// not be read (IoError, OutOfMemory), 1 for an invalid input.
int report(const st::error& e) {
  const bool unread = e.code() == st::errc::io_error || e.code() == st::errc::out_of_memory;
  return print_error(e, unread ? exit_usage : exit_invalid);
}

/// Progress on stderr, only when it is a terminal: "\rrewrite: 42% (1.2 of 2.9 GB)".
st::progress_callback terminal_progress(const char* what) {
  if (!SAFETENSORS_CLI_ISATTY(2)) return {};
  return [what, last = -1](std::uint64_t done, std::uint64_t total) mutable {
    const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    if (percent == last) return;
    last = percent;
    std::fprintf(stderr, "\r%s: %3d%% (%.2f of %.2f GB)", what, percent,
                 static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9);
    progress_line_open = true;
    if (done >= total) end_progress_line();
    std::fflush(stderr);
  };
}

// ---- Flags shared by the commands -----------------------------------------------------------

/// --max-header-size, --allow-trailing-bytes and --prefix: how files and checkpoints are read.
struct read_settings {
  st::parse_options parse;
  std::uint64_t max_index_size = st::checkpoint_options{}.max_index_size;
  std::optional<std::string> prefix;

  /// Checkpoints are read through pread: headers only, bounded memory, nothing mapped.
  st::checkpoint_options checkpoint() const {
    st::checkpoint_options options;
    options.access = st::shard_access::reader;
    options.parse = parse;
    options.max_index_size = max_index_size;
    if (prefix) options.prefix = *prefix;
    return options;
  }
};

#ifdef SAFETENSORS_CLI_HTTP
/// How URLs are read in this run: --header and --timeout (read_settings_of sets them).
st::http_options& url_options() {
  static st::http_options options;
  return options;
}
#endif

/// --header and --timeout, checked; with SAFETENSORS_CLI_HTTP, into url_options().
st::result<void> url_settings_of(const parsed_args& args) {
  std::vector<std::string> headers;
  for (const std::string& h : args.get_all("--header")) {
    const std::size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
      return st::error(st::errc::invalid_argument,
                       "--header needs 'NAME: VALUE' on one line, got " + quote_arg(h));
    }
    headers.push_back(h);
  }
  std::uint64_t seconds = 0;
  if (const std::string* v = args.get("--timeout")) {
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), seconds);
    if (v->empty() || ec != std::errc() || end != v->data() + v->size() || seconds == 0 ||
        seconds > 86'400) {
      return st::error(st::errc::invalid_argument,
                       "--timeout needs a number of seconds from 1 to 86400, got " + quote_arg(*v));
    }
  }
#ifdef SAFETENSORS_CLI_HTTP
  url_options().headers = std::move(headers);
  url_options().request_timeout = std::chrono::seconds(seconds);
#endif
  return {};
}

/// A path or URL as the tool shows it: a URL without user information or query string
/// (credentials, signatures), as the library's messages show it.
std::string shown(const std::string& path) {
#ifdef SAFETENSORS_CLI_HTTP
  if (st::detail::http_url(path)) return st::detail::http_shown_url(path);
#endif
  return path;
}

/// The flags' values, or InvalidArgument with the usage problem.
st::result<read_settings> read_settings_of(const parsed_args& args) {
  if (auto r = url_settings_of(args); !r) return r.error();
  read_settings out;
  if (const std::string* v = args.get("--max-header-size")) {
    auto size = safetensors_cli::parse_size(*v);
    if (!size) {
      return st::error(st::errc::invalid_argument, "--max-header-size: " + size.error().message());
    }
    out.parse.max_header_size = *size;
    out.max_index_size = *size;
  }
  out.parse.allow_trailing_bytes = args.has("--allow-trailing-bytes");
  if (const std::string* v = args.get("--prefix")) {
    // The sharded writer checks a prefix as strictly as the checkpoint reader, and more.
    st::sharded_write_options check;
    check.prefix = *v;
    if (auto layout = st::shard_layout::create(std::vector<st::tensor_spec>{}, check); !layout) {
      return layout.error();
    }
    out.prefix = *v;
  }
  return out;
}

/// --max-shard-size: a size of at least one byte (0 would put every tensor in a shard of its own,
/// the empty ones too).
st::result<std::uint64_t> max_shard_size_of(const std::string& text) {
  auto size = safetensors_cli::parse_size(text);
  if (!size) {
    return st::error(st::errc::invalid_argument, "--max-shard-size: " + size.error().message());
  }
  if (*size == 0) {
    return st::error(st::errc::invalid_argument,
                     "--max-shard-size must be at least 1 byte, got " + quote_arg(text));
  }
  return size;
}

/// A name made printable for the table: control bytes escaped as \xNN (the library's messages
/// escape names the same way).
std::string printable(std::string_view s) { return st::detail::escape_controls(s); }

std::string shape_text(st::span<const std::uint64_t> shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

nlohmann::ordered_json to_json(const st::header& h) {
  nlohmann::ordered_json out;
  out["header_size"] = h.header_size();
  if (h.metadata()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [key, value] : *h.metadata()) md[key] = value;
    out["metadata"] = std::move(md);
  } else {
    out["metadata"] = nullptr;
  }
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const st::tensor_info t : h.tensors()) {
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (const std::uint64_t d : t.shape()) shape.push_back(d);
    tensors.push_back({{"name", std::string(t.name())},
                       {"dtype", std::string(st::to_string(t.dtype()))},
                       {"shape", std::move(shape)},
                       {"data_offsets", {t.offsets().begin, t.offsets().end}}});
  }
  out["tensors"] = std::move(tensors);
  return out;
}

/// Prints `rows` (the first one is the heading) as left-aligned columns, after a blank line.
template <class Row>
void print_rows(const std::vector<Row>& rows) {
  // Aligned by display width: a name with non-ASCII characters takes fewer columns than bytes.
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], safetensors_cli::display_width(row[c]));
    }
  }
  std::cout << "\n";
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(width[c] + 2 - safetensors_cli::display_width(row[c]), ' ');
      }
    }
    std::cout << line << "\n";
  }
}

/// "2200000000 bytes (2.20 GB)": the exact count, and in decimal units from 1000 up.
std::string bytes_text(std::uint64_t n) {
  std::string out = std::to_string(n) + (n == 1 ? " byte" : " bytes");
  if (n >= 1000) out += " (" + safetensors_cli::human_size(n) + ")";
  return out;
}

/// "1100048384 (1.10 B)": a count, and in thousands, millions... from 1000 up.
std::string count_text(std::uint64_t n) {
  std::string out = std::to_string(n);
  if (n >= 1000) out += " (" + safetensors_cli::human_count(n) + ")";
  return out;
}

/// The longest metadata value (in columns) the text shows whole; longer ones are cut.
constexpr std::size_t metadata_value_width = 100;

/// "params:" and a line per dtype: parameters (elements) and bytes.
void print_params(const std::vector<safetensors_cli::tensor_row>& rows) {
  const auto totals = safetensors_cli::dtype_totals(rows);
  std::uint64_t params = 0;
  for (const auto& t : totals) params += t.params;
  std::cout << "params:   " << count_text(params) << "\n";
  std::size_t width = 0;
  for (const auto& t : totals) width = std::max(width, st::to_string(t.dtype).size());
  for (const auto& t : totals) {
    const std::string name(st::to_string(t.dtype));
    std::cout << "  " << name << std::string(width - name.size() + 2, ' ') << count_text(t.params)
              << (t.params == 1 ? " param, " : " params, ") << bytes_text(t.bytes) << " in "
              << t.tensors << (t.tensors == 1 ? " tensor\n" : " tensors\n");
  }
}

/// The --summary table: one row per group of tensors.
void print_groups(const std::vector<safetensors_cli::tensor_row>& rows) {
  std::vector<std::array<std::string, 5>> table;
  table.push_back({"name", "dtype", "shape", "count", "size"});
  for (const auto& g : safetensors_cli::group_tensors(rows)) {
    table.push_back({printable(g.name), std::string(st::to_string(g.dtype)),
                     shape_text(st::span<const std::uint64_t>(g.shape.data(), g.shape.size())),
                     "x" + std::to_string(g.count), safetensors_cli::human_size(g.bytes)});
  }
  print_rows(table);
}

/// "params" (the total) and "dtypes" (per dtype: tensors, params, bytes), and with `summary`
/// the --summary "groups", added to an inspect JSON document.
void add_summary_json(nlohmann::ordered_json& out,
                      const std::vector<safetensors_cli::tensor_row>& rows, bool summary) {
  using json = nlohmann::ordered_json;
  const auto totals = safetensors_cli::dtype_totals(rows);
  std::uint64_t params = 0;
  json dtypes = json::array();
  for (const auto& t : totals) {
    params += t.params;
    dtypes.push_back({{"dtype", std::string(st::to_string(t.dtype))},
                      {"tensors", t.tensors},
                      {"params", t.params},
                      {"bytes", t.bytes}});
  }
  out["params"] = params;
  out["dtypes"] = std::move(dtypes);
  if (!summary) return;
  json groups = json::array();
  for (const auto& g : safetensors_cli::group_tensors(rows)) {
    json shape = json::array();
    for (const std::uint64_t d : g.shape) shape.push_back(d);
    groups.push_back({{"name", g.name},
                      {"dtype", std::string(st::to_string(g.dtype))},
                      {"shape", std::move(shape)},
                      {"count", g.count},
                      {"params", g.params},
                      {"bytes", g.bytes}});
  }
  out["groups"] = std::move(groups);
}

std::vector<safetensors_cli::tensor_row> rows_of(const st::header& h) {
  std::vector<safetensors_cli::tensor_row> rows;
  for (const st::tensor_info t : h.tensors())
    rows.push_back(safetensors_cli::row_of(std::string(t.name()), t));
  return rows;
}

/// The table; `values` (one entry per tensor in offset order) adds a column when not empty;
/// `summary` prints the --summary groups instead of the tensors.
void print_table(const std::string& path, const st::header& h,
                 const std::vector<std::string>& values = {}, bool summary = false) {
  std::cout << "file:     " << path << "\n"
            << "header:   " << h.header_size() << " bytes (data starts at byte " << h.data_offset()
            << ")\n"
            << "data:     " << bytes_text(h.data_size()) << " in " << h.size()
            << (h.size() == 1 ? " tensor\n" : " tensors\n");
  const auto tensor_rows = rows_of(h);
  print_params(tensor_rows);
  if (!h.metadata()) {
    std::cout << "metadata: none\n";
  } else {
    std::cout << "metadata: " << h.metadata()->size()
              << (h.metadata()->size() == 1 ? " key\n" : " keys\n");
    for (const auto& [key, value] : *h.metadata()) {
      std::cout << "  " << printable(key) << ": "
                << safetensors_cli::shortened(printable(value), metadata_value_width) << "\n";
    }
  }
  if (h.empty()) return;
  if (summary) return print_groups(tensor_rows);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"name", "dtype", "shape", "offsets", "bytes"});
  if (!values.empty()) rows.back().push_back("values");
  std::size_t i = 0;
  for (const st::tensor_info t : h.tensors()) {
    rows.push_back(
        {printable(t.name()), std::string(st::to_string(t.dtype())), shape_text(t.shape()),
         "[" + std::to_string(t.offsets().begin) + ", " + std::to_string(t.offsets().end) + ")",
         std::to_string(t.byte_size())});
    if (!values.empty()) rows.back().push_back(values[i++]);
  }
  print_rows(rows);
}

// ---- Sharded checkpoints (docs/index.md#sharded-checkpoints) --------------------------------
//
// A FILE of inspect or validate, and split's IN, is a checkpoint when it is a directory or an
// index file (is_checkpoint_path); merge always reads a checkpoint.

/// True when `path` names a checkpoint rather than one safetensors file: a directory or a
/// `.json` index.
bool is_checkpoint_path(const std::string& path) {
#ifdef SAFETENSORS_CLI_HTTP
  if (st::detail::http_url(path)) {  // an index URL; a directory has no URL
    const std::string p = path.substr(0, path.find_first_of("?#"));
    return p.size() > 5 && p.compare(p.size() - 5, 5, ".json") == 0;
  }
#endif
  std::error_code ec;
  const std::filesystem::path p(path);
  return std::filesystem::is_directory(p, ec) || p.extension() == ".json";
}

/// The one place paths are opened as a checkpoint (a directory, an index, one file) or, with
/// SAFETENSORS_CLI_HTTP, as a URL (an index URL or a file's; shards read with pread or ranges).
st::result<st::checkpoint> open_checkpoint(const std::string& path,
                                           const st::checkpoint_options& options) {
#ifdef SAFETENSORS_CLI_HTTP
  if (st::detail::http_url(path)) return st::open_http_checkpoint(path, url_options(), options);
#endif
  return st::checkpoint::open(path, options);
}

/// The one place a single file is opened for reading: pread, or with SAFETENSORS_CLI_HTTP, a URL
/// read with range requests (only the header and the bytes printed are fetched).
st::result<st::source_reader> open_file(const std::string& path, const st::parse_options& parse) {
#ifdef SAFETENSORS_CLI_HTTP
  if (st::detail::http_url(path)) {
    auto source = st::http_source::open(path, url_options());
    if (!source) return source.error();
    return st::source_reader::open(std::move(*source), parse);
  }
#endif
  return st::source_reader::open(path, parse);
}

/// "error: <Name>: '<path>': <detail>" for one verify problem.
void report_problem(const std::string& path, const st::error& e) {
  std::cerr << "error: " << e.name() << ": '" << shown(path) << "': " << in_flags(e.message())
            << "\n";
}

/// The index metadata as one line of compact JSON (strings are valid UTF-8: parsed).
std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int inspect_checkpoint(const std::string& path, bool json, bool summary,
                       const st::checkpoint_options& options) {
  auto ckpt = open_checkpoint(path, options);
  if (!ckpt) return report(ckpt.error());
  if (!ckpt->sharded()) {  // a directory with one model.safetensors: the file's own output
    auto shard = ckpt->shard(0);
    if (!shard) return report(shard.error());
    if (json) {
      auto out = to_json(shard->header());
      add_summary_json(out, rows_of(shard->header()), summary);
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      print_table(std::filesystem::path(shard->path()).string(), shard->header(), {}, summary);
    }
    return exit_ok;
  }
  std::vector<st::shard_view> shards;
  for (std::size_t i = 0; i < ckpt->shard_count(); ++i) {
    auto s = ckpt->shard(i);
    if (!s) return report(s.error());
    shards.push_back(*s);
  }
  const auto& index = ckpt->index();
  if (json) {
    nlohmann::ordered_json out;
    out["index"] = shown(ckpt->index_path().empty() ? path : ckpt->index_path().string());
    out["metadata"] = *index.metadata;
    if (const auto total = index.total_size()) {
      out["total_size"] = *total;
    } else {
      out["total_size"] = nullptr;
    }
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& s : shards) {
      const st::header& h = s.header();
      nlohmann::ordered_json md = nullptr;
      if (h.metadata()) {
        md = nlohmann::ordered_json::object();
        for (const auto& [key, value] : *h.metadata()) md[key] = value;
      }
      files.push_back({{"file", s.file_name()},
                       {"header_size", h.header_size()},
                       {"file_size", h.file_size()},
                       {"metadata", std::move(md)}});
    }
    out["shards"] = std::move(files);
    nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
    std::vector<safetensors_cli::tensor_row> summary_rows;
    for (const auto& e : ckpt->entries()) {
      auto t = shards[e.shard].header().find(e.name);
      if (!t) {
        return report(st::error(st::errc::tensor_not_found,
                                "tensor '" + printable(e.name) + "' is listed in shard '" +
                                    printable(shards[e.shard].file_name()) +
                                    "', which does not hold it"));
      }
      summary_rows.push_back(safetensors_cli::row_of(e.name, *t));
      nlohmann::ordered_json shape = nlohmann::ordered_json::array();
      for (const std::uint64_t d : t->shape()) shape.push_back(d);
      tensors.push_back({{"name", e.name},
                         {"dtype", std::string(st::to_string(t->dtype()))},
                         {"shape", std::move(shape)},
                         {"data_offsets", {t->offsets().begin, t->offsets().end}},
                         {"shard", shards[e.shard].file_name()}});
    }
    out["tensors"] = std::move(tensors);
    add_summary_json(out, summary_rows, summary);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  std::uint64_t bytes = 0;
  std::vector<std::array<std::string, 5>> rows;
  std::vector<safetensors_cli::tensor_row> summary_rows;
  rows.push_back({"name", "dtype", "shape", "bytes", "shard"});
  for (const auto& e : ckpt->entries()) {
    auto t = shards[e.shard].header().find(e.name);
    if (!t) {
      return report(st::error(st::errc::tensor_not_found,
                              "tensor '" + printable(e.name) + "' is listed in shard '" +
                                  printable(shards[e.shard].file_name()) +
                                  "', which does not hold it"));
    }
    bytes += t->byte_size();
    summary_rows.push_back(safetensors_cli::row_of(e.name, *t));
    rows.push_back({printable(e.name), std::string(st::to_string(t->dtype())),
                    shape_text(t->shape()), std::to_string(t->byte_size()),
                    printable(shards[e.shard].file_name())});
  }
  std::cout << "index:    "
            << shown(ckpt->index_path().empty() ? path : ckpt->index_path().string()) << "\n"
            << "tensors:  " << ckpt->size() << " (" << bytes << (bytes == 1 ? " byte" : " bytes");
  if (bytes >= 1000) std::cout << ", " << safetensors_cli::human_size(bytes);
  if (const auto total = index.total_size()) std::cout << "; total_size " << *total;
  std::cout << ")\n";
  print_params(summary_rows);
  if (!index.metadata->is_object()) {
    std::cout << "metadata: none\n";
  } else {
    std::cout << "metadata: " << index.metadata->size()
              << (index.metadata->size() == 1 ? " key\n" : " keys\n");
    for (const auto& [key, value] : index.metadata->items()) {
      std::cout << "  " << printable(key) << ": "
                << safetensors_cli::shortened(printable(json_line(value)), metadata_value_width)
                << "\n";
    }
  }
  // The shards in a section of their own, after the metadata: not read as metadata keys.
  std::cout << "shards:   " << shards.size() << "\n";
  for (const auto& s : shards) {
    const st::header& h = s.header();
    std::cout << "  " << printable(s.file_name()) << ": " << h.size()
              << (h.size() == 1 ? " tensor, " : " tensors, ") << bytes_text(h.file_size()) << "\n";
  }
  if (summary) {
    print_groups(summary_rows);
  } else {
    print_rows(rows);
  }
  return exit_ok;
}

int validate_checkpoint(const std::string& path, const st::checkpoint_options& options) {
  auto ckpt = open_checkpoint(path, options);
  if (!ckpt) return report(ckpt.error());
  const st::verify_report r = ckpt->verify();
  if (!r.ok()) {
    for (const auto& e : r.problems) report_problem(path, e);
    return exit_invalid;
  }
  std::cout << shown(path) << ": OK (" << r.tensor_count
            << (r.tensor_count == 1 ? " tensor, " : " tensors, ") << r.tensor_bytes << " bytes in "
            << r.shards_opened << (r.shards_opened == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}

int split_command(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  st::sharded_write_options options;
  if (const std::string* v = args.get("--max-shard-size")) {
    auto size = max_shard_size_of(*v);
    if (!size) return usage_error(command.name, size.error().message());
    options.max_shard_size = *size;
  }
  // --prefix names the output files, and the model read when IN is a directory.
  if (settings->prefix) options.prefix = *settings->prefix;
  options.write.max_header_size = settings->parse.max_header_size;
  options.write.progress = terminal_progress("split");
  const std::string& in = args.positional[0];
  const std::filesystem::path out(args.positional[1]);

  // The tensors in the input's order (offset order for a file), read through pread as the
  // shards are written: memory stays bounded. The input's __metadata__ goes into every shard
  // as it is, so that merge gives back the same bytes.
  std::vector<st::tensor_spec> specs;
  std::optional<st::source_reader> reader;
  std::optional<st::checkpoint> ckpt;
  if (is_checkpoint_path(in)) {
    auto c = st::checkpoint::open(in, settings->checkpoint());
    if (!c) return report(c.error());
    ckpt.emplace(std::move(*c));
    auto s = ckpt->specs();
    if (!s) return report(s.error());
    specs = std::move(*s);
    auto md = ckpt->merged_metadata();
    if (!md) return report(md.error());
    options.shard_metadata = std::move(*md);
  } else {
    auto r = st::source_reader::open(in, settings->parse);
    if (!r) return report(r.error());
    reader.emplace(std::move(*r));
    const st::source_reader* src = &*reader;
    for (const st::tensor_info t : src->header().tensors()) {
      st::tensor_spec spec;
      spec.name = std::string(t.name());
      spec.dtype = t.dtype();
      spec.shape.assign(t.shape().begin(), t.shape().end());
      const std::uint64_t base = src->header().data_offset() + t.offsets().begin;
      spec.producer = [src, base](std::uint64_t offset, st::span<std::byte> dst) {
        return src->source().read_at(base + offset, dst.data(), dst.size());
      };
      specs.push_back(std::move(spec));
    }
    options.shard_metadata = src->header().metadata();
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::cerr << "error: IoError: cannot create directory '" << out.string()
              << "': " << ec.message() << "\n";
    return exit_usage;
  }
  const auto before = safetensors_cli::checkpoint_files(out, options.prefix);
  auto layout = st::save_sharded(out, specs, options);
  if (!layout) return report(layout.error());
  std::cout << "wrote " << layout->shard_count()
            << (layout->shard_count() == 1 ? " file" : " shards") << " (" << specs.size()
            << (specs.size() == 1 ? " tensor, " : " tensors, ") << layout->total_size()
            << " bytes) to " << out.string() << "\n";
  for (const auto& name : layout->shards()) std::cout << "  " << name << "\n";
  if (layout->sharded()) std::cout << "  " << options.prefix << ".safetensors.index.json\n";
  std::cout << safetensors_cli::removed_text(safetensors_cli::removed_files(out, before));
  return exit_ok;
}

int merge_command(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  const std::string& in = args.positional[0];
  const std::string& out = args.positional[1];
  auto ckpt = st::checkpoint::open(in, settings->checkpoint());
  if (!ckpt) return report(ckpt.error());
  st::write_options options;
  options.max_header_size = settings->parse.max_header_size;
  options.progress = terminal_progress("merge");
  if (auto r = st::merge_checkpoint(*ckpt, out, options); !r) return report(r.error());
  std::cout << "wrote " << out << " (" << ckpt->size()
            << (ckpt->size() == 1 ? " tensor from " : " tensors from ") << ckpt->shard_count()
            << (ckpt->shard_count() == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}

int inspect(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  const std::string& path = args.positional[0];
  const bool json = args.has("--json");
  const bool summary = args.has("--summary");
  std::optional<std::uint64_t> values;
  if (const std::string* v = args.get("--values")) {
    std::uint64_t k = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), k);
    if (v->empty() || ec != std::errc() || end != v->data() + v->size()) {
      return usage_error(command.name, "--values needs a count, got " + quote_arg(*v));
    }
    values = k;
    if (summary) return usage_error(command.name, "--values and --summary exclude each other");
  }
  if (is_checkpoint_path(path)) {
    if (values) {
      return usage_error(command.name,
                         "--values takes a single safetensors FILE, not a checkpoint");
    }
    return inspect_checkpoint(path, json, summary, settings->checkpoint());
  }
  auto reader = open_file(path, settings->parse);
  if (!reader) return report(reader.error());
  // The first K values of each tensor: only those bytes are read.
  std::vector<nlohmann::ordered_json> value_json;
  std::vector<std::string> value_text;
  if (values) {
    for (const st::tensor_info t : reader->header().tensors()) {
      auto bytes = safetensors_cli::read_value_prefix(*reader, t, *values);
      if (!bytes) return report(bytes.error());
      if (json) {
        auto v = safetensors_cli::values_json(t, *bytes, *values);
        if (!v) return report(v.error());
        value_json.push_back(std::move(*v));
      } else {
        auto v = safetensors_cli::values_text(t, *bytes, *values);
        if (!v) return report(v.error());
        value_text.push_back(std::move(*v));
      }
    }
  }
  if (json) {
    auto out = to_json(reader->header());
    for (std::size_t i = 0; i < value_json.size(); ++i) {
      out["tensors"][i]["values"] = std::move(value_json[i]);
    }
    add_summary_json(out, rows_of(reader->header()), summary);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_table(shown(path), reader->header(), value_text, summary);
  }
  return exit_ok;
}

int validate(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  int status = exit_ok;
  for (const auto& path : args.positional) {
    if (is_checkpoint_path(path)) {
      status = std::max(status, validate_checkpoint(path, settings->checkpoint()));
      continue;
    }
    auto reader = open_file(path, settings->parse);
    if (!reader) {
      status = std::max(status, report(reader.error()));
      continue;
    }
    const st::header& h = reader->header();
    std::cout << shown(path) << ": OK (" << h.size() << (h.size() == 1 ? " tensor, " : " tensors, ")
              << h.file_size() << " bytes)\n";
  }
  return status;
}

/// A small model with several dtypes, a scalar, a zero-sized tensor and metadata, written with
/// the library's writer.
st::result<void> write_demo_model(const std::filesystem::path& file) {
  // Little-endian bytes, spelled out so that the demo is the same on every host.
  static const std::uint8_t weight[24] = {
      0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x00,   // -1, -0.5, 0
      0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0xc0, 0x3f};  // 0.5, 1, 1.5
  static const std::uint8_t bias[8] = {0x80, 0x3f, 0x00, 0x40, 0x00, 0xbf, 0x80, 0x3e};  // BF16
  static const std::uint8_t step[8] = {42, 0, 0, 0, 0, 0, 0, 0};
  static const std::uint8_t mask[3] = {1, 0, 1};
  static const std::uint8_t fp4[2] = {0x21, 0x43};
  const auto bytes = [](const std::uint8_t* p, std::size_t n) {
    return st::span<const std::byte>(reinterpret_cast<const std::byte*>(p), n);
  };
  const std::vector<st::tensor_spec> tensors{
      {"encoder.layer.0.weight", st::dtype::F32, {2, 3}, bytes(weight, 24), {}},
      {"encoder.layer.0.bias", st::dtype::BF16, {4}, bytes(bias, 8), {}},
      {"step", st::dtype::I64, {}, bytes(step, 8), {}},
      {"mask", st::dtype::BOOL, {3}, bytes(mask, 3), {}},
      {"packed.fp4", st::dtype::F4, {2, 2}, bytes(fp4, 2), {}},
      {"empty", st::dtype::U8, {0}, {}, {}},
  };
  const st::metadata_map metadata{{"format", "pt"}, {"description", "safetensors-cli demo model"}};
  return st::save_file(file, tensors, metadata);
}

/// --align: a number the writer takes as an alignment (InvalidArgument with the usage problem).
st::result<std::uint64_t> alignment_of(const std::string& v) {
  std::uint64_t align = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), align);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    return st::error(st::errc::invalid_argument, "--align needs a number, got " + quote_arg(v));
  }
  // The writer decides which alignments it takes: ask it before reading anything.
  st::write_options check;
  check.alignment = align;
  if (auto plan = st::write_plan::create({}, std::nullopt, check); !plan) return plan.error();
  return align;
}

int rewrite(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  st::write_options options;
  if (const std::string* v = args.get("--align")) {
    auto align = alignment_of(*v);
    if (!align) return usage_error(command.name, align.error().message());
    options.alignment = *align;
  }
  options.max_header_size = settings->parse.max_header_size;
  const std::string& in_path = args.positional[0];
  const std::string& out_path = args.positional[1];
  auto in = st::mapped_file::open(in_path, settings->parse);
  if (!in) return report(in.error());
  std::vector<st::tensor_spec> tensors;
  tensors.reserve(in->size());
  for (const st::tensor_info& info : in->tensors())
    tensors.push_back(st::to_spec(in->tensor(info)));
  options.progress = terminal_progress("rewrite");
  // The output is written to a temporary file and renamed: OUT may be IN. The input was valid:
  // failing to write it is an I/O problem (exit 2), whatever the error.
  if (auto r = st::save_file(out_path, tensors, in->metadata(), options); !r) {
    return print_error(r.error(), exit_usage);
  }
  std::cout << "wrote " << out_path << " (" << tensors.size()
            << (tensors.size() == 1 ? " tensor)\n" : " tensors)\n");
  return exit_ok;
}

int demo(const command_spec&, const parsed_args& args) {
  std::filesystem::path dir;
  std::error_code ec;
  if (args.positional.empty()) {
    dir = std::filesystem::temp_directory_path(ec) / "safetensors-cli-demo";
  } else {
    dir = args.positional[0];
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::cerr << "error: IoError: cannot create directory '" << dir.string()
              << "': " << ec.message() << "\n";
    return exit_usage;
  }
  const std::filesystem::path file = dir / "demo.safetensors";
  if (auto r = write_demo_model(file); !r) return report(r.error());
  std::cout << "wrote " << file.string() << "\n\n";
  auto reader = st::source_reader::open(file);
  if (!reader) return report(reader.error());
  print_table(file.string(), reader->header());
  return exit_ok;
}

/// convert IN OUT (docs/cli.md#convert).
int convert_command(const command_spec& command, const parsed_args& args) {
  const std::string_view name = command.name;
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(name, settings.error().message());
  safetensors_cli::convert_selection selection;
  safetensors_cli::convert_output output;
  // Every option is checked before the input is opened.
  if (const std::string* v = args.get("--dtype")) {
    auto d = safetensors_cli::dtype_of(*v);
    if (!d) return usage_error(name, "--dtype: " + d.error().message());
    selection.cast = *d;
  }
  const auto from = args.get_all("--dtype-from");
  if (!from.empty() && !selection.cast) {
    return usage_error(name, "--dtype-from needs --dtype, the dtype to cast to");
  }
  selection.cast_from = safetensors_cli::float_dtypes();
  if (!from.empty()) {
    selection.cast_from.clear();
    for (const std::string& list : from) {
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        auto d = safetensors_cli::dtype_of(list.substr(at, comma - at));
        if (!d) return usage_error(name, "--dtype-from: " + d.error().message());
        selection.cast_from.push_back(*d);
        at = comma + 1;
      }
    }
  }
  for (const char* option : {"--include", "--exclude"}) {
    for (const std::string& glob : args.get_all(option)) {
      if (auto r = safetensors_cli::check_glob(glob); !r) {
        return usage_error(name, std::string(option) + ": " + r.error().message());
      }
      (option[2] == 'i' ? selection.include : selection.exclude).push_back(glob);
    }
  }
  for (const std::string& rule : args.get_all("--rename")) {
    const std::size_t eq = rule.find('=');
    if (eq == std::string::npos) {
      return usage_error(name, "--rename needs FROM=TO, got " + quote_arg(rule));
    }
    selection.renames.push_back({rule.substr(0, eq), rule.substr(eq + 1)});
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  for (const std::string& entry : args.get_all("--metadata")) {
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return usage_error(name, "--metadata needs KEY=VALUE, got " + quote_arg(entry));
    }
    metadata.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  if (const std::string* v = args.get("--max-shard-size")) {
    auto size = max_shard_size_of(*v);
    if (!size) return usage_error(name, size.error().message());
    output.max_shard_size = *size;
  }
  if (const std::string* v = args.get("--chunk-size")) {
    auto size = safetensors_cli::parse_size(*v);
    if (!size || *size == 0 || *size > (std::uint64_t{1} << 40)) {
      return usage_error(name, "--chunk-size: " + (size ? "the size " + quote_arg(*v) +
                                                              " is not from 1 byte to 1TiB"
                                                        : size.error().message()));
    }
    output.piece_bytes = static_cast<std::size_t>(*size);
  }
  if (const std::string* v = args.get("--align")) {
    auto align = alignment_of(*v);
    if (!align) return usage_error(name, align.error().message());
    output.write.alignment = *align;
  }
  output.write.max_header_size = settings->parse.max_header_size;
  if (settings->prefix) output.prefix = *settings->prefix;
  output.path = args.positional[1];

  auto in = open_checkpoint(args.positional[0], settings->checkpoint());
  if (!in) return report(in.error());
  auto plan = safetensors_cli::plan_convert(*in, selection);
  if (!plan) {
    if (plan.error().code() == st::errc::invalid_argument) {
      return usage_error(name, plan.error().message());
    }
    return report(plan.error());
  }
  auto merged = in->merged_metadata();
  if (!merged) return report(merged.error());
  output.metadata = std::move(*merged);
  for (auto& [key, value] : metadata) {
    if (!output.metadata) output.metadata.emplace();
    (*output.metadata)[key] = value;
  }
  const auto before = output.max_shard_size
                          ? safetensors_cli::checkpoint_files(output.path, output.prefix)
                          : std::vector<std::filesystem::path>{};
  output.progress = terminal_progress("convert");
  auto r = safetensors_cli::run_convert(*in, *plan, output);
  end_progress_line();
  // Every shard read was opened and validated above: a failure now is reading its bytes (an
  // IoError) or writing OUT, which exits with 2 whatever the error, as for rewrite.
  if (!r) return print_error(r.error(), exit_usage);
  const std::size_t n = plan->tensors.size();
  std::cout << "wrote " << output.path.string();
  if (output.max_shard_size) {
    std::cout << " (" << r->files.size() - (r->files.size() > 1 ? 1 : 0)
              << (r->files.size() == 1 ? " file" : " shards") << ")";
  }
  std::cout << ": " << n << (n == 1 ? " tensor" : " tensors");
  if (selection.cast) {
    std::cout << " (" << plan->cast << " cast to " << st::to_string(*selection.cast) << ")";
  }
  std::cout << ", " << r->report.bytes_read << " -> " << r->report.bytes_written << " bytes ("
            << safetensors_cli::human_size(r->report.bytes_read) << " -> "
            << safetensors_cli::human_size(r->report.bytes_written) << ")\n";
  if (output.max_shard_size) {
    for (const auto& file : r->files) std::cout << "  " << printable(file) << "\n";
    std::cout << safetensors_cli::removed_text(safetensors_cli::removed_files(output.path, before));
  }
  return exit_ok;
}

/// Progress on stderr for diff and stats: terminal_progress, left out with `quiet`.
std::function<void(std::uint64_t, std::uint64_t)> load_progress_of(const char* what, bool quiet) {
  if (quiet) return {};
  return terminal_progress(what);
}

/// diff A B (docs/cli.md#diff): exit 0 identical, 1 different, 2 on any error (as cmp does, so
/// that 1 only ever means "different").
int diff_command(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  const bool json = args.has("--json");
  const bool quiet = args.has("--quiet") || args.has("-q");
  safetensors_cli::diff_settings ds;
  for (const char* option : {"--atol", "--rtol"}) {
    if (const std::string* v = args.get(option)) {
      char* end = nullptr;
      const double x = std::strtod(v->c_str(), &end);
      if (v->empty() || end != v->c_str() + v->size() || !(x >= 0) || std::isinf(x)) {
        return usage_error(
            command.name,
            std::string(option) + " needs a number from 0 up (such as 1e-3), got " + quote_arg(*v));
      }
      (option[2] == 'a' ? ds.atol : ds.rtol) = x;
    }
  }
  // Mapped: the comparison reads both sides in place (examples/cli_diff.hpp).
  st::checkpoint_options options = settings->checkpoint();
  options.access = st::shard_access::mapped;
  const std::string& a_path = args.positional[0];
  const std::string& b_path = args.positional[1];
  auto a = open_checkpoint(a_path, options);
  if (!a) return print_error(a.error(), exit_usage);
  auto b = open_checkpoint(b_path, options);
  if (!b) return print_error(b.error(), exit_usage);
  ds.stop_at_first = quiet;
  ds.progress = load_progress_of("diff", quiet);
  auto r = safetensors_cli::diff(*a, *b, ds);
  end_progress_line();
  if (!r) return print_error(r.error(), exit_usage);
  if (!quiet) {
    if (json) {
      std::cout << safetensors_cli::diff_json(*r, shown(a_path), shown(b_path))
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    } else {
      std::cout << safetensors_cli::diff_text(*r);
    }
  }
  return r->identical() ? exit_ok : exit_invalid;
}

/// stats FILE (docs/cli.md#stats).
int stats_command(const command_spec& command, const parsed_args& args) {
  auto settings = read_settings_of(args);
  if (!settings) return usage_error(command.name, settings.error().message());
  std::optional<std::regex> filter;
  if (const std::string* v = args.get("--filter")) {
    try {
      filter.emplace(*v, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      const std::string why = e.what();
      return usage_error(command.name, "--filter: " + quote_arg(*v) +
                                           " is not a regular expression (" + why + ")");
    }
  }
  // Mapped: F64, integer and F32 chunks are summarized in place (examples/cli_stats.hpp).
  st::checkpoint_options options = settings->checkpoint();
  options.access = st::shard_access::mapped;
  const std::string& path = args.positional[0];
  auto ckpt = open_checkpoint(path, options);
  if (!ckpt) return report(ckpt.error());
  std::vector<std::string> names;
  for (const auto& e : ckpt->entries()) {
    if (!filter || std::regex_search(e.name, *filter)) names.push_back(e.name);
  }
  safetensors_cli::stats_settings ss;
  ss.progress = terminal_progress("stats");
  auto rows = safetensors_cli::stats(*ckpt, names, ss);
  end_progress_line();
  if (!rows) return report(rows.error());
  if (args.has("--json")) {
    std::cout << safetensors_cli::stats_json(shown(path), *rows)
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
    return exit_ok;
  }
  std::cout << shown(path) << ": " << rows->size() << (rows->size() == 1 ? " tensor" : " tensors")
            << (filter ? " matching the filter\n" : "\n");
  if (!rows->empty()) print_rows(safetensors_cli::stats_rows(*rows));
  for (const auto& t : *rows) {
    if (t.skipped) {
      std::cout << "\nC64 tensors are not summarized (complex values have no order).\n";
      break;
    }
  }
  return exit_ok;
}

/// Runs one command on its (already parsed) arguments.
int run(const command_spec& command, const parsed_args& args) {
  const std::string_view name = command.name;
  if (name == "inspect") return inspect(command, args);
  if (name == "validate") return validate(command, args);
  if (name == "rewrite") return rewrite(command, args);
  if (name == "split") return split_command(command, args);
  if (name == "convert") return convert_command(command, args);
  if (name == "merge") return merge_command(command, args);
  if (name == "diff") return diff_command(command, args);
  if (name == "stats") return stats_command(command, args);
  return demo(command, args);
}

/// `help [COMMAND]`, `--help [COMMAND]`, `-h [COMMAND]`: on stdout, exit 0.
int help(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cout << usage_text();
    return exit_ok;
  }
  if (args.size() > 1) {
    return usage_error("", "help takes at most one COMMAND, got " + quote_arg(args[1]) + " too");
  }
  const command_spec* command = find_command(args[0]);
  if (command == nullptr) {
    return usage_error("", "unknown command " + quote_arg(args[0]));
  }
  std::cout << safetensors_cli::command_help(*command);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // No command: the usage, as a usage error (a script that lost its arguments fails).
  if (args.empty()) {
    std::cerr << usage_text();
    return exit_usage;
  }
  const std::string first = args.front();
  args.erase(args.begin());
  if (first == "help" || first == "-h" || first == "--help") return help(args);
  if (first == "--version") {
    if (!args.empty()) {
      return usage_error("", "--version takes no arguments, got " + quote_arg(args[0]));
    }
    std::cout << version_text();
    return exit_ok;
  }
  if (first.size() > 1 && first[0] == '-') {
    return usage_error("", "unknown option " + quote_arg(first));
  }
  const command_spec* command = find_command(first);
  if (command == nullptr) {
    return usage_error("", "unknown command " + quote_arg(first));
  }
  auto parsed = safetensors_cli::parse_args(*command, args);
  if (!parsed) return usage_error(command->name, parsed.error().message());
  if (parsed->help) {
    std::cout << safetensors_cli::command_help(*command);
    return exit_ok;
  }
  return run(*command, *parsed);
}
