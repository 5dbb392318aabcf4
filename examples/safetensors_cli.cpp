// safetensors-cli: inspect and validate safetensors files (contract: docs/cli.md#safetensors-cli).
//
//   safetensors-cli inspect FILE [--json] [--values K]  the tensor table and metadata (and the
//                                           first K values of each tensor)
//   safetensors-cli validate FILE...        checks each file
//   safetensors-cli split IN OUTDIR [--max-shard-size SIZE] [--prefix NAME]
//   safetensors-cli merge INDEX|DIR OUT     sharded checkpoints (FILE may also be an index
//                                           file or a model directory for inspect and validate)
//   safetensors-cli rewrite IN OUT [--align A]  re-serializes IN canonically into OUT (atomic)
//   safetensors-cli demo [DIR]              writes a small demo model and inspects it
//
// Exit codes: 0 valid; 1 an invalid file (first stderr line "error: <Name>: <detail>");
// 2 usage errors and files that cannot be opened.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli_size.hpp"
#include "cli_values.hpp"

#if defined(_WIN32)
#include <io.h>
#define SAFETENSORS_CLI_ISATTY(fd) _isatty(fd)
#else
#include <unistd.h>
#define SAFETENSORS_CLI_ISATTY(fd) isatty(fd)
#endif

namespace {

namespace st = safetensors;

constexpr int exit_ok = 0;
constexpr int exit_invalid = 1;
constexpr int exit_usage = 2;

const char* const usage_text =
    "usage:\n"
    "  safetensors-cli inspect FILE [--json] [--values K]\n"
    "                                          print the tensor table and metadata, and the\n"
    "                                          first K values of each tensor as numbers\n"
    "  safetensors-cli validate FILE...        check each file (exit 1 if any is invalid)\n"
    "  safetensors-cli split IN OUTDIR [--max-shard-size SIZE] [--prefix NAME]\n"
    "                                          write IN as shards + index (SIZE: 5GB default,\n"
    "                                          500MB, 10GiB, bytes)\n"
    "  safetensors-cli merge INDEX|DIR OUT     write a sharded checkpoint as one file\n"
    "  (FILE may also be a model directory or a .safetensors.index.json for inspect/validate)\n"
    "  safetensors-cli rewrite IN OUT [--align A]\n"
    "                                          write IN canonically (sorted, padded, aligned to A\n"
    "                                          bytes, default 8) into OUT, atomically\n"
    "  safetensors-cli demo [DIR]              write a small demo model and inspect it\n"
    "exit codes: 0 valid, 1 invalid file, 2 usage error or file that cannot be opened\n";

int usage_error(const std::string& message) {
  std::cerr << "error: usage: " << message << "\n" << usage_text;
  return exit_usage;
}

/// Prints "error: <Name>: <detail>" and returns the exit code for that error.
int report(const st::error& e) {
  std::cerr << "error: " << e.name() << ": " << e.message() << "\n";
  return e.code() == st::errc::io_error ? exit_usage : exit_invalid;
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

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
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
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::cout << "\n";
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : pad(row[c], width[c] + 2);
    }
    std::cout << line << "\n";
  }
}

