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

// gemm entry point: decode (one token) uses a tall tile for more independent
// accumulators; prefill uses a squarer tile for reuse in both directions.
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
  K::template tile<1, 1>(k, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x),
                         0, &out, 1);
  return out;
}

}  // namespace ef::kernels::x86
