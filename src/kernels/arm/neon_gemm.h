// Register-tiled gemm driver for the NEON kernel files (the same design as
// x86/gemm_tiled.h, kept separate so the two ISA directories can change
// independently). No intrinsics and no standard-library templates here: it is
// also included by the *dotprod* file, which is compiled with
// -march=armv8.2-a+dotprod, and any inline function with external linkage
// emitted there could be picked by the linker for the whole program and then
// fault on a CPU without those extensions. Everything below is a template over
// a tile kernel defined in an anonymous namespace, so each instantiation is
// local to its file.
//
// A tile kernel K provides
//   template <int R, int T> static void tile(int64_t k, const uint8_t* w, size_t w_row_bytes,
//                                            const uint8_t* x, size_t x_row_bytes,
//                                            float* y, int64_t ldy);
// computing y[t*ldy + r] = dot(w row r, x row t) for r < R, t < T. Every
// (r, t) element goes through the same instruction sequence whatever R and T
// are, so an element's bits do not depend on the tiling, and vec_dot (the 1x1
// tile) equals gemm.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels::arm {

using NeonTileFn = void (*)(int64_t k, const uint8_t* w, size_t w_row_bytes, const uint8_t* x,
                            size_t x_row_bytes, float* y, int64_t ldy);

// Tile kernel for an edge tile of rr x tt (1 <= rr <= R, 1 <= tt <= T).
template <class K, int R, int T>
inline NeonTileFn pick_tile(int rr, int tt) {
  if constexpr (T > 1) {
    if (tt < T) return pick_tile<K, R, T - 1>(rr, tt);
  }
  if constexpr (R > 1) {
    if (rr < R) return pick_tile<K, R - 1, T>(rr, tt);
  }
  return &K::template tile<R, T>;
}

// Rows [row_begin, row_end) x tokens [0, n_tokens) in R x T tiles; rows outer
// so the R weight rows stay in L1 while all tokens stream past them.
template <class K, int R, int T>
void gemm_tiled(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
                const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = row_begin; r < row_end; r += R) {
    const int rr = row_end - r < R ? static_cast<int>(row_end - r) : R;
    for (int64_t t = 0; t < n_tokens; t += T) {
      const int tt = n_tokens - t < T ? static_cast<int>(n_tokens - t) : T;
      pick_tile<K, R, T>(rr, tt)(k, wb + static_cast<size_t>(r) * w_row_bytes, w_row_bytes,
                                 xb + static_cast<size_t>(t) * x_row_bytes, x_row_bytes,
                                 y + t * ldy + r, ldy);
    }
  }
}

// Decode (one token) uses a tall tile for more independent accumulators;
// prefill a squarer one for reuse in both directions.
template <class K, int RDecode, int RPrefill, int TPrefill>
void gemm_auto(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy) {
  if (n_tokens == 1) {
    gemm_tiled<K, RDecode, 1>(k, w, w_row_bytes, row_begin, row_end, x, x_row_bytes, 1, y, ldy);
  } else {
    gemm_tiled<K, RPrefill, TPrefill>(k, w, w_row_bytes, row_begin, row_end, x, x_row_bytes,
                                      n_tokens, y, ldy);
  }
}

template <class K>
float vec_dot_1x1(int64_t k, const void* w, const void* x) {
  float out = 0.0f;
  K::template tile<1, 1>(k, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0,
                         &out, 1);
  return out;
}

}  // namespace ef::kernels::arm
