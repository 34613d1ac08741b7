// Register-tiled gemm driver shared by the x86 kernel files (no intrinsics
// here; each ISA file instantiates it with its own tile kernel).
//
// A tile kernel K provides
//   template <int R, int T> static void tile(int64_t k, const uint8_t* w, size_t w_row_bytes,
//                                            const uint8_t* x, size_t x_row_bytes,
//                                            float* y, int64_t ldy);
// computing y[t*ldy + r] = dot(w row r, x row t) for r < R, t < T, keeping
// one accumulator per (r, t) so each loaded weight vector is reused T times
// and each activation vector R times. Every (r, t) element goes through the
// same instruction sequence whatever R and T are, so the result of an
// element does not depend on how the output was tiled (and vec_dot, the
// 1x1 tile, gives the same bits as gemm).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace ef::kernels::x86 {

using TileFn = void (*)(int64_t k, const uint8_t* w, size_t w_row_bytes, const uint8_t* x,
                        size_t x_row_bytes, float* y, int64_t ldy);

template <class K, int R, int T, size_t... I>
constexpr std::array<TileFn, R * T> make_tile_table(std::index_sequence<I...>) {
  return {&K::template tile<static_cast<int>(I) / T + 1, static_cast<int>(I) % T + 1>...};
}

// Rows [row_begin, row_end) x tokens [0, n_tokens) in R x T tiles; rows
// outer so the R weight rows stay in L1 while all tokens stream past them.
template <class K, int R, int T>
void gemm_tiled(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin,
                int64_t row_end, const void* x, size_t x_row_bytes, int64_t n_tokens, float* y,
                int64_t ldy) {
  static constexpr std::array<TileFn, R * T> kTiles =
      make_tile_table<K, R, T>(std::make_index_sequence<R * T>{});
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = row_begin; r < row_end; r += R) {
    const int rr = static_cast<int>(std::min<int64_t>(R, row_end - r));
    for (int64_t t = 0; t < n_tokens; t += T) {
      const int tt = static_cast<int>(std::min<int64_t>(T, n_tokens - t));
      kTiles[(rr - 1) * T + (tt - 1)](k, wb + static_cast<size_t>(r) * w_row_bytes, w_row_bytes,
                                      xb + static_cast<size_t>(t) * x_row_bytes, x_row_bytes,
                                      y + t * ldy + r, ldy);
    }
  }
}

// How far ahead of the rows being read a decode matvec prefetches (bytes).
// Decode reads every weight byte once per token from L3/DRAM; loads that
// miss stall the (short) dependency chains of a row, so compute and memory
// latency add up unless the lines are already on their way. Rows of a block
// are contiguous, so this is one linear stream per thread (which the L2
// streamer also follows).
constexpr size_t kDecodePrefetchBytes = 1024;

// One token: rows [row_begin, row_end) R at a time, in address order, each
// group's lines prefetched kDecodePrefetchBytes ahead. Few rows per tile keep
// the access pattern linear (a tall tile reads R short interleaved streams,
// which the hardware prefetcher does not follow); the x vector stays in L1.
template <class K, int R, bool Prefetch = true>
void gemv_streaming(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin,
                    int64_t row_end, const void* x, float* y) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const uint8_t* end = wb + static_cast<size_t>(row_end) * w_row_bytes;
  // Only a dense matrix is one stream; strided views (attention over a KV
  // cache row) are left to the hardware.
  bool dense = false;
  if constexpr (Prefetch && requires { K::row_bytes(k); }) dense = K::row_bytes(k) == w_row_bytes;
  for (int64_t r = row_begin; r < row_end; r += R) {
    const int rr = static_cast<int>(std::min<int64_t>(R, row_end - r));
    const uint8_t* wr = wb + static_cast<size_t>(r) * w_row_bytes;
    if (dense) {
      // The group after this one, kDecodePrefetchBytes further on: steady
      // state keeps a window of that size in flight ahead of the reads.
      const size_t group = static_cast<size_t>(rr) * w_row_bytes;
      const uint8_t* pf = wr + group + kDecodePrefetchBytes;
      const uint8_t* pf_end = std::min(end, pf + group);
      for (; pf < pf_end; pf += 64) __builtin_prefetch(pf, 0, 3);
    }
    if (rr == R) {
      K::template tile<R, 1>(k, wr, w_row_bytes, xb, 0, y + r, 1);
    } else {
      for (int i = 0; i < rr; ++i) {
        K::template tile<1, 1>(k, wr + i * w_row_bytes, w_row_bytes, xb, 0, y + r + i, 1);
      }
    }
  }
}

// gemm entry point: decode (one token) streams rows RDecode at a time (see
// gemv_streaming); prefill uses a squarer tile for reuse in both directions.
// Prefetch = false leaves decode to the hardware prefetcher (measured better
// for f32, whose rows are long enough for it to lock on).
template <class K, int RDecode, int RPrefill, int TPrefill, bool Prefetch = true>
void gemm_auto(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_tokens == 1) {
    gemv_streaming<K, RDecode, Prefetch>(k, w, w_row_bytes, row_begin, row_end, x, y);
  } else {
    gemm_tiled<K, RPrefill, TPrefill>(k, w, w_row_bytes, row_begin, row_end, x, x_row_bytes,
                                      n_tokens, y, ldy);
  }
}

template <class K>
float vec_dot_1x1(int64_t k, const void* w, const void* x) {
  float out = 0.0f;
  K::template tile<1, 1>(k, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x),
                         0, &out, 1);
  return out;
}

}  // namespace ef::kernels::x86
