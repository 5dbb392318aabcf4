// Files: file_mapping, mapped_file, random_access_source, file_source, memory_source,
// source_reader; the three read paths (memory, mapping, pread) agree; UTF-8 paths;
// files over 4 GiB.
//
// Inputs come from the independent test writer (tests/support/test_writer.hpp); expected tables
// are computed from the specs given to it, never from the library's output.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <safetensors/safetensors.hpp>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "ci_skip.hpp"
#include "test_writer.hpp"

#if !defined(_WIN32)
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace st = safetensors;
namespace fs = std::filesystem;

namespace {

template <class T>
std::string outcome(const st::result<T>& r) {
  return r.has_value() ? std::string("value") : std::string(st::error_name(r.error().code()));
}

st::span<const std::byte> byte_span(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

std::vector<std::uint8_t> to_u8(st::span<const std::byte> s) {
  std::vector<std::uint8_t> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = std::to_integer<std::uint8_t>(s[i]);
  return out;
}

std::vector<std::uint8_t> to_u8(const std::vector<std::byte>& v) {
  return to_u8(st::span<const std::byte>(v.data(), v.size()));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

[[maybe_unused]] std::string lower(std::string s) {  // used by POSIX-only cases
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// UTF-8 <-> path without the platform's narrow encoding getting in the way.
fs::path utf8_path(const std::string& s) {
#if defined(__cpp_char8_t)
  std::u8string u;
  for (char c : s) u.push_back(static_cast<char8_t>(static_cast<unsigned char>(c)));
  return fs::path(u);
#else
  return fs::u8path(s);
#endif
}

std::string path_utf8(const fs::path& p) {
  const auto u = p.u8string();
  std::string out;
  for (auto c : u) out.push_back(static_cast<char>(c));
  return out;
}

// The OS's text for "no such file" (what the library must pass through).
std::string os_not_found_message() {
#if defined(_WIN32)
  return "";  // FormatMessage text is localized; only non-emptiness is checked on Windows
#else
  return std::generic_category().message(ENOENT);
#endif
}

// The table a file built by st_test::make_file(specs, md, align) must have: offsets cumulative
// in the given order.
struct expected_tensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
  std::vector<std::uint8_t> data;
};

std::vector<expected_tensor> expected_table(const std::vector<st_test::tensor_spec>& specs) {
  std::vector<expected_tensor> out;
  std::uint64_t offset = 0;
  for (const auto& s : specs) {
    const std::uint64_t begin = offset;
    offset += s.data.size();
    out.push_back({s.name, s.dtype, s.shape, begin, offset, s.data});
  }
  return out;
}

std::uint64_t product(const std::vector<std::uint64_t>& shape) {
  std::uint64_t p = 1;
  for (auto d : shape) p *= d;
  return p;
}

// Checks `h` against the specs and metadata the file was written from.
void check_header_against_specs(const st::header& h, const std::vector<st_test::tensor_spec>& specs,
                                const st_test::metadata_t& md, std::uint64_t file_size) {
  const auto table = expected_table(specs);
  REQUIRE(h.size() == table.size());
  std::uint64_t data_size = 0;
  for (const auto& t : table) {
    CAPTURE(t.name);
    auto info = h.find(t.name);
    REQUIRE(info.has_value());
    CHECK(info->name() == t.name);
    CHECK(st::to_string(info->dtype()) == t.dtype);
    CHECK(std::vector<std::uint64_t>(info->shape().begin(), info->shape().end()) == t.shape);
    CHECK(info->rank() == t.shape.size());
    CHECK(info->offsets().begin == t.begin);
    CHECK(info->offsets().end == t.end);
    CHECK(info->byte_size() == t.data.size());
    CHECK(info->element_count() == product(t.shape));
    data_size = std::max(data_size, t.end);
  }
  if (!md) {
    CHECK_FALSE(h.metadata().has_value());
  } else {
    REQUIRE(h.metadata().has_value());
    CHECK(h.metadata()->size() == md->size());
    for (const auto& kv : *md) {
      auto it = h.metadata()->find(kv.first);
      REQUIRE(it != h.metadata()->end());
      CHECK(it->second == kv.second);
    }
  }
  CHECK(h.data_size() == data_size);
  CHECK(h.data_offset() == 8 + h.header_size());
  CHECK(h.file_size() == file_size);
  CHECK(8 + h.header_size() + data_size == file_size);
}

// Field-by-field equality of two tables (same tensors in the same orders, same metadata, sizes).
void check_same_header(const st::header& a, const st::header& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.header_size() == b.header_size());
  CHECK(a.data_size() == b.data_size());
  CHECK(a.data_offset() == b.data_offset());
  CHECK(a.file_size() == b.file_size());
  CHECK(a.metadata() == b.metadata());
  auto same_info = [](const st::tensor_info& x, const st::tensor_info& y) {
    CHECK(x.name() == y.name());
    CHECK(x.dtype() == y.dtype());
    CHECK(std::equal(x.shape().begin(), x.shape().end(), y.shape().begin(), y.shape().end()));
    CHECK(x.offsets().begin == y.offsets().begin);
    CHECK(x.offsets().end == y.offsets().end);
    CHECK(x.element_count() == y.element_count());
    CHECK(x.byte_size() == y.byte_size());
  };
  for (std::size_t i = 0; i < a.size(); ++i) {
    same_info(a.tensors()[i], b.tensors()[i]);
    same_info(a.tensors_by_name()[i], b.tensors_by_name()[i]);
  }
}

// A random_access_source over bytes in memory that records every read_at call, can claim a
// different size, and can fail reads from some offset on.
struct read_call {
  std::uint64_t offset;
  std::size_t size;
  bool operator==(const read_call& o) const { return offset == o.offset && size == o.size; }
};

class test_source final : public st::random_access_source {
 public:
  using log_t = std::vector<read_call>;
  explicit test_source(std::vector<std::uint8_t> bytes, std::shared_ptr<log_t> log = nullptr)
      : bytes_(std::move(bytes)), log_(std::move(log)) {
    claimed_ = bytes_.size();
  }
  test_source& claim_size(std::uint64_t n) {
    claimed_ = n;
    return *this;
  }
  test_source& fail_from(std::uint64_t offset, std::string message) {
    fail_from_ = offset;
    fail_message_ = std::move(message);
    return *this;
  }

  std::uint64_t byte_size() const noexcept override { return claimed_; }
  st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    if (log_) log_->push_back({offset, n});
    if (offset + n > fail_from_) return st::error(st::errc::io_error, fail_message_);
    if (offset > bytes_.size() || n > bytes_.size() - offset) {
      return st::error(st::errc::io_error, "test_source: read past the end");
    }
    if (n != 0) std::memcpy(dst, bytes_.data() + offset, n);
    return {};
  }
  std::string describe() const override { return "test-source"; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::shared_ptr<log_t> log_;
  std::uint64_t claimed_ = 0;
  std::uint64_t fail_from_ = ~std::uint64_t{0};
  std::string fail_message_;
};

// A "remote" file that is never downloaded: the header bytes are real, every data byte is a
// function of its file offset, and the size may be far beyond memory.
class synthetic_source final : public st::random_access_source {
 public:
  synthetic_source(std::vector<std::uint8_t> head, std::uint64_t size,
                   std::shared_ptr<std::vector<read_call>> log)
      : head_(std::move(head)), size_(size), log_(std::move(log)) {}
  static std::uint8_t byte_at(std::uint64_t offset) {
    return static_cast<std::uint8_t>((offset * 2654435761u) >> 24);
  }
  std::uint64_t byte_size() const noexcept override { return size_; }
  st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    log_->push_back({offset, n});
    if (offset > size_ || n > size_ - offset) {
      return st::error(st::errc::io_error, "synthetic: read past the end");
    }
    auto* out = static_cast<std::uint8_t*>(dst);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t o = offset + i;
      out[i] = o < head_.size() ? head_[o] : byte_at(o);
    }
    return {};
  }

