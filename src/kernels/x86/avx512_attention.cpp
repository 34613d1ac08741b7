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
// Prefill (F32 rows, FlashTileArgs::wide given, >= 8 visible rows) takes the
// rows 4 at a time instead, with the same operations in the same order per
// row (so the same bits: decode's few rows and the in-place F16 path stay
// row by row and still match): K transposed once per call, so the 16-lane
// transpose-add becomes 15 vector adds and each key load serves 4 rows; P V
// shares each V row load between 2 rows. A 48-row prefill call takes ~25%
// less time than row by row (attention_bench --only tile).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/fp16.h"
#include "kernels/x86/attention_kernels.h"
#include "kernels/x86/avx512_exp.h"

namespace ef::kernels::x86::avx512 {
namespace {

#define EF_INLINE inline __attribute__((always_inline))

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

// The three stages of one row (tile_row below; the multi-row path shares
// the last two and reproduces the first bit for bit).

// Scores of row r: s[j] = q . k_j for j in [lo & ~15, hi), masked lanes
// -inf; returns the running max of the stored 16-lane blocks. DK > 0: the
// key width as a compile-time constant (immediate offsets for the 16 key
// rows); DK = 0: a.dk. Same operations in the same order either way. Key
// rows at or past hi are never read: the last 16-row block accumulates only
// its n = hi - j0 < 16 existing rows (the other lanes are masked anyway).
template <int DK, class Rows>
__m512 scores_row(const FlashTileArgs& a, const Rows& kr, int64_t r, int64_t lo, int64_t hi,
                  float* s) {
  const int64_t dk = DK > 0 ? DK : a.dk;
  const float* q = a.q + r * dk;
  const int64_t jb = lo & ~int64_t{15};
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
  return vmax;
}

// Online-softmax update of row r from its scores s[lo & ~15, hi) and their
// block max: s becomes p[j] = exp(s[j] - m_new) (0 where masked), m and l
// are updated; returns alpha = exp(m_old - m_new), the acc rescale.
inline float softmax_row(const FlashTileArgs& a, int64_t r, int64_t lo, int64_t hi, float* s,
                         __m512 vmax) {
  const int64_t jb = lo & ~int64_t{15};
  const float m_old = a.m[r];
  const float m_new = std::max(m_old, _mm512_reduce_max_ps(vmax));
  // 0 on the row's first tile (m_old = -inf: exp16 gives +0 there, but by
  // an underflow assist). The vector exp on one lane: a libm call per row
  // and tile cost ~1% of a prefill.
  const float alpha =
      m_old == -INFINITY ? 0.0f : _mm512_cvtss_f32(exp16(_mm512_set1_ps(m_old - m_new)));
  const __m512 mv = _mm512_set1_ps(m_new);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j0 = jb; j0 < hi; j0 += 16) {
    // Masked lanes take exp(0) (then 0): exp16(-inf) would underflow through
    // vscalefps into a denormal, a microcode assist per block on partial blocks.
    const __mmask16 vis = visible(j0, lo, hi);
    const __m512 p = _mm512_maskz_mov_ps(vis, exp16(_mm512_maskz_sub_ps(vis, _mm512_loadu_ps(s + j0), mv)));
    _mm512_storeu_ps(s + j0, p);
    vsum = _mm512_add_ps(vsum, p);
  }
  a.l[r] = a.l[r] * alpha + _mm512_reduce_add_ps(vsum);
  a.m[r] = m_new;
  return alpha;
}

// One row of the tile.
template <int DK, class Rows>
void tile_row(const FlashTileArgs& a, const Rows& kr, const Rows& vr, int64_t r) {
  const int64_t dv = a.dv;
  const int64_t lo = a.lo[r], hi = a.hi[r];
  if (lo >= hi) return;
  const __m512 vmax = scores_row<DK>(a, kr, r, lo, hi, a.s);
  const float alpha = softmax_row(a, r, lo, hi, a.s, vmax);
  float* acc = a.acc + r * dv;
  int64_t d0 = 0;
  for (; d0 + 64 <= dv; d0 += 64) pv64(acc + d0, alpha, a.s, vr, d0, lo, hi);
  for (; d0 < dv; d0 += 16) pv16(acc + d0, alpha, a.s, vr, d0, lo, hi);
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

// ---- Several rows at a time: F32 rows, FlashTileArgs::wide given ----
// Why the same bits: transpose_add16 sums the 16 lanes x[l] of key j's
// accumulator (x[l] = the fma chain over 16-float chunks c of
// q[16c + l] k_j[16c + l], from 0) as
//   s_j = (B0 + B1) + (B2 + B3),  B_k = (x[4k] + x[4k+2]) + (x[4k+1] + x[4k+3])
// (unpacklo/hi pair lanes l and l + 2, shuffle_ps adds those pairs for l
// and l + 1, the 128-bit shuffles add lane groups 0+1 and 2+3, then both;
// float addition is commutative bit for bit). With K transposed in 16-key
// blocks (Kt[d] = element d of the 16 keys), x[l] for all 16 keys is the
// same fma chain on a broadcast q[16c + l], and the tree is 15 vector adds:
// same roundings, same order, no shuffles, and every Kt load serves R rows.
// P V: two rows share each V row load, each keeping its own accumulation
// order (see pv64_pair).

// dst[d][16] (d < dk) = element d of the 16 F32 key rows k[i * dk ..]
// (one 16x16 transpose per 16 columns: 64 shuffles).
inline void transpose_block(const float* k, int64_t dk, float* dst) {
  for (int64_t c = 0; c < dk; c += 16) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(k + i * dk + c);
    for (int i = 0; i < 8; ++i) {  // per 128-bit lane L: a0 b0 a1 b1 | a2 b2 a3 b3
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // r[4i + e] lane L: element 4L + e of rows 4i .. 4i + 3
      r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
      r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
      r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
      r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int e = 0; e < 4; ++e) {  // gather lane L of r[e], r[4 + e], ... into element 4L + e
      const __m512 w0 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x88);
      const __m512 w1 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xDD);
      const __m512 w2 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x88);
      const __m512 w3 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xDD);
      float* o = dst + (c + e) * 16;
      _mm512_storeu_ps(o, _mm512_shuffle_f32x4(w0, w2, 0x88));
      _mm512_storeu_ps(o + 4 * 16, _mm512_shuffle_f32x4(w1, w3, 0x88));
      _mm512_storeu_ps(o + 8 * 16, _mm512_shuffle_f32x4(w0, w2, 0xDD));
      _mm512_storeu_ps(o + 12 * 16, _mm512_shuffle_f32x4(w1, w3, 0xDD));
    }
  }
}

