// One layer's attention alone, flash on vs off, at SmolLM2-135M's shape
// (9 query heads, 3 KV heads, head_dim 64):
//   decode:  one token at depth D (positions [0, D) cached)
//   prefill: a block of 512 tokens at depth D (causal inside the block)
// Prints the minimum CPU time over --reps runs (the least disturbed run on a
// shared machine). For instruction counts run it under
//   valgrind --tool=callgrind --toggle-collect='ef::attention*'
// with EDGEFORMER_ISA=avx2 (valgrind has no AVX-512).
// Usage: attention_bench [--depth 4096] [--reps 20] [--cache f16|f32] [--threads 1]
//                        [--only decode|prefill] [--flash on|off|both]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "model/attention.h"
#include "model/llama_forward.h"
#include "runtime/kv_cache.h"

namespace {
double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  int64_t depth = 4096;
  int reps = 20, threads = 1;
  std::string cache_name = "f16", only, flash_sel = "both";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--depth") depth = std::atoll(v.c_str());
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else if (a == "--cache") cache_name = v;
    else if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--only") only = v;
    else if (a == "--flash") flash_sel = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  ef::ModelConfig c;
  c.n_embd = 576;
  c.n_layer = 1;
  c.n_head = 9;
  c.n_head_kv = 3;
  c.head_dim = 64;
  c.n_rot = 64;
  const int64_t n_block = 512, n_ctx = depth + n_block;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  const ef::KvType type = cache_name == "f32" ? ef::KvType::f32 : ef::KvType::f16;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n_block * q_dim)), out(q.size()), k(kv_dim), v(kv_dim);
  for (auto& x : q) x = nd(rng);
  ef::ThreadPool pool(threads);
  std::printf("attention of one layer (9 heads, 3 KV heads, head_dim 64), %s cache, isa %s, "
              "%d thread(s), min CPU time of %d reps\n",
              cache_name.c_str(), ef::kernels::isa_name(ef::kernels::active().isa), threads, reps);
  for (int flash = 1; flash >= 0; --flash) {
    if ((flash_sel == "on" && !flash) || (flash_sel == "off" && flash)) continue;
    auto cache = ef::KvCache::create(1, n_ctx, kv_dim, type, /*v_transposed=*/!flash);
    auto scratch = ef::ForwardScratch::create(c, n_block, n_ctx, threads);
    if (!cache.ok() || !scratch.ok()) return 1;
    for (int64_t p = 0; p < n_ctx; ++p) {
      for (auto& x : k) x = nd(rng);
      for (auto& x : v) x = nd(rng);
      cache->store(0, p, k.data(), v.data());
    }
    for (const char* what : {"decode", "prefill"}) {
      if (!only.empty() && only != what) continue;
      const bool decode = std::string(what) == "decode";
      const int64_t n = decode ? 1 : n_block;
      const int r_count = decode ? reps : std::max(1, reps / 10);
      double best = 1e30;
      for (int r = 0; r < r_count; ++r) {
        const double c0 = cpu_s();
        ef::attention(c, *cache, 0, q.data(), out.data(), n, depth, *scratch, pool,
                      ef::kernels::active());
        best = std::min(best, cpu_s() - c0);
      }
      std::printf("flash %-3s %-7s depth %lld: %9.3f ms CPU per call\n", flash ? "on" : "off",
                  what, static_cast<long long>(depth), best * 1e3);
    }
  }
  return 0;
}
