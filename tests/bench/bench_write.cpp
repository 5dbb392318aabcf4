// safetensors-bench: target 5 (writing). Waits for the library's writer (wip/WRITER_API.md).
#include "bench_common.hpp"

namespace bench {
void run_write_targets(context&) {
  std::printf("write targets: the writer is not in the header yet; skipped\n");
}
}  // namespace bench
