// safetensors for C++, part 4 of 14: the tensor table and views. tensor_info, header (the
// validated table the parser built), typed element views over little-endian bytes of any
// alignment, and slicing: which bytes of a tensor a sub-range of its dimensions takes.
// Each part declares, then defines under SAFETENSORS_DEFINITIONS, which the translation units of
// the separate-compilation mode do not see (docs/design.md#separate-compilation).
// `template <class = void>` marks what is compiled only when used (docs/design.md#compile-cost).
//
// SPDX-License-Identifier: MIT
#ifndef SAFETENSORS_PARTS_TABLE_HPP
#define SAFETENSORS_PARTS_TABLE_HPP

#include "parse.hpp"

namespace safetensors {
inline namespace SAFETENSORS_ABI {

/// Begin and end of a tensor's bytes, relative to the start of the data buffer.
struct data_offsets {
  std::uint64_t begin = 0;  ///< first byte
  std::uint64_t end = 0;    ///< one past the last byte
};

/// One entry of the tensor table. A lightweight view: valid while its header lives.
class tensor_info {
 public:
  tensor_info() = default;
  /// Builds an entry (the parser does this; useful for tests).
  tensor_info(std::string_view name, safetensors::dtype type, span<const std::uint64_t> shape,
              data_offsets offsets, std::uint64_t element_count) noexcept
      : name_(name), shape_(shape), offsets_(offsets), elements_(element_count), type_(type) {}

  /// The tensor's name (any UTF-8 string; it is data, never a path).
  std::string_view name() const noexcept { return name_; }
  /// The element type.
  safetensors::dtype dtype() const noexcept { return type_; }
  /// The shape; empty for a scalar.
  span<const std::uint64_t> shape() const noexcept { return shape_; }
  /// The number of dimensions.
  std::size_t rank() const noexcept { return shape_.size(); }
  /// [begin, end) relative to the data buffer.
  data_offsets offsets() const noexcept { return offsets_; }
  /// end - begin.
  std::uint64_t byte_size() const noexcept { return offsets_.end - offsets_.begin; }
  /// The product of the shape (1 for a scalar).
  std::uint64_t element_count() const noexcept { return elements_; }

 private:
  std::string_view name_;
  span<const std::uint64_t> shape_;
  data_offsets offsets_;
  std::uint64_t elements_ = 0;
  safetensors::dtype type_ = safetensors::dtype::BOOL;
};

namespace detail {
/// A random-access iterator over an indexable sequence whose operator[] returns by value.
template <class Seq, class Value>
class index_iterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Value;

  index_iterator() = default;
  index_iterator(const Seq* seq, std::size_t i) noexcept : seq_(seq), i_(i) {}
  Value operator*() const { return (*seq_)[i_]; }
  Value operator[](difference_type n) const {
    return (*seq_)[static_cast<std::size_t>(static_cast<difference_type>(i_) + n)];
  }
  index_iterator& operator++() noexcept {
    ++i_;
    return *this;
  }
  index_iterator operator++(int) noexcept {
    auto t = *this;
    ++i_;
    return t;
  }
  index_iterator& operator--() noexcept {
    --i_;
    return *this;
  }
  index_iterator operator--(int) noexcept {
    auto t = *this;
    --i_;
    return t;
  }
  index_iterator& operator+=(difference_type n) noexcept {
    i_ = static_cast<std::size_t>(static_cast<difference_type>(i_) + n);
    return *this;
  }
  index_iterator& operator-=(difference_type n) noexcept { return *this += -n; }
  friend index_iterator operator+(index_iterator it, difference_type n) noexcept { return it += n; }
  friend index_iterator operator+(difference_type n, index_iterator it) noexcept { return it += n; }
  friend index_iterator operator-(index_iterator it, difference_type n) noexcept { return it -= n; }
  friend difference_type operator-(const index_iterator& a, const index_iterator& b) noexcept {
    return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
  }
  friend bool operator==(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ == b.i_;
  }
  friend bool operator!=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ != b.i_;
  }
  friend bool operator<(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ < b.i_;
  }
  friend bool operator>(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ > b.i_;
  }
  friend bool operator<=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ <= b.i_;
  }
  friend bool operator>=(const index_iterator& a, const index_iterator& b) noexcept {
    return a.i_ >= b.i_;
  }

 private:
  const Seq* seq_ = nullptr;
  std::size_t i_ = 0;
};

}  // namespace detail

