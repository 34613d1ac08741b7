// AVX2 flash-attention tile (FlashTileArgs in kernels/attention.h), for dk and dv
// multiples of 8 (others go to the scalar oracle). Same structure as the
// AVX-512 kernel with 8 lanes:
//   scores: 8 key rows at a time, one accumulator per key, then an 8x8
//           transpose-add (hadd + 128-bit permutes); masked lanes -inf;
//   exp:    8 lanes (exp8, avx2_exp.h), masked lanes forced to 0;
//   P V:    32-float chunks of the output row in registers, even and odd
//           positions in two accumulator sets (8 fma chains).
#include <immintrin.h>

#include <cmath>
#include <type_traits>

#include "core/fp16.h"
#include "kernels/x86/attention_kernels.h"
#include "kernels/x86/avx2_kernels.h"
#include "kernels/x86/avx2_exp.h"

namespace ef::kernels::x86::avx2 {
namespace {

// out lane i = sum of the 8 lanes of v[i].
inline __m256 transpose_add8(const __m256* v) {
  const __m256 h0 = _mm256_hadd_ps(v[0], v[1]);  // per 128: [v0 01, v0 23, v1 01, v1 23]
  const __m256 h1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 h2 = _mm256_hadd_ps(v[4], v[5]);
  const __m256 h3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 g0 = _mm256_hadd_ps(h0, h1);  // per 128: [v0, v1, v2, v3] half sums
  const __m256 g1 = _mm256_hadd_ps(h2, h3);
  return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
}

// All-ones lanes for positions j0 + i inside [lo, hi).
inline __m256 visible(int64_t j0, int64_t lo, int64_t hi) {
  const __m256i pos = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                       _mm256_set1_epi32(static_cast<int>(j0)));
  const __m256i ge = _mm256_cmpgt_epi32(pos, _mm256_set1_epi32(static_cast<int>(lo) - 1));
  const __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), pos);
  return _mm256_castsi256_ps(_mm256_and_si256(ge, lt));
}

// Row access of K or V: F32 rows (the widened tile) or F16 rows read in
// place and converted in registers (vcvtph2ps is exact: same bits).
struct F32Rows {
  const float* base;
  int64_t stride;  // elements
  const float* row(int64_t j) const { return base + j * stride; }
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
};
struct F16Rows {
  const uint16_t* base;
  int64_t stride;
  const uint16_t* row(int64_t j) const { return base + j * stride; }
  static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

// acc[0, 32) = acc * alpha + sum_{j in [lo, hi)} p[j] v[j][d0, d0 + 32)
template <class Rows>
inline void pv32(float* acc, float alpha, const float* p, const Rows& v, int64_t d0, int64_t lo,
                 int64_t hi) {
  const __m256 al = _mm256_set1_ps(alpha);
  __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc), al);
  __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + 8), al);
  __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + 16), al);
  __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + 24), al);
  __m256 b0 = _mm256_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    const auto* v0 = v.row(j) + d0;
    const auto* v1 = v.row(j + 1) + d0;
    const __m256 p0 = _mm256_set1_ps(p[j]);
    const __m256 p1 = _mm256_set1_ps(p[j + 1]);
    a0 = _mm256_fmadd_ps(p0, Rows::load(v0), a0);
    a1 = _mm256_fmadd_ps(p0, Rows::load(v0 + 8), a1);
    a2 = _mm256_fmadd_ps(p0, Rows::load(v0 + 16), a2);
    a3 = _mm256_fmadd_ps(p0, Rows::load(v0 + 24), a3);
    b0 = _mm256_fmadd_ps(p1, Rows::load(v1), b0);
    b1 = _mm256_fmadd_ps(p1, Rows::load(v1 + 8), b1);
    b2 = _mm256_fmadd_ps(p1, Rows::load(v1 + 16), b2);
    b3 = _mm256_fmadd_ps(p1, Rows::load(v1 + 24), b3);
  }
  if (j < hi) {
    const auto* v0 = v.row(j) + d0;
    const __m256 p0 = _mm256_set1_ps(p[j]);
    a0 = _mm256_fmadd_ps(p0, Rows::load(v0), a0);
    a1 = _mm256_fmadd_ps(p0, Rows::load(v0 + 8), a1);
    a2 = _mm256_fmadd_ps(p0, Rows::load(v0 + 16), a2);
    a3 = _mm256_fmadd_ps(p0, Rows::load(v0 + 24), a3);
  }
  _mm256_storeu_ps(acc, _mm256_add_ps(a0, b0));
  _mm256_storeu_ps(acc + 8, _mm256_add_ps(a1, b1));
  _mm256_storeu_ps(acc + 16, _mm256_add_ps(a2, b2));
  _mm256_storeu_ps(acc + 24, _mm256_add_ps(a3, b3));
}

template <class Rows>
inline void pv8(float* acc, float alpha, const float* p, const Rows& v, int64_t d0, int64_t lo,
                int64_t hi) {
  __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc), _mm256_set1_ps(alpha));
  __m256 b = _mm256_setzero_ps();
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), Rows::load(v.row(j) + d0), a);
    b = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), Rows::load(v.row(j + 1) + d0), b);
  }
  if (j < hi) a = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), Rows::load(v.row(j) + d0), a);
  _mm256_storeu_ps(acc, _mm256_add_ps(a, b));
}

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace

