// safetensors-bench-torch: the LibTorch figures of docs/performance.md#libtorch, each next to its
// raw baseline in the same run.
//
//   safetensors-bench-torch [--quick] [--dir=DIR] [--size=BYTES] [--reps=N] [--json]
//
// The file: dense_model(--size) (2 GiB by default; --quick 64 MiB): BF16 tensors of a decoder,
// written (or reused) in --dir, in the page cache (warm) for every sample.
//
// 1. state dict: load_state_dict() into a module whose parameters are the file's tensors
//    (allocated and written before, as a constructed model's are) against load() of the same
//    file (a source_reader, opened in the sample too) into one pre-faulted buffer of the same
//    size; same threads. Goal: at most 1.1x the time.
// 2. zero-copy memory: the growth of resident memory after load() of the file (zero-copy views)
//    and reading every byte of every tensor, against mapping the file as load() does (mapped_file,
//    copy on write) and reading every byte (file pages and anonymous memory, shown apart). Goal: at
//    most 1.0x (nothing beyond the mapping's pages), plus 1 MiB.
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <safetensors/torch.hpp>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace st = safetensors;
using namespace bench;

namespace {

// A module whose parameters have the file's names: a child module per dotted component.
std::shared_ptr<torch::nn::Module> module_of(const std::vector<gen_tensor>& tensors) {
  auto root = std::make_shared<torch::nn::Module>();
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules{{"", root}};
  for (const gen_tensor& t : tensors) {
    std::string path;
    std::shared_ptr<torch::nn::Module> m = root;
    std::size_t start = 0;
    for (std::size_t dot; (dot = t.name.find('.', start)) != std::string::npos; start = dot + 1) {
      const std::string part = t.name.substr(start, dot - start);
      path += (path.empty() ? "" : ".") + part;
      auto& child = modules[path];
      if (!child) child = m->register_module(part, std::make_shared<torch::nn::Module>());
      m = child;
    }
    std::vector<std::int64_t> sizes(t.shape.begin(), t.shape.end());
    const auto type = t.dtype == "BF16" ? torch::kBFloat16 : torch::kFloat;
    m->register_parameter(t.name.substr(start), torch::zeros(sizes, type));  // written: resident
  }
  return root;
}

std::uint64_t sum_tensors(const st::libtorch::tensor_map& tensors) {
  std::uint64_t s = 0;
  for (const auto& [name, t] : tensors) {
    s += sum_bytes(static_cast<const std::byte*>(t.data_ptr()), t.nbytes());
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  cfg.dir = "/tmp";
  cfg.load_bytes = std::uint64_t{2} << 30;
  cfg.reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.quick = true;
      cfg.load_bytes = std::uint64_t{64} << 20;
      cfg.reps = 2;
    } else if (a.rfind("--dir=", 0) == 0) {
      cfg.dir = a.substr(6);
    } else if (a.rfind("--size=", 0) == 0) {
      cfg.load_bytes = std::stoull(a.substr(7));
    } else if (a.rfind("--reps=", 0) == 0) {
      cfg.reps = std::stoi(a.substr(7));
    } else if (a == "--json") {
      cfg.json = true;
    } else {
      die("unknown argument " + a);
    }
  }
  set_json_output(cfg.json);
  std::vector<gen_tensor> tensors = dense_model(cfg.load_bytes);
  std::uint64_t data_size = 0;
  const std::string prefix = make_prefix(tensors, data_size);
  const std::string path = cfg.dir + "/safetensors-bench-torch.safetensors";
  write_data_file(path, prefix, data_size);
  std::fprintf(human(), "file: %zu tensors, %s of data\n", tensors.size(),
               fmt_bytes(static_cast<double>(data_size)).c_str());
  st::load_options lo;
  lo.threads = 2;

