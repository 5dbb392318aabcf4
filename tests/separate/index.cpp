// The index functions in the separate-compilation mode (see main.cpp): the whole header, with
// SAFETENSORS_HEADER_ONLY=0.
#include <safetensors/safetensors.hpp>
#include <string>

#if SAFETENSORS_HEADER_ONLY || SAFETENSORS_DEFINITIONS
#error "tests/separate/index.cpp is compiled with SAFETENSORS_HEADER_ONLY=0"
#endif

#define SEPARATE_STRINGIFY2(x) #x
#define SEPARATE_STRINGIFY(x) SEPARATE_STRINGIFY2(x)

std::string separate_abi_namespace() { return SEPARATE_STRINGIFY(SAFETENSORS_ABI); }

std::string separate_index_roundtrip() {
  namespace st = safetensors;
  const std::string text =
      "{\n  \"metadata\": {\n    \"total_size\": 28\n  },\n  \"weight_map\": {\n"
      "    \"b\": \"model-00002-of-00002.safetensors\",\n"
      "    \"w\": \"model-00001-of-00002.safetensors\"\n  }\n}\n";
  auto index = st::parse_index(text);
  if (!index) return "parse_index: " + index.error().to_string();
  if (index->total_size() != std::optional<std::uint64_t>(28)) return "total_size";
  if (index->shards.size() != 2 || index->find("b") != std::optional<std::size_t>(1)) {
    return "shards and find";
  }
  auto formatted = st::format_index(*index);
  if (!formatted || *formatted != text) return "format_index does not give the same text back";
  auto escaping = st::parse_index("{\"weight_map\": {\"w\": \"../w.safetensors\"}}");
  if (escaping || escaping.error().code() != st::errc::invalid_header_deserialization) {
    return "a shard name outside the index's directory";
  }
  return "";
}
