// One layer's attention alone, flash on vs off, at SmolLM2-135M's shape
// (9 query heads, 3 KV heads, head_dim 64):
//   decode:  one token at depth D (positions [0, D) cached)
//   prefill: a block of 512 tokens at depth D (causal inside the block)
// Prints the minimum CPU time over --reps runs (the least disturbed run on a
// shared machine). For instruction counts run it under
//   valgrind --tool=callgrind --toggle-collect='ef::attention*'
// with EDGEFORMER_ISA=avx2 (valgrind has no AVX-512).
// Usage: attention_bench [--depth 4096] [--reps 20] [--cache f16|f32] [--threads 1]
//                        [--only decode|prefill|tile] [--flash on|off|both]
//                        [--rows 48] [--dk 64]
// --only tile: the active ISA's flash_tile alone on one 64-key F32 tile,
// row by row (FlashTileArgs::wide unset) vs several rows at a time (wide
// set), for --rows query rows (prefill: 16 tokens x GQA group 3 = 48) seeing
// the whole tile ("full") or a causal diagonal ("diag", row r of token
// r / 3 sees keys [0, 48 + r / 3]... clipped to the tile).
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/attention.h"
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
// CPU time per flash_tile call (min over reps of 100 calls), row by row and wide.
int tile_bench(int64_t n_q, int64_t d, int reps) {
  namespace k = ef::kernels;
  constexpr int64_t T = 64;
  const k::AttentionKernels& ak = k::attention_kernels(k::active());
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // 64-byte aligned, as flash_attend places its tiles.
  std::vector<std::unique_ptr<float[], decltype(&std::free)>> keep;
  auto buffer = [&](int64_t n) {
    auto* p = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>((n + 15) / 16 * 64)));
    keep.emplace_back(p, &std::free);
    return std::span<float>(p, static_cast<size_t>(n));
  };
  auto q = buffer(n_q * d), kt = buffer(T * d), vt = buffer(T * d), s = buffer(T),
       wide = buffer(k::flash_tile_wide_floats(T, d)), m = buffer(n_q), l = buffer(n_q),
       acc = buffer(n_q * d);
  for (auto& x : q) x = nd(rng) * 0.125f;
  for (auto& x : kt) x = nd(rng);
  for (auto& x : vt) x = nd(rng);
  std::printf("flash_tile alone, isa %s, %lld rows, dk = dv = %lld, 64-key tile, min CPU time "
              "of %d x 100 calls\n",
              k::isa_name(k::active().isa), static_cast<long long>(n_q),
              static_cast<long long>(d), reps);
  for (const char* shape : {"full", "diag"}) {
    std::vector<int32_t> lo(static_cast<size_t>(n_q), 0), hi(lo.size());
    for (int64_t r = 0; r < n_q; ++r) {
      hi[r] = std::string(shape) == "full" ? T : static_cast<int32_t>(std::min(T, 49 + r / 3));
    }
    for (int w = 0; w < 2; ++w) {
      k::FlashTileArgs a{q.data(), n_q, kt.data(), vt.data(), T, d, d, lo.data(), hi.data(),
                         m.data(), l.data(), acc.data(), s.data()};
      a.wide = w ? wide.data() : nullptr;
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        std::fill(m.begin(), m.end(), -INFINITY);
        std::fill(l.begin(), l.end(), 0.0f);
        std::fill(acc.begin(), acc.end(), 0.0f);
        const double c0 = cpu_s();
        for (int i = 0; i < 100; ++i) ak.flash_tile(a);
        best = std::min(best, cpu_s() - c0);
      }
      std::printf("  %s %-11s %8.3f us per call\n", shape, w ? "wide" : "row by row",
                  best * 1e6 / 100);
    }
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  int64_t depth = 4096;
  int reps = 20, threads = 1;
  std::string cache_name = "f16", only, flash_sel = "both";
  int64_t tile_rows = 48, tile_dk = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--depth") depth = std::atoll(v.c_str());
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else if (a == "--cache") cache_name = v;
    else if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--only") only = v;
    else if (a == "--flash") flash_sel = v;
    else if (a == "--rows") tile_rows = std::atoll(v.c_str());
    else if (a == "--dk") tile_dk = std::atoll(v.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (only == "tile") return tile_bench(tile_rows, tile_dk, reps);
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