class header;

/// The tensors of a header in one order (offset order or name order), as tensor_info values.
class tensor_range {
 public:
  using iterator = detail::index_iterator<tensor_range, tensor_info>;
  /// Number of tensors.
  std::size_t size() const noexcept { return size_; }
  /// True when there are no tensors.
  bool empty() const noexcept { return size_ == 0; }
  /// Entry i in this order (unchecked).
  tensor_info operator[](std::size_t i) const;
  /// Iterator to the first entry.
  iterator begin() const noexcept { return {this, 0}; }
  /// Iterator past the last entry.
  iterator end() const noexcept { return {this, size_}; }

 private:
  friend class header;
  tensor_range(const header* h, const std::size_t* order, std::size_t size) noexcept
      : header_(h), order_(order), size_(size) {}
  const header* header_;
  const std::size_t* order_;
  std::size_t size_;
};

/// A parsed and validated header: the tensor table, the metadata and the sizes. Owns its data;
/// holds no tensor bytes. Immutable, so safe to share between threads.
class header {
 public:
  header() = default;
  /// Wraps a table the parser built and validated (the readers do this).
  explicit header(detail::table t) noexcept : t_(std::move(t)) {}

  /// Number of tensors.
  std::size_t size() const noexcept { return t_.records.size(); }
  bool empty() const noexcept { return t_.records.empty(); }
  /// The tensors in data offset order (ties, which only zero-sized tensors have, by name).
  tensor_range tensors() const noexcept { return {this, t_.by_offset.data(), t_.by_offset.size()}; }
  /// The tensors in name order (byte-wise, as std::string_view compares).
  tensor_range tensors_by_name() const noexcept {
    return {this, t_.by_name.data(), t_.by_name.size()};
  }
  /// The tensor named `name`, or nullopt. O(1) on average.
  std::optional<tensor_info> find(std::string_view name) const noexcept {
    const auto record = t_.find(name);
    if (!record) return std::nullopt;
    return info(*record);
  }
  /// The tensor named `name`, or a TensorNotFound error.
  SAFETENSORS_FUNC result<tensor_info> at(std::string_view name) const;
  bool contains(std::string_view name) const noexcept { return t_.find(name).has_value(); }
  /// The `__metadata__` map; nullopt when the header has none (or `null`), distinct from empty.
  const std::optional<metadata_map>& metadata() const noexcept { return t_.metadata; }
  /// N, the header's length in bytes (padding included).
  std::uint64_t header_size() const noexcept { return t_.header_size; }
  /// 8 + N: where the data buffer starts in the file.
  std::uint64_t data_offset() const noexcept { return 8 + t_.header_size; }
  /// The data buffer's size: the end offset of the last tensor.
  std::uint64_t data_size() const noexcept { return t_.data_size; }
  /// 8 + N + data_size(): the size of a file holding exactly this header and its data.
  std::uint64_t file_size() const noexcept { return data_offset() + t_.data_size; }
  /// True when `info` describes a byte range inside this header's data buffer (an entry of this
  /// file, or one no larger than it); the readers check it before touching bytes.
  bool holds(const tensor_info& info) const noexcept {
    const data_offsets o = info.offsets();
    return o.begin <= o.end && o.end <= t_.data_size;
  }

 private:
  friend class tensor_range;
  tensor_info info(std::size_t record) const noexcept {
    const detail::tensor_record& r = t_.records[record];
    return tensor_info(t_.name(record), r.type, t_.shape(record), data_offsets{r.begin, r.end},
                       r.elements);
  }
  detail::table t_;
};

inline tensor_info tensor_range::operator[](std::size_t i) const {
  return header_->info(order_[i]);
}

template <>
struct detail::owns_views<header> : std::true_type {};

namespace detail {
template <class T>
struct component {
  using type = T;
};
template <class T>
struct component<std::complex<T>> {
  using type = T;
};

/// Reads one little-endian element of type T from possibly unaligned memory.
template <class T>
T load_le(const std::byte* p) noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    return std::to_integer<unsigned char>(*p) != 0;  // any non-zero byte is true
  } else {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, p, sizeof(T));
#if SAFETENSORS_BIG_ENDIAN
    constexpr std::size_t w = sizeof(typename component<T>::type);
    for (std::size_t c = 0; c < sizeof(T); c += w) std::reverse(raw + c, raw + c + w);
