// AVX-512 VNNI kernels for q8_0 . q8_0 and q4_0 . q8_0, and the q8_0
// activation quantizer.
//
// A 512-bit register holds two 32-byte blocks (lanes 0-7: block b, lanes
// 8-15: block b+1). vpdpbusd (u8 x s8, 4 products per int32 lane) gives exact
// int32 partial sums; they are converted to float and fma'd with the
// per-half block scale d_w * d_x into one accumulator per (row, token). An
// odd last block runs in the low half with the high half zero.
// GCC 12 reports its own _mm512_cast*/_mm512_zext* helpers (which start from
// an "undefined" register) as -Wuninitialized once inlined: a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/x86/avx512_kernels.h"
#include "kernels/x86/avx512_q8_act.h"
#include "kernels/x86/gemm_tiled.h"

namespace ef::kernels::x86::avx512 {
namespace {

inline float hsum16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline const BlockQ8_0* q8_row(const uint8_t* p) { return reinterpret_cast<const BlockQ8_0*>(p); }
inline const BlockQ4_0* q4_row(const uint8_t* p) { return reinterpret_cast<const BlockQ4_0*>(p); }

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Quants of blocks b and b+1 (b+1 absent when `two` is false -> zeros).
inline __m512i load_q8_pair(const BlockQ8_0* row, int64_t b, bool two) {
  const __m512i lo = _mm512_zextsi256_si512(load256(row[b].qs));
  return two ? _mm512_inserti64x4(lo, load256(row[b + 1].qs), 1) : lo;
}

// Nibbles of blocks b, b+1 -> bytes 0..15 in element order
// [lo(b) hi(b) lo(b+1) hi(b+1)], 16 bytes each: lanes [a a c c], the odd
// lanes shifted right by 4, then masked to the low nibble.
inline __m512i load_q4_pair(const BlockQ4_0* row, int64_t b, bool two) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[b].qs));
  const __m256i ac =
      two ? _mm256_inserti128_si256(_mm256_castsi128_si256(a),
                                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[b + 1].qs)), 1)
          : _mm256_zextsi128_si256(a);
  const __m512i z = _mm512_zextsi256_si512(ac);
  const __m512i aacc = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));
  const __m512i shifted = _mm512_mask_srli_epi16(aacc, 0xff00ff00u, aacc, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// [d(b) x8, d(b+1) x8] from the blocks' fp16 scales (no b+1 -> 0): both
// halves converted by one vcvtph2ps, then spread by one permute.
inline __m512 pair_scale(uint16_t h0, uint16_t h1) {
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(h0 | (uint32_t{h1} << 16))));
  const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_zextps128_ps512(f));
}

template <class Block>
inline __m512 block_pair_scale(const Block* row, int64_t b, bool two) {
  return pair_scale(row[b].d, two ? row[b + 1].d : uint16_t{0});
}

// q8_0 . q8_0 with vpdpbusd (u8 x s8): shift activations to unsigned,
// x + 128, and start each lane from -128 * sum(w) (one vpdpbusd per row),
// so sum w * x = vpdpbusd(-128 sum w, x + 128, w): one instruction per
// (row, token), exact for all int8 values.
struct Q8Tile {
  static constexpr size_t row_bytes(int64_t k) {
    return static_cast<size_t>(k / kQK8_0) * sizeof(BlockQ8_0);
  }
  template <int R, int T>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const int64_t nb = k / kQK8_0;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i ones8 = _mm512_set1_epi8(1);
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
      const bool two = b + 1 < nb;
      __m512i wv[R], wcorr[R];
      __m512 dw[R];
      for (int r = 0; r < R; ++r) {
        const BlockQ8_0* row = q8_row(w + r * wrb);
        wv[r] = load_q8_pair(row, b, two);
        wcorr[r] =
            _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones8, wv[r]), 7));
        dw[r] = block_pair_scale(row, b, two);
      }
      for (int t = 0; t < T; ++t) {
        const BlockQ8_0* xrow = q8_row(x + t * xrb);
        const __m512i xu = _mm512_xor_si512(load_q8_pair(xrow, b, two), bias);
        const __m512 dx = block_pair_scale(xrow, b, two);
        for (int r = 0; r < R; ++r) {
          const __m512i dot = _mm512_dpbusd_epi32(wcorr[r], xu, wv[r]);
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][t]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum16(acc[r][t]);
  }
};

// q4_0 nibbles are unsigned: sum (q - 8) x = vpdpbusd(-8 * sum x, q, x),
// with sum x (vpdpbusd(1, x)) computed once per token and block pair.
struct Q4Tile {
  static constexpr size_t row_bytes(int64_t k) {
    return static_cast<size_t>(k / kQK4_0) * sizeof(BlockQ4_0);
  }
  template <int R, int T>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const int64_t nb = k / kQK4_0;
    const __m512i zero = _mm512_setzero_si512();
    const __m512i ones8 = _mm512_set1_epi8(1);
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
      const bool two = b + 1 < nb;
      __m512i wq[R];
      __m512 dw[R];
      for (int r = 0; r < R; ++r) {
        const BlockQ4_0* row = q4_row(w + r * wrb);
        wq[r] = load_q4_pair(row, b, two);
        dw[r] = block_pair_scale(row, b, two);
      }
      for (int t = 0; t < T; ++t) {
        const BlockQ8_0* xrow = q8_row(x + t * xrb);
        const __m512i xv = load_q8_pair(xrow, b, two);
        const __m512 dx = block_pair_scale(xrow, b, two);
        const __m512i neg_xsum8 =
            _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones8, xv), 3));
        for (int r = 0; r < R; ++r) {
          const __m512i dot = _mm512_dpbusd_epi32(neg_xsum8, wq[r], xv);
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][t]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum16(acc[r][t]);
  }
};

// roundf for float vectors: trunc(v) + sign(v) where |v - trunc(v)| >= 0.5.
inline __m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 bump = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(_mm512_set1_ps(1.0f)),
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN))));
  return _mm512_mask_add_ps(t, bump, t, one);
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
  gemm_auto<Q8Tile, 2, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Q4Tile, 2, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

// Bit-identical to ref::quantize_row_q8_0.
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    const __m512 v0 = _mm512_loadu_ps(xb);
    const __m512 v1 = _mm512_loadu_ps(xb + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    const __m512 idv = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(v0, idv)));
    const __m512i q1 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(v1, idv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16), _mm512_cvtsepi32_epi8(q1));
  }
}

// ggml-cpu's x86 activation quantizer (bit-identical to
// ref::quantize_row_q8_0_act), see avx512_q8_act.h.
void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
  quantize_row_q8_0_act_info(x, y, nullptr, n);
}

void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n) {
  auto load = [x](int64_t b, __m512& v0, __m512& v1) {
    v0 = _mm512_loadu_ps(x + b * kQK8_0);
    v1 = _mm512_loadu_ps(x + b * kQK8_0 + 16);
  };
  quantize_blocks_q8_0_act(load, n / kQK8_0, static_cast<BlockQ8_0*>(y), info);
}

}  // namespace ef::kernels::x86::avx512