namespace {

// One row of the tile. DK > 0: the key width as a compile-time constant
// (immediate offsets for the 8 key rows instead of 8 live pointers);
// DK = 0: a.dk. Same operations in the same order either way. Key rows at
// or past hi are never read (the last 8-row block takes only its existing
// rows; the other lanes are masked anyway).
template <int DK, class Rows>
void tile_row(const FlashTileArgs& a, const Rows& kr, const Rows& vr, int64_t r) {
  const int64_t dk = DK > 0 ? DK : a.dk, dv = a.dv;
  float* s = a.s;
  const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
  const int64_t lo = a.lo[r], hi = a.hi[r];
  if (lo >= hi) return;
  const float* q = a.q + r * dk;
  const int64_t jb = lo & ~int64_t{7};
  __m256 vmax = neg_inf;
  for (int64_t j0 = jb; j0 < hi; j0 += 8) {
    __m256 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
    const auto* k = kr.row(j0);
    const int64_t ks = DK > 0 && std::is_same_v<Rows, F32Rows> ? DK : kr.stride;
    const int n = static_cast<int>(std::min<int64_t>(8, hi - j0));
    for (int64_t d = 0; d < dk; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      if (n == 8) {
        for (int i = 0; i < 8; ++i) acc[i] = _mm256_fmadd_ps(qv, Rows::load(k + i * ks + d), acc[i]);
      } else {
        for (int i = 0; i < n; ++i) acc[i] = _mm256_fmadd_ps(qv, Rows::load(k + i * ks + d), acc[i]);
      }
    }
    const __m256 sv = _mm256_blendv_ps(neg_inf, transpose_add8(acc), visible(j0, lo, hi));
    _mm256_storeu_ps(s + j0, sv);
    vmax = _mm256_max_ps(vmax, sv);
  }
  const float m_old = a.m[r];
  const float m_new = std::max(m_old, hmax8(vmax));
  // No libm call; 0 on the row's first tile (m_old = -inf): exp8 gives +0
  // there too, but through an underflowing multiply (a microcode assist).
  const float alpha =
      m_old == -INFINITY ? 0.0f : _mm256_cvtss_f32(exp8(_mm256_set1_ps(m_old - m_new)));
  const __m256 mv = _mm256_set1_ps(m_new);
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t j0 = jb; j0 < hi; j0 += 8) {
    // Masked lanes take exp(0), then 0: exp8(-inf) would underflow (assist).
    const __m256 vis = visible(j0, lo, hi);
    const __m256 p =
        _mm256_and_ps(vis, exp8(_mm256_and_ps(vis, _mm256_sub_ps(_mm256_loadu_ps(s + j0), mv))));
    _mm256_storeu_ps(s + j0, p);
    vsum = _mm256_add_ps(vsum, p);
  }
  a.l[r] = a.l[r] * alpha + hsum8(vsum);
  a.m[r] = m_new;
  float* acc = a.acc + r * dv;
  int64_t d0 = 0;
  for (; d0 + 32 <= dv; d0 += 32) pv32(acc + d0, alpha, s, vr, d0, lo, hi);
  for (; d0 < dv; d0 += 8) pv8(acc + d0, alpha, s, vr, d0, lo, hi);
}

template <class Rows>
void tile_rows(const FlashTileArgs& a, const Rows& kr, const Rows& vr) {
  for (int64_t r = 0; r < a.n_q; ++r) {
    switch (a.dk) {
      case 64:
        tile_row<64>(a, kr, vr, r);
        break;
      case 128:
        tile_row<128>(a, kr, vr, r);
        break;
      default:
        tile_row<0>(a, kr, vr, r);
        break;
    }
  }
}

}  // namespace

void flash_tile(const FlashTileArgs& a) {
  if (a.dk % 8 != 0 || a.dv % 8 != 0) {
    kernels::ref::flash_tile(a);
    return;
  }
  tile_rows(a, F32Rows{a.k, a.dk}, F32Rows{a.v, a.dv});
}

void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows) {
  if (a.dk % 8 != 0 || a.dv % 8 != 0) {
    kernels::ref::flash_tile_f16(a, rows);
    return;
  }
  tile_rows(a, F16Rows{rows.k, rows.k_stride}, F16Rows{rows.v, rows.v_stride});
}

void f16_to_f32_row(const void* x, float* y, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(x);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  }
  for (; i < n; ++i) y[i] = fp16_to_fp32(h[i]);
}

void bf16_to_f32_row(const void* x, float* y, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(x);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
    _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) y[i] = bf16_to_fp32(h[i]);
}

void fill_attention(AttentionKernels& t) {
  t.isa = Isa::avx2;
  t.flash_tile = flash_tile;
  t.flash_tile_f16 = flash_tile_f16;
  t.widen_f16 = f16_to_f32_row;
  t.widen_bf16 = bf16_to_f32_row;
  t.widen_q8_0 = dequantize_row_q8_0;  // avx2_widen.cpp
  t.widen_q4_0 = dequantize_row_q4_0;
}

}  // namespace ef::kernels::x86::avx2
