// Platform file I/O end to end, for the Windows (Wine) and big-endian runs and natively in CTest:
// a file with a non-ASCII UTF-8 name is written atomically, replaced, mapped, read with pread /
// ReadFile, written again through stream_writer; failures leave the old file and no temporary.
// Usage: platform_io DIR (an existing, writable directory). Prints "platform io ok" on success.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

namespace st = safetensors;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}

std::vector<std::byte> f32_bytes(const std::vector<float>& v) {
  // Little-endian on every host, as the format requires.
  std::vector<std::byte> out;
  for (const float f : v) {
    std::uint32_t u = 0;
    std::memcpy(&u, &f, sizeof u);
    for (int i = 0; i < 4; ++i) {
      out.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xffU));
    }
  }
  return out;
}

std::vector<st::tensor_spec> one_tensor(const std::string& name, const std::vector<std::byte>& b) {
  std::vector<st::tensor_spec> specs(1);
  specs[0].name = name;
  specs[0].dtype = st::dtype::F32;
  specs[0].shape = {static_cast<std::uint64_t>(b.size() / 4)};
  specs[0].bytes = st::span<const std::byte>(b.data(), b.size());
  return specs;
}

/// The floats of tensor `name`, read through the mapping and through pread/ReadFile; both must
/// agree.
std::vector<float> read_both(const std::string& path, const std::string& name) {
  std::vector<float> mapped_values;
  {
    auto m = st::mapped_file::open(path);
    check(m.has_value(), "mapped_file::open " + (m ? std::string() : m.error().to_string()));
    if (!m) {
      return {};
    }
    auto t = m->tensor(name);
    check(t.has_value(), "tensor " + name);
    if (!t) {
      return {};
    }
    auto f = t->as<float>();
    check(f.has_value(), "as<float>");
    if (!f) {
      return {};
    }
    mapped_values = f->to_vector();
  }
  auto r = st::source_reader::open(path);
  check(r.has_value(), "source_reader::open " + (r ? std::string() : r.error().to_string()));
  if (!r) {
    return {};
  }
  auto info = r->header().find(name);
  check(info.has_value(), "reader find " + name);
  if (!info) {
    return {};
  }
  std::vector<std::byte> buf(info->byte_size());
  auto ok = r->read_into(*info, st::span<std::byte>(buf.data(), buf.size()));
  check(ok.has_value(), "read_into");
  check(buf == f32_bytes(mapped_values), "pread bytes == mapped values");
  return mapped_values;
}

/// A UTF-8 string as a path, in C++17 and C++20 (where u8path is deprecated).
std::filesystem::path from_utf8(const std::string& s) {
#if defined(__cpp_char8_t)
  std::u8string u;
  for (const char c : s) u.push_back(static_cast<char8_t>(static_cast<unsigned char>(c)));
  return std::filesystem::path(u);
#else
  return std::filesystem::u8path(s);
#endif
}

std::size_t entries(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: platform_io DIR\n";
    return 2;
  }
  // A fresh directory; the file name is UTF-8 with 2-, 3- and 4-byte sequences.
  const std::string base = std::string(argv[1]) + "/platform_io";
  const std::filesystem::path base_path = from_utf8(base);
  std::filesystem::remove_all(base_path);
  std::filesystem::create_directories(base_path);
  const std::string name_utf8 =
      "mod\xC3\xA8le-\xE6\xA8\xA1\xE5\x9E\x8B-\xF0\x9F\xA4\x96.safetensors";
  const std::string path = base + "/" + name_utf8;

  const auto v1 = f32_bytes({1.0F, -2.5F, 3.25F});
  check(st::save_file(path, one_tensor("w", v1)).has_value(), "save_file (create)");
  // The file exists under exactly that Unicode name (UTF-8 -> UTF-16 on Windows).
  check(std::filesystem::exists(base_path / from_utf8(name_utf8)), "the file has the UTF-8 name");
  check(read_both(path, "w") == std::vector<float>{1.0F, -2.5F, 3.25F}, "values after create");

  // Atomic replace of an existing file.
  const auto v2 = f32_bytes({7.0F, 8.0F});
  check(st::save_file(path, one_tensor("w", v2)).has_value(), "save_file (replace)");
  check(read_both(path, "w") == std::vector<float>{7.0F, 8.0F}, "values after replace");
  check(entries(base_path) == 1, "no temporary file left after replace");

  // A failing write (two tensors of one name) leaves the old file untouched and no temporary.
  auto dup = one_tensor("w", v1);
  dup.push_back(dup[0]);
  auto bad = st::save_file(path, dup);
  check(!bad && bad.error().code() == st::errc::duplicate_key, "duplicate names are rejected");
  check(read_both(path, "w") == std::vector<float>{7.0F, 8.0F}, "old file kept after a failure");
  check(entries(base_path) == 1, "no temporary file left after a failure");

  // stream_writer over the same name: chunks, commit, replace.
  {
    auto specs = one_tensor("s", v1);
    auto w = st::stream_writer::create(path, specs);
    check(w.has_value(), "stream_writer::create " + (w ? std::string() : w.error().to_string()));
    if (w) {
      check(w->write("s", st::span<const std::byte>(v1.data(), 4)).has_value(), "chunk 1");
      check(w->write("s", st::span<const std::byte>(v1.data() + 4, 8)).has_value(), "chunk 2");
      check(w->commit().has_value(), "commit");
    }
  }
  check(read_both(path, "s") == std::vector<float>{1.0F, -2.5F, 3.25F}, "values after stream");
  // A stream_writer destroyed without commit leaves nothing behind.
  {
    auto w = st::stream_writer::create(path, one_tensor("x", v2));
    check(w.has_value(), "stream_writer::create (discarded)");
  }
  check(read_both(path, "s") == std::vector<float>{1.0F, -2.5F, 3.25F}, "discard keeps the file");
  check(entries(base_path) == 1, "no temporary file left after a discard");

  // Replacing a file that is mapped: either it works and the mapping keeps the old bytes, or
  // (Windows refuses to replace a mapped file) an IoError and the old file is untouched.
  {
    auto m = st::mapped_file::open(path);
    check(m.has_value(), "map before replace");
    auto r = st::save_file(path, one_tensor("w", v2));
    if (r) {
      std::cout << "replace while mapped: replaced\n";
      auto t = m ? m->tensor("s")
                 : st::result<st::tensor_view>(st::error(st::errc::io_error, "unmapped"));
      check(t && t->as<float>() && (*t->as<float>())[1] == -2.5F, "mapping keeps the old bytes");
    } else {
      std::cout << "replace while mapped: " << r.error().to_string() << "\n";
      check(r.error().code() == st::errc::io_error, "replace while mapped fails with IoError");
    }
  }
  check(entries(base_path) == 1, "no temporary file left after replace while mapped");

  std::filesystem::remove_all(base_path);
  if (failures != 0) {
    return 1;
  }
  std::cout << "platform io ok\n";
  return 0;
}
