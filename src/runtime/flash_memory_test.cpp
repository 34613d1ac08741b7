// Peak memory of a long prefill with flash attention: apart from the KV
// cache (linear in n_ctx by design) nothing may grow with the context, i.e.
// no T x T score buffer anywhere. Each prefill runs in a forked child so its
// resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs)
// is its own; the Buffer accounting's peak is checked too.
#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "core/memory.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

struct Peak {
  int ok = 0;
  uint64_t rss = 0;      // VmHWM during session creation + prefill
  uint64_t buffers = 0;  // Buffer high-water mark over the same span
  uint64_t kv = 0;       // KV cache bytes (expected to scale with n_ctx)
};

// Loads the model, then measures creating a session of n_ctx positions and
// prefilling n_ctx - 1 tokens in micro-batches of 512 (flash attention on).
Peak measure(const std::string& path, int64_t n_ctx) {
  Peak p;
  auto model = Model::load(path);
  if (!model.ok()) return p;
  // Give freed heap back to the kernel (memory left resident by earlier
  // tests would otherwise be reused without raising the RSS), then reset
  // VmHWM to the current RSS (Linux >= 4.0: "5" > clear_refs).
  malloc_trim(0);
  const int fd = open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0 || write(fd, "5", 1) != 1) return p;
  close(fd);
  memory_reset_peak();
  SessionOptions so;
  so.n_ctx = n_ctx;
  so.n_ubatch = 512;
  so.n_threads = 1;
  so.flash_attn = true;
  auto session = Session::create(*model.value(), so);
  if (!session.ok()) return p;
  std::vector<int32_t> tokens(static_cast<size_t>(n_ctx - 1));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(3 + i % 200);
  if (!session.value()->eval(tokens).ok()) return p;
  p.rss = process_peak_rss_bytes();
  p.buffers = memory_stats().peak_bytes;
  p.kv = session.value()->kv_cache_bytes();
  p.ok = p.rss > 0;
  return p;
}

Peak measure_in_child(const std::string& path, int64_t n_ctx) {
  int fds[2];
  Peak p;
  if (pipe(fds) != 0) return p;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const Peak c = measure(path, n_ctx);
    const ssize_t w = write(fds[1], &c, sizeof(c));
    _exit(w == static_cast<ssize_t>(sizeof(c)) ? 0 : 1);
  }
  close(fds[1]);
  if (pid > 0) {
    if (read(fds[0], &p, sizeof(p)) != static_cast<ssize_t>(sizeof(p))) p.ok = 0;
    int status = 0;
    waitpid(pid, &status, 0);
  }
  close(fds[0]);
  return p;
}

TEST(FlashMemoryTest, LongPrefillPeakGrowsOnlyByTheKvCache) {
  // One layer, one head of 64 (the attention work is the test's cost).
  TinyModelSpec spec;
  spec.n_embd = 64;
  spec.n_head = 1;
  spec.n_head_kv = 1;
  spec.n_layer = 1;
  spec.n_ctx = 8192;
  const std::string path = ::testing::TempDir() + "/flash_memory.gguf";
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());
  const Peak small = measure_in_child(path, 512);
  const Peak large = measure_in_child(path, 8192);
  ASSERT_TRUE(small.ok && large.ok) << "child measurement failed";
  const double mib = 1024.0 * 1024.0;
  const double kv_growth = (double(large.kv) - double(small.kv)) / mib;
  const double rss_growth = (double(large.rss) - double(small.rss)) / mib;
  const double buf_growth = (double(large.buffers) - double(small.buffers)) / mib;
  std::printf("[flash memory] kv +%.2f MiB, VmHWM +%.2f MiB, buffers +%.2f MiB (512 -> 8192)\n",
              kv_growth, rss_growth, buf_growth);
  // A single 8192 x 8192 F32 score matrix would be 256 MiB; the score-row
  // scratch of the non-flash path is n_ctx floats per thread (32 KiB).
  EXPECT_LT(buf_growth - kv_growth, 1.0);
  EXPECT_LT(rss_growth - kv_growth, 4.0);
}

}  // namespace
}  // namespace ef