#endif
    T value;
    std::memcpy(static_cast<void*>(&value), raw, sizeof(T));
    return value;
  }
}
}  // namespace detail

/// Typed, read-only access to a tensor's elements. Reads go through memcpy, so the data may have
/// any alignment; on big-endian hosts each element is byte-swapped as it is read. BOOL bytes
/// read as `byte != 0`. Valid while the underlying bytes live.
template <class T>
class element_view {
 public:
  using value_type = T;
  using iterator = detail::index_iterator<element_view, T>;

  element_view() = default;
  /// A view of `count` elements starting at `data` (unchecked; tensor_view::as() checks).
  element_view(const std::byte* data, std::size_t count) noexcept : data_(data), size_(count) {}
  /// Number of elements.
  std::size_t size() const noexcept { return size_; }
  /// True when there are no elements.
  bool empty() const noexcept { return size_ == 0; }
  /// Element i, decoded from little-endian (unchecked index).
  T operator[](std::size_t i) const noexcept { return detail::load_le<T>(data_ + i * sizeof(T)); }
  /// Iterator to the first element.
  iterator begin() const noexcept { return {this, 0}; }
  /// Iterator past the last element.
  iterator end() const noexcept { return {this, size_}; }
  /// A typed pointer for true zero-copy use: non-null when the data is aligned for T, T is not
  /// bool, and the host is little-endian or T is a 1-byte type (a big-endian host would see
  /// wider elements byte-swapped: use operator[] or copy_to there). Files from the canonical
  /// writer are aligned.
  const T* data() const noexcept {
    if constexpr (std::is_same_v<T, bool> || (SAFETENSORS_BIG_ENDIAN && sizeof(T) > 1)) {
      return nullptr;
    } else {
      if (reinterpret_cast<std::uintptr_t>(data_) % alignof(T) != 0) return nullptr;
      return reinterpret_cast<const T*>(data_);
    }
  }
  /// Copies every element into `out` (decoding as operator[] does). InvalidArgument when `out`
  /// holds fewer than size() elements.
  result<void> copy_to(span<T> out) const {
    if (out.size() < size_) {
      return safetensors::error(errc::invalid_argument,
                                "copy_to: the destination holds " + std::to_string(out.size()) +
                                    " elements, the tensor has " + std::to_string(size_));
    }
    if constexpr (!std::is_same_v<T, bool> && !SAFETENSORS_BIG_ENDIAN) {
      if (size_ != 0) std::memcpy(static_cast<void*>(out.data()), data_, size_ * sizeof(T));
    } else {
      for (std::size_t i = 0; i < size_; ++i) out[i] = (*this)[i];
    }
    return {};
  }
  /// The elements as a new vector.
  std::vector<T> to_vector() const {
    if constexpr (std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
      std::vector<bool> out(size_);
      for (std::size_t i = 0; i < size_; ++i) out[i] = (*this)[i];
      return out;
    } else {
      std::vector<T> out(size_);
      (void)copy_to(span<T>(out));
      return out;
    }
  }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A tensor's entry and its bytes (non-owning, zero copy).
class tensor_view {
 public:
  tensor_view() = default;
  /// A view of `bytes` described by `info` (the readers build these).
  tensor_view(tensor_info info, span<const std::byte> bytes) noexcept
      : info_(info), bytes_(bytes) {}

  /// The table entry.
  const tensor_info& info() const noexcept { return info_; }
  /// The tensor's name.
  std::string_view name() const noexcept { return info_.name(); }
  /// The element type.
  safetensors::dtype dtype() const noexcept { return info_.dtype(); }
  /// The shape.
  span<const std::uint64_t> shape() const noexcept { return info_.shape(); }
  /// The number of elements.
  std::uint64_t element_count() const noexcept { return info_.element_count(); }
  /// The raw little-endian bytes. No alignment is promised: a file may place a tensor anywhere.
  span<const std::byte> bytes() const noexcept { return bytes_; }
  /// Pointer to the first byte.
  const std::byte* data() const noexcept { return bytes_.data(); }
  /// Number of bytes.
  std::size_t byte_size() const noexcept { return bytes_.size(); }
  /// Typed access: DtypeMismatch unless dtype_of<T> is this tensor's dtype; InvalidArgument when
  /// the view holds fewer bytes than its elements need.
  template <class T>
  result<element_view<T>> as() const {
    static_assert(std::is_trivially_copyable_v<T>, "element types must be trivially copyable");
    static_assert(detail::has_dtype<T>::value, "no dtype_of<T> for this element type");
    if (dtype_of<T>::value != info_.dtype()) {
      return detail::dtype_mismatch(info_.name(), info_.dtype(), dtype_of<T>::value);
    }
    // A view over fewer bytes than its elements need (a tensor_info of another file, a hand-made
    // view) must not be read past its end.
    std::uint64_t need = 0;
    if (!detail::checked_mul(info_.element_count(), sizeof(T), need) || need > bytes_.size()) {
      return safetensors::error(
          errc::invalid_argument,
          detail::cat({detail::tensor_name(info_.name()), ": the view holds ",
                       detail::num(bytes_.size()), " bytes, fewer than its ",
                       detail::num(info_.element_count()), " elements need"}));
    }
    return element_view<T>(bytes_.data(), detail::int_cast<std::size_t>(info_.element_count()));
  }