 private:
  std::vector<std::uint8_t> head_;
  std::uint64_t size_;
  std::shared_ptr<std::vector<read_call>> log_;
};

#if defined(__linux__)
// True when /proc/self/maps lists a mapping of `p`.
bool is_mapped(const fs::path& p) {
  std::error_code ec;
  const std::string canonical = fs::canonical(p, ec).string();
  if (ec) return false;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() >= canonical.size() &&
        line.compare(line.size() - canonical.size(), canonical.size(), canonical) == 0) {
      return true;
    }
  }
  return false;
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}
#endif

// A small file with a bit of everything.
std::vector<st_test::tensor_spec> sample_specs() {
  return {
      {"weight",
       "F32",
       {2, 2},
       {0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40}},
      {"bias", "I16", {3}, {1, 0, 2, 0, 3, 0}},
      {"empty", "U8", {0}, {}},
      {"flag", "BOOL", {}, {1}},
      {"tail", "U64", {1}, {8, 7, 6, 5, 4, 3, 2, 1}},
  };
}

#if !defined(_WIN32)
// What opening `path` gives each of the four ways (file_mapping, mapped_file, file_source,
// source_reader): "value", or the error's name and message.
struct open_outcome {
  std::string name;
  std::string message;
};

std::vector<open_outcome> open_four_ways(const std::string& path) {
  std::vector<open_outcome> out;
  const auto add = [&out](const auto& r) {
    if (r) {
      out.push_back({"value", ""});
    } else {
      out.push_back({std::string(st::error_name(r.error().code())), r.error().message()});
    }
  };
  add(st::file_mapping::open(path));
  add(st::mapped_file::open(path));
  add(st::file_source::open(path));
  add(st::source_reader::open(path));
  return out;
}

// The user that the permission test runs as when the tests run as root: "nobody" on Debian.
constexpr uid_t unprivileged_id = 65534;

// open_four_ways(control) then open_four_ways(locked), both relative to `dir`, computed by a
// child process that enters `dir` and then drops to unprivileged_id (uid, gid, no supplementary
// groups), so that the permission bits apply to it. Entering the directory first means its
// ancestors need not be searchable by that user. Empty with `why` set when the child could not
// switch users.
std::vector<open_outcome> open_as_unprivileged_user(const fs::path& dir, const std::string& control,
                                                    const std::string& locked, std::string& why) {
  int fds[2];
  if (::pipe(fds) != 0) {
    why = "pipe() failed";
    return {};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    why = "fork() failed";
    return {};
  }
  if (pid == 0) {  // the child: no doctest here; results go through the pipe, NUL-separated
    ::close(fds[0]);
    std::string msg;
    int status = 0;
    if (::chdir(dir.c_str()) != 0 || ::setgroups(0, nullptr) != 0 ||
        ::setgid(unprivileged_id) != 0 || ::setuid(unprivileged_id) != 0 ||
        ::geteuid() != unprivileged_id) {
      msg = std::string("cannot switch to uid/gid 65534: ") + std::strerror(errno);
      status = 3;
    } else {
      for (const std::string& name : {control, locked}) {
        for (const open_outcome& o : open_four_ways(name)) {
          msg += o.name;
          msg.push_back('\0');
          msg += o.message;
          msg.push_back('\0');
        }
      }
    }
    for (std::size_t at = 0; at < msg.size();) {
      const ssize_t n = ::write(fds[1], msg.data() + at, msg.size() - at);
      if (n <= 0) ::_exit(4);
      at += static_cast<std::size_t>(n);
    }
    ::_exit(status);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    why = got.empty() ? "the child process failed (status " + std::to_string(status) + ")" : got;
    return {};
  }
  std::vector<std::string> fields;
  for (std::size_t at = 0; at < got.size();) {
    const std::size_t end = got.find('\0', at);
    if (end == std::string::npos) break;
    fields.push_back(got.substr(at, end - at));
    at = end + 1;
  }
  std::vector<open_outcome> out;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) out.push_back({fields[i], fields[i + 1]});
  return out;
}
#endif

}  // namespace

static_assert(!std::is_copy_constructible_v<st::file_mapping>);
static_assert(!std::is_copy_assignable_v<st::file_mapping>);
static_assert(std::is_nothrow_move_constructible_v<st::file_mapping>);
static_assert(std::is_nothrow_move_assignable_v<st::file_mapping>);
static_assert(!std::is_copy_constructible_v<st::mapped_file>);
static_assert(std::is_move_constructible_v<st::mapped_file>);
static_assert(!std::is_copy_constructible_v<st::source_reader>);
static_assert(std::is_move_constructible_v<st::source_reader>);