/// The table; `values` (one entry per tensor in offset order) adds a column when not empty.
void print_table(const std::string& path, const st::header& h,
                 const std::vector<std::string>& values = {}) {
  std::cout << "file:     " << path << "\n"
            << "header:   " << h.header_size() << " bytes (data starts at byte " << h.data_offset()
            << ")\n"
            << "data:     " << h.data_size() << " bytes in " << h.size()
            << (h.size() == 1 ? " tensor\n" : " tensors\n");
  if (!h.metadata()) {
    std::cout << "metadata: none\n";
  } else {
    std::cout << "metadata: " << h.metadata()->size()
              << (h.metadata()->size() == 1 ? " key\n" : " keys\n");
    for (const auto& [key, value] : *h.metadata()) {
      std::cout << "  " << printable(key) << ": " << printable(value) << "\n";
    }
  }
  if (h.empty()) return;
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

// Sharded checkpoints (docs/cli.md, docs/index.md#sharded-checkpoints), with the library's
// section 8:
//
//   inspect PATH [--json]      PATH may be a directory or an index file (is_checkpoint_path)
//   validate PATH...           a checkpoint PATH runs checkpoint::verify and lists every problem
//   split IN OUTDIR [--max-shard-size SIZE] [--prefix NAME]
//   merge INDEX|DIR OUT
//
// Exit codes as everywhere: 0 valid, 1 invalid (first stderr line "error: <Name>: <detail>"),
// 2 usage errors and files that cannot be opened.

/// True when `path` names a checkpoint rather than one safetensors file: a directory or a
/// `.json` index.
bool is_checkpoint_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p(path);
  return std::filesystem::is_directory(p, ec) || p.extension() == ".json";
}

/// "error: <Name>: '<path>': <detail>" for one verify problem.
void report_problem(const std::string& path, const st::error& e) {
  std::cerr << "error: " << e.name() << ": '" << path << "': " << e.message() << "\n";
}

/// The index metadata as one line of compact JSON (strings are valid UTF-8: parsed).
std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int inspect_checkpoint(const std::string& path, bool json) {
  st::checkpoint_options options;
  options.access = st::shard_access::reader;  // headers only: nothing is mapped
  auto ckpt = st::checkpoint::open(path, options);
  if (!ckpt) return report(ckpt.error());
  if (!ckpt->sharded()) {  // a directory with one model.safetensors: the file's own output
    auto shard = ckpt->shard(0);
    if (!shard) return report(shard.error());
    if (json) {
      std::cout << to_json(shard->header()).dump() << "\n";
    } else {
      print_table(std::filesystem::path(shard->path()).string(), shard->header());
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
    out["index"] = ckpt->index_path().string();
    out["metadata"] = index.metadata;
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
    for (const auto& e : ckpt->entries()) {
      auto t = shards[e.shard].header().find(e.name);
      if (!t) {
        return report(st::error(st::errc::tensor_not_found,
                                "tensor '" + printable(e.name) + "' is listed in shard '" +
                                    printable(shards[e.shard].file_name()) +
                                    "', which does not hold it"));
      }
      nlohmann::ordered_json shape = nlohmann::ordered_json::array();
      for (const std::uint64_t d : t->shape()) shape.push_back(d);
      tensors.push_back({{"name", e.name},
                         {"dtype", std::string(st::to_string(t->dtype()))},
                         {"shape", std::move(shape)},
                         {"data_offsets", {t->offsets().begin, t->offsets().end}},
                         {"shard", shards[e.shard].file_name()}});
    }
    out["tensors"] = std::move(tensors);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return exit_ok;
  }
  std::uint64_t bytes = 0;
  std::vector<std::array<std::string, 5>> rows;
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
    rows.push_back({printable(e.name), std::string(st::to_string(t->dtype())),
                    shape_text(t->shape()), std::to_string(t->byte_size()),
                    printable(shards[e.shard].file_name())});
  }
  std::cout << "index:    " << ckpt->index_path().string() << "\n"
            << "shards:   " << shards.size() << "\n"
            << "tensors:  " << ckpt->size() << " (" << bytes << " bytes";
  if (const auto total = index.total_size()) std::cout << "; total_size " << *total;
  std::cout << ")\n";
  if (!index.metadata.is_object()) {
    std::cout << "metadata: none\n";
  } else {
    std::cout << "metadata: " << index.metadata.size()
              << (index.metadata.size() == 1 ? " key\n" : " keys\n");
    for (const auto& [key, value] : index.metadata.items()) {
      std::cout << "  " << printable(key) << ": " << printable(json_line(value)) << "\n";
    }
  }
  for (const auto& s : shards) {
    const st::header& h = s.header();
    std::cout << "  " << printable(s.file_name()) << ": " << h.size()
              << (h.size() == 1 ? " tensor, " : " tensors, ") << h.file_size() << " bytes\n";
  }
  print_rows(rows);
  return exit_ok;
}