 private:
  tensor_info info_;
  span<const std::byte> bytes_;
};

// --- slicing ---------------------------------------------------------------------------------

/// The half-open range [start, stop) of one dimension (step 1).
struct dim_range {
  std::uint64_t start = 0;  ///< first index taken
  std::uint64_t stop = 0;   ///< one past the last index taken (never clamped)
};

class slice_plan;

/// Plans the slice of `info` taking `ranges[d]` of dimension d; dimensions without a range are
/// taken whole. Errors: more ranges than dimensions, start > stop or stop > the dimension's size
/// (InvalidArgument; nothing is clamped), a sub-byte slice (F4, F6_*) whose runs do not start
/// and end on byte boundaries (MisalignedSlice), a shape whose sizes overflow
/// (ValidationOverflow).
template <class = void>
result<slice_plan> plan_slice(const tensor_info& info, span<const dim_range> ranges);

/// Where a slice's bytes are in its tensor: run_count() contiguous runs of run_size() bytes,
/// the first at first_offset(), the others reached by an odometer over counts() with byte
/// strides strides() (outermost first). Copying the runs in order gives the slice in row-major
/// order. Offsets are relative to the tensor's first byte.
class slice_plan {
 public:
  /// The slice's shape (same rank as the tensor).
  span<const std::uint64_t> shape() const noexcept { return shape_; }
  /// The slice's element count.
  std::uint64_t element_count() const noexcept { return elements_; }
  /// The slice's size in bytes (run_count() * run_size()).
  std::uint64_t byte_size() const noexcept { return run_count_ * run_size_; }
  /// Bytes per contiguous run.
  std::uint64_t run_size() const noexcept { return run_size_; }
  /// Number of runs (0 for an empty slice).
  std::uint64_t run_count() const noexcept { return run_count_; }
  /// Byte offset of the first run in the tensor.
  std::uint64_t first_offset() const noexcept { return first_; }
  /// The bytes the whole tensor's shape needs (a view must hold at least these).
  std::uint64_t tensor_byte_size() const noexcept { return tensor_bytes_; }
  /// How many steps each outer dimension takes (only dimensions with more than one step).
  span<const std::uint64_t> counts() const noexcept { return counts_; }
  /// The byte stride of each of those dimensions.
  span<const std::uint64_t> strides() const noexcept { return strides_; }
  /// Calls f(offset, size) for each run in order. If f returns bool, false stops the walk;
  /// returns false then, true when every run was visited.
  template <class F>
  bool for_each_run(F&& f) const {
    if (run_count_ == 0) return true;
    std::vector<std::uint64_t> index(counts_.size(), 0);
    std::uint64_t offset = first_;
    for (std::uint64_t r = 0; r < run_count_; ++r) {
      if constexpr (std::is_same_v<decltype(f(offset, run_size_)), bool>) {
        if (!f(offset, run_size_)) return false;
      } else {
        f(offset, run_size_);
      }
      for (std::size_t d = counts_.size(); d-- > 0;) {  // odometer, innermost first
        if (++index[d] < counts_[d]) {
          offset += strides_[d];
          break;
        }
        offset -= strides_[d] * (counts_[d] - 1);
        index[d] = 0;
      }
    }
    return true;
  }

