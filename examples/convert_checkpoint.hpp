// Converting a checkpoint with the library's public API (docs/cli.md#convert): the tensors of a
// file or checkpoint, each optionally renamed and cast to another dtype, written by a stream
// writer in pieces, so that memory holds one piece whatever the size of the model.
//
//   1. declare():      the specs the stream writer is created with (name, dtype, shape);
//   2. write_tensors(): load() reads each piece (whole small tensors, or slices of large ones)
//      on worker threads, converting it on the way (load_request::to: the values of
//      encode_from_float / decode_to_float, round to nearest even), into a buffer, which a
//      second thread then writes to the stream writer (stream_writer or sharded_stream_writer)
//      in the writer's file order while the next piece is read into another buffer;
//   3. commit():       the writer renames the finished file(s) into place.
//
// examples/convert_checkpoint.cpp shows the three steps; safetensors-cli convert adds the
// selection of tensors, renames, metadata and progress (examples/cli_convert.hpp).
#ifndef SAFETENSORS_EXAMPLES_CONVERT_CHECKPOINT_HPP
#define SAFETENSORS_EXAMPLES_CONVERT_CHECKPOINT_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <safetensors/safetensors.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace safetensors_examples {

/// One tensor of the output: the input tensor `from`, written as `name` in dtype `to`.
struct converted_tensor {
  std::string from;
  std::string name;
  safetensors::dtype to = safetensors::dtype::F32;
};