// out[i] lane j = q[i] . key j of the transposed block kt ([dk][16]), the
// same bits as transpose_add16 of scores_row's accumulators. The lanes l go
// in tree order, 4 at a time (4R fma chains in flight, 2R partial sums).
template <int DK, int R>
inline void scores_block(const float* const* q, const float* kt, int64_t dk_rt, __m512* out) {
  const int64_t dk = DK > 0 ? DK : dk_rt;
  __m512 h[R], g[R];
  for (int k = 0; k < 4; ++k) {
    __m512 x[R][4];
    for (int i = 0; i < R; ++i) {
      for (int e = 0; e < 4; ++e) x[i][e] = _mm512_setzero_ps();
    }
    for (int64_t c = 0; c < dk; c += 16) {
      for (int e = 0; e < 4; ++e) {
        const __m512 kv = _mm512_loadu_ps(kt + (c + 4 * k + e) * 16);
        for (int i = 0; i < R; ++i) {
          x[i][e] = _mm512_fmadd_ps(_mm512_set1_ps(q[i][c + 4 * k + e]), kv, x[i][e]);
        }
      }
    }
    for (int i = 0; i < R; ++i) {
      const __m512 b = _mm512_add_ps(_mm512_add_ps(x[i][0], x[i][2]), _mm512_add_ps(x[i][1], x[i][3]));
      if (k == 0) h[i] = b;
      if (k == 1) h[i] = _mm512_add_ps(h[i], b);
      if (k == 2) g[i] = b;
      if (k == 3) g[i] = _mm512_add_ps(g[i], b);
    }
  }
  for (int i = 0; i < R; ++i) out[i] = _mm512_add_ps(h[i], g[i]);
}