 private:
  template <class>
  friend result<slice_plan> plan_slice(const tensor_info& info, span<const dim_range> ranges);
  std::vector<std::uint64_t> shape_;
  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> strides_;
  std::uint64_t elements_ = 0;
  std::uint64_t run_size_ = 0;
  std::uint64_t run_count_ = 0;
  std::uint64_t first_ = 0;
  std::uint64_t tensor_bytes_ = 0;
};

/// plan_slice with the ranges in a braced list: plan_slice(info, {{0, 2}, {4, 8}}).
template <class = void>
result<slice_plan> plan_slice(const tensor_info& info, std::initializer_list<dim_range> ranges) {
  return plan_slice(info, span<const dim_range>(ranges.begin(), ranges.size()));
}

/// Copies the slice of `view` (see plan_slice) into `out`, which must hold its byte_size()
/// bytes (InvalidArgument otherwise, or when the view holds fewer bytes than its shape needs).
template <class = void>
result<void> slice_into(const tensor_view& view, span<const dim_range> ranges, span<std::byte> out);

/// slice_into with the ranges in a braced list.
template <class = void>
result<void> slice_into(const tensor_view& view, std::initializer_list<dim_range> ranges,
                        span<std::byte> out) {
  return slice_into(view, span<const dim_range>(ranges.begin(), ranges.size()), out);
}

/// The slice of `view` as a new byte vector (see slice_into).
template <class = void>
result<std::vector<std::byte>> slice(const tensor_view& view, span<const dim_range> ranges);

/// slice with the ranges in a braced list.
template <class = void>
result<std::vector<std::byte>> slice(const tensor_view& view,
                                     std::initializer_list<dim_range> ranges) {
  return slice(view, span<const dim_range>(ranges.begin(), ranges.size()));
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors

#if SAFETENSORS_DEFINITIONS
namespace safetensors {
inline namespace SAFETENSORS_ABI {

SAFETENSORS_FUNC result<tensor_info> header::at(std::string_view name) const {
  if (auto i = find(name)) return *i;
  return error(errc::tensor_not_found, "no tensor named " + detail::quote(name));
}

template <class>
result<slice_plan> plan_slice(const tensor_info& info, span<const dim_range> ranges) {
  const span<const std::uint64_t> dims = info.shape();
  const std::size_t rank = dims.size();
  if (ranges.size() > rank) {
    return error(errc::invalid_argument, "slice of tensor " + detail::quote(info.name()) + ": " +
                                             detail::num(ranges.size()) + " ranges for " +
                                             detail::num(rank) + " dimensions");
  }
  slice_plan p;
  p.shape_.resize(rank);
  std::vector<std::uint64_t> start(rank, 0);
  for (std::size_t d = 0; d < rank; ++d) {
    const dim_range r = d < ranges.size() ? ranges[d] : dim_range{0, dims[d]};
    if (r.start > r.stop || r.stop > dims[d]) {
      return error(errc::invalid_argument,
                   "slice of tensor " + detail::quote(info.name()) + ": dimension " +
                       detail::num(d) + " of size " + detail::num(dims[d]) + " cannot take [" +
                       detail::num(r.start) + ", " + detail::num(r.stop) + ")");
    }
    start[d] = r.start;
    p.shape_[d] = r.stop - r.start;
  }
  // Element strides, checked (a hand-made tensor_info may not have been validated).
  std::vector<std::uint64_t> stride(rank, 1);
  std::uint64_t total = 1;
  for (std::size_t d = rank; d-- > 0;) {
    stride[d] = total;
    if (!detail::checked_mul(total, dims[d], total)) {
      return error(errc::validation_overflow,
                   "slice of tensor " + detail::quote(info.name()) + ": the shape overflows");
    }
  }
  const std::uint64_t bits = bit_size(info.dtype());
  std::uint64_t total_bits = 0;
  if (!detail::checked_mul(total, bits, total_bits)) {
    return error(errc::validation_overflow,
                 "slice of tensor " + detail::quote(info.name()) + ": the bit count overflows");
  }
  p.tensor_bytes_ = total_bits / 8 + (total_bits % 8 != 0 ? 1 : 0);
  p.elements_ = 1;
  for (std::size_t d = 0; d < rank; ++d) p.elements_ *= p.shape_[d];  // <= total, no overflow
  if (p.elements_ == 0) return p;                                     // no runs
  // The innermost dimensions taken whole merge with the next one into a single run.
  std::size_t k = rank;  // dimensions [k, rank) are whole
  while (k > 0 && p.shape_[k - 1] == dims[k - 1]) --k;
  std::uint64_t run_elements = 1;
  std::size_t outer = 0;  // dimensions [0, outer) step between runs
  if (k == 0) {
    run_elements = total;
  } else {
    run_elements = p.shape_[k - 1] * stride[k - 1];
    outer = k - 1;
  }
  std::uint64_t first_element = 0;
  for (std::size_t d = 0; d < rank; ++d) first_element += start[d] * stride[d];
  const auto misaligned = [&](std::uint64_t elements) { return elements * bits % 8 != 0; };
  const bool sub_byte = bits % 8 != 0;
  if (sub_byte && (misaligned(first_element) || misaligned(run_elements))) {
    return error(errc::misaligned_slice, "slice of tensor " + detail::quote(info.name()) + ": " +
                                             std::string(to_string(info.dtype())) + " runs of " +
                                             detail::num(run_elements) + " elements from element " +
                                             detail::num(first_element) +
                                             " do not start and end on byte boundaries");
  }
  p.run_count_ = 1;
  for (std::size_t d = 0; d < outer; ++d) {
    if (p.shape_[d] == 1) continue;
    if (sub_byte && misaligned(stride[d])) {
      return error(errc::misaligned_slice, "slice of tensor " + detail::quote(info.name()) +
                                               ": rows of dimension " + detail::num(d) + " are " +
                                               detail::num(stride[d]) + " " +
                                               std::string(to_string(info.dtype())) +
                                               " elements apart, not a whole number of bytes");
    }
    p.counts_.push_back(p.shape_[d]);
    p.strides_.push_back(stride[d] * bits / 8);
    p.run_count_ *= p.shape_[d];
  }
  p.run_size_ = run_elements * bits / 8;
  p.first_ = first_element * bits / 8;
  return p;
}

template <class>
result<void> slice_into(const tensor_view& view, span<const dim_range> ranges,
                        span<std::byte> out) {
  auto plan = plan_slice(view.info(), ranges);
  if (!plan) return plan.error();
  if (out.size() < plan->byte_size()) {
    return error(errc::invalid_argument, "slice_into: the slice of tensor " +
                                             detail::quote(view.name()) + " has " +
                                             detail::num(plan->byte_size()) +
                                             " bytes, the buffer holds " + detail::num(out.size()));
  }
  if (plan->tensor_byte_size() > view.byte_size()) {
    return error(errc::invalid_argument, "slice_into: tensor " + detail::quote(view.name()) +
                                             " holds fewer bytes than its shape needs");
  }
  std::byte* dst = out.data();
  const std::byte* src = view.data();
  plan->for_each_run([&](std::uint64_t offset, std::uint64_t size) {
    std::memcpy(dst, src + offset, detail::int_cast<std::size_t>(size));
    dst += size;
  });
  return {};
}

template <class>
result<std::vector<std::byte>> slice(const tensor_view& view, span<const dim_range> ranges) {
  auto plan = plan_slice(view.info(), ranges);
  if (!plan) return plan.error();
  if (plan->tensor_byte_size() > view.byte_size()) {
    return error(errc::invalid_argument, "slice: tensor " + detail::quote(view.name()) +
                                             " holds fewer bytes than its shape needs");
  }
  std::vector<std::byte> out;
  if (!detail::try_resize(out, detail::int_cast<std::size_t>(plan->byte_size()))) {
    return detail::out_of_memory("slice: " + detail::tensor_name(view.name()), plan->byte_size());
  }
  if (auto r = slice_into(view, ranges, span<std::byte>(out)); !r) return r.error();
  return out;
}

}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif  // SAFETENSORS_DEFINITIONS

#if SAFETENSORS_DEFINITIONS && !SAFETENSORS_HEADER_ONLY
// The separate-compilation mode's implementation unit: the templates the declarations name.
namespace safetensors {
inline namespace SAFETENSORS_ABI {
template result<slice_plan> plan_slice<void>(const tensor_info&, span<const dim_range>);
template result<void> slice_into<void>(const tensor_view&, span<const dim_range>, span<std::byte>);
template result<std::vector<std::byte>> slice<void>(const tensor_view&, span<const dim_range>);
}  // namespace SAFETENSORS_ABI
}  // namespace safetensors
#endif

#endif  // SAFETENSORS_PARTS_TABLE_HPP