int validate_checkpoint(const std::string& path) {
  st::checkpoint_options options;
  options.access = st::shard_access::reader;
  auto ckpt = st::checkpoint::open(path, options);
  if (!ckpt) return report(ckpt.error());
  const st::verify_report r = ckpt->verify();
  if (!r.ok()) {
    for (const auto& e : r.problems) report_problem(path, e);
    return exit_invalid;
  }
  std::cout << path << ": OK (" << r.tensor_count
            << (r.tensor_count == 1 ? " tensor, " : " tensors, ") << r.tensor_bytes << " bytes in "
            << r.shards_opened << (r.shards_opened == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}

int split_command(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  st::sharded_write_options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--max-shard-size" || a == "--prefix") {
      if (i + 1 == args.size()) return usage_error("split: " + a + " needs a value");
      const std::string& value = args[++i];
      if (a == "--prefix") {
        options.prefix = value;
        continue;
      }
      auto size = safetensors_cli::parse_size(value);
      if (!size) return usage_error("split: " + size.error().message());
      options.max_shard_size = *size;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("split: unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return usage_error("split takes IN and OUTDIR");
  const std::string& in = positional[0];
  const std::filesystem::path out(positional[1]);

  // The tensors in the input's order (offset order for a file), read through pread as the
  // shards are written: memory stays bounded. The input's __metadata__ goes into every shard
  // as it is, so that merge gives back the same bytes.
  std::vector<st::tensor_spec> specs;
  std::optional<st::source_reader> reader;
  std::optional<st::checkpoint> ckpt;
  if (is_checkpoint_path(in)) {
    st::checkpoint_options co;
    co.access = st::shard_access::reader;
    auto c = st::checkpoint::open(in, co);
    if (!c) return report(c.error());
    ckpt.emplace(std::move(*c));
    auto s = ckpt->specs();
    if (!s) return report(s.error());
    specs = std::move(*s);
    auto md = ckpt->merged_metadata();
    if (!md) return report(md.error());
    options.shard_metadata = std::move(*md);
  } else {
    auto r = st::source_reader::open(in);
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
  auto layout = st::save_sharded(out, specs, options);
  if (!layout) return report(layout.error());
  std::cout << "wrote " << layout->shard_count()
            << (layout->shard_count() == 1 ? " file" : " shards") << " (" << specs.size()
            << (specs.size() == 1 ? " tensor, " : " tensors, ") << layout->total_size()
            << " bytes) to " << out.string() << "\n";
  for (const auto& name : layout->shards()) std::cout << "  " << name << "\n";
  if (layout->sharded()) std::cout << "  " << options.prefix << ".safetensors.index.json\n";
  return exit_ok;
}

int merge_command(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (!a.empty() && a[0] == '-') return usage_error("merge: unknown option " + a);
  }
  if (args.size() != 2) return usage_error("merge takes INDEX|DIR and OUT");
  st::checkpoint_options co;
  co.access = st::shard_access::reader;  // pread: bounded memory, nothing mapped
  auto ckpt = st::checkpoint::open(args[0], co);
  if (!ckpt) return report(ckpt.error());
  if (auto r = st::merge_checkpoint(*ckpt, args[1]); !r) return report(r.error());
  std::cout << "wrote " << args[1] << " (" << ckpt->size()
            << (ckpt->size() == 1 ? " tensor from " : " tensors from ") << ckpt->shard_count()
            << (ckpt->shard_count() == 1 ? " file)\n" : " shards)\n");
  return exit_ok;
}

int inspect(const std::vector<std::string>& args) {
  std::string path;
  bool json = false;
  std::optional<std::uint64_t> values;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--values") {
      if (i + 1 == args.size()) return usage_error("inspect: --values needs a count");
      const std::string& v = args[++i];
      std::uint64_t k = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), k);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
        return usage_error("inspect: --values needs a count, got '" + v + "'");
      }
      values = k;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("inspect: unknown option " + a);
    } else if (path.empty()) {
      path = a;
    } else {
      return usage_error("inspect takes one FILE");
    }
  }
  if (path.empty()) return usage_error("inspect needs a FILE");
  if (is_checkpoint_path(path)) {
    if (values) return usage_error("inspect: --values takes a single safetensors FILE");
    return inspect_checkpoint(path, json);
  }
  auto reader = st::source_reader::open(path);
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
    std::cout << out.dump() << "\n";
  } else {
    print_table(path, reader->header(), value_text);
  }
  return exit_ok;
}

