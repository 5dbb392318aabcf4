// safetensors-bench, group "cli": safetensors-cli convert against rewrite of the same input, each
// run as a child process (wall time and peak RSS from wait4), in rotation, every sample after
// the target is removed and the page cache written back.
//
// The input: an F32 file of --size bytes (2 GiB; --quick 64 MiB), dense_model()'s tensors stored
// as F32, pseudo-random bytes (NaNs and infinities included). Figures:
//   - `convert IN OUT --dtype BF16` against `rewrite IN OUT` as a throughput ratio over the same
//     input bytes (goal >= 0.8): rewrite maps IN and writes 2 GiB; convert reads IN with pread,
//     casts and writes 1 GiB;
//   - convert's peak RSS against 64 MiB plus one chunk (--chunk-size, 16 MiB; goal <= 1);
//   - the same input copied by `convert` without --dtype, against rewrite (no goal).
// docs/performance.md#converting.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace bench {
namespace {

struct child_run {
  double seconds = 0;
  std::uint64_t peak_rss = 0;  // ru_maxrss of the child
};

/// Runs `args` (args[0] the program) with stdout and stderr sent to /dev/null; dies on failure.
child_run run_child(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);  // or the child's freopen() writes the parent's buffered text again
  std::fflush(stderr);
  const double t0 = now_s();
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) != pid) die("wait4");
  child_run r;
  r.seconds = now_s() - t0;
  r.peak_rss = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    die("the child failed:" + shown);
  }
  return r;
}

void settle(const std::string& target) {
  ::unlink(target.c_str());
  ::sync();
}

}  // namespace

void run_cli_targets(const config& cfg) {
  if (cfg.cli.empty()) {
    std::fprintf(human(),
                 "cli: skipped (no safetensors-cli: build it in this tree, or pass --cli=PATH)\n");
    return;
  }
  // The input: dense_model's shapes as F32, about cfg.data_bytes.
  std::vector<gen_tensor> tensors = dense_model(cfg.data_bytes / 2);
  for (gen_tensor& t : tensors) {
    t.dtype = "F32";
    t.dtype_rank = 17;
    t.elem_bytes = 4;
  }
  std::uint64_t data_size = 0;
  const std::string prefix = make_prefix(tensors, data_size);
  const std::string tag = std::to_string(::getpid());
  const std::string in = cfg.dir + "/safetensors-bench-cli-" + tag + ".safetensors";
  const std::string out = cfg.dir + "/safetensors-bench-cli-out-" + tag + ".safetensors";
  write_data_file(in, prefix, data_size);
  std::fprintf(human(), "cli: %zu F32 tensors, %s of data, %s\n", tensors.size(),
               fmt_bytes(static_cast<double>(data_size)).c_str(), cfg.cli.c_str());

  const int reps = cfg.reps_given ? std::max(1, cfg.reps) : cfg.quick ? 2 : 5;
  std::vector<child_run> rewrite_runs, cast_runs, copy_runs;
  const auto sample = [&](std::vector<child_run>& into, std::vector<std::string> args) {
    return [&into, args, &out] {
      settle(out);
      into.push_back(run_child(args));
      return into.back().seconds;
    };
  };
  const auto t =
      run_rotated(reps, {sample(rewrite_runs, {cfg.cli, "rewrite", in, out}),
                         sample(cast_runs, {cfg.cli, "convert", in, out, "--dtype", "BF16"}),
                         sample(copy_runs, {cfg.cli, "convert", in, out})});
  // The warm-up round is the first sample of each list.
  const auto rss = [](const std::vector<child_run>& runs) {
    std::vector<double> v;
    for (std::size_t i = 1; i < runs.size(); ++i)
      v.push_back(static_cast<double>(runs[i].peak_rss));
    return summarize(v);
  };
  const double bytes = static_cast<double>(data_size);

  row r;
  r.target = "cli";
  r.what = "convert --dtype BF16 (F32 in, BF16 out) vs rewrite of the same " + fmt_bytes(bytes) +
           " F32 file";
  set_rate(r, bytes, summarize(t[1]).median, summarize(t[0]).median);
  r.ratio = summarize(ratios(t[0], t[1]));
  r.kind = goal_kind::at_least;
  r.goal = 0.8;
  r.note = "throughput of the input bytes; child processes, each after unlink + sync";
  add_row(r);

  const double budget = static_cast<double>((std::uint64_t{64} << 20) + (std::uint64_t{16} << 20));
  const stats cast_rss = rss(cast_runs);
  row m;
  m.target = "cli";
  m.what = "convert --dtype BF16 peak RSS vs 64 MiB + one 16 MiB chunk";
  set_bytes(m, cast_rss.median, budget);
  m.ratio = {cast_rss.median / budget, cast_rss.min / budget, cast_rss.max / budget};
  m.kind = goal_kind::at_most;
  m.goal = 1.0;
  m.note = "ru_maxrss of the child (reads with pread: no mapping)";
  add_row(m);

  row c;
  c.target = "cli-i";
  c.what = "convert without --dtype (a copy) vs rewrite, " + fmt_bytes(bytes);
  set_rate(c, bytes, summarize(t[2]).median, summarize(t[0]).median);
  c.ratio = summarize(ratios(t[0], t[2]));
  c.note = "throughput ratio; both write every byte";
  add_row(c);

  const stats rewrite_rss = rss(rewrite_runs);
  row w;
  w.target = "cli-i";
  w.what = "rewrite peak RSS (its input mapped) vs convert's";
  set_bytes(w, rewrite_rss.median, cast_rss.median);
  w.ratio = {rewrite_rss.median / cast_rss.median, rewrite_rss.min / cast_rss.max,
             rewrite_rss.max / cast_rss.min};
  w.note = "ru_maxrss counts the mapped input's resident pages";
  add_row(w);

  ::unlink(out.c_str());
  if (!cfg.keep) ::unlink(in.c_str());
}

}  // namespace bench
