// source_reader reads what the file states (the header length, a tensor's size) into buffers
// that grow as the bytes arrive (docs/security.md#opening-untrusted-files): a source whose claims
// are not backed by bytes costs at most the first 4 MiB, whatever it claims.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

namespace st = safetensors;

namespace {

// A source that holds `head` (the file's first bytes), claims `size` bytes in all, and fails any
// read beyond `head`, recording the size of every read asked for.
class claiming_source final : public st::random_access_source {
 public:
  claiming_source(std::string head, std::uint64_t size, std::vector<std::size_t>* reads)
      : head_(std::move(head)), size_(size), reads_(reads) {}
  std::uint64_t byte_size() const noexcept override { return size_; }
  st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    reads_->push_back(n);
    if (offset > head_.size() || n > head_.size() - offset) {
      return st::error(st::errc::io_error, "no such bytes (the source only claims them)");
    }
    if (n != 0) std::memcpy(dst, head_.data() + offset, n);
    return {};
  }

 private:
  std::string head_;
  std::uint64_t size_;
  std::vector<std::size_t>* reads_;
};

std::string prefix(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

constexpr std::size_t first_read = std::size_t{4} << 20;

}  // namespace

TEST_CASE("source_reader::read asks for a claimed tensor's bytes 4 MiB first") {
  const std::uint64_t claim = 600'000'000;
  std::string json = R"({"big":{"dtype":"U8","shape":[600000000],"data_offsets":[0,600000000]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::vector<std::size_t> reads;
  auto reader = st::source_reader::open(std::make_unique<claiming_source>(
      prefix(json.size()) + json, 8 + json.size() + claim, &reads));
  REQUIRE(reader);
  reads.clear();
  auto big = reader->read("big");
  REQUIRE_FALSE(big);
  CHECK(big.error() == st::errc::io_error);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0] == first_read);  // not 600 MB, allocated and zeroed before any byte came
}

TEST_CASE("source_reader::open asks for a claimed header 4 MiB first") {
  std::vector<std::size_t> reads;
  auto reader = st::source_reader::open(
      std::make_unique<claiming_source>(prefix(99'000'000), 8 + 99'000'000, &reads));
  REQUIRE_FALSE(reader);
  CHECK(reader.error() == st::errc::io_error);
  REQUIRE(reads.size() == 2);  // the length prefix, then the header's first 4 MiB
  CHECK(reads[1] == first_read);
}

TEST_CASE("source_reader::read of a tensor above 4 MiB: every byte, in doubling reads") {
  const std::size_t size = (std::size_t{10} << 20) + 3;
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
  const std::vector<st::tensor_spec> specs{
      {"t",
       st::dtype::U8,
       {size},
       st::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), size),
       {}}};
  const auto bytes = st::serialize(specs).value();
  auto reader = st::source_reader::open(
      std::make_unique<st::memory_source>(st::span<const std::byte>(bytes)));
  REQUIRE(reader);
  auto t = reader->read("t");
  REQUIRE(t);
  REQUIRE(t->size() == size);
  CHECK(std::memcmp(t->data(), data.data(), size) == 0);
}
