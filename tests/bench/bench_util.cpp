// safetensors-bench: harness, summary, input generation (see bench_common.hpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>

#include "bench_common.hpp"

namespace bench {

namespace {
bool g_json = false;
}  // namespace

std::FILE* human() { return g_json ? stderr : stdout; }
void set_json_output(bool json) { g_json = json; }

std::uint64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t peak_rss_bytes() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_maxrss) * 1024;
}

std::uint64_t proc_status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(key) + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, prefix.size(), prefix) == 0) {
      return std::strtoull(line.c_str() + prefix.size(), nullptr, 10) * 1024;  // "<n> kB"
    }
  }
  return 0;
}

void pread_all(int fd, std::byte* dst, std::uint64_t off, std::size_t n) {
  while (n) {
    const ssize_t got =
        ::pread(fd, dst, std::min<std::size_t>(n, std::size_t{1} << 30), static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) die("pread failed");
    dst += got;
    off += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
}

// ---- formatting ----------------------------------------------------------------------------

std::string fmt_time(double s) {
  char b[32];
  if (s < 1e-3) {
    std::snprintf(b, sizeof b, "%.1f us", s * 1e6);
  } else if (s < 1) {
    std::snprintf(b, sizeof b, "%.2f ms", s * 1e3);
  } else {
    std::snprintf(b, sizeof b, "%.2f s", s);
  }
  return b;
}

std::string fmt_bytes(double v) {
  char b[32];
  if (v < 1024 * 1024) {
    std::snprintf(b, sizeof b, "%.0f KiB", v / 1024);
  } else if (v < 1024.0 * 1024 * 1024) {
    std::snprintf(b, sizeof b, "%.1f MiB", v / (1024 * 1024));
  } else {
    std::snprintf(b, sizeof b, "%.2f GiB", v / (1024.0 * 1024 * 1024));
  }
  return b;
}

std::string fmt_rate(double bytes, double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GB/s", bytes / s / 1e9);
  return b;
}

// ---- summary -------------------------------------------------------------------------------

namespace {
std::vector<row>& rows() {
  static std::vector<row> r;
  return r;
}
int g_missed = 0;
}  // namespace

void set_rate(row& r, double bytes, double ours_s, double base_s) {
  r.ours = fmt_rate(bytes, ours_s);
  r.base = fmt_rate(bytes, base_s);
  r.ours_value = bytes / ours_s / 1e9;
  r.base_value = bytes / base_s / 1e9;
  r.unit = "GB/s";
}

void set_time(row& r, double ours_s, double base_s) {
  r.ours = fmt_time(ours_s);
  r.base = fmt_time(base_s);
  r.ours_value = ours_s;
  r.base_value = base_s;
  r.unit = "s";
}

void set_bytes(row& r, double ours_b, double base_b) {
  r.ours = fmt_bytes(ours_b);
  r.base = fmt_bytes(base_b);
  r.ours_value = ours_b;
  r.base_value = base_b;
  r.unit = "bytes";
}

namespace {
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
      out += b;
    } else {
      out += c;  // UTF-8 passes through
    }
  }
  return out + '"';
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[32];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
}  // namespace

void add_row(row r) {
  const auto& x = r.ratio;
  if (g_json) {
    std::printf(
        "{\"name\": %s, \"ours\": %s, \"baseline\": %s, \"ratio\": %s, \"unit\": %s, "
        "\"goal\": %s}\n",
        json_string(r.target + " " + r.what).c_str(), json_number(r.ours_value).c_str(),
        json_number(r.base_value).c_str(), r.has_ratio ? json_number(x.median).c_str() : "null",
        json_string(r.unit).c_str(),
        r.kind == goal_kind::none ? "null" : json_number(r.goal).c_str());
    std::fflush(stdout);
  }
  std::FILE* out = human();
  std::fprintf(out, "  [%s] %s: ours %s, baseline %s", r.target.c_str(), r.what.c_str(),
               r.ours.c_str(), r.base.c_str());
  if (r.has_ratio) std::fprintf(out, ", ratio %.3f [%.3f..%.3f]", x.median, x.min, x.max);
  std::fprintf(out, "\n");
  std::fflush(out);
  rows().push_back(std::move(r));
}

int missed_targets() { return g_missed; }