TEST_SUITE("files") {
  TEST_CASE("file_mapping: open, size, bytes, path, move") {
    st_test::temp_dir dir;
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const fs::path p = dir.file("m.safetensors");
    st_test::write_file(p, bytes);

    auto m = st::file_mapping::open(p.string());
    REQUIRE(m.has_value());
    CHECK(m->byte_size() == bytes.size());
    REQUIRE(m->data() != nullptr);
    CHECK(m->bytes().data() == m->data());
    CHECK(m->bytes().size() == bytes.size());
    CHECK(to_u8(m->bytes()) == bytes);
    CHECK(m->path() == p.string());

    auto m2 = st::file_mapping::open(p);  // std::filesystem::path overload
    REQUIRE(m2.has_value());
    CHECK(to_u8(m2->bytes()) == bytes);
    CHECK(m2->data() != m->data());  // an independent mapping

    const std::byte* address = m->data();
    st::file_mapping moved(std::move(*m));
    CHECK(moved.data() == address);
    CHECK(moved.byte_size() == bytes.size());
    CHECK(moved.path() == p.string());
    CHECK(m->data() == nullptr);  // the moved-from mapping is empty
    CHECK(m->byte_size() == 0);
    CHECK(m->bytes().empty());
    CHECK(to_u8(moved.bytes()) == bytes);

    st::file_mapping assigned;
    CHECK(assigned.data() == nullptr);
    CHECK(assigned.byte_size() == 0);
    assigned = std::move(moved);
    CHECK(assigned.data() == address);
    CHECK(assigned.byte_size() == bytes.size());
    CHECK(assigned.path() == p.string());
    CHECK(to_u8(assigned.bytes()) == bytes);

    st::file_mapping empty_default;
    CHECK(empty_default.bytes().empty());
    CHECK(empty_default.path().empty());

    // The mapping outlives the file's name (POSIX: unlinked files stay mapped).
#if !defined(_WIN32)
    auto m3 = st::file_mapping::open(p.string());
    REQUIRE(m3.has_value());
    std::error_code ec;
    fs::remove(p, ec);
    REQUIRE_FALSE(ec);
    CHECK(to_u8(m3->bytes()) == bytes);
    CHECK(to_u8(assigned.bytes()) == bytes);
#endif
  }

  TEST_CASE("file_mapping: access hints and populate") {
    st_test::temp_dir dir;
    const auto bytes = st_test::make_file(sample_specs());
    const fs::path p = dir.file("h.safetensors");
    st_test::write_file(p, bytes);
    for (auto hint : {st::access_hint::normal, st::access_hint::sequential, st::access_hint::random,
                      st::access_hint::will_need}) {
      for (bool populate : {false, true}) {
        st::map_options o;
        o.hint = hint;
        o.populate = populate;
        auto m = st::file_mapping::open(p.string(), o);
        REQUIRE(m.has_value());
        CHECK(to_u8(m->bytes()) == bytes);
        auto v = st::mapped_file::open(p, {}, o);
        REQUIRE(v.has_value());
        CHECK(v->size() == 5);
      }
    }
  }

  TEST_CASE("file_mapping: copy_on_write pages take writes that never reach the file") {
    st_test::temp_dir dir;
    const auto bytes = st_test::make_file(sample_specs());
    const fs::path p = dir.file("cow.safetensors");
    st_test::write_file(p, bytes);
    st::map_options o;
    o.copy_on_write = true;
    auto m = st::file_mapping::open(p.string(), o);
    REQUIRE(m.has_value());
    REQUIRE(m->byte_size() == bytes.size());
    CHECK(m->copy_on_write());
    CHECK_FALSE(st::file_mapping::open(p.string())->copy_on_write());
    // The pages are writable (a read-only mapping would fault here) and private.
    auto* first = const_cast<std::byte*>(m->data());
    auto* last = first + (m->byte_size() - 1);
    *first = std::byte{0xAB};
    *last = std::byte{0xCD};
    CHECK(std::to_integer<int>(m->data()[0]) == 0xAB);
    CHECK(std::to_integer<int>(m->data()[m->byte_size() - 1]) == 0xCD);
    auto again = st::file_mapping::open(p.string());  // another mapping of the same file
    REQUIRE(again.has_value());
    CHECK(to_u8(again->bytes()) == bytes);
    CHECK(st_test::read_file(p) == bytes);
    st::file_mapping moved(std::move(*m));  // the mode moves with the pages
    CHECK(moved.copy_on_write());
    st::file_mapping assigned;
    assigned = std::move(moved);
    CHECK(assigned.copy_on_write());
    CHECK(std::to_integer<int>(assigned.data()[0]) == 0xAB);
    assigned = st::file_mapping();  // unmapped: the file is still as written
    CHECK_FALSE(assigned.copy_on_write());
    CHECK(st_test::read_file(p) == bytes);
    auto v = st::mapped_file::open(p, {}, o);  // parsed like any mapping
    REQUIRE(v.has_value());
    CHECK(v->size() == 5);
  }

#if defined(__linux__)
  TEST_CASE("file_mapping: RAII unmaps and leaks no descriptor (Linux /proc)") {
    st_test::temp_dir dir;
    const auto bytes = st_test::make_file(sample_specs());
    const fs::path a = dir.file("a.safetensors");
    const fs::path b = dir.file("b.safetensors");
    st_test::write_file(a, bytes);
    st_test::write_file(b, bytes);

    const std::size_t fds = open_fd_count();
    {
      auto m = st::file_mapping::open(a.string());
      REQUIRE(m.has_value());
      CHECK(is_mapped(a));
      CHECK(open_fd_count() == fds);  // the descriptor is closed once mapped
      st::file_mapping moved(std::move(*m));
      CHECK(is_mapped(a));
    }
    CHECK_FALSE(is_mapped(a));
    {
      auto v = st::mapped_file::open(a.string());
      REQUIRE(v.has_value());
      CHECK(is_mapped(a));
      st::mapped_file moved = std::move(*v);
      CHECK(moved.size() == 5);
    }
    CHECK_FALSE(is_mapped(a));
    {
      auto r = st::source_reader::open(a.string());
      REQUIRE(r.has_value());
      CHECK_FALSE(is_mapped(a));  // the reader maps nothing
      CHECK(open_fd_count() == fds + 1);
    }
    CHECK(open_fd_count() == fds);

    // Move assignment: "Unmaps this mapping and takes over other's".
    {
      auto ma = st::file_mapping::open(a.string());
      auto mb = st::file_mapping::open(b.string());
      REQUIRE((ma.has_value() && mb.has_value()));
      CHECK(is_mapped(a));
      CHECK(is_mapped(b));
      *ma = std::move(*mb);
      CHECK(ma->path() == b.string());
      CHECK(is_mapped(b));
      CHECK_MESSAGE(!is_mapped(a),
                    "file_mapping move assignment should unmap the target's old mapping");
    }
    CHECK_FALSE(is_mapped(a));
    CHECK_FALSE(is_mapped(b));
    CHECK(open_fd_count() == fds);

    // Failed opens leak nothing either.
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(st::file_mapping::open(dir.file("missing").string()).has_value());
      CHECK_FALSE(st::source_reader::open(dir.path().string()).has_value());
      CHECK_FALSE(st::mapped_file::open(dir.path().string()).has_value());
    }
    CHECK(open_fd_count() == fds);
  }
