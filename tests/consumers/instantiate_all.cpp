// Instantiates every part of the library that is compiled only when used
// (docs/design.md#compile-cost), so that a build of this file checks all of the header's code
// under the warning flags it is compiled with, as if a program used every entry point. With
// SAFETENSORS_HEADER_ONLY=0 (docs/design.md#separate-compilation) the library's own templates are
// compiled by its implementation unit: this file then declares those instantiations (extern
// template) as a translation unit that calls them does, and instantiates only the templates on
// the caller's types (paths, sources, element types).
#include <filesystem>
#include <safetensors/safetensors.hpp>
#include <string>

namespace st = safetensors;

#if SAFETENSORS_DEFINITIONS
#define ST_LIBRARY_TEMPLATE template
#else
#define ST_LIBRARY_TEMPLATE extern template
#endif

// The class templates, whole.
ST_LIBRARY_TEMPLATE class st::basic_checkpoint<void>;
ST_LIBRARY_TEMPLATE class st::basic_stream_writer<void>;
ST_LIBRARY_TEMPLATE class st::basic_sharded_stream_writer<void>;
ST_LIBRARY_TEMPLATE class st::basic_json_value<void>;
#if SAFETENSORS_DEFINITIONS  // the library's internals: compiled by its implementation unit
template class st::detail::header_sax<void>;
template class st::detail::index_sax<void>;
template struct st::detail::shard_slot<void>;
template class st::detail::write_buffer<void>;
#endif

// The function templates, with each kind of path and range argument.
ST_LIBRARY_TEMPLATE st::result<st::file_view> st::parse<void>(st::span<const std::byte>,
                                                              const st::parse_options&);
ST_LIBRARY_TEMPLATE st::result<st::shard_index> st::parse_index<void>(std::string_view);
ST_LIBRARY_TEMPLATE st::result<std::string> st::format_index<void>(const st::shard_index&);
ST_LIBRARY_TEMPLATE st::result<st::write_plan> st::write_plan::create<void>(
    const std::vector<st::tensor_spec>&, const std::optional<st::metadata_map>&,
    const st::write_options&);
ST_LIBRARY_TEMPLATE st::result<std::vector<std::byte>> st::serialize<void>(
    const std::vector<st::tensor_spec>&, const std::optional<st::metadata_map>&,
    const st::write_options&);
ST_LIBRARY_TEMPLATE st::result<st::shard_layout> st::shard_layout::create<void>(
    const std::vector<st::tensor_spec>&, const st::sharded_write_options&);
ST_LIBRARY_TEMPLATE st::result<st::slice_plan> st::plan_slice<void>(const st::tensor_info&,
                                                                    st::span<const st::dim_range>);
ST_LIBRARY_TEMPLATE st::result<void> st::slice_into<void>(const st::tensor_view&,
                                                          st::span<const st::dim_range>,
                                                          st::span<std::byte>);
ST_LIBRARY_TEMPLATE st::result<std::vector<std::byte>> st::slice<void>(
    const st::tensor_view&, st::span<const st::dim_range>);
ST_LIBRARY_TEMPLATE st::result<void> st::decode_to_float<void>(st::dtype, st::span<const std::byte>,
                                                               st::span<float>);
ST_LIBRARY_TEMPLATE st::result<void> st::to_float<void>(const st::tensor_view&, st::span<float>);
ST_LIBRARY_TEMPLATE st::result<std::vector<float>> st::to_float<void>(const st::tensor_view&);
ST_LIBRARY_TEMPLATE st::result<std::vector<st::c64>> st::to_complex<void>(const st::tensor_view&);
ST_LIBRARY_TEMPLATE st::result<void> st::encode_from_float<void>(st::span<const float>, st::dtype,
                                                                 st::span<std::byte>,
                                                                 st::overflow_mode);
ST_LIBRARY_TEMPLATE st::result<std::uint64_t> st::load_size<void>(const st::tensor_info&,
                                                                  const st::load_request&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::source_reader&,
                                                               st::span<const st::load_request>,
                                                               const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::mapped_file&,
                                                               st::span<const st::load_request>,
                                                               const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::checkpoint&,
                                                               st::span<const st::load_request>,
                                                               const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::source_reader&,
                                                               st::span<const st::load_request>,
                                                               st::load_sink&,
                                                               const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::mapped_file&,
                                                               st::span<const st::load_request>,
                                                               st::load_sink&,
                                                               const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::load_report> st::load<void>(const st::checkpoint&,
                                                               st::span<const st::load_request>,
                                                               st::load_sink&,
                                                               const st::load_options&);
template st::result<st::load_report> st::load<st::mapped_file>(
    const st::mapped_file&, std::initializer_list<st::load_request>, const st::load_options&);
template st::result<st::load_report> st::load<st::checkpoint>(
    const st::checkpoint&, std::initializer_list<st::load_request>, st::load_sink&,
    const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(
    const st::source_reader&, st::span<const st::load_request>, const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(
    const st::mapped_file&, st::span<const st::load_request>, const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(
    const st::checkpoint&, st::span<const st::load_request>, const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(const st::source_reader&,
                                                                          const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(const st::mapped_file&,
                                                                          const st::load_options&);
ST_LIBRARY_TEMPLATE st::result<st::loaded_tensors> st::load_tensors<void>(const st::checkpoint&,
                                                                          const st::load_options&);
template st::result<st::span<float>> st::loaded_tensor::as<float>();
template st::result<st::span<const st::bf16>> st::loaded_tensor::as<st::bf16>() const;

// Entry points that take paths: both kinds.
template st::result<st::mapped_file> st::mapped_file::open<std::string>(const std::string&,
                                                                        const st::parse_options&,
                                                                        const st::map_options&);
template st::result<st::mapped_file> st::mapped_file::open<std::filesystem::path>(
    const std::filesystem::path&, const st::parse_options&, const st::map_options&);
template st::result<st::source_reader> st::source_reader::open<std::string>(
    const std::string&, const st::parse_options&);
template st::result<st::source_reader> st::source_reader::open<st::memory_source>(
    std::unique_ptr<st::memory_source>, const st::parse_options&);
template st::result<void> st::save_file<std::string>(const std::string&,
                                                     const std::vector<st::tensor_spec>&,
                                                     const std::optional<st::metadata_map>&,
                                                     const st::write_options&);
template st::result<st::stream_writer> st::stream_writer::create<std::filesystem::path>(
    const std::filesystem::path&, const std::vector<st::tensor_spec>&,
    const std::optional<st::metadata_map>&, const st::write_options&);
template st::result<st::checkpoint> st::checkpoint::open<std::string>(
    const std::string&, const st::checkpoint_options&);
template st::result<st::shard_layout> st::save_sharded<std::string>(
    const std::string&, const std::vector<st::tensor_spec>&, const st::sharded_write_options&);
template st::result<st::sharded_stream_writer> st::sharded_stream_writer::create<std::string>(
    const std::string&, const std::vector<st::tensor_spec>&, const st::sharded_write_options&);
template st::result<st::shard_layout> st::save_sharded<std::string>(
    const std::string&, const std::vector<st::tensor_spec>&, const std::optional<st::metadata_map>&,
    const st::sharded_write_options&);
template st::result<st::sharded_stream_writer> st::sharded_stream_writer::create<std::string>(
    const std::string&, const std::vector<st::tensor_spec>&, const std::optional<st::metadata_map>&,
    const st::sharded_write_options&);
template st::result<void> st::merge_checkpoint<std::string>(const st::checkpoint&,
                                                            const std::string&,
                                                            const st::write_options&);