void print_summary(const config& cfg) {
  std::FILE* out = human();
  std::fprintf(out, "\n== summary (%s; ratio = median of per-repetition ratios [min..max]) ==\n",
               cfg.quick ? "quick mode: targets NOT enforced" : "full mode");
  std::fprintf(out, "%-5s %-64s %13s %13s %-25s %-8s %s\n", "tgt", "figure", "ours", "baseline",
               "ratio med [min..max]", "goal", "verdict");
  for (const row& r : rows()) {
    char ratio[64] = "-";
    if (r.has_ratio) {
      std::snprintf(ratio, sizeof ratio, "%.3f [%.3f..%.3f]", r.ratio.median, r.ratio.min,
                    r.ratio.max);
    }
    char goal[32] = "-";
    const char* verdict = "info";
    if (r.kind != goal_kind::none) {
      std::snprintf(goal, sizeof goal, "%s%.2f",
                    r.kind == goal_kind::at_most ? "<=" : ">=", r.goal);
      const bool met =
          r.kind == goal_kind::at_most ? r.ratio.median <= r.goal : r.ratio.median >= r.goal;
      if (cfg.quick) {
        verdict = met ? "(met)" : "(missed)";
      } else {
        verdict = met ? "MET" : "MISSED";
        if (!met) ++g_missed;
      }
    }
    std::fprintf(out, "%-5s %-64s %13s %13s %-25s %-8s %s%s%s\n", r.target.c_str(), r.what.c_str(),
                 r.ours.c_str(), r.base.c_str(), ratio, goal, verdict, r.note.empty() ? "" : "  ",
                 r.note.c_str());
  }
  std::fprintf(out, "peak RSS of the whole run: %s\n",
               fmt_bytes(static_cast<double>(peak_rss_bytes())).c_str());
}

// ---- generated inputs ----------------------------------------------------------------------

namespace {
gen_tensor bf16(std::string name, std::vector<std::uint64_t> shape) {
  gen_tensor t;
  t.name = std::move(name);
  t.dtype_rank = 14;
  t.dtype = "BF16";
  t.elem_bytes = 2;
  t.shape = std::move(shape);
  return t;
}
gen_tensor f32(std::string name, std::vector<std::uint64_t> shape) {
  gen_tensor t = bf16(std::move(name), std::move(shape));
  t.dtype_rank = 17;
  t.dtype = "F32";
  t.elem_bytes = 4;
  return t;
}
}  // namespace

std::vector<gen_tensor> moe_model(std::size_t count) {
  // Shapes of a ~16B-parameter MoE (hidden 2048, 64 experts of width 768, GQA 32/4 heads of 128).
  std::vector<gen_tensor> out;
  auto push = [&](gen_tensor t) {
    if (out.size() < count) out.push_back(std::move(t));
  };
  push(bf16("model.embed_tokens.weight", {151936, 2048}));
  push(bf16("lm_head.weight", {151936, 2048}));
  push(bf16("model.norm.weight", {2048}));
  for (int layer = 0; out.size() < count; ++layer) {
    const std::string l = "model.layers." + std::to_string(layer) + ".";
    push(bf16(l + "input_layernorm.weight", {2048}));
    push(bf16(l + "post_attention_layernorm.weight", {2048}));
    push(bf16(l + "self_attn.q_proj.weight", {4096, 2048}));
    push(bf16(l + "self_attn.k_proj.weight", {512, 2048}));
    push(bf16(l + "self_attn.v_proj.weight", {512, 2048}));
    push(bf16(l + "self_attn.o_proj.weight", {2048, 4096}));
    push(bf16(l + "self_attn.q_norm.weight", {128}));
    push(bf16(l + "self_attn.k_norm.weight", {128}));
    push(bf16(l + "mlp.gate.weight", {64, 2048}));
    push(f32(l + "mlp.gate.e_score_correction_bias", {64}));
    for (int e = 0; e < 64; ++e) {
      const std::string x = l + "mlp.experts." + std::to_string(e) + ".";
      push(bf16(x + "gate_proj.weight", {768, 2048}));
      push(bf16(x + "up_proj.weight", {768, 2048}));
      push(bf16(x + "down_proj.weight", {2048, 768}));
    }
  }
  return out;
}