  // 1. load_state_dict() against load() into raw buffers.
  {
    auto module = module_of(tensors);
    arena raw(data_size);
    std::vector<st::load_request> requests;
    for (const gen_tensor& t : tensors) {
      st::load_request r;
      r.name = t.name;
      r.dst = st::span<std::byte>(raw.p + t.begin, static_cast<std::size_t>(t.bytes()));
      requests.push_back(std::move(r));
    }
    st::libtorch::state_dict_options so;
    so.loader = lo;
    const paired p = run_paired(
        cfg.reps,
        [&] {
          const double t0 = now_s();
          auto reader = st::source_reader::open(path);
          if (!reader || !st::load(*reader, requests, lo)) die("load failed");
          return now_s() - t0;
        },
        [&] {
          const double t0 = now_s();
          auto r = st::libtorch::load_state_dict(*module, path, so);
          if (!r || r->loaded != tensors.size()) die("load_state_dict failed");
          return now_s() - t0;
        });
    row r;
    r.target = "torch-1";
    r.what = "load_state_dict() into a module / load() into raw buffers (warm, 2 threads)";
    set_time(r, summarize(p.ours).median, summarize(p.base).median);
    r.ratio = summarize(p.time_ratios());
    r.kind = cfg.quick ? goal_kind::none : goal_kind::at_most;
    r.goal = 1.1;
    add_row(r);
  }

  // 2. Resident memory of the zero-copy views against the mapping itself, mapped as load() maps
  // it (copy on write), split into file pages (RssFile) and anonymous memory (RssAnon). A load
  // first, whose views are dropped untouched: LibTorch's code pages and allocator state that a
  // first call brings in are then resident for both sides.
  {
    if (!st::libtorch::load(path)) die("libtorch::load failed");
    struct rss {
      std::uint64_t file, anon;
    };
    const auto now = [] { return rss{proc_status_bytes("RssFile"), proc_status_bytes("RssAnon")}; };
    const auto grown = [](rss a, rss b) {
      return rss{b.file > a.file ? b.file - a.file : 0, b.anon > a.anon ? b.anon - a.anon : 0};
    };
    std::uint64_t check_base = 0, check_ours = 0;
    rss grown_base{}, grown_ours{};
    {
      const rss before = now();
      st::map_options mo;
      mo.copy_on_write = true;
      auto file = st::mapped_file::open(path, {}, mo);
      if (!file) die("cannot map the file");
      for (const st::tensor_info t : file->tensors()) {
        const auto b = file->tensor(t).bytes();
        check_base += sum_bytes(b.data(), b.size());
      }
      grown_base = grown(before, now());
    }
    {
      const rss before = now();
      auto loaded = st::libtorch::load(path);
      if (!loaded) die("libtorch::load failed");
      for (const auto& kv : *loaded) {
        if (!st::libtorch::is_mapped(kv.second)) die("a tensor is not zero-copy: " + kv.first);
      }
      check_ours = sum_tensors(*loaded);
      grown_ours = grown(before, now());
    }
    if (check_ours != check_base) die("the views and the mapping disagree");
    const std::uint64_t ours = grown_ours.file + grown_ours.anon;
    const std::uint64_t base = grown_base.file + grown_base.anon;
    row r;
    r.target = "torch-2";
    r.what = "resident growth: zero-copy load() + read every byte / mapped_file + read";
    set_bytes(r, static_cast<double>(ours), static_cast<double>(base));
    r.note = "file pages " + std::to_string(grown_ours.file) + " / " +
             std::to_string(grown_base.file) + ", anonymous " + std::to_string(grown_ours.anon) +
             " / " + std::to_string(grown_base.anon) + " bytes";
    r.ratio = summarize(
        {static_cast<double>(ours) / static_cast<double>(std::max<std::uint64_t>(base, 1))});
    r.kind = cfg.quick ? goal_kind::none : goal_kind::at_most;
    r.goal = 1.0 + static_cast<double>(1 << 20) / static_cast<double>(data_size);
    add_row(r);
  }
  print_summary(cfg);
  std::remove(path.c_str());
  return missed_targets() == 0 ? 0 : 1;
}
