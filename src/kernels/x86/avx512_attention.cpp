// AVX-512 flash-attention tile (FlashTileArgs in kernels/attention.h), for dk and dv
// multiples of 16 (others go to the scalar oracle). Per row:
//   scores: 16 key rows at a time, one accumulator per key (16 fmas per
//           16-float chunk of the query), then a 16x16 transpose-add gives
//           the 16 scores in one register; masked lanes become -inf;
//   exp:    16 lanes per step (exp16, avx512_exp.h), masked lanes forced to 0;
//   P V:    the output row in 64-float chunks, held in registers while the
//           visible positions stream by; even and odd positions feed two
//           accumulator sets (8 independent fma chains), added at the end.
// Everything is per row, so a row's result never depends on its neighbours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>
#include <type_traits>

#include "core/fp16.h"
#include "kernels/x86/attention_kernels.h"
#include "kernels/x86/avx512_exp.h"

namespace ef::kernels::x86::avx512 {
namespace {

// out lane i = sum of the 16 lanes of v[i] (transpose-add in 4 levels).
inline __m512 transpose_add16(const __m512* v) {
  __m512 t[8], u[4];
  for (int i = 0; i < 8; ++i) {
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; ++i) {
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0xEE));
  }
  const __m512 w0 =
      _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
  const __m512 w1 =
      _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xDD));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x88), _mm512_shuffle_f32x4(w0, w1, 0xDD));
}

// Lanes j0 + i inside [lo, hi).
inline __mmask16 visible(int64_t j0, int64_t lo, int64_t hi) {
  uint32_t m = 0xFFFFu;
  if (lo > j0) m &= 0xFFFFu << (lo - j0);
  if (hi - j0 < 16) m &= (1u << (hi - j0)) - 1u;
  return static_cast<__mmask16>(m);
}

// Row access of K or V: F32 rows (the widened tile) or F16 rows read in
// place and converted in registers (vcvtph2ps is exact, so both give the
// same bits for the same values).
struct F32Rows {
  const float* base;
  int64_t stride;  // elements
  const float* row(int64_t j) const { return base + j * stride; }
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};
struct F16Rows {
  const uint16_t* base;
  int64_t stride;
  const uint16_t* row(int64_t j) const { return base + j * stride; }
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

// acc[0, 64) = acc * alpha + sum_{j in [lo, hi)} p[j] v[j][d0, d0 + 64)
template <class Rows>
inline void pv64(float* acc, float alpha, const float* p, const Rows& v, int64_t d0, int64_t lo,
                 int64_t hi) {
  const __m512 al = _mm512_set1_ps(alpha);
  __m512 a0 = _mm512_mul_ps(_mm512_loadu_ps(acc), al);
  __m512 a1 = _mm512_mul_ps(_mm512_loadu_ps(acc + 16), al);
  __m512 a2 = _mm512_mul_ps(_mm512_loadu_ps(acc + 32), al);
  __m512 a3 = _mm512_mul_ps(_mm512_loadu_ps(acc + 48), al);
  __m512 b0 = _mm512_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    const auto* v0 = v.row(j) + d0;
    const auto* v1 = v.row(j + 1) + d0;
    const __m512 p0 = _mm512_set1_ps(p[j]);
    const __m512 p1 = _mm512_set1_ps(p[j + 1]);
    a0 = _mm512_fmadd_ps(p0, Rows::load(v0), a0);
    a1 = _mm512_fmadd_ps(p0, Rows::load(v0 + 16), a1);
    a2 = _mm512_fmadd_ps(p0, Rows::load(v0 + 32), a2);
    a3 = _mm512_fmadd_ps(p0, Rows::load(v0 + 48), a3);
    b0 = _mm512_fmadd_ps(p1, Rows::load(v1), b0);
    b1 = _mm512_fmadd_ps(p1, Rows::load(v1 + 16), b1);
    b2 = _mm512_fmadd_ps(p1, Rows::load(v1 + 32), b2);
    b3 = _mm512_fmadd_ps(p1, Rows::load(v1 + 48), b3);
  }
  if (j < hi) {
    const auto* v0 = v.row(j) + d0;
    const __m512 p0 = _mm512_set1_ps(p[j]);
    a0 = _mm512_fmadd_ps(p0, Rows::load(v0), a0);
    a1 = _mm512_fmadd_ps(p0, Rows::load(v0 + 16), a1);
    a2 = _mm512_fmadd_ps(p0, Rows::load(v0 + 32), a2);
    a3 = _mm512_fmadd_ps(p0, Rows::load(v0 + 48), a3);
  }
  _mm512_storeu_ps(acc, _mm512_add_ps(a0, b0));
  _mm512_storeu_ps(acc + 16, _mm512_add_ps(a1, b1));
  _mm512_storeu_ps(acc + 32, _mm512_add_ps(a2, b2));
  _mm512_storeu_ps(acc + 48, _mm512_add_ps(a3, b3));
}