// 64 floats of one V row. Named members, not arrays, and always-inlined
// helpers: GCC keeps them in registers only then (an array member of
// pv64's accumulator struct went through the stack on every fma).
struct V64 {
  __m512 x0, x1, x2, x3;
};
EF_INLINE V64 load64(const float* v) {
  return {_mm512_loadu_ps(v), _mm512_loadu_ps(v + 16), _mm512_loadu_ps(v + 32),
          _mm512_loadu_ps(v + 48)};
}
EF_INLINE void fma64(float p, const V64& v, V64& a) {
  const __m512 pv = _mm512_set1_ps(p);
  a.x0 = _mm512_fmadd_ps(pv, v.x0, a.x0);
  a.x1 = _mm512_fmadd_ps(pv, v.x1, a.x1);
  a.x2 = _mm512_fmadd_ps(pv, v.x2, a.x2);
  a.x3 = _mm512_fmadd_ps(pv, v.x3, a.x3);
}

// pv64's accumulators for one row: a gets positions lo, lo + 2, ..., b gets
// lo + 1, lo + 3, ...; a single last position goes to a.
struct Pv64Acc {
  V64 a, b;
  const float* p;
};
EF_INLINE Pv64Acc pv64_begin(const float* acc, float alpha, const float* p) {
  const __m512 al = _mm512_set1_ps(alpha);
  const __m512 z = _mm512_setzero_ps();
  return {{_mm512_mul_ps(_mm512_loadu_ps(acc), al), _mm512_mul_ps(_mm512_loadu_ps(acc + 16), al),
           _mm512_mul_ps(_mm512_loadu_ps(acc + 32), al), _mm512_mul_ps(_mm512_loadu_ps(acc + 48), al)},
          {z, z, z, z},
          p};
}
EF_INLINE void pv64_end(const Pv64Acc& x, float* acc) {
  _mm512_storeu_ps(acc, _mm512_add_ps(x.a.x0, x.b.x0));
  _mm512_storeu_ps(acc + 16, _mm512_add_ps(x.a.x1, x.b.x1));
  _mm512_storeu_ps(acc + 32, _mm512_add_ps(x.a.x2, x.b.x2));
  _mm512_storeu_ps(acc + 48, _mm512_add_ps(x.a.x3, x.b.x3));
}

// Positions [j, hi) of one row alone, continuing its pairing.
EF_INLINE void pv64_rest(Pv64Acc& x, const F32Rows& v, int64_t d0, int64_t j, int64_t hi) {
  for (; j + 1 < hi; j += 2) {
    const V64 v0 = load64(v.row(j) + d0), v1 = load64(v.row(j + 1) + d0);
    fma64(x.p[j], v0, x.a);
    fma64(x.p[j + 1], v1, x.b);
  }
  if (j < hi) fma64(x.p[j], load64(v.row(j) + d0), x.a);
}

// pv64 for rows A and B at once: where their ranges overlap each V row load
// feeds both. Needs lo_A = lo_B mod 2 and overlapping ranges (then both pair
// the same positions there); equals pv64 on each row bit for bit.
inline void pv64_pair(float* acc_a, float alpha_a, const float* p_a, int64_t lo_a, int64_t hi_a,
                      float* acc_b, float alpha_b, const float* p_b, int64_t lo_b, int64_t hi_b,
                      const F32Rows& v, int64_t d0) {
  Pv64Acc x = pv64_begin(acc_a + d0, alpha_a, p_a), y = pv64_begin(acc_b + d0, alpha_b, p_b);
  const int64_t ls = std::max(lo_a, lo_b), hs = std::min(hi_a, hi_b);
  // The row starting first runs alone up to ls (an even count: whole pairs).
  pv64_rest(x, v, d0, lo_a, ls);
  pv64_rest(y, v, d0, lo_b, ls);
  int64_t j = ls;
  for (; j + 1 < hs; j += 2) {
    V64 v0 = load64(v.row(j) + d0), v1 = load64(v.row(j + 1) + d0);
    // In registers: left to itself GCC folds each load into both rows'
    // fmas (16 vector loads per 16 fmas instead of 8: load-port bound).
    __asm__("" : "+v"(v0.x0), "+v"(v0.x1), "+v"(v0.x2), "+v"(v0.x3));
    __asm__("" : "+v"(v1.x0), "+v"(v1.x1), "+v"(v1.x2), "+v"(v1.x3));
    fma64(x.p[j], v0, x.a);
    fma64(x.p[j + 1], v1, x.b);
    fma64(y.p[j], v0, y.a);
    fma64(y.p[j + 1], v1, y.b);
  }
  pv64_rest(x, v, d0, j, hi_a);
  pv64_rest(y, v, d0, j, hi_b);
  pv64_end(x, acc_a + d0);
  pv64_end(y, acc_b + d0);
}