#endif

  TEST_CASE("an empty file maps to zero bytes and parses as HeaderTooSmall") {
    st_test::temp_dir dir;
    const fs::path p = dir.file("empty.safetensors");
    st_test::write_file(p, {});
    REQUIRE(fs::file_size(p) == 0);

    auto m = st::file_mapping::open(p.string());
    REQUIRE(m.has_value());
    CHECK(m->byte_size() == 0);
    CHECK(m->bytes().empty());
    auto parsed = st::parse(m->bytes());
    CHECK(outcome(parsed) == "HeaderTooSmall");

    auto v = st::mapped_file::open(p.string());
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().code() == st::errc::header_too_small);
    CHECK(contains(v.error().message(), p.string()));

    auto r = st::source_reader::open(p.string());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == st::errc::header_too_small);

    // Fewer than 8 bytes, not empty.
    const fs::path q = dir.file("short.safetensors");
    st_test::write_file(q, {2, 0, 0, 0, 0, 0, 0});
    CHECK(outcome(st::mapped_file::open(q.string())) == "HeaderTooSmall");
    CHECK(outcome(st::source_reader::open(q.string())) == "HeaderTooSmall");
  }

  TEST_CASE("a header length of 0 is InvalidHeaderDeserialization through every path") {
    // 8 + 0 fits (rule 3), zero bytes are valid UTF-8 (rule 4), an empty JSON text is not
    // (rule 5). The source_reader path must not hand a null pointer to memchr/memcpy (UBSan).
    const std::vector<std::uint8_t> zero = st_test::le64(0);
    CHECK(outcome(st::parse(byte_span(zero))) == "InvalidHeaderDeserialization");
    auto r = st::source_reader::open(std::make_unique<st::memory_source>(byte_span(zero)));
    CHECK(outcome(r) == "InvalidHeaderDeserialization");
    auto log = std::make_shared<test_source::log_t>();
    CHECK(outcome(st::source_reader::open(std::make_unique<test_source>(zero, log))) ==
          "InvalidHeaderDeserialization");
    st_test::temp_dir dir;
    const fs::path p = dir.file("n0.safetensors");
    st_test::write_file(p, zero);
    CHECK(outcome(st::mapped_file::open(p.string())) == "InvalidHeaderDeserialization");
    CHECK(outcome(st::source_reader::open(p.string())) == "InvalidHeaderDeserialization");
    // With data after it: still the JSON error first (rule 5 before rule 10).
    auto more = zero;
    more.push_back(1);
    CHECK(outcome(st::parse(byte_span(more))) == "InvalidHeaderDeserialization");
    CHECK(outcome(st::source_reader::open(std::make_unique<st::memory_source>(byte_span(more)))) ==
          "InvalidHeaderDeserialization");
  }

  TEST_CASE("a missing file is IoError with the path and the OS reason") {
    st_test::temp_dir dir;
    const fs::path p = dir.file("does-not-exist.safetensors");
    const std::string reason = os_not_found_message();

    auto check_error = [&](const st::error& e) {
      INFO("message: " << e.message());
      CHECK(e.code() == st::errc::io_error);
      CHECK(contains(e.message(), p.string()));
      CHECK(contains(e.message(), reason));
      // Something beyond the path: the OS's reason.
      CHECK(e.message().size() > p.string().size() + 2);
    };
    {
      auto r = st::file_mapping::open(p.string());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::file_mapping::open(p);
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::mapped_file::open(p.string());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::mapped_file::open(p);
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::file_source::open(p.string());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::source_reader::open(p.string());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::source_reader::open(p);
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      // A missing directory in the path.
      const fs::path deep = dir.file("no-such-dir") / "x.safetensors";
      auto r = st::source_reader::open(deep.string());
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code() == st::errc::io_error);
      CHECK(contains(r.error().message(), deep.string()));
      CHECK(contains(r.error().message(), reason));
    }
    {
      auto r = st::source_reader::open(std::string());
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code() == st::errc::io_error);
    }
  }

  TEST_CASE("a directory is IoError with the path and a reason") {
    st_test::temp_dir dir;
    const std::string p = dir.path().string();
    auto check_error = [&](const st::error& e) {
      INFO("message: " << e.message());
      CHECK(e.code() == st::errc::io_error);
      CHECK(contains(e.message(), p));
#if !defined(_WIN32)
      CHECK(contains(lower(e.message()), "directory"));
#endif
      CHECK(e.message().size() > p.size() + 2);
    };
    {
      auto r = st::file_mapping::open(p);
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::mapped_file::open(dir.path());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::file_source::open(dir.path());
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
    {
      auto r = st::source_reader::open(p);
      REQUIRE_FALSE(r.has_value());
      check_error(r.error());
    }
  }

#if !defined(_WIN32)
  TEST_CASE("an unreadable file is IoError with the path and the OS reason") {
    // As root, permission bits do not apply: the opens then run in a child process as the
    // unprivileged user 65534. A readable file next to the locked one shows that they apply to
    // that user and nothing else stops it.
    st_test::temp_dir dir;
    const fs::path locked = dir.file("locked.safetensors");
    const fs::path control = dir.file("readable.safetensors");
    st_test::write_file(locked, st_test::make_file(sample_specs()));
    st_test::write_file(control, st_test::make_file(sample_specs()));
    std::error_code ec;
    fs::permissions(locked, fs::perms::none, ec);
    REQUIRE_FALSE(ec);
    fs::permissions(control, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                    ec);
    REQUIRE_FALSE(ec);
    std::vector<open_outcome> outcomes;  // control's four, then locked's four
    std::string path;                    // the path the opens were given
    if (::geteuid() == 0) {
      REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);  // searchable by the other user
      std::string why;
      outcomes =
          open_as_unprivileged_user(dir.path(), "readable.safetensors", "locked.safetensors", why);
      if (outcomes.empty()) {
        st_test::skip_or_fail_in_ci("cannot run as an unprivileged user: " + why);
        return;
      }
      path = "locked.safetensors";
    } else {
      outcomes = open_four_ways(control.string());
      for (open_outcome& o : open_four_ways(locked.string())) outcomes.push_back(std::move(o));
      path = locked.string();
      if (outcomes[4].name == "value") {  // e.g. a user with CAP_DAC_OVERRIDE
        st_test::skip_or_fail_in_ci("permissions are not enforced for this user");
        return;
      }
    }
    REQUIRE(outcomes.size() == 8);
    const std::string reason = std::generic_category().message(EACCES);
    for (std::size_t kind = 0; kind < 4; ++kind) {
      CAPTURE(kind);  // file_mapping, mapped_file, file_source, source_reader
      CHECK(outcomes[kind].name == "value");
      const open_outcome& e = outcomes[4 + kind];
      INFO("message: " << e.message);
      CHECK(e.name == "IoError");
      CHECK(contains(e.message, path));
      CHECK(contains(e.message, reason));
    }
    fs::permissions(locked, fs::perms::owner_all, ec);
  }