// The same for one 16-float chunk (dv not a multiple of 64).
template <class Rows>
inline void pv16(float* acc, float alpha, const float* p, const Rows& v, int64_t d0, int64_t lo,
                 int64_t hi) {
  __m512 a = _mm512_mul_ps(_mm512_loadu_ps(acc), _mm512_set1_ps(alpha));
  __m512 b = _mm512_setzero_ps();
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), Rows::load(v.row(j) + d0), a);
    b = _mm512_fmadd_ps(_mm512_set1_ps(p[j + 1]), Rows::load(v.row(j + 1) + d0), b);
  }
  if (j < hi) a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), Rows::load(v.row(j) + d0), a);
  _mm512_storeu_ps(acc, _mm512_add_ps(a, b));
}

// One row of the tile. DK > 0: the key width as a compile-time constant
// (immediate offsets for the 16 key rows); DK = 0: a.dk. Same operations in
// the same order either way. Key rows at or past hi are never read: the
// last 16-row block accumulates only its n = hi - j0 < 16 existing rows
// (the other lanes are masked anyway).
template <int DK, class Rows>
void tile_row(const FlashTileArgs& a, const Rows& kr, const Rows& vr, int64_t r) {
  const int64_t dk = DK > 0 ? DK : a.dk, dv = a.dv;
  float* s = a.s;
  const int64_t lo = a.lo[r], hi = a.hi[r];
  if (lo >= hi) return;
  const float* q = a.q + r * dk;
  const int64_t jb = lo & ~int64_t{15};
  // scores s[j] = q . k_j (masked lanes -inf), and their max
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j0 = jb; j0 < hi; j0 += 16) {
    __m512 acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    const auto* k = kr.row(j0);
    const int64_t ks = DK > 0 && std::is_same_v<Rows, F32Rows> ? DK : kr.stride;
    if (hi - j0 >= 16) {
      for (int64_t d = 0; d < dk; d += 16) {
        const __m512 qv = _mm512_loadu_ps(q + d);
        for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(qv, Rows::load(k + i * ks + d), acc[i]);
      }
    } else {
      const int n = static_cast<int>(hi - j0);
      for (int64_t d = 0; d < dk; d += 16) {
        const __m512 qv = _mm512_loadu_ps(q + d);
        for (int i = 0; i < n; ++i) acc[i] = _mm512_fmadd_ps(qv, Rows::load(k + i * ks + d), acc[i]);
      }
    }
    const __m512 sv =
        _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), visible(j0, lo, hi), transpose_add16(acc));
    _mm512_storeu_ps(s + j0, sv);
    vmax = _mm512_max_ps(vmax, sv);
  }
  const float m_old = a.m[r];
  const float m_new = std::max(m_old, _mm512_reduce_max_ps(vmax));
  // 0 on the row's first tile (m_old = -inf). The vector exp on one lane: a
  // libm call per row and tile cost ~1% of a prefill.
  const float alpha = _mm512_cvtss_f32(exp16(_mm512_set1_ps(m_old - m_new)));
  // p[j] = exp(s[j] - m_new), 0 where masked; l += sum p
  const __m512 mv = _mm512_set1_ps(m_new);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j0 = jb; j0 < hi; j0 += 16) {
    const __m512 p =
        _mm512_maskz_mov_ps(visible(j0, lo, hi), exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j0), mv)));
    _mm512_storeu_ps(s + j0, p);
    vsum = _mm512_add_ps(vsum, p);
  }
  a.l[r] = a.l[r] * alpha + _mm512_reduce_add_ps(vsum);
  a.m[r] = m_new;
  float* acc = a.acc + r * dv;
  int64_t d0 = 0;
  for (; d0 + 64 <= dv; d0 += 64) pv64(acc + d0, alpha, s, vr, d0, lo, hi);
  for (; d0 < dv; d0 += 16) pv16(acc + d0, alpha, s, vr, d0, lo, hi);
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
  if (a.dk % 16 != 0 || a.dv % 16 != 0) {
    kernels::ref::flash_tile(a);
    return;
  }
  tile_rows(a, F32Rows{a.k, a.dk}, F32Rows{a.v, a.dv});
}

void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows) {
  if (a.dk % 16 != 0 || a.dv % 16 != 0) {
    kernels::ref::flash_tile_f16(a, rows);
    return;
  }
  tile_rows(a, F16Rows{rows.k, rows.k_stride}, F16Rows{rows.v, rows.v_stride});
}

void f16_to_f32_row(const void* x, float* y, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(x);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))));
  }
  for (; i < n; ++i) y[i] = fp16_to_fp32(h[i]);
}

void fill_attention(AttentionKernels& t) {
  t.isa = Isa::avx512;
  t.flash_tile = flash_tile;
  t.flash_tile_f16 = flash_tile_f16;
  t.widen_f16 = f16_to_f32_row;
}

}  // namespace ef::kernels::x86::avx512