std::vector<gen_tensor> dense_model(std::uint64_t bytes) {
  // TinyLlama-1.1B's shapes at full size (22 layers, 201 tensors, 2.2 GB); a narrower model
  // of the same structure for small sizes.
  const bool small = bytes < (std::uint64_t{1} << 30);
  const std::uint64_t h = small ? 512 : 2048, inter = small ? 1408 : 5632, kv = small ? 64 : 256,
                      vocab = small ? 8000 : 32000;
  std::vector<gen_tensor> out;
  out.push_back(bf16("model.embed_tokens.weight", {vocab, h}));
  out.push_back(bf16("lm_head.weight", {vocab, h}));
  out.push_back(bf16("model.norm.weight", {h}));
  std::uint64_t total = 0;
  for (const auto& t : out) total += t.bytes();
  for (int layer = 0; total < bytes; ++layer) {
    const std::string l = "model.layers." + std::to_string(layer) + ".";
    std::vector<gen_tensor> ts{
        bf16(l + "input_layernorm.weight", {h}),
        bf16(l + "post_attention_layernorm.weight", {h}),
        bf16(l + "self_attn.q_proj.weight", {h, h}),
        bf16(l + "self_attn.k_proj.weight", {kv, h}),
        bf16(l + "self_attn.v_proj.weight", {kv, h}),
        bf16(l + "self_attn.o_proj.weight", {h, h}),
        bf16(l + "mlp.gate_proj.weight", {inter, h}),
        bf16(l + "mlp.up_proj.weight", {inter, h}),
        bf16(l + "mlp.down_proj.weight", {h, inter}),
    };
    for (auto& t : ts) {
      total += t.bytes();
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::string make_prefix(std::vector<gen_tensor>& tensors, std::uint64_t& data_size) {
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (tensors[a].dtype_rank != tensors[b].dtype_rank)
      return tensors[a].dtype_rank > tensors[b].dtype_rank;
    return tensors[a].name < tensors[b].name;
  });
  std::uint64_t at = 0;
  for (std::size_t i : order) {
    tensors[i].begin = at;
    at += tensors[i].bytes();
    tensors[i].end = at;
  }
  data_size = at;
  // JSON members in offset order, as the reference writer (and ours) emit them.
  std::string json = "{\"__metadata__\":{\"format\":\"pt\"}";
  for (std::size_t i : order) {
    const gen_tensor& t = tensors[i];
    json += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (d) json += ',';
      json += std::to_string(t.shape[d]);
    }
    json += "],\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(t.end) + "]}";
  }
  json += '}';
  while (json.size() % 8) json += ' ';
  std::string prefix(8, '\0');
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    prefix[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return prefix + json;
}

void write_data_file(const std::string& path, const std::string& prefix, std::uint64_t data_size) {
  const std::uint64_t total = prefix.size() + data_size;
  {  // reuse an identical file (same size, same prefix) left by --keep
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) == total) {
      std::ifstream in(path, std::ios::binary);
      std::string head(prefix.size(), '\0');
      in.read(head.data(), static_cast<std::streamsize>(head.size()));
      if (in && head == prefix) {
        std::fprintf(human(), "reusing %s (%s)\n", path.c_str(),
                     fmt_bytes(static_cast<double>(total)).c_str());
        return;
      }
    }
  }
  const double t0 = now_s();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot create " + path + ": " + std::strerror(errno));
  std::vector<unsigned char> block(std::size_t{8} << 20);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& b : block) {  // xorshift bytes: incompressible, never all zero
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<unsigned char>(x >> 24);
  }
  auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    while (n) {
      const ssize_t w = ::write(fd, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) die("cannot write " + path + ": " + std::strerror(errno));
      c += w;
      n -= static_cast<std::size_t>(w);
    }
  };
  put(prefix.data(), prefix.size());
  for (std::uint64_t left = data_size; left;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
    put(block.data(), n);
    left -= n;
  }
  ::fdatasync(fd);  // clean pages: evictable for the cold-cache runs
  ::close(fd);
  std::fprintf(human(), "generated %s (%s) in %.1f s\n", path.c_str(),
               fmt_bytes(static_cast<double>(total)).c_str(), now_s() - t0);
}

virtual_file::virtual_file(const std::string& prefix, std::uint64_t data_size) {
  size_ = static_cast<std::size_t>(prefix.size() + data_size);
  base_ = ::mmap(nullptr, size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base_ == MAP_FAILED)
    die("cannot reserve address space: " + std::string(std::strerror(errno)));
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t head = (prefix.size() + page - 1) / page * page;
  if (::mprotect(base_, head, PROT_READ | PROT_WRITE) != 0) die("mprotect failed");
  std::memcpy(base_, prefix.data(), prefix.size());
}

virtual_file::~virtual_file() { ::munmap(base_, size_); }

std::uint64_t sum_bytes(const std::byte* p, std::size_t n) {
  // Vectorizes at -O3 (the bench target's flag); the same loop serves ours and the baselines.
  std::uint64_t total = 0;
  while (n) {
    const std::size_t chunk = std::min<std::size_t>(n, 1 << 16);  // 2^16 * 255 fits in 32 bits
    std::uint32_t s = 0;
    for (std::size_t i = 0; i < chunk; ++i) s += static_cast<unsigned char>(p[i]);
    total += s;
    p += chunk;
    n -= chunk;
  }
  return total;
}

double resident_fraction(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return -1;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((size + page - 1) / page);
  double frac = -1;
  if (::mincore(p, size, v.data()) == 0) {
    std::size_t in = 0;
    for (unsigned char c : v) in += c & 1;
    frac = static_cast<double>(in) / static_cast<double>(v.size());
  }
  ::munmap(p, size);
  return frac;
}

double evict(const std::string& path, const config& cfg) {
  if (cfg.drop_caches) {
    ::sync();
    std::ofstream f("/proc/sys/vm/drop_caches");
    f << "3\n";
    f.flush();
    if (!f) die("cannot write /proc/sys/vm/drop_caches (needs root): rerun without --drop-caches");
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open " + path);
    ::fdatasync(fd);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
  return resident_fraction(path);
}

}  // namespace bench