// softmax_row on R rows, interleaved: one exp16 gives the R alphas (exp16
// is lane-wise, so lane i holds exactly softmax_row's alpha of row i) and
// the rows' exp16 chains of a block run side by side. Per row the same
// operations in the same order as softmax_row.
template <int R>
EF_INLINE void softmax_group(const FlashTileArgs& a, const int64_t* idx, const int64_t* lo,
                             const int64_t* hi, float* const* s, const __m512* vmax, int64_t jb,
                             int64_t je, float* alpha) {
  alignas(64) float d[16] = {};
  float m_new[R];
  for (int i = 0; i < R; ++i) {
    const float m_old = a.m[idx[i]];
    m_new[i] = std::max(m_old, _mm512_reduce_max_ps(vmax[i]));
    d[i] = m_old - m_new[i];
  }
  // Lanes of rows without a position yet (m_old = -inf) take exp(0), then
  // +0 = exp16(-inf) (as softmax_row: no underflow assist).
  const __mmask16 seen = _mm512_cmp_ps_mask(_mm512_load_ps(d), _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
  _mm512_store_ps(d, _mm512_maskz_mov_ps(seen, exp16(_mm512_maskz_mov_ps(seen, _mm512_load_ps(d)))));
  __m512 mv[R], vsum[R];
  for (int i = 0; i < R; ++i) {
    alpha[i] = d[i];
    mv[i] = _mm512_set1_ps(m_new[i]);
    vsum[i] = _mm512_setzero_ps();
  }
  for (int64_t j0 = jb; j0 < je; j0 += 16) {
    for (int i = 0; i < R; ++i) {
      if (j0 + 16 <= lo[i] || j0 >= hi[i]) continue;
      const __mmask16 vis = visible(j0, lo[i], hi[i]);
      const __m512 p =
          _mm512_maskz_mov_ps(vis, exp16(_mm512_maskz_sub_ps(vis, _mm512_loadu_ps(s[i] + j0), mv[i])));
      _mm512_storeu_ps(s[i] + j0, p);
      vsum[i] = _mm512_add_ps(vsum[i], p);
    }
  }
  for (int i = 0; i < R; ++i) {
    a.l[idx[i]] = a.l[idx[i]] * alpha[i] + _mm512_reduce_add_ps(vsum[i]);
    a.m[idx[i]] = m_new[i];
  }
}

// R rows (indices idx) of the tile on the transposed keys kt (block of key
// j0 at kt + j0 * dk); sc: R score rows of ns floats.
template <int DK, int R>
void tile_group(const FlashTileArgs& a, const F32Rows& vr, const float* kt, const int64_t* idx,
                float* sc, int64_t ns) {
  const int64_t dk = DK > 0 ? DK : a.dk, dv = a.dv;
  const float* q[R];
  int64_t lo[R], hi[R];
  float* s[R];
  __m512 vmax[R];
  int64_t jb = INT64_MAX, je = 0;
  for (int i = 0; i < R; ++i) {
    q[i] = a.q + idx[i] * dk;
    lo[i] = a.lo[idx[i]];
    hi[i] = a.hi[idx[i]];
    s[i] = sc + i * ns;
    vmax[i] = _mm512_set1_ps(-INFINITY);
    jb = std::min(jb, lo[i] & ~int64_t{15});
    je = std::max(je, hi[i]);
  }
  // Scores: each row's blocks [lo & ~15, hi), in order (so vmax is built
  // like scores_row's); blocks no row needs are skipped.
  for (int64_t j0 = jb; j0 < je; j0 += 16) {
    bool any = false;
    for (int i = 0; i < R; ++i) any |= j0 + 16 > lo[i] && j0 < hi[i];
    if (!any) continue;
    __m512 sv[R];
    scores_block<DK, R>(q, kt + j0 * dk, dk, sv);
    for (int i = 0; i < R; ++i) {
      if (j0 + 16 <= lo[i] || j0 >= hi[i]) continue;
      const __m512 m = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), visible(j0, lo[i], hi[i]), sv[i]);
      _mm512_storeu_ps(s[i] + j0, m);
      vmax[i] = _mm512_max_ps(vmax[i], m);
    }
  }
  float alpha[R];
  softmax_group<R>(a, idx, lo, hi, s, vmax, jb, je, alpha);
  // P V: rows in pairs where pv64_pair applies, else alone.
  for (int i = 0; i < R; i += 2) {
    const bool pair = i + 1 < R && ((lo[i] ^ lo[i + 1]) & 1) == 0 &&
                      std::max(lo[i], lo[i + 1]) < std::min(hi[i], hi[i + 1]);
    float* acc0 = a.acc + idx[i] * dv;
    float* acc1 = pair ? a.acc + idx[i + 1] * dv : nullptr;
    int64_t d0 = 0;
    for (; d0 + 64 <= dv; d0 += 64) {
      if (pair) {
        pv64_pair(acc0, alpha[i], s[i], lo[i], hi[i], acc1, alpha[i + 1], s[i + 1], lo[i + 1],
                  hi[i + 1], vr, d0);
      } else {
        pv64(acc0 + d0, alpha[i], s[i], vr, d0, lo[i], hi[i]);
      }
    }
    for (; d0 < dv; d0 += 16) {
      pv16(acc0 + d0, alpha[i], s[i], vr, d0, lo[i], hi[i]);
      if (pair) pv16(acc1 + d0, alpha[i + 1], s[i + 1], vr, d0, lo[i + 1], hi[i + 1]);
    }
    if (!pair && i + 1 < R) {
      float* acc = a.acc + idx[i + 1] * dv;
      for (d0 = 0; d0 + 64 <= dv; d0 += 64) {
        pv64(acc + d0, alpha[i + 1], s[i + 1], vr, d0, lo[i + 1], hi[i + 1]);
      }
      for (; d0 < dv; d0 += 16) pv16(acc + d0, alpha[i + 1], s[i + 1], vr, d0, lo[i + 1], hi[i + 1]);
    }
  }
}

