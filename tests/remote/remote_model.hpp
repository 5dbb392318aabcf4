// The remote tests' model: a file of four tensors and a checkpoint of the same tensors in three
// shards, written to a temporary directory that a range_server serves (docs/remote.md).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <safetensors/http_source.hpp>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

#include "range_server.hpp"
#include "test_writer.hpp"

namespace st_test {

class served_model {
 public:
  served_model() : a_(64 * 64), b_(33), c_(100'000), d_(256 * 128) {
    for (std::size_t i = 0; i < a_.size(); ++i) a_[i] = static_cast<float>(i) * 0.5f;
    for (std::size_t i = 0; i < b_.size(); ++i) b_[i] = static_cast<std::uint16_t>(0x3f80 + i);
    for (std::size_t i = 0; i < c_.size(); ++i) c_[i] = static_cast<std::uint8_t>(i * 7 + 3);
    for (std::size_t i = 0; i < d_.size(); ++i) d_[i] = -static_cast<float>(i);
    namespace st = safetensors;
    tensors_ = {{"a", st::dtype::F32, {64, 64}, st::as_bytes(a_), {}},
                {"b", st::dtype::BF16, {33}, st::as_bytes(b_), {}},
                {"c", st::dtype::U8, {100'000}, st::as_bytes(c_), {}},
                {"d", st::dtype::F32, {256, 128}, st::as_bytes(d_), {}}};
    st::save_file(dir_.file("model.safetensors"), tensors_).value();
    st::sharded_write_options o;
    o.max_shard_size = 100'000;  // a+b, c, d: three shards
    st::save_sharded(dir_.file("ckpt"), tensors_, o).value();
    server_ = std::make_unique<range_server>(dir_.path().string());
  }

  const temp_dir& dir() const noexcept { return dir_; }
  range_server& server() noexcept { return *server_; }
  const std::vector<safetensors::tensor_spec>& tensors() const noexcept { return tensors_; }
  /// The URL of the single file in `mode`.
  std::string file_url(const std::string& mode = "files") const {
    return server_->url(mode, "model.safetensors");
  }
  /// The URL of the checkpoint's index in `mode`.
  std::string index_url(const std::string& mode = "files") const {
    return server_->url(mode, "ckpt/model.safetensors.index.json");
  }
  /// The bytes of tensor `name` as written.
  std::vector<std::byte> bytes_of(const std::string& name) const {
    for (const auto& t : tensors_) {
      if (t.name == name) return std::vector<std::byte>(t.bytes.begin(), t.bytes.end());
    }
    FAIL("no tensor " << name);
    return {};
  }

 private:
  temp_dir dir_;
  std::vector<float> a_;
  std::vector<std::uint16_t> b_;
  std::vector<std::uint8_t> c_;
  std::vector<float> d_;
  std::vector<safetensors::tensor_spec> tensors_;
  std::unique_ptr<range_server> server_;
};

/// Seconds since `t0`.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Opens a source_reader over http_source::open(url, options).
inline safetensors::result<safetensors::source_reader> open_remote(
    const std::string& url, const safetensors::http_options& options = local_http()) {
  auto s = safetensors::http_source::open(url, options);
  if (!s) return s.error();
  return safetensors::source_reader::open(std::move(*s));
}

}  // namespace st_test