#endif

  TEST_CASE(
      "mapped_file::open: a valid file, and invalid files keep their code and name the file") {
    st_test::temp_dir dir;
    const auto specs = sample_specs();
    const st_test::metadata_t md =
        std::vector<std::pair<std::string, std::string>>{{"format", "pt"}, {"note", "x"}};
    const auto bytes = st_test::make_file(specs, md);
    const fs::path p = dir.file("valid.safetensors");
    st_test::write_file(p, bytes);

    auto v = st::mapped_file::open(p.string());
    REQUIRE(v.has_value());
    check_header_against_specs(v->header(), specs, md, bytes.size());
    CHECK(v->size() == specs.size());
    CHECK(v->mapping().byte_size() == bytes.size());
    CHECK(v->mapping().path() == p.string());
    CHECK(v->metadata() == v->header().metadata());
    for (const auto& t : expected_table(specs)) {
      auto view = v->tensor(t.name);
      REQUIRE(view.has_value());
      CHECK(to_u8(view->bytes()) == t.data);
      // Zero copy: the view points into the mapping.
      if (!t.data.empty()) {
        CHECK(view->data() == v->mapping().data() + v->header().data_offset() + t.begin);
      }
    }
    CHECK(v->data().data() == v->mapping().data() + v->header().data_offset());
    CHECK(v->data().size() == v->header().data_size());

    // Moving the view keeps every pointer valid.
    const std::byte* before = v->data().data();
    st::mapped_file moved = std::move(*v);
    CHECK(moved.data().data() == before);
    auto w = moved.tensor("weight");
    REQUIRE(w.has_value());
    CHECK(to_u8(w->bytes()) == specs[0].data);
    CHECK(outcome(moved.tensor("nope")) == "TensorNotFound");
    CHECK_FALSE(moved.find("nope").has_value());

    struct bad_case {
      const char* file;
      std::vector<std::uint8_t> bytes;
      st::errc code;
    };
    std::vector<std::uint8_t> trailing = bytes;
    trailing.push_back(0);
    std::vector<std::uint8_t> truncated(bytes.begin(), bytes.end() - 1);
    const std::vector<bad_case> cases{
        {"trailing.safetensors", trailing, st::errc::metadata_incomplete_buffer},
        {"truncated.safetensors", truncated, st::errc::metadata_incomplete_buffer},
        {"not-json.safetensors", st_test::make_raw("{nope}"),
         st::errc::invalid_header_deserialization},
        {"huge-n.safetensors", st_test::le64(100000001), st::errc::header_too_large},
        {"long-n.safetensors", std::vector<std::uint8_t>{3, 0, 0, 0, 0, 0, 0, 0, '{', '}'},
         st::errc::invalid_header_length},
        {"dup.safetensors",
         st_test::make_raw(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                           R"("a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})"),
         st::errc::duplicate_key},
        {"bad-utf8.safetensors", st_test::make_raw(std::string("{\"\xff\":1}")),
         st::errc::invalid_header},
        {"gap.safetensors",
         st_test::make_raw(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", {0, 0}),
         st::errc::invalid_offset},
    };
    for (const auto& c : cases) {
      CAPTURE(c.file);
      const fs::path f = dir.file(c.file);
      st_test::write_file(f, c.bytes);
      auto mv = st::mapped_file::open(f.string());
      REQUIRE_FALSE(mv.has_value());
      CHECK(mv.error().code() == c.code);
      INFO("message: " << mv.error().message());
      CHECK(contains(mv.error().message(), c.file));
      auto mp = st::mapped_file::open(f);
      REQUIRE_FALSE(mp.has_value());
      CHECK(mp.error().code() == c.code);
      CHECK(contains(mp.error().message(), c.file));
      auto rd = st::source_reader::open(f.string());
      REQUIRE_FALSE(rd.has_value());
      CHECK(rd.error().code() == c.code);
      CHECK(contains(rd.error().message(), c.file));
      // The same bytes in memory give the same code.
      CHECK(outcome(st::parse(byte_span(c.bytes))) == std::string(st::error_name(c.code)));
    }
  }

  TEST_CASE("parse_options reach the file readers") {
    st_test::temp_dir dir;
    auto bytes = st_test::make_file(sample_specs());
    const std::size_t exact = bytes.size();
    bytes.push_back(0xAB);
    bytes.push_back(0xCD);
    const fs::path p = dir.file("trailing.safetensors");
    st_test::write_file(p, bytes);
    CHECK(outcome(st::mapped_file::open(p.string())) == "MetadataIncompleteBuffer");
    CHECK(outcome(st::source_reader::open(p.string())) == "MetadataIncompleteBuffer");

    st::parse_options lenient;
    lenient.allow_trailing_bytes = true;
    auto v = st::mapped_file::open(p.string(), lenient);
    REQUIRE(v.has_value());
    CHECK(v->header().file_size() == exact);
    CHECK(v->data().size() == v->header().data_size());
    CHECK(v->mapping().byte_size() == exact + 2);
    auto r = st::source_reader::open(p.string(), lenient);
    REQUIRE(r.has_value());
    CHECK(r->header().file_size() == exact);
    auto tail = r->read(*r->header().find("tail"));
    REQUIRE(tail.has_value());
    CHECK(to_u8(*tail) == std::vector<std::uint8_t>{8, 7, 6, 5, 4, 3, 2, 1});

    st::parse_options small;
    small.max_header_size = 16;
    CHECK(outcome(st::mapped_file::open(p.string(), small)) == "HeaderTooLarge");
    CHECK(outcome(st::source_reader::open(p.string(), small)) == "HeaderTooLarge");
  }

  TEST_CASE("source_reader reads only the 8-byte prefix and the N header bytes at open") {
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const std::uint64_t n = bytes[0] | (std::uint64_t{bytes[1]} << 8);
    REQUIRE(8 + n < bytes.size());
    auto log = std::make_shared<test_source::log_t>();
    auto r = st::source_reader::open(std::make_unique<test_source>(bytes, log));
    REQUIRE(r.has_value());
    REQUIRE(log->size() == 2);
    CHECK((*log)[0] == read_call{0, 8});
    CHECK((*log)[1] == read_call{8, static_cast<std::size_t>(n)});
    check_header_against_specs(r->header(), specs, std::nullopt, bytes.size());

    // Each read_into touches only that tensor's bytes.
    for (const auto& t : expected_table(specs)) {
      CAPTURE(t.name);
      log->clear();
      std::vector<std::byte> buf(t.data.size());
      REQUIRE(r->read_into(t.name, st::span<std::byte>(buf)).has_value());
      CHECK(to_u8(buf) == t.data);
      std::uint64_t total = 0;
      for (const auto& c : *log) {
        CHECK(c.offset >= 8 + n + t.begin);
        CHECK(c.offset + c.size <= 8 + n + t.end);
        total += c.size;
      }
      CHECK(total == t.data.size());
    }
  }

  TEST_CASE("source_reader reads a remote file's header without downloading it (64-bit offsets)") {
    // A 6 GB "remote" file: only the header exists; data bytes are computed on request.
    const std::uint64_t big = 6000000000ULL;
    const std::string json =
        R"({"__metadata__":{"origin":"remote"},)"
        R"("big":{"dtype":"U8","shape":[6000000000],"data_offsets":[0,6000000000]},)"
        R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[6000000000,6000000016]}})";
    const auto head = st_test::make_raw(json);
    const std::uint64_t size = head.size() + big + 16;
    auto log = std::make_shared<std::vector<read_call>>();
    auto r = st::source_reader::open(std::make_unique<synthetic_source>(head, size, log));
    REQUIRE(r.has_value());
    REQUIRE(log->size() == 2);
    CHECK((*log)[0] == read_call{0, 8});
    CHECK((*log)[1] == read_call{8, json.size()});
    const auto& h = r->header();
    CHECK(h.size() == 2);
    CHECK(h.header_size() == json.size());
    CHECK(h.data_size() == big + 16);
    CHECK(h.file_size() == size);
    REQUIRE(h.metadata().has_value());
    CHECK(h.metadata()->at("origin") == "remote");
    auto w = h.find("w");
    REQUIRE(w.has_value());
    CHECK(w->offsets().begin == big);
    CHECK(w->offsets().end == big + 16);
    CHECK(h.find("big")->byte_size() == big);

    log->clear();
    std::vector<std::byte> buf(16);
    REQUIRE(r->read_into(*w, st::span<std::byte>(buf)).has_value());
    REQUIRE(log->size() >= 1);
    for (std::size_t i = 0; i < 16; ++i) {
      CAPTURE(i);
      CHECK(std::to_integer<std::uint8_t>(buf[i]) ==
            synthetic_source::byte_at(head.size() + big + i));
    }
    for (const auto& c : *log) CHECK(c.offset >= head.size() + big);

    // A buffer too small for the 6 GB tensor is refused before any read.
    log->clear();
    auto too_small = r->read_into("big", st::span<std::byte>(buf));
    CHECK(outcome(too_small) == "InvalidArgument");
    CHECK(log->empty());
  }

  TEST_CASE("file_source + source_reader: read_into, read, errors") {
    st_test::temp_dir dir;
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const fs::path p = dir.file("r.safetensors");
    st_test::write_file(p, bytes);

    auto src = st::file_source::open(p.string());
    REQUIRE(src.has_value());
    CHECK((*src)->byte_size() == bytes.size());
    CHECK((*src)->describe() == p.string());
    {
      // The source reads any range of the file.
      std::vector<std::uint8_t> all(bytes.size());
      REQUIRE((*src)->read_at(0, all.data(), all.size()).has_value());
      CHECK(all == bytes);
      std::uint8_t two[2];
      REQUIRE((*src)->read_at(3, two, 2).has_value());
      CHECK(two[0] == bytes[3]);
      CHECK(two[1] == bytes[4]);
      std::uint8_t past[4];
      auto e = (*src)->read_at(bytes.size() - 2, past, 4);
      CHECK(outcome(e) == "IoError");
      auto e2 = (*src)->read_at(bytes.size() + 100, past, 1);
      CHECK(outcome(e2) == "IoError");
    }
    auto r = st::source_reader::open(std::move(*src));
    REQUIRE(r.has_value());
    check_header_against_specs(r->header(), specs, std::nullopt, bytes.size());
    CHECK(r->source().byte_size() == bytes.size());

    const auto table = expected_table(specs);
    for (const auto& t : table) {
      CAPTURE(t.name);
      auto info = r->header().find(t.name);
      REQUIRE(info.has_value());
      // Exact buffer.
      std::vector<std::byte> exact(t.data.size());
      REQUIRE(r->read_into(*info, st::span<std::byte>(exact)).has_value());
      CHECK(to_u8(exact) == t.data);
      // Larger buffer: the rest is untouched.
      std::vector<std::byte> larger(t.data.size() + 5, std::byte{0xEE});
      REQUIRE(r->read_into(t.name, st::span<std::byte>(larger)).has_value());
      CHECK(to_u8(st::span<const std::byte>(larger).subspan(0, t.data.size())) == t.data);
      for (std::size_t i = t.data.size(); i < larger.size(); ++i) {
        CHECK(larger[i] == std::byte{0xEE});
      }
      // Too small.
      if (!t.data.empty()) {
        std::vector<std::byte> small(t.data.size() - 1, std::byte{0xEE});
        auto e = r->read_into(*info, st::span<std::byte>(small));
        REQUIRE_FALSE(e.has_value());
        CHECK(e.error().code() == st::errc::invalid_argument);
        CHECK_FALSE(e.error().message().empty());
        CHECK(outcome(r->read_into(t.name, st::span<std::byte>(small))) == "InvalidArgument");
        CHECK(outcome(r->read_into(t.name, st::span<std::byte>())) == "InvalidArgument");
        for (auto b : small) CHECK(b == std::byte{0xEE});
      } else {
        CHECK(r->read_into(*info, st::span<std::byte>()).has_value());
      }
      // read() returns the bytes.
      auto v = r->read(*info);
      REQUIRE(v.has_value());
      CHECK(to_u8(*v) == t.data);
    }

    std::vector<std::byte> buf(64);
    auto nf = r->read_into("no-such-tensor", st::span<std::byte>(buf));
    REQUIRE_FALSE(nf.has_value());
    CHECK(nf.error().code() == st::errc::tensor_not_found);
    CHECK(contains(nf.error().message(), "no-such-tensor"));
    CHECK(outcome(r->header().at("no-such-tensor")) == "TensorNotFound");

    // A tensor_info that is not an entry of this file (offsets beyond its data).
    const std::uint64_t shape[1] = {1000};
    const st::tensor_info foreign("foreign", st::dtype::U8, st::span<const std::uint64_t>(shape, 1),
                                  st::data_offsets{0, 1000}, 1000);
    std::vector<std::byte> big(2000);
    CHECK(outcome(r->read_into(foreign, st::span<std::byte>(big))) == "InvalidArgument");
    CHECK(outcome(r->read(foreign)) == "InvalidArgument");
    const st::tensor_info reversed("rev", st::dtype::U8, st::span<const std::uint64_t>(shape, 1),
                                   st::data_offsets{10, 4}, 1000);
    CHECK(outcome(r->read_into(reversed, st::span<std::byte>(big))) == "InvalidArgument");

    // The source_reader is movable and keeps working.
    st::source_reader moved = std::move(*r);
    auto tail = moved.read(*moved.header().find("tail"));
    REQUIRE(tail.has_value());
    CHECK(to_u8(*tail) == specs[4].data);

    CHECK(outcome(st::source_reader::open(std::unique_ptr<st::random_access_source>())) ==
          "InvalidArgument");
  }

  TEST_CASE("a source whose size is smaller or larger than the header claims") {
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const std::uint64_t n = bytes[0] | (std::uint64_t{bytes[1]} << 8);
    auto open_claiming = [&](std::uint64_t claimed) {
      test_source s(bytes);
      s.claim_size(claimed);
      return st::source_reader::open(std::make_unique<test_source>(std::move(s)));
    };
    CHECK(outcome(open_claiming(0)) == "HeaderTooSmall");
    CHECK(outcome(open_claiming(7)) == "HeaderTooSmall");
    CHECK(outcome(open_claiming(8)) == "InvalidHeaderLength");
    CHECK(outcome(open_claiming(8 + n - 1)) == "InvalidHeaderLength");
    CHECK(outcome(open_claiming(8 + n)) == "MetadataIncompleteBuffer");
    CHECK(outcome(open_claiming(bytes.size() - 1)) == "MetadataIncompleteBuffer");
    CHECK(outcome(open_claiming(bytes.size())) == "value");
    CHECK(outcome(open_claiming(bytes.size() + 1)) == "MetadataIncompleteBuffer");
    CHECK(outcome(open_claiming(bytes.size() + 1000000000000ULL)) == "MetadataIncompleteBuffer");
    auto e = open_claiming(8 + n - 1);
    REQUIRE_FALSE(e.has_value());
    CHECK(contains(e.error().message(), "test-source"));
  }

  TEST_CASE("a source that fails reads: the IoError propagates") {
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const std::uint64_t n = bytes[0] | (std::uint64_t{bytes[1]} << 8);
    auto open_failing = [&](std::uint64_t from) {
      test_source s(bytes);
      s.fail_from(from, "connection reset by test");
      return st::source_reader::open(std::make_unique<test_source>(std::move(s)));
    };
    for (std::uint64_t from : {std::uint64_t{0}, std::uint64_t{4}, std::uint64_t{8}, 8 + n - 1}) {
      CAPTURE(from);
      auto r = open_failing(from);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code() == st::errc::io_error);
      CHECK(contains(r.error().message(), "connection reset by test"));
    }
    // Failing only in the data region: opening works, reading the data fails.
    auto r = open_failing(8 + n);
    REQUIRE(r.has_value());
    std::vector<std::byte> buf(16);
    auto e = r->read_into("weight", st::span<std::byte>(buf));
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code() == st::errc::io_error);
    CHECK(contains(e.error().message(), "connection reset by test"));
    auto v = r->read(*r->header().find("tail"));
    REQUIRE_FALSE(v.has_value());
    CHECK(v.error().code() == st::errc::io_error);
    // A zero-sized tensor needs no read.
    CHECK(r->read_into("empty", st::span<std::byte>()).has_value());
  }

  TEST_CASE("memory_source") {
    const auto specs = sample_specs();
    const st_test::metadata_t md = std::vector<std::pair<std::string, std::string>>{{"k", "v"}};
    const auto bytes = st_test::make_file(specs, md);
    st::memory_source m(byte_span(bytes));
    CHECK(m.byte_size() == bytes.size());
    std::uint8_t three[3] = {0, 0, 0};
    REQUIRE(m.read_at(8, three, 3).has_value());
    CHECK(three[0] == bytes[8]);
    CHECK(three[2] == bytes[10]);
    CHECK(m.read_at(bytes.size(), three, 0).has_value());
    CHECK(outcome(m.read_at(bytes.size() - 1, three, 2)) == "IoError");
    CHECK(outcome(m.read_at(bytes.size() + 1, three, 0)) == "IoError");
    CHECK(outcome(m.read_at(~std::uint64_t{0}, three, 2)) == "IoError");
    CHECK(outcome(m.read_at(1, three, ~std::size_t{0})) == "IoError");

    auto r = st::source_reader::open(std::make_unique<st::memory_source>(byte_span(bytes)));
    REQUIRE(r.has_value());
    check_header_against_specs(r->header(), specs, md, bytes.size());
    for (const auto& t : expected_table(specs)) {
      auto v = r->read(*r->header().find(t.name));
      REQUIRE(v.has_value());
      CHECK(to_u8(*v) == t.data);
    }
    std::vector<std::uint8_t> shorter(bytes.begin(), bytes.end() - 3);
    CHECK(outcome(st::source_reader::open(std::make_unique<st::memory_source>(
              byte_span(shorter)))) == "MetadataIncompleteBuffer");
    CHECK(outcome(st::source_reader::open(std::make_unique<st::memory_source>(
              st::span<const std::byte>()))) == "HeaderTooSmall");
  }

  TEST_CASE("a file truncated after the reader opened it: read_into is IoError, not a crash") {
    st_test::temp_dir dir;
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    const fs::path p = dir.file("shrinking.safetensors");
    st_test::write_file(p, bytes);
    auto r = st::source_reader::open(p.string());
    REQUIRE(r.has_value());
    const auto table = expected_table(specs);
    const std::uint64_t data_offset = r->header().data_offset();

    // Cut the file in the middle of "bias" (the 2nd tensor): "weight" survives.
    std::error_code ec;
    fs::resize_file(p, data_offset + table[1].begin + 2, ec);
    REQUIRE_FALSE(ec);
    std::vector<std::byte> buf(16);
    auto w = r->read_into("weight", st::span<std::byte>(buf));
    REQUIRE(w.has_value());
    CHECK(to_u8(buf) == table[0].data);
    for (const char* name : {"bias", "flag", "tail"}) {
      CAPTURE(name);
      auto e = r->read_into(name, st::span<std::byte>(buf));
      REQUIRE_FALSE(e.has_value());
      CHECK(e.error().code() == st::errc::io_error);
      CHECK_FALSE(e.error().message().empty());
    }
    auto v = r->read(*r->header().find("tail"));
    CHECK(outcome(v) == "IoError");

    // Truncated to nothing.
    fs::resize_file(p, 0, ec);
    REQUIRE_FALSE(ec);
    CHECK(outcome(r->read_into("weight", st::span<std::byte>(buf))) == "IoError");
    // The header the reader parsed is still intact.
    check_header_against_specs(r->header(), specs, std::nullopt, bytes.size());
  }

  TEST_CASE("the three paths (memory, mapping, pread) give identical tables and bytes") {
    st_test::temp_dir dir;
    using md_t = st_test::metadata_t;
    using kv = std::vector<std::pair<std::string, std::string>>;
    struct input {
      std::vector<st_test::tensor_spec> specs;
      md_t md;
      std::size_t align;
    };
    std::vector<std::uint8_t> ramp(300);
    for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<std::uint8_t>(i * 7 + 3);
    auto slice = [&](std::size_t from, std::size_t n) {
      return std::vector<std::uint8_t>(ramp.begin() + static_cast<std::ptrdiff_t>(from),
                                       ramp.begin() + static_cast<std::ptrdiff_t>(from + n));
    };
    const std::vector<input> inputs{
        {{}, std::nullopt, 8},
        {{}, kv{}, 8},
        {{}, kv{{"framework", "pt"}, {"format", "pt"}}, 1},
        {sample_specs(), std::nullopt, 8},
        {sample_specs(), kv{{"a", "1"}, {"", "empty key"}, {"unicode \xc3\xa9", "\xe6\xa8\xa1"}},
         1},
        {{{"z0", "F32", {0}, {}},
          {"z1", "BF16", {3, 0, 2}, {}},
          {"x", "F16", {2, 3}, slice(0, 12)},
          {"z2", "I64", {0}, {}},
          {"y", "C64", {1}, slice(12, 8)},
          {"z3", "U8", {0, 0}, {}}},
         kv{{"zeros", "several share an offset"}},
         16},
        {{{"f4", "F4", {2, 3}, slice(20, 3)},
          {"f6", "F6_E2M3", {4}, slice(23, 3)},
          {"f6b", "F6_E3M2", {8}, slice(26, 6)},
          {"e8", "F8_E8M0", {5}, slice(32, 5)},
          {"fnuz", "F8_E5M2FNUZ", {1, 1, 1, 1}, slice(37, 1)},
          {"names/with/slashes", "U16", {2}, slice(38, 4)},
          {"../dots", "I8", {3}, slice(42, 3)},
          {std::string("nul\0inside", 10), "U32", {1}, slice(45, 4)},
          {"", "F64", {2}, slice(49, 16)},
          {"\xe6\xa8\xa1\xe5\x9e\x8b", "BOOL", {3}, {0, 1, 1}}},
         std::nullopt,
         1},
        {{{"big", "U8", {250}, slice(50, 250)}}, kv{{"k", "v"}}, 64},
    };
    int index = 0;
    for (const auto& in : inputs) {
      CAPTURE(index);
      const auto bytes = st_test::make_file(in.specs, in.md, in.align);
      const fs::path p = dir.file("three-" + std::to_string(index++) + ".safetensors");
      st_test::write_file(p, bytes);
      const auto disk = st_test::read_file(p);  // path 1: the file's bytes in memory
      REQUIRE(disk == bytes);

      auto mem = st::parse(byte_span(disk));
      auto mapped = st::mapped_file::open(p.string());
      auto reader = st::source_reader::open(p.string());
      REQUIRE(mem.has_value());
      REQUIRE(mapped.has_value());
      REQUIRE(reader.has_value());
      check_header_against_specs(mem->header(), in.specs, in.md, bytes.size());
      check_header_against_specs(mapped->header(), in.specs, in.md, bytes.size());
      check_header_against_specs(reader->header(), in.specs, in.md, bytes.size());
      check_same_header(mem->header(), mapped->header());
      check_same_header(mem->header(), reader->header());

      CHECK(to_u8(mem->data()) == to_u8(mapped->data()));
      for (const auto& t : expected_table(in.specs)) {
        CAPTURE(t.name);
        auto a = mem->tensor(t.name);
        auto b = mapped->tensor(t.name);
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        auto c = reader->read(*reader->header().find(t.name));
        REQUIRE(c.has_value());
        CHECK(to_u8(a->bytes()) == t.data);
        CHECK(to_u8(b->bytes()) == t.data);
        CHECK(to_u8(*c) == t.data);
      }
    }
  }

  TEST_CASE("a UTF-8 non-ASCII file name opens through std::string and std::filesystem::path") {
    st_test::temp_dir dir;
    const std::string name = "\xe6\xa8\xa1\xe5\x9e\x8b-\xc3\xbc.safetensors";  // 模型-ü
    const std::string utf8 = path_utf8(dir.path()) + "/" + name;
    const fs::path p = utf8_path(utf8);
    const auto specs = sample_specs();
    const auto bytes = st_test::make_file(specs);
    st_test::write_file(p, bytes);
    REQUIRE(fs::exists(p));
    CHECK(path_utf8(p.filename()) == name);

    auto m1 = st::file_mapping::open(utf8);
    REQUIRE(m1.has_value());
    CHECK(to_u8(m1->bytes()) == bytes);
    CHECK(m1->path() == utf8);
    auto m2 = st::file_mapping::open(p);
    REQUIRE(m2.has_value());
    CHECK(to_u8(m2->bytes()) == bytes);

    auto v1 = st::mapped_file::open(utf8);
    REQUIRE(v1.has_value());
    check_header_against_specs(v1->header(), specs, std::nullopt, bytes.size());
    auto v2 = st::mapped_file::open(p);
    REQUIRE(v2.has_value());
    check_header_against_specs(v2->header(), specs, std::nullopt, bytes.size());
    auto v3 = st::mapped_file::open(utf8.c_str());
    REQUIRE(v3.has_value());

    auto r1 = st::source_reader::open(utf8);
    REQUIRE(r1.has_value());
    check_header_against_specs(r1->header(), specs, std::nullopt, bytes.size());
    auto r2 = st::source_reader::open(p);
    REQUIRE(r2.has_value());
    auto tail = r2->read(*r2->header().find("tail"));
    REQUIRE(tail.has_value());
    CHECK(to_u8(*tail) == specs[4].data);
    auto s1 = st::file_source::open(utf8);
    REQUIRE(s1.has_value());
    CHECK((*s1)->byte_size() == bytes.size());
    auto s2 = st::file_source::open(p);
    REQUIRE(s2.has_value());
    CHECK((*s2)->byte_size() == bytes.size());

    // A missing non-ASCII name appears intact (as UTF-8) in the message.
    const std::string missing_name = "\xc3\xa9t\xc3\xa9-absent.safetensors";  // été-absent
    const std::string missing = path_utf8(dir.path()) + "/" + missing_name;
    auto e1 = st::mapped_file::open(missing);
    REQUIRE_FALSE(e1.has_value());
    CHECK(e1.error().code() == st::errc::io_error);
    CHECK(contains(e1.error().message(), missing_name));
    auto e2 = st::source_reader::open(utf8_path(missing));
    REQUIRE_FALSE(e2.has_value());
    CHECK(e2.error().code() == st::errc::io_error);
    CHECK(contains(e2.error().message(), missing_name));

    // An invalid file with a non-ASCII name: the parse error names it.
    const std::string bad_name = "\xe5\x9d\x8f.safetensors";  // 坏
    const std::string bad = path_utf8(dir.path()) + "/" + bad_name;
    st_test::write_file(utf8_path(bad), st_test::make_raw("[]"));
    auto e3 = st::mapped_file::open(bad);
    REQUIRE_FALSE(e3.has_value());
    CHECK(e3.error().code() == st::errc::invalid_header_deserialization);
    CHECK(contains(e3.error().message(), bad_name));
  }

  TEST_CASE("a sparse file over 4 GiB: offsets above 2^32 through the mapping and the reader") {
    constexpr std::uint64_t big = (std::uint64_t{1} << 32) + 16;  // 4 GiB + 16
    const std::string json =
        R"({"__metadata__":{"what":"sparse"},"big":{"dtype":"U8","shape":[4294967312],)"
        R"("data_offsets":[0,4294967312]},"tail":{"dtype":"I32","shape":[4],)"
        R"("data_offsets":[4294967312,4294967328]}})";
    std::string header = json;
    while ((8 + header.size()) % 8 != 0) header.push_back(' ');
    const std::uint64_t data_offset = 8 + header.size();
    const std::uint64_t total = data_offset + big + 16;

    st_test::temp_dir dir;
    const fs::path p = dir.file("sparse.safetensors");
    st_test::write_file(p, st_test::make_raw(header));
    std::error_code ec;
    fs::resize_file(p, total, ec);
    if (ec || fs::file_size(p, ec) != total) {
      st_test::skip_or_fail_in_ci("the filesystem refused a sparse file of " +
                                  std::to_string(total) + " bytes (" + ec.message() + ")");
      return;
    }
    const std::uint8_t first[4] = {0xB1, 0xB2, 0xB3, 0xB4};
    const std::uint8_t last[4] = {0xE1, 0xE2, 0xE3, 0xE4};  // the last 4 bytes of "big"
    // tail = I32 {1, -1, 0x12345678, INT32_MIN}
    const std::uint8_t tail_bytes[16] = {0x01, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
                                         0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x80};
    {
      std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
      REQUIRE(static_cast<bool>(f));
      f.seekp(static_cast<std::streamoff>(data_offset));
      f.write(reinterpret_cast<const char*>(first), 4);
      f.seekp(static_cast<std::streamoff>(data_offset + big - 4));
      f.write(reinterpret_cast<const char*>(last), 4);
      f.seekp(static_cast<std::streamoff>(data_offset + big));
      f.write(reinterpret_cast<const char*>(tail_bytes), 16);
      f.close();
      if (f.fail()) {
        st_test::skip_or_fail_in_ci("cannot write into the sparse file");
        return;
      }
    }
    REQUIRE(fs::file_size(p) == total);

    // The reader (pread, 64-bit offsets).
    {
      auto r = st::source_reader::open(p.string());
      REQUIRE(r.has_value());
      const auto& h = r->header();
      CHECK(h.size() == 2);
      CHECK(h.header_size() == header.size());
      CHECK(h.data_size() == big + 16);
      CHECK(h.file_size() == total);
      auto b = h.find("big");
      auto t = h.find("tail");
      REQUIRE((b.has_value() && t.has_value()));
      CHECK(b->offsets().begin == 0);
      CHECK(b->offsets().end == big);
      CHECK(b->byte_size() == big);
      CHECK(b->element_count() == big);
      CHECK(t->offsets().begin == big);
      CHECK(t->offsets().begin > (std::uint64_t{1} << 32));
      CHECK(t->offsets().end == big + 16);
      CHECK(h.tensors()[1].name() == "tail");
      std::vector<std::byte> buf(16);
      REQUIRE(r->read_into(*t, st::span<std::byte>(buf)).has_value());
      CHECK(to_u8(buf) == std::vector<std::uint8_t>(tail_bytes, tail_bytes + 16));
      auto v = r->read(*t);
      REQUIRE(v.has_value());
      CHECK(to_u8(*v) == std::vector<std::uint8_t>(tail_bytes, tail_bytes + 16));
      // Raw reads at offsets above 4 GiB through the source.
      std::uint8_t got[4];
      REQUIRE(r->source().read_at(data_offset + big - 4, got, 4).has_value());
      CHECK(std::equal(got, got + 4, last));
      REQUIRE(r->source().read_at(data_offset, got, 4).has_value());
      CHECK(std::equal(got, got + 4, first));
      std::vector<std::byte> small(100);
      CHECK(outcome(r->read_into(*b, st::span<std::byte>(small))) == "InvalidArgument");
    }

    // The mapping (needs a 64-bit address space).
    if (sizeof(std::size_t) < 8) {
      MESSAGE("mapping part skipped: 32-bit address space");
      return;
    }
    {
      auto v = st::mapped_file::open(p.string());
      REQUIRE(v.has_value());
      CHECK(v->mapping().byte_size() == total);
      CHECK(v->data().size() == big + 16);
      CHECK(v->header().header_size() == header.size());
      auto b = v->tensor("big");
      auto t = v->tensor("tail");
      REQUIRE((b.has_value() && t.has_value()));
      CHECK(b->byte_size() == big);
      CHECK(b->info().offsets().end == big);
      CHECK(t->info().offsets().begin == big);
      CHECK(t->info().offsets().end == big + 16);
      CHECK(t->data() == v->mapping().data() + data_offset + big);
      CHECK(to_u8(t->bytes()) == std::vector<std::uint8_t>(tail_bytes, tail_bytes + 16));
      CHECK(to_u8(b->bytes().subspan(0, 4)) == std::vector<std::uint8_t>(first, first + 4));
      CHECK(to_u8(b->bytes().subspan(static_cast<std::size_t>(big - 4))) ==
            std::vector<std::uint8_t>(last, last + 4));
      CHECK(std::to_integer<int>(b->bytes()[static_cast<std::size_t>(big / 2)]) == 0);  // a hole
      auto typed = t->as<std::int32_t>();
      REQUIRE(typed.has_value());
      CHECK(typed->to_vector() == std::vector<std::int32_t>{1, -1, 0x12345678, INT32_MIN});
      REQUIRE(v->metadata().has_value());
      CHECK(v->metadata()->at("what") == "sparse");
    }
  }
}
