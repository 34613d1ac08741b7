// Measured limits of this machine, for bench/roofline.cpp:
//  - memory read bandwidth (one or more threads each streaming a disjoint
//    part of a buffer much larger than the caches),
//  - peak arithmetic throughput of each unit the kernels use: FP32 FMA
//    (AVX2 8-wide, AVX-512 16-wide), AVX-512 VNNI int8 dots (vpdpbusd),
//    AVX-512 BF16 dots (vdpbf16ps), AMX int8 (tdpbssd) and AMX bf16
//    (tdpbf16ps).
// Each probe runs many independent accumulator chains so latency is hidden,
// takes the best of a few repetitions, and reports ops/s where one
// multiply-add = 2 ops. Functions carry their ISA via target attributes (bench
// files get no per-ISA flags); callers check cpu_features() first.
#pragma once

#include <sys/mman.h>

// GCC 12's own avx512 reduce helpers trip -Wuninitialized once inlined
// (false positive, as in src/kernels/x86/avx512_*.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

namespace ef::bench {

inline double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Runs fn(thread) on n_threads threads at once; returns the wall time.
inline double timed_parallel(int n_threads, const std::function<void(int)>& fn) {
  std::vector<std::thread> ts;
  const double t0 = now_s();
  for (int t = 1; t < n_threads; ++t) ts.emplace_back(fn, t);
  fn(0);
  for (auto& t : ts) t.join();
  return now_s() - t0;
}

__attribute__((target("avx2"))) inline uint64_t read_stream(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t out[4];
  std::memcpy(out, &s, sizeof(out));
  return out[0] + out[1] + out[2] + out[3];
}

// Read bandwidth in bytes/s (best of `reps` passes over `bytes`). huge: on
// 2 MiB transparent huge pages, as gguf::File holds the weights (4 KiB
// pages measure the TLB as much as the memory: ~2x lower under a hypervisor).
inline double read_bandwidth(int n_threads, bool huge = true, size_t bytes = size_t{512} << 20,
                             int reps = 4) {
  const size_t align = huge ? size_t{2} << 20 : size_t{4096};
  bytes = (bytes + align - 1) / align * align;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(align, bytes));
  if (buf == nullptr) return 0.0;
  madvise(buf, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  std::memset(buf, 1, bytes);
  const size_t part = bytes / static_cast<size_t>(n_threads) / 128 * 128;
  std::vector<uint64_t> sink(static_cast<size_t>(n_threads));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    best = std::min(best, timed_parallel(n_threads, [&](int t) {
                      sink[t] += read_stream(buf + static_cast<size_t>(t) * part, part);
                    }));
  }
  volatile uint64_t keep = sink[0];
  (void)keep;
  std::free(buf);
  return static_cast<double>(part) * n_threads / best;
}

constexpr int kChains = 12;  // independent accumulators per thread
constexpr int64_t kIters = 2'000'000;

__attribute__((target("avx2,fma"))) inline float fma_avx2_loop() {
  __m256 acc[kChains];
  for (auto& a : acc) a = _mm256_set1_ps(0.0f);
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f);
  for (int64_t i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm256_fmadd_ps(a, m, c);
  float s = 0.0f;
  for (auto& a : acc) s += _mm256_cvtss_f32(a);
  return s;
}

