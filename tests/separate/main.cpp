// The separate-compilation mode (docs/design.md#separate-compilation), end to end: this
// translation unit and index.cpp include the library with SAFETENSORS_HEADER_ONLY=0 and are
// linked with src/safetensors.cpp, the one translation unit that compiles the definitions. This
// one includes the converted parts directly, to check that their declarations need neither
// nlohmann/json.hpp nor the operating system's headers, and calls the readers, the writers and
// slicing; index.cpp calls the index functions, sharded_load.cpp the sharded checkpoints, the
// loader and the conversions. Built twice: with exceptions, and every
// translation unit with -fno-exceptions.
//
// Usage: safetensors_separate DIR (a directory for the files it writes).
#include <cstdio>
#include <cstring>
#include <safetensors/parts/reader.hpp>
#include <safetensors/parts/writer.hpp>
#include <string>
#include <vector>

#if SAFETENSORS_HEADER_ONLY || SAFETENSORS_DEFINITIONS
#error "tests/separate/main.cpp is compiled with SAFETENSORS_HEADER_ONLY=0"
#endif
#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "the declarations of the converted parts include nlohmann/json.hpp"
#endif
#if defined(__linux__) && (defined(O_RDONLY) || defined(PROT_READ))
#error "the declarations of platform.hpp include the operating system's headers"
#endif
#if defined(_WIN32) && defined(_WINDOWS_)
#error "the declarations of platform.hpp include <windows.h>"
#endif

namespace st = safetensors;

std::string separate_index_roundtrip();  // index.cpp: "" on success, else what failed
std::string separate_abi_namespace();    // index.cpp
std::string separate_sharded_and_load(const std::string& dir);  // sharded_load.cpp

namespace {
int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what.c_str());
    ++failures;
  }
}

std::vector<std::byte> bytes_of(const std::vector<float>& v) {
  const auto b = st::as_bytes(v);
  return std::vector<std::byte>(b.begin(), b.end());
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::printf("usage: safetensors_separate DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {-1.5f};
  std::vector<st::tensor_spec> specs(2);
  specs[0].name = "w";
  specs[0].dtype = st::dtype::F32;
  specs[0].shape = {2, 3};
  specs[0].bytes = st::as_bytes(w);
  specs[1].name = "b";
  specs[1].dtype = st::dtype::F32;
  specs[1].shape = {1};
  specs[1].producer = [&b](std::uint64_t offset, st::span<std::byte> out) -> st::result<void> {
    std::memcpy(out.data(), st::as_bytes(b).data() + offset, out.size());
    return {};
  };
  const st::metadata_map metadata{{"format", "pt"}};

  // serialize and parse: write_plan, the spec validator, the SAX parser and the validation.
  auto file = st::serialize(specs, metadata);
  check(file.has_value(), "serialize");
  if (!file) return 1;
  auto view = st::parse(*file);
  check(view.has_value(), "parse");
  if (!view) return 1;
  check(view->size() == 2 && view->metadata() == std::optional<st::metadata_map>(metadata),
        "the parsed table and metadata");
  check(view->tensors()[0].name() == "b" && view->tensors()[1].name() == "w",
        "the reference writer's order (offset order: b, then w)");
  auto wv = view->tensor("w");
  // The host's bytes as written (as<float>() would decode them as little-endian).
  check(wv.has_value() &&
            std::vector<std::byte>(wv->bytes().begin(), wv->bytes().end()) == bytes_of(w),
        "tensor w's bytes");
  auto missing = view->at("missing");
  check(!missing && missing.error().code() == st::errc::tensor_not_found &&
            missing.error().message() == "no tensor named 'missing'",
        "at() of an absent tensor");

  // Rules 1 to 3 and the file-type hint (describe_first_bytes), then a JSON rule.
  std::vector<std::byte> zip(64, std::byte{0});
  std::memcpy(zip.data(), "PK\x03\x04", 4);
  auto not_safetensors = st::parse(zip);
  check(!not_safetensors && not_safetensors.error().code() == st::errc::invalid_header_length &&
            not_safetensors.error().message().find("zip archive") != std::string::npos,
        "a zip archive: InvalidHeaderLength with its hint");
  std::vector<std::byte> duplicate = *file;
  const std::string text(reinterpret_cast<const char*>(duplicate.data()), duplicate.size());
  const auto at = text.find("\"b\"");
  duplicate[at + 1] = std::byte{'w'};  // two tensors named "w"
  auto dup = st::parse(duplicate);
  check(!dup && dup.error().code() == st::errc::duplicate_key, "a duplicate tensor name");

  // Slicing: rows 1..2 of w's columns 1..3.
  auto sliced = st::slice(*wv, {{1, 2}, {1, 3}});
  check(sliced.has_value() && *sliced == bytes_of({5, 6}), "slice of w");
  auto bad_slice = st::plan_slice(wv->info(), {{0, 3}});
  check(!bad_slice && bad_slice.error().code() == st::errc::invalid_argument,
        "a slice past the dimension");

  // save_file, then the mapping and pread readers: the same bytes as serialize.
  const std::string path = dir + "/separate.safetensors";
  check(st::save_file(path, specs, metadata).has_value(), "save_file");
  auto mapped = st::mapped_file::open(path);
  check(mapped.has_value() && mapped->mapping().byte_size() == file->size() &&
            std::memcmp(mapped->mapping().data(), file->data(), file->size()) == 0,
        "the saved file is serialize's bytes");
  auto reader = st::source_reader::open(path);
  check(reader.has_value(), "source_reader::open");
  if (reader) {
    auto bytes = reader->read("b");
    check(bytes.has_value() && *bytes == bytes_of(b), "source_reader::read");
  }
  auto nowhere = st::save_file(dir + "/no/such/dir/x.safetensors", specs);
  check(!nowhere && nowhere.error().code() == st::errc::io_error, "save_file into no directory");

  // stream_writer: the header first, then chunks, then commit.
  const std::string streamed = dir + "/separate_stream.safetensors";
  auto writer = st::stream_writer::create(streamed, specs, metadata);
  check(writer.has_value(), "stream_writer::create");
  if (writer) {
    const auto wb = st::as_bytes(w);
    check(writer->write("w", wb.subspan(0, 8)).has_value() &&
              writer->write("w", wb.subspan(8)).has_value() &&
              writer->write("b", st::as_bytes(b)).has_value(),
          "stream_writer::write");
    check(writer->bytes_written("w") == 24 && writer->plan().file_size() == file->size(),
          "stream_writer's plan and counts");
    check(writer->commit().has_value(), "stream_writer::commit");
    auto again = st::mapped_file::open(streamed);
    check(again.has_value() && again->mapping().byte_size() == file->size() &&
              std::memcmp(again->mapping().data(), file->data(), file->size()) == 0,
          "the streamed file is serialize's bytes");
  }

  const std::string index = separate_index_roundtrip();
  check(index.empty(), "the index functions: " + index);
  const std::string sharded = separate_sharded_and_load(dir);
  check(sharded.empty(), "sharded checkpoints, load, conversions: " + sharded);
  const std::string ns = separate_abi_namespace();
  check(ns == (SAFETENSORS_NO_EXCEPTIONS ? "v1_noexcept_lib" : "v1_lib"),
        "the ABI namespace of the separate-compilation mode: " + ns);
  if (failures != 0) return 1;
  std::printf("separate compilation ok (%s)\n", ns.c_str());
  return 0;
}