// The tile with a.wide: the key blocks some row reads transposed once, then
// the visible rows kGroup at a time (a last group of 1 to kGroup - 1).
constexpr int kGroup = 4;
static_assert(kGroup <= kFlashWideRows);

template <int DK>
void tile_rows_wide(const FlashTileArgs& a, const F32Rows& kr, const F32Rows& vr) {
  const int64_t dk = DK > 0 ? DK : a.dk;
  const int64_t ns = (a.n_kv + 15) / 16 * 16;
  float* kt = a.wide;
  float* sc = kt + ns * dk;
  for (int64_t j0 = 0; j0 < ns; j0 += 16) {
    bool needed = false;
    for (int64_t r = 0; r < a.n_q && !needed; ++r) needed = j0 + 16 > a.lo[r] && j0 < a.hi[r];
    if (needed) transpose_block(kr.row(j0), dk, kt + j0 * dk);
  }
  int64_t idx[kGroup];
  int n = 0;
  for (int64_t r = 0; r < a.n_q; ++r) {
    if (a.lo[r] >= a.hi[r]) continue;
    idx[n++] = r;
    if (n == kGroup) {
      tile_group<DK, kGroup>(a, vr, kt, idx, sc, ns);
      n = 0;
    }
  }
  switch (n) {
    case 1:
      tile_group<DK, 1>(a, vr, kt, idx, sc, ns);
      break;
    case 2:
      tile_group<DK, 2>(a, vr, kt, idx, sc, ns);
      break;
    case 3:
      tile_group<DK, 3>(a, vr, kt, idx, sc, ns);
      break;
    default:
      break;
  }
}

}  // namespace

void flash_tile(const FlashTileArgs& a) {
  if (a.dk % 16 != 0 || a.dv % 16 != 0) {
    kernels::ref::flash_tile(a);
    return;
  }
  const F32Rows kr{a.k, a.dk}, vr{a.v, a.dv};
  // Below ~8 visible rows the K transpose costs more than it saves
  // (attention_bench --only tile --rows N); both paths give the same bits.
  constexpr int64_t kMinWideRows = 8;
  int64_t visible_rows = 0;
  for (int64_t r = 0; r < a.n_q; ++r) visible_rows += a.lo[r] < a.hi[r];
  if (a.wide == nullptr || visible_rows < kMinWideRows) {
    tile_rows(a, kr, vr);
    return;
  }
  switch (a.dk) {
    case 64:
      tile_rows_wide<64>(a, kr, vr);
      break;
    case 128:
      tile_rows_wide<128>(a, kr, vr);
      break;
    default:
      tile_rows_wide<0>(a, kr, vr);
      break;
  }
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

#undef EF_INLINE

}  // namespace ef::kernels::x86::avx512
