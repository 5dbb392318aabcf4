// libFuzzer target: the sharded-checkpoint index parser (parse_index) and formatter
// (format_index). Checks, for every input:
//   - never a crash, a sanitizer report or an untyped failure; errors are the index's codes;
//   - an accepted index agrees with nlohmann's DOM (same weight_map size, same shard names);
//   - its invariants: weight_map sorted and unique, shard positions in range, shards sorted,
//     distinct, used and plain file names; find() finds every entry;
//   - format_index succeeds, reparses to the same index, and is a fixed point (Python's bytes);
//   - checkpoint::from_index accepts it (nothing is opened: shards are lazy).
// Build (clang 14):
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -I include fuzz_index.cpp -o fuzz_index && ./fuzz_index -dict=fuzz_index.dict corpus/
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <safetensors/safetensors.hpp>
#include <string>
#include <string_view>

namespace {
namespace st = safetensors;

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_index: %s: %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

#define FUZZ_REQUIRE(cond, detail)     \
  do {                                 \
    if (!(cond)) die(#cond, (detail)); \
  } while (0)

bool same(const st::shard_index& a, const st::shard_index& b) {
  if (a.metadata != b.metadata || a.shards != b.shards) return false;
  if (a.weight_map.size() != b.weight_map.size()) return false;
  for (std::size_t i = 0; i < a.weight_map.size(); ++i) {
    if (a.weight_map[i].name != b.weight_map[i].name ||
        a.weight_map[i].shard != b.weight_map[i].shard) {
      return false;
    }
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto idx = st::parse_index(text);
  if (!idx) {
    const st::errc c = idx.error().code();
    FUZZ_REQUIRE(c == st::errc::invalid_header_deserialization || c == st::errc::duplicate_key,
                 idx.error().to_string());
    FUZZ_REQUIRE(!idx.error().message().empty(), "empty message");
    return 0;
  }
  // nlohmann's DOM accepts what we accept (we are stricter: duplicates, depth, BOM, NUL).
  const auto dom = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  FUZZ_REQUIRE(!dom.is_discarded() && dom.is_object(), "accepted, but not a JSON object");
  const auto wm = dom.find("weight_map");
  FUZZ_REQUIRE(wm != dom.end() && wm->is_object(), "accepted without a weight_map object");
  FUZZ_REQUIRE(wm->size() == idx->weight_map.size(), "weight_map size differs from the DOM");

  // Invariants.
  const auto& map = idx->weight_map;
  for (std::size_t i = 0; i < map.size(); ++i) {
    FUZZ_REQUIRE(map[i].shard < idx->shards.size(), "shard position out of range");
    if (i > 0) FUZZ_REQUIRE(map[i - 1].name < map[i].name, "weight_map not sorted and unique");
    const auto found = idx->find(map[i].name);
    FUZZ_REQUIRE(found && *found == map[i].shard, "find() misses an entry");
    const auto it = wm->find(map[i].name);
    FUZZ_REQUIRE(it != wm->end() && it->is_string() &&
                     *it->get_ptr<const std::string*>() == idx->shards[map[i].shard],
                 "the shard name differs from the DOM");
  }
  std::vector<bool> used(idx->shards.size(), false);
  for (const auto& e : map) used[e.shard] = true;
  for (std::size_t i = 0; i < idx->shards.size(); ++i) {
    const std::string& s = idx->shards[i];
    FUZZ_REQUIRE(used[i], "an unused shard");
    if (i > 0) FUZZ_REQUIRE(idx->shards[i - 1] < s, "shards not sorted and distinct");
    FUZZ_REQUIRE(!s.empty() && s != "." && s != "..", "a directory shard name: " + s);
    FUZZ_REQUIRE(s.find_first_of(std::string_view("/\\:\0", 4)) == std::string::npos,
                 "a shard name with a separator: " + s);
  }
  FUZZ_REQUIRE(idx->metadata.is_null() || idx->metadata.is_object(), "metadata type");
  (void)idx->total_size();

  // format -> parse is the identity, and format is a fixed point.
  auto text2 = st::format_index(*idx);
  FUZZ_REQUIRE(text2.has_value(), text2.error().to_string());
  auto idx2 = st::parse_index(*text2);
  FUZZ_REQUIRE(idx2.has_value(), idx2.error().to_string() + "\n" + *text2);
  FUZZ_REQUIRE(same(*idx, *idx2), "format -> parse changed the index:\n" + *text2);
  auto text3 = st::format_index(*idx2);
  FUZZ_REQUIRE(text3.has_value() && *text3 == *text2, "format is not a fixed point");

  // A checkpoint over it: names are checked again, nothing is opened.
  const std::size_t tensors = idx->weight_map.size();
  const std::size_t shards = idx->shards.size();
  auto ckpt = st::checkpoint::open(std::move(*idx), "/nonexistent-fuzz-dir");
  FUZZ_REQUIRE(ckpt.has_value(), ckpt.error().to_string());
  FUZZ_REQUIRE(ckpt->size() == tensors && ckpt->shard_count() == shards, "checkpoint sizes");
  if (tensors > 0) {
    FUZZ_REQUIRE(ckpt->contains(ckpt->entries().front().name), "contains()");
  }
  return 0;
}
