// AVX2 kernels for the integer paths: q8_0 . q8_0 and q4_0 . q8_0, and the
// q8_0 activation quantizer.
//
// Per 32-element block the int8 products are summed exactly in int32 lanes
// (maddubs + madd); the 8 lane partial sums are converted to float and
// fma'd with the block scale d_w * d_x into one 8-lane accumulator per
// (row, token), summed at the end. Only the float summation order differs
// from the scalar reference.
#include <immintrin.h>

#include <cmath>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/x86/avx2_kernels.h"
#include "kernels/x86/avx2_q8_act.h"
#include "kernels/x86/gemm_tiled.h"

namespace ef::kernels::x86::avx2 {
namespace {

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline const BlockQ8_0* q8_row(const uint8_t* p) { return reinterpret_cast<const BlockQ8_0*>(p); }
inline const BlockQ4_0* q4_row(const uint8_t* p) { return reinterpret_cast<const BlockQ4_0*>(p); }

inline __m256i load32(const int8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// 16 bytes of nibbles -> 32 bytes 0..15: low nibbles (elements 0..15) in the
// low lane, high nibbles (elements 16..31) in the high lane.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// q8_0 weights: u = |w|, s = x with w's sign, so maddubs(u, s) = w * x
// pairwise (|pair sum| <= 2 * 128 * 127 < 2^15: no saturation).
struct Q8Tile {
  static constexpr size_t row_bytes(int64_t k) {
    return static_cast<size_t>(k / kQK8_0) * sizeof(BlockQ8_0);
  }
  template <int R, int T>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const int64_t nb = k / kQK8_0;
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i wabs[R], wsgn[R];
      float dw[R];
      for (int r = 0; r < R; ++r) {
        const BlockQ8_0& blk = q8_row(w + r * wrb)[b];
        wsgn[r] = load32(blk.qs);
        wabs[r] = _mm256_sign_epi8(wsgn[r], wsgn[r]);
        dw[r] = _cvtsh_ss(blk.d);
      }
      for (int t = 0; t < T; ++t) {
        const BlockQ8_0& xb = q8_row(x + t * xrb)[b];
        const __m256i xv = load32(xb.qs);
        const float dx = _cvtsh_ss(xb.d);
        for (int r = 0; r < R; ++r) {
          const __m256i p16 = _mm256_maddubs_epi16(wabs[r], _mm256_sign_epi8(xv, wsgn[r]));
          const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones16));
          acc[r][t] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw[r] * dx), acc[r][t]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum8(acc[r][t]);
  }
};

// q4_0 weights: nibbles q in 0..15 are already unsigned, so
// sum (q - 8) x = maddubs(q, x) - 8 * sum x, with sum x per token and block
// computed once and shared by the R rows.
struct Q4Tile {
  static constexpr size_t row_bytes(int64_t k) {
    return static_cast<size_t>(k / kQK4_0) * sizeof(BlockQ4_0);
  }
  template <int R, int T>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const int64_t nb = k / kQK4_0;
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i ones8 = _mm256_set1_epi8(1);
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      __m256i wq[R];
      float dw[R];
      for (int r = 0; r < R; ++r) {
        const BlockQ4_0& blk = q4_row(w + r * wrb)[b];
        wq[r] = unpack_nibbles(blk.qs);
        dw[r] = _cvtsh_ss(blk.d);
      }
      for (int t = 0; t < T; ++t) {
        const BlockQ8_0& xb = q8_row(x + t * xrb)[b];
        const __m256i xv = load32(xb.qs);
        const float dx = _cvtsh_ss(xb.d);
        // 8 * (sum of x over each lane's 4 elements)
        const __m256i xsum8 =
            _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones16), 3);
        for (int r = 0; r < R; ++r) {
          const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wq[r], xv), ones16);
          const __m256 p = _mm256_cvtepi32_ps(_mm256_sub_epi32(dot, xsum8));
          acc[r][t] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw[r] * dx), acc[r][t]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum8(acc[r][t]);
  }
};

// roundf (halfway away from zero) for values that are exact in float:
// trunc(v) + sign(v) if |v - trunc(v)| >= 0.5.
inline __m256 round_half_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 frac = _mm256_andnot_ps(sign_mask, _mm256_sub_ps(v, t));
  const __m256 bump = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                    _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign_mask)));
  return _mm256_add_ps(t, bump);
}

}  // namespace

float vec_dot_q8_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Q8Tile>(k, w, x);
}
float vec_dot_q4_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Q4Tile>(k, w, x);
}

void gemm_q8_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Q8Tile, 2, 2, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Q4Tile, 2, 2, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

// Same formula and rounding as ref::quantize_row_q8_0 (bit-identical):
// d = amax / 127, id = 1 / d, q = roundf(x * id).
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(xb + 8 * i);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                             _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(v[i], idv)));
    // 32 x int32 -> 32 x int8; packs interleave 128-bit lanes, perm restores order.
    const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs), q8);
  }
}

// ggml-cpu's x86 activation quantizer (bit-identical to
// ref::quantize_row_q8_0_act), see avx2_q8_act.h.
void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + b * kQK8_0 + 8 * i);
    quantize_block_q8_0_act(v, blocks + b, nullptr);
  }
}

void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + b * kQK8_0 + 8 * i);
    quantize_block_q8_0_act(v, blocks + b, info + b);
  }
}

}  // namespace ef::kernels::x86::avx2
