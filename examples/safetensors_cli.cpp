// safetensors-cli: inspect and validate safetensors files (contract: DESIGN.md §5).
//
//   safetensors-cli inspect FILE [--json]   the tensor table and metadata
//   safetensors-cli validate FILE...        checks each file
//   safetensors-cli demo [DIR]              writes a small demo model and inspects it
//
// Exit codes: 0 valid; 1 an invalid file (first stderr line "error: <Name>: <detail>");
// 2 usage errors and files that cannot be opened.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "test_writer.hpp"  // the demo's writer until the library's writer lands

namespace {

namespace st = safetensors;

constexpr int exit_ok = 0;
constexpr int exit_invalid = 1;
constexpr int exit_usage = 2;

const char* const usage_text =
    "usage:\n"
    "  safetensors-cli inspect FILE [--json]   print the tensor table and metadata\n"
    "  safetensors-cli validate FILE...        check each file (exit 1 if any is invalid)\n"
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

/// A name made printable for the table: control bytes escaped as \xNN.
std::string printable(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

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

void print_table(const std::string& path, const st::header& h) {
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
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"name", "dtype", "shape", "offsets", "bytes"});
  for (const st::tensor_info t : h.tensors()) {
    rows.push_back(
        {printable(t.name()), std::string(st::to_string(t.dtype())), shape_text(t.shape()),
         "[" + std::to_string(t.offsets().begin) + ", " + std::to_string(t.offsets().end) + ")",
         std::to_string(t.byte_size())});
  }
  std::array<std::size_t, 5> width{};
  for (const auto& row : rows) {
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

int inspect(const std::vector<std::string>& args) {
  std::string path;
  bool json = false;
  for (const auto& a : args) {
    if (a == "--json") {
      json = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("inspect: unknown option " + a);
    } else if (path.empty()) {
      path = a;
    } else {
      return usage_error("inspect takes one FILE");
    }
  }
  if (path.empty()) return usage_error("inspect needs a FILE");
  auto reader = st::open_reader(path);
  if (!reader) return report(reader.error());
  if (json) {
    std::cout << to_json(reader->header()).dump() << "\n";
  } else {
    print_table(path, reader->header());
  }
  return exit_ok;
}

int validate(const std::vector<std::string>& args) {
  if (args.empty()) return usage_error("validate needs at least one FILE");
  int status = exit_ok;
  for (const auto& path : args) {
    auto reader = st::open_reader(path);
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

/// A small model with several dtypes, a scalar, a zero-sized tensor and metadata.
std::vector<std::uint8_t> demo_model() {
  std::vector<st_test::tensor_spec> tensors;
  st_test::tensor_spec weight{"encoder.layer.0.weight", "F32", {2, 3}, {}};
  for (int i = 0; i < 6; ++i) {
    const float v = 0.5f * static_cast<float>(i) - 1.0f;
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    for (int b = 0; b < 4; ++b) weight.data.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
  }
  tensors.push_back(weight);
  // BF16 1.0, 2.0, -0.5, 0.25
  tensors.push_back(
      {"encoder.layer.0.bias", "BF16", {4}, {0x80, 0x3f, 0x00, 0x40, 0x00, 0xbf, 0x80, 0x3e}});
  tensors.push_back({"step", "I64", {}, {42, 0, 0, 0, 0, 0, 0, 0}});
  tensors.push_back({"mask", "BOOL", {3}, {1, 0, 1}});
  tensors.push_back({"packed.fp4", "F4", {2, 2}, {0x21, 0x43}});
  tensors.push_back({"empty", "U8", {0}, {}});
  st_test::metadata_t md = std::vector<std::pair<std::string, std::string>>{
      {"format", "pt"}, {"description", "safetensors-cli demo model"}};
  return st_test::make_file(tensors, md, 8);
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
  st_test::write_file(file, demo_model());
  std::cout << "wrote " << file.string() << "\n\n";
  auto reader = st::open_reader(file);
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
  if (command == "demo") return demo(args);
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << usage_text;
    return exit_ok;
  }
  return usage_error("unknown command '" + command + "'");
}