/// How write_tensors() reads.
struct write_tensors_options {
  /// Output bytes read and converted per load() call; two buffers of this size are the memory
  /// the conversion takes.
  std::size_t piece_bytes = std::size_t{16} << 20;
  /// Worker threads of each load (0: one per core).
  unsigned threads = 0;
  /// Called with the input bytes read so far and in all; never from two threads at once.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

/// What write_tensors() did.
struct write_tensors_report {
  std::uint64_t bytes_read = 0;     ///< input tensor bytes
  std::uint64_t bytes_written = 0;  ///< output tensor bytes
  std::size_t loads = 0;            ///< load() calls
};

/// The specs to create the stream writer with: each tensor's output name and dtype, and the
/// input's shape. The input's errors (a shard that cannot be opened, TensorNotFound), and
/// InvalidArgument for a conversion load() cannot make (can_convert).
inline safetensors::result<std::vector<safetensors::tensor_spec>> declare(
    const safetensors::checkpoint& in, const std::vector<converted_tensor>& tensors) {
  namespace st = safetensors;
  std::vector<st::tensor_spec> specs;
  specs.reserve(tensors.size());
  for (const converted_tensor& t : tensors) {
    auto info = in.at(t.from);
    if (!info) return info.error();
    if (!st::can_convert(info->dtype(), t.to)) {
      return st::error(st::errc::invalid_argument, "tensor " + st::detail::quote(t.from) +
                                                       ": cannot convert " +
                                                       std::string(st::to_string(info->dtype())) +
                                                       " to " + std::string(st::to_string(t.to)));
    }
    st::tensor_spec spec;
    spec.name = t.name;
    spec.dtype = t.to;
    spec.shape.assign(info->shape().begin(), info->shape().end());
    specs.push_back(std::move(spec));
  }
  return specs;
}

namespace detail {

/// A tensor of `shape` in pieces of at most `elements` elements (or one element, or with
/// `sub_byte`, 8), each a slice that is contiguous in the tensor: a range of one dimension,
/// every dimension before it fixed to one index, every one after it whole. One piece (the whole
/// tensor, no slice) when it fits, and for a sub-byte dtype (F4, F6_*, either side of a
/// conversion) whose rows do not all start at a multiple of 8 elements (on a whole byte).
inline std::vector<std::vector<safetensors::dim_range>> pieces(
    safetensors::span<const std::uint64_t> shape, std::uint64_t elements, bool sub_byte) {
  std::uint64_t count = 1;
  for (const std::uint64_t d : shape) count *= d;  // a validated tensor's count: no overflow
  if (count <= elements || count == 0) return {{}};
  const std::size_t rank = shape.size();
  std::vector<std::uint64_t> inner(rank, 1);  // elements per index of each dimension
  for (std::size_t d = rank - 1; d-- > 0;) inner[d] = inner[d + 1] * shape[d + 1];
  std::size_t cut = 0;  // the first dimension whose indices fit
  while (inner[cut] > elements) ++cut;
  std::uint64_t step = std::max<std::uint64_t>(elements / inner[cut], 1);
  if (sub_byte) {  // every piece on whole bytes: steps of 8, rows of 8 elements or more
    step = std::max<std::uint64_t>(step / 8 * 8, 8);
    if (cut > 0 && inner[cut - 1] % 8 != 0) return {{}};
  }
  std::vector<std::vector<safetensors::dim_range>> out;
  std::vector<std::uint64_t> index(cut, 0);  // the fixed indices of dimensions [0, cut)
  for (;;) {
    for (std::uint64_t j = 0; j < shape[cut]; j += step) {
      std::vector<safetensors::dim_range> slice;
      for (std::size_t d = 0; d < cut; ++d) slice.push_back({index[d], index[d] + 1});
      slice.push_back({j, std::min(shape[cut], j + step)});
      out.push_back(std::move(slice));
    }
    std::size_t d = cut;
    while (d > 0 && ++index[d - 1] == shape[d - 1]) index[--d] = 0;
    if (d == 0) return out;
  }
}

}  // namespace detail

/// Streams every tensor of `tensors` from `in` into `writer` (a stream_writer or a
/// sharded_stream_writer created with declare()'s specs; not committed here), converting each to
/// its dtype. `groups` lists the tensors of each file the writer writes, as positions in
/// `tensors` (one group of all for a stream_writer; the layout's members() for a sharded one).
/// Tensors are written in the writer's file order: shard by shard, and within a shard by dtype
/// rank, then name (docs/writer.md#canonical-bytes), so that every write continues the previous
/// one. load()'s errors ("load: tensor 'x': ...") and the writer's.
template <class Writer>
safetensors::result<write_tensors_report> write_tensors(
    const safetensors::checkpoint& in, const std::vector<converted_tensor>& tensors,
    const std::vector<std::vector<std::size_t>>& groups, Writer& writer,
    const write_tensors_options& options = {}) {
  namespace st = safetensors;
  // Every piece in file order, with its output size.
  struct piece {
    std::size_t tensor = 0;
    st::load_request request;
    std::uint64_t bytes = 0;
  };
  std::vector<piece> order;
  write_tensors_report report;
  std::uint64_t total = 0;
  for (const std::vector<std::size_t>& group : groups) {
    std::vector<std::size_t> sorted = group;
    std::sort(sorted.begin(), sorted.end(), [&tensors](std::size_t a, std::size_t b) {
      if (tensors[a].to != tensors[b].to) return tensors[a].to > tensors[b].to;
      return tensors[a].name < tensors[b].name;
    });
    for (const std::size_t k : sorted) {
      auto info = in.at(tensors[k].from);
      if (!info) return info.error();
      total += info->byte_size();
      const unsigned from_bits = st::bit_size(info->dtype());
      const unsigned to_bits = st::bit_size(tensors[k].to);
      const std::uint64_t elements = std::max<std::uint64_t>(
          std::uint64_t{options.piece_bytes} * 8 / std::max(from_bits, to_bits), 1);
      const bool sub_byte = from_bits % 8 != 0 || to_bits % 8 != 0;
      for (auto& slice : detail::pieces(info->shape(), elements, sub_byte)) {
        piece p;
        p.tensor = k;
        p.request.name = tensors[k].from;
        p.request.slice = std::move(slice);
        p.request.to = tensors[k].to;
        auto size = st::load_size(*info, p.request);
        if (!size) return size.error();
        p.bytes = *size;
        order.push_back(std::move(p));
      }
    }
  }
  // Pieces loaded together into one buffer (piece_bytes, or one piece that could not be cut).
  // Two buffers: while a thread writes one batch from one, the next batch is loaded into the
  // other, so that reading and converting overlap writing (which waits for the disk). Each is
  // allocated once, at the largest batch's size, and never initialized.
  std::vector<std::pair<std::size_t, std::uint64_t>> batches;  // the first piece, the bytes
  std::uint64_t largest = 0;
  for (std::size_t first = 0, last = 0; first < order.size(); first = last) {
    std::uint64_t used = 0;
    while (last < order.size() &&
           (last == first || used + order[last].bytes <= options.piece_bytes)) {
      used += order[last++].bytes;
    }
    batches.emplace_back(first, used);
    largest = std::max(largest, used);
  }
  const auto size = static_cast<std::size_t>(largest);
  const std::unique_ptr<std::byte[]> buffers[2] = {
      std::unique_ptr<std::byte[]>(new std::byte[size]),
      std::unique_ptr<std::byte[]>(new std::byte[batches.size() > 1 ? size : 0])};
  std::thread writing;       // writes the previous batch
  st::result<void> written;  // what it returned
  const auto finish_writing = [&writing, &written]() -> st::result<void> {
    if (writing.joinable()) writing.join();
    return written;
  };
  std::uint64_t done = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const std::size_t first = batches[b].first;
    const std::size_t last = b + 1 < batches.size() ? batches[b + 1].first : order.size();
    std::byte* const buffer = buffers[b % 2].get();
    std::vector<st::load_request> batch;
    std::uint64_t at = 0;
    for (std::size_t i = first; i < last; ++i) {
      st::load_request r = order[i].request;
      r.dst = st::span<std::byte>(buffer + at, static_cast<std::size_t>(order[i].bytes));
      at += order[i].bytes;
      batch.push_back(std::move(r));
    }
    st::load_options lo;
    lo.threads = options.threads;
    if (options.progress) {
      lo.progress = [&options, done, total](const st::load_progress& p) {
        options.progress(done + p.bytes_done, total);
        return true;
      };
    }
    auto loaded = st::load(in, st::span<const st::load_request>(batch.data(), batch.size()), lo);
    if (auto w = finish_writing(); !w || !loaded) return !w ? w.error() : loaded.error();
    ++report.loads;
    done += loaded->bytes_read;
    report.bytes_read += loaded->bytes_read;
    report.bytes_written += batches[b].second;
    // The writer is used by one thread at a time: this one again only after join().
    writing = std::thread([&written, &writer, &order, &tensors, buffer, first, last] {
      written = {};
      std::size_t offset = 0;
      for (std::size_t i = first; i < last && written; ++i) {
        const auto n = static_cast<std::size_t>(order[i].bytes);
        written = writer.write(tensors[order[i].tensor].name,
                               st::span<const std::byte>(buffer + offset, n));
        offset += n;
      }
    });
  }
  if (auto w = finish_writing(); !w) return w.error();
  if (options.progress && order.empty()) options.progress(0, 0);
  return report;
}

}  // namespace safetensors_examples

#endif  // SAFETENSORS_EXAMPLES_CONVERT_CHECKPOINT_HPP
