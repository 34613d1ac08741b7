// AVX2/FMA/F16C dot products and gemm for float weights (f32, f16, bf16),
// plus the f16/bf16 activation conversions.
//
// Each (row, token) pair accumulates in one 8-lane register over k in steps
// of 8; the last k % 8 elements go through a zero-padded copy so they take
// the same path. The 8 lanes are summed at the end in a fixed order.
#include <immintrin.h>

#include <cstring>

#include "core/fp16.h"
#include "kernels/x86/avx2_kernels.h"
#include "kernels/x86/gemm_tiled.h"

namespace ef::kernels::x86::avx2 {
namespace {

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Element loaders: 8 elements at p -> 8 floats.
struct F32Elem {
  using T = float;
  static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
};
struct F16Elem {
  using T = uint16_t;
  static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
struct BF16Elem {
  using T = uint16_t;
  static __m256 load8(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
};

template <class E>
struct FloatTile {
  using T = typename E::T;
  // Bytes of one dense row of k elements (gemv_streaming prefetches those).
  static constexpr size_t row_bytes(int64_t k) { return static_cast<size_t>(k) * sizeof(T); }
  template <int R, int NT>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const T* wr[R];
    const T* xt[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) xt[t] = reinterpret_cast<const T*>(x + t * xrb);
    __m256 acc[R][NT];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();

    auto step = [&](const T* const* wp, const T* const* xp, int64_t i) {
      __m256 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = E::load8(wp[r] + i);
      for (int t = 0; t < NT; ++t) {
        const __m256 xv = E::load8(xp[t] + i);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
      }
    };
    const int64_t k8 = k & ~int64_t{7};
    for (int64_t i = 0; i < k8; i += 8) step(wr, xt, i);
    if (k8 < k) {
      // Tail: zero-padded copies, same arithmetic as a full step.
      T wpad[R][8] = {};
      T xpad[NT][8] = {};
      const size_t rest = static_cast<size_t>(k - k8) * sizeof(T);
      const T* wp[R];
      const T* xp[NT];
      for (int r = 0; r < R; ++r) {
        std::memcpy(wpad[r], wr[r] + k8, rest);
        wp[r] = wpad[r];
      }
      for (int t = 0; t < NT; ++t) {
        std::memcpy(xpad[t], xt[t] + k8, rest);
        xp[t] = xpad[t];
      }
      step(wp, xp, 0);
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < NT; ++t) y[t * ldy + r] = hsum8(acc[r][t]);
  }
};

}  // namespace

float vec_dot_f32(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<FloatTile<F32Elem>>(k, w, x);
}
float vec_dot_f16(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<FloatTile<F16Elem>>(k, w, x);
}
float vec_dot_bf16(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<FloatTile<BF16Elem>>(k, w, x);
}

void gemm_f32(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<F32Elem>, 4, 3, 2, false>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_f16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<F16Elem>, 2, 3, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_bf16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<BF16Elem>, 2, 3, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

void f32_to_f16_row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  // vcvtps2ph with round-to-nearest-even: same results as fp32_to_fp16
  // (including overflow to inf and quiet NaNs).
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void f32_to_bf16_row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  // Integer round-to-nearest-even on the top 16 bits (no DAZ, unlike
  // vcvtneps2bf16), NaN -> quiet NaN: the same as fp32_to_bf16.
  const __m256i round_base = _mm256_set1_epi32(0x7fff);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(64);
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(round_base, lsb)), 16);
    const __m256i nan_val = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i v = _mm256_blendv_epi8(rounded, nan_val, is_nan);
    // pack 8 x 32-bit (values < 2^16) into 8 x 16-bit
    const __m128i lo = _mm256_castsi256_si128(v);
    const __m128i hi = _mm256_extracti128_si256(v, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi32(lo, hi));
  }
  for (; i < n; ++i) out[i] = fp32_to_bf16(x[i]);
}

}  // namespace ef::kernels::x86::avx2