__attribute__((target("avx512f"))) inline float fma_avx512_loop() {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  for (int64_t i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_fmadd_ps(a, m, c);
  float s = 0.0f;
  for (auto& a : acc) s += _mm512_reduce_add_ps(a);
  return s;
}

__attribute__((target("avx512f,avx512vnni"))) inline int vnni_loop() {
  __m512i acc[kChains];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i u = _mm512_set1_epi8(3), s8 = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_dpbusd_epi32(a, u, s8);
  int s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_epi32(a);
  return s;
}

__attribute__((target("avx512f,avx512bf16"))) inline float bf16dp_loop() {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_setzero_ps();
  const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
  for (int64_t i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_dpbf16_ps(a, x, x);
  float s = 0.0f;
  for (auto& a : acc) s += _mm512_reduce_add_ps(a);
  return s;
}

struct alignas(64) AmxConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// 4 accumulator tiles fed by 2 A and 2 B tiles, all 16 x 64 bytes.
template <bool kBf16>
__attribute__((target("amx-tile,amx-int8,amx-bf16"))) inline void amx_loop(int64_t iters) {
  AmxConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  __asm__ volatile("" : : "r"(&cfg) : "memory");  // GCC 12: see src/kernels/x86/amx_quant.cpp
  _tile_loadconfig(&cfg);
  alignas(64) static thread_local uint8_t data[16 * 64];
  std::memset(data, 0, sizeof(data));
  for (int t = 0; t < 8; ++t) {
    // _tile_loadd needs immediate tile numbers.
    switch (t) {
      case 0: _tile_loadd(0, data, 64); break;
      case 1: _tile_loadd(1, data, 64); break;
      case 2: _tile_loadd(2, data, 64); break;
      case 3: _tile_loadd(3, data, 64); break;
      case 4: _tile_loadd(4, data, 64); break;
      case 5: _tile_loadd(5, data, 64); break;
      case 6: _tile_loadd(6, data, 64); break;
      default: _tile_loadd(7, data, 64); break;
    }
  }
  for (int64_t i = 0; i < iters; ++i) {
    if constexpr (kBf16) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    } else {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
  _tile_stored(0, data, 64);
  _tile_release();
}

enum class Unit { fma_avx2, fma_avx512, vnni_avx512, bf16_avx512, amx_int8, amx_bf16 };

inline const char* unit_name(Unit u) {
  switch (u) {
    case Unit::fma_avx2: return "FP32 FMA avx2";
    case Unit::fma_avx512: return "FP32 FMA avx512";
    case Unit::vnni_avx512: return "INT8 vpdpbusd";
    case Unit::bf16_avx512: return "BF16 vdpbf16ps";
    case Unit::amx_int8: return "AMX INT8";
    case Unit::amx_bf16: return "AMX BF16";
  }
  return "?";
}

// Peak ops/s of `unit` on n_threads threads (best of 3).
inline double peak_ops(Unit unit, int n_threads) {
  double ops_per_thread = 0.0;
  std::function<void(int)> fn;
  std::vector<double> sink(static_cast<size_t>(n_threads));
  const int64_t amx_iters = 200'000;
  switch (unit) {
    case Unit::fma_avx2:
      ops_per_thread = 2.0 * 8 * kChains * kIters;
      fn = [&](int t) { sink[t] += fma_avx2_loop(); };
      break;
    case Unit::fma_avx512:
      ops_per_thread = 2.0 * 16 * kChains * kIters;
      fn = [&](int t) { sink[t] += fma_avx512_loop(); };
      break;
    case Unit::vnni_avx512:  // 16 lanes x 4 u8*s8 products
      ops_per_thread = 2.0 * 64 * kChains * kIters;
      fn = [&](int t) { sink[t] += vnni_loop(); };
      break;
    case Unit::bf16_avx512:  // 16 lanes x 2 products
      ops_per_thread = 2.0 * 32 * kChains * kIters;
      fn = [&](int t) { sink[t] += bf16dp_loop(); };
      break;
    case Unit::amx_int8:  // 16 x 16 x 64 per tdpbssd
      ops_per_thread = 2.0 * 16 * 16 * 64 * 4 * amx_iters;
      fn = [&](int) { amx_loop<false>(amx_iters); };
      break;
    case Unit::amx_bf16:  // 16 x 16 x 32 per tdpbf16ps
      ops_per_thread = 2.0 * 16 * 16 * 32 * 4 * amx_iters;
      fn = [&](int) { amx_loop<true>(amx_iters); };
      break;
  }
  double best = 1e30;
  for (int r = 0; r < 3; ++r) best = std::min(best, timed_parallel(n_threads, fn));
  volatile double keep = sink[0];
  (void)keep;
  return ops_per_thread * n_threads / best;
}

}  // namespace ef::bench
