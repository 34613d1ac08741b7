// AVX-512 dot products and gemm for float weights.
//  f32, f16: 16 lanes per step, one fma per (row, token); f16 widened with
//            vcvtph2ps (products of two halves are exact in float).
//  bf16:     vdpbf16ps, 32 elements per step (pairs summed in each lane).
// The k % 16 (k % 32) tail uses zero-masked loads, so it goes through the
// same instructions as a full step; lanes are reduced at the end.
// GCC 12 reports its own _mm512_cast*/_mm512_zext* helpers (which start from
// an "undefined" register) as -Wuninitialized once inlined: a false positive.
#include "kernels/x86/simd.h"

#include "kernels/x86/avx512_kernels.h"
#include "kernels/x86/gemm_tiled.h"

namespace ef::kernels::x86::avx512 {
namespace {

// Fixed-order lane reduction (8+8, 4+4, 2+2, 1+1).
inline float hsum16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct F32Elem {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load_tail(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16Elem {
  using T = uint16_t;
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load_tail(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};

template <class E>
struct Float16Tile {
  using T = typename E::T;
  // Bytes of one dense row of k elements (gemv_streaming prefetches those).
  static constexpr size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * sizeof(T); }
  template <int R, int NT>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb, float* y,
                   int64_t ldy) {
    const T* wr[R];
    const T* xt[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) xt[t] = reinterpret_cast<const T*>(x + t * xrb);
    __m512 acc[R][NT];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    const int64_t k16 = k & ~int64_t{15};
    for (int64_t i = 0; i < k16; i += 16) {
      __m512 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = E::load(wr[r] + i);
      for (int t = 0; t < NT; ++t) {
        const __m512 xv = E::load(xt[t] + i);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
      }
    }
    if (k16 < k) {
      const auto m = static_cast<__mmask16>((1u << (k - k16)) - 1u);
      __m512 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = E::load_tail(wr[r] + k16, m);
      for (int t = 0; t < NT; ++t) {
        const __m512 xv = E::load_tail(xt[t] + k16, m);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) y[t * ldy + r] = hsum16(acc[r][t]);
  }
};

// bf16 . bf16 with vdpbf16ps: lane i += w[2i] x[2i] + w[2i+1] x[2i+1].
// (The instruction flushes denormal inputs/outputs to zero; activations and
// weights of real models are far from that range.)
struct Bf16Tile {
  static constexpr size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * 2; }
  static __m512bh load(const uint16_t* p) {
    return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p));
  }
  static __m512bh load_tail(const uint16_t* p, __mmask32 m) {
    return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, p));
  }
  template <int R, int NT>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb, float* y,
                   int64_t ldy) {
    const uint16_t* wr[R];
    const uint16_t* xt[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) xt[t] = reinterpret_cast<const uint16_t*>(x + t * xrb);
    __m512 acc[R][NT];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    const int64_t k32 = k & ~int64_t{31};
    for (int64_t i = 0; i < k32; i += 32) {
      __m512bh wv[R];
      for (int r = 0; r < R; ++r) wv[r] = load(wr[r] + i);
      for (int t = 0; t < NT; ++t) {
        const __m512bh xv = load(xt[t] + i);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
      }
    }
    if (k32 < k) {
      const auto m = static_cast<__mmask32>((uint64_t{1} << (k - k32)) - 1u);
      __m512bh wv[R];
      for (int r = 0; r < R; ++r) wv[r] = load_tail(wr[r] + k32, m);
      for (int t = 0; t < NT; ++t) {
        const __m512bh xv = load_tail(xt[t] + k32, m);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) y[t * ldy + r] = hsum16(acc[r][t]);
  }
};

}  // namespace

float vec_dot_f32(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Float16Tile<F32Elem>>(k, w, x);
}
float vec_dot_f16(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Float16Tile<F16Elem>>(k, w, x);
}
float vec_dot_bf16(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Bf16Tile>(k, w, x);
}

void f32_to_bf16_row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  // fp32_to_bf16 on 16 lanes: integer round-to-nearest-even of the top 16
  // bits (no DAZ, unlike vcvtneps2bf16), NaN -> quiet NaN; the n % 16 tail
  // through the same instructions with masked loads/stores.
  const __m512i round_base = _mm512_set1_epi32(0x7fff);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(64);
  for (int64_t i = 0; i < n; i += 16) {
    const auto m =
        n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i u = _mm512_maskz_loadu_epi32(m, x + i);
    const __m512i hi = _mm512_srli_epi32(u, 16);
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(round_base, _mm512_and_si512(hi, one))), 16);
    const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs_mask), inf);
    const __m512i v = _mm512_mask_or_epi32(rounded, is_nan, hi, quiet);
    _mm256_mask_storeu_epi16(out + i, m, _mm512_cvtepi32_epi16(v));
  }
}

void gemm_f32(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Float16Tile<F32Elem>, 8, 4, 4, false>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
// Decode of f16/bf16: 4 rows per prefetched group. With the weights on 2 MiB
// pages (gguf::File) this streamed ~10% faster than 2 rows (f16) or 8 rows
// without prefetch (bf16): kernels_bench decode_stream, 1 thread, CPU time.
// The per-element instruction sequence does not depend on it.
void gemm_f16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Float16Tile<F16Elem>, 4, 6, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_bf16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Bf16Tile, 4, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

}  // namespace ef::kernels::x86::avx512