int validate(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("validate needs at least one FILE");
  int status = exit_ok;
  for (const auto& path : args) {
    if (is_checkpoint_path(path)) {
      status = std::max(status, validate_checkpoint(path));
      continue;
    }
    auto reader = st::source_reader::open(path);
    if (!reader) {
      status = std::max(status, report(reader.error()));
      continue;
    }
    const st::header& h = reader->header();
    std::cout << path << ": OK (" << h.size() << (h.size() == 1 ? " tensor, " : " tensors, ")
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

/// Progress on stderr, only when it is a terminal: "\rrewrite: 42% (1.2 of 2.9 GB)".
st::progress_callback terminal_progress(const char* what) {
  if (!SAFETENSORS_CLI_ISATTY(2)) return {};
  return [what, last = -1](std::uint64_t done, std::uint64_t total) mutable {
    const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    if (percent == last) return;
    last = percent;
    std::fprintf(stderr, "\r%s: %3d%% (%.2f of %.2f GB)", what, percent,
                 static_cast<double>(done) / 1e9, static_cast<double>(total) / 1e9);
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

int rewrite(const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  st::write_options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--align") {
      if (i + 1 == args.size()) return usage_error("rewrite: --align needs a value");
      const std::string& v = args[++i];
      char* end = nullptr;
      const unsigned long long align = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-') {
        return usage_error("rewrite: --align needs a number, got '" + v + "'");
      }
      options.alignment = align;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("rewrite: unknown option " + a);
    } else {
      paths.push_back(a);
    }
  }
  if (paths.size() != 2) return usage_error("rewrite takes IN and OUT");
  auto in = st::mapped_file::open(paths[0]);
  if (!in) return report(in.error());
  std::vector<st::tensor_spec> tensors;
  tensors.reserve(in->size());
  for (const st::tensor_info& info : in->tensors())
    tensors.push_back(st::to_spec(in->tensor(info)));
  options.progress = terminal_progress("rewrite");
  // The output is written to a temporary file and renamed: OUT may be IN itself.
  if (auto r = st::save_file(paths[1], tensors, in->metadata(), options); !r) {
    const st::error& e = r.error();
    // A bad --align is a usage error; the input was valid.
    if (e.code() == st::errc::invalid_argument) return usage_error("rewrite: " + e.message());
    std::cerr << "error: " << e.name() << ": " << e.message() << "\n";
    return exit_usage;  // the input was valid: failing to write it is an I/O problem
  }
  std::cout << "wrote " << paths[1] << " (" << tensors.size()
            << (tensors.size() == 1 ? " tensor)\n" : " tensors)\n");
  return exit_ok;
}

int demo(const std::vector<std::string>& args) {
  if (args.size() > 1) return usage_error("demo takes at most one DIR");
  std::filesystem::path dir;
  std::error_code ec;
  if (args.empty()) {
    dir = std::filesystem::temp_directory_path(ec) / "safetensors-cli-demo";
  } else {
    dir = args[0];
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return demo({});
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "inspect") return inspect(args);
  if (command == "validate") return validate(args);
  if (command == "rewrite") return rewrite(args);
  if (command == "demo") return demo(args);
  if (command == "split") return split_command(args);
  if (command == "merge") return merge_command(args);
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << usage_text;
    return exit_ok;
  }
  return usage_error("unknown command '" + command + "'");
}
