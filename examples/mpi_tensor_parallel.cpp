// Tensor-parallel loading across processes: WORLD MPI ranks open the same sharded checkpoint and
// each loads only its slice of every weight, as tensor-parallel inference does: column-parallel
// layers ([out, in] weights: q, k, v, up) split by rows, one contiguous run per rank;
// row-parallel layers (o, down) split by columns, one run per row; norms are replicated. Each
// rank reads its slices with load() (load_request::slice), through sources that count the bytes
// they read (checkpoint_options::open_shard). Rank 0 then gathers every rank's slices, reassembles
// each weight and checks it byte for byte against the whole tensor; each rank's bytes are
// reported: about 1/WORLD of the sliced weights, plus the replicated tensors and shard headers.
//
//   mpiexec -n WORLD safetensors-mpi-tensor-parallel DIR    rank 0 writes the checkpoint into DIR
//
// docs/remote.md#splitting-a-load-across-ranks. Exits 0 on success, 1 on an error (printed; the
// other ranks are aborted), 2 on a usage error.
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <safetensors/safetensors.hpp>
#include <string>
#include <vector>

namespace st = safetensors;

namespace {

constexpr std::uint64_t hidden = 256, ffn = 1024, layers = 2;

enum class split { rows, columns, none };

struct weight {
  std::string name;
  std::uint64_t rows, cols;  // cols == 0: a vector
  split how;
};

std::vector<weight> model_weights() {
  std::vector<weight> w;
  for (std::uint64_t l = 0; l < layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    w.push_back({p + "attn.q_proj.weight", hidden, hidden, split::rows});
    w.push_back({p + "attn.k_proj.weight", hidden, hidden, split::rows});
    w.push_back({p + "attn.v_proj.weight", hidden, hidden, split::rows});
    w.push_back({p + "attn.o_proj.weight", hidden, hidden, split::columns});
    w.push_back({p + "mlp.up_proj.weight", ffn, hidden, split::rows});
    w.push_back({p + "mlp.down_proj.weight", hidden, ffn, split::columns});
    w.push_back({p + "norm.weight", hidden, 0, split::none});
  }
  return w;
}

std::uint64_t element_count(const weight& w) { return w.cols == 0 ? w.rows : w.rows * w.cols; }

// Element i of weight k: distinct across weights and positions, exact in float.
float value(std::size_t k, std::uint64_t i) {
  return static_cast<float>(k * 1'000'000 + i % 999'983);
}

// A file_source that counts the bytes read through it (thread-safe, as load() needs).
class counting_source final : public st::random_access_source {
 public:
  counting_source(std::unique_ptr<st::file_source> file, std::atomic<std::uint64_t>& counter)
      : file_(std::move(file)), counter_(counter) {}
  std::uint64_t byte_size() const noexcept override { return file_->byte_size(); }
  st::result<void> read_at(std::uint64_t offset, void* dst, std::size_t n) const override {
    counter_.fetch_add(n, std::memory_order_relaxed);
    return file_->read_at(offset, dst, n);
  }
  std::string describe() const override { return file_->describe(); }

 private:
  std::unique_ptr<st::file_source> file_;
  std::atomic<std::uint64_t>& counter_;
};

int fail(const st::error& e) {
  std::cerr << e << "\n";
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

int run(const std::string& dir, int rank_, int world_) {
  const auto rank = static_cast<std::uint64_t>(rank_), world = static_cast<std::uint64_t>(world_);
  const std::vector<weight> weights = model_weights();

  // Rank 0 writes the checkpoint (F32, 2 MiB shards); the others wait for it.
  if (rank == 0) {
    std::vector<std::vector<float>> data;
    std::vector<st::tensor_spec> specs;
    for (std::size_t k = 0; k < weights.size(); ++k) {
      const weight& w = weights[k];
      data.emplace_back(static_cast<std::size_t>(element_count(w)));
      for (std::size_t i = 0; i < data.back().size(); ++i) data.back()[i] = value(k, i);
      std::vector<std::uint64_t> shape{w.rows};
      if (w.cols != 0) shape.push_back(w.cols);
      specs.push_back({w.name, st::dtype::F32, shape, st::as_bytes(data.back()), {}});
    }
    st::sharded_write_options o;
    o.max_shard_size = 2 << 20;
    auto layout = st::save_sharded(dir, specs, o);
    if (!layout) return fail(layout.error());
    std::cout << "rank 0 wrote " << layout->shard_count() << " shards to " << dir << "\n";
  }
  MPI_Barrier(MPI_COMM_WORLD);

  // Every rank: the checkpoint through counting sources, then its slices in one load().
  std::atomic<std::uint64_t> bytes_read{0};
  st::checkpoint_options copts;
  copts.access = st::shard_access::reader;
  copts.open_shard =
      [&dir, &bytes_read](
          const std::string& name) -> st::result<std::unique_ptr<st::random_access_source>> {
    auto file = st::file_source::open(dir + "/" + name);
    if (!file) return file.error();
    return std::unique_ptr<st::random_access_source>(
        new counting_source(std::move(*file), bytes_read));
  };
  auto ckpt = st::checkpoint::open(dir, copts);
  if (!ckpt) return fail(ckpt.error());
  for (std::size_t i = 0; i < ckpt->shard_count(); ++i) {  // each shard's 8 + N header bytes
    if (auto s = ckpt->shard(i); !s) return fail(s.error());
  }

  std::vector<st::load_request> requests;
  std::vector<std::uint64_t> offsets;  // of each request's slice in `mine`
  std::uint64_t total = 0, sliced_total = 0, replicated = 0;
  for (const weight& w : weights) {
    st::load_request r;
    r.name = w.name;
    const std::uint64_t n = element_count(w) * 4;
    if (w.how == split::rows) {
      r.slice = {{w.rows / world * rank, w.rows / world * (rank + 1)}, {0, w.cols}};
    } else if (w.how == split::columns) {
      r.slice = {{0, w.rows}, {w.cols / world * rank, w.cols / world * (rank + 1)}};
    }
    if (w.how == split::none) {
      replicated += n;
    } else {
      sliced_total += n;
    }
    offsets.push_back(total);
    total += w.how == split::none ? n : n / world;
    requests.push_back(std::move(r));
  }
  // Default-initialised, not a zero-filled std::vector: load() writes every byte, and each page
  // is first touched by the worker that reads into it (docs/loading.md#the-one-call-load).
  std::unique_ptr<std::byte[]> mine(new std::byte[static_cast<std::size_t>(total)]);
  for (std::size_t k = 0; k < requests.size(); ++k) {
    const std::uint64_t end = k + 1 < offsets.size() ? offsets[k + 1] : total;
    requests[k].dst = st::span<std::byte>(mine.get() + offsets[k], end - offsets[k]);
  }
  const std::uint64_t before_load = bytes_read.load();
  st::load_options lopts;
  lopts.threads = 2;
  auto report = st::load(*ckpt, requests, lopts);
  if (!report) return fail(report.error());
  const std::uint64_t headers = before_load, loaded = bytes_read.load() - before_load;

  // Gather the byte counts and the slices on rank 0.
  std::uint64_t mine_counts[3] = {loaded, headers, report->bytes_read};
  std::vector<std::uint64_t> counts(3 * world);
  MPI_Gather(mine_counts, 3, MPI_UINT64_T, counts.data(), 3, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  std::vector<std::byte> all(rank == 0 ? static_cast<std::size_t>(total * world) : 0);
  MPI_Gather(mine.get(), static_cast<int>(total), MPI_BYTE, all.data(), static_cast<int>(total),
             MPI_BYTE, 0, MPI_COMM_WORLD);
  if (rank != 0) return 0;

  const std::uint64_t sliced_share = sliced_total / world;
  for (std::uint64_t r = 0; r < world; ++r) {
    const std::uint64_t read = counts[3 * r], header_bytes = counts[3 * r + 1];
    std::cout << "rank " << r << "/" << world << ": read " << read
              << " tensor bytes = " << read - replicated << " of the " << sliced_total
              << " sliced-weight bytes (1/" << world << " = " << sliced_share << ") + "
              << replicated << " replicated; shard headers: " << header_bytes << " bytes\n";
    if (read != sliced_share + replicated) {
      std::cerr << "rank " << r << " read " << read << " bytes, not " << sliced_share + replicated
                << "\n";
      return 1;
    }
  }

  // Reassemble every weight from the ranks' slices and compare it with the whole tensor.
  auto whole = st::checkpoint::open(dir);  // mapped: not counted above
  if (!whole) return fail(whole.error());
  for (std::size_t k = 0; k < weights.size(); ++k) {
    const weight& w = weights[k];
    auto view = whole->tensor(w.name);
    if (!view) return fail(view.error());
    const std::byte* expect = view->bytes().data();
    const std::uint64_t part = (k + 1 < offsets.size() ? offsets[k + 1] : total) - offsets[k];
    bool same = true;
    for (std::uint64_t r = 0; r < world && same; ++r) {
      const std::byte* got = all.data() + r * total + offsets[k];
      if (w.how == split::columns) {  // each row of the slice is a run of the row
        const std::uint64_t row_bytes = w.cols * 4, run = row_bytes / world;
        for (std::uint64_t row = 0; row < w.rows && same; ++row) {
          same = std::memcmp(got + row * run, expect + row * row_bytes + r * run, run) == 0;
        }
      } else {
        const std::uint64_t at = w.how == split::rows ? r * part : 0;
        same = std::memcmp(got, expect + at, part) == 0;
      }
    }
    if (!same) {
      std::cerr << w.name << ": the gathered slices differ from the whole tensor\n";
      return 1;
    }
  }
  std::cout << "rank 0 gathered " << weights.size() << " tensors from " << world
            << " ranks: byte-identical to the whole tensors\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int code = 2;
  if (argc != 2 || 256 % world != 0) {
    if (rank == 0) {
      std::cerr << "usage: mpiexec -n WORLD safetensors-mpi-tensor-parallel DIR (WORLD divides "
                   "256)\n";
    }
  } else {
    code = run(argv[1], rank, world);
  }
  MPI_Finalize();
  return code;
}
