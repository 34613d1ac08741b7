// NEON flash-attention tile (FlashTileArgs in kernels/attention.h), for dk and
// dv multiples of 4 (others go to the scalar oracle). The AVX2 kernel's
// structure with 4 lanes:
//   scores: 4 key rows at a time, one accumulator per key, then a 4x4
//           transpose-add (two rounds of pairwise adds); masked lanes -inf;
//   exp:    4 lanes (exp4, neon_exp.h), masked lanes forced to 0;
//   P V:    16-float chunks of the output row in registers, even and odd
//           positions in two accumulator sets (8 fma chains).
// Rows of k are read in whole groups of 4 from lo & ~3 up to round_up(hi, 4)
// <= round_up(n_kv, 16): within what FlashTileArgs guarantees readable.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "kernels/arm/neon_attention.h"
#include "kernels/arm/neon_exp.h"
#include "kernels/arm/neon_kernels.h"

namespace ef::kernels::arm::neon {
namespace {

// All-ones lanes for positions j0 + i inside [lo, hi).
inline uint32x4_t visible(int64_t j0, int64_t lo, int64_t hi) {
  static const int32_t kIota[4] = {0, 1, 2, 3};
  const int32x4_t pos = vaddq_s32(vld1q_s32(kIota), vdupq_n_s32(static_cast<int32_t>(j0)));
  return vandq_u32(vcgeq_s32(pos, vdupq_n_s32(static_cast<int32_t>(lo))),
                   vcltq_s32(pos, vdupq_n_s32(static_cast<int32_t>(hi))));
}

// acc[0, 16) = acc * alpha + sum_{j in [lo, hi)} p[j] v[j][0, 16)
inline void pv16(float* acc, float alpha, const float* p, const float* v, int64_t dv, int64_t lo,
                 int64_t hi) {
  float32x4_t a[4], b[4];
  for (int i = 0; i < 4; ++i) {
    a[i] = vmulq_n_f32(vld1q_f32(acc + 4 * i), alpha);
    b[i] = vdupq_n_f32(0.0f);
  }
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    const float* v0 = v + j * dv;
    const float* v1 = v0 + dv;
    for (int i = 0; i < 4; ++i) {
      a[i] = vfmaq_n_f32(a[i], vld1q_f32(v0 + 4 * i), p[j]);
      b[i] = vfmaq_n_f32(b[i], vld1q_f32(v1 + 4 * i), p[j + 1]);
    }
  }
  if (j < hi) {
    const float* v0 = v + j * dv;
    for (int i = 0; i < 4; ++i) a[i] = vfmaq_n_f32(a[i], vld1q_f32(v0 + 4 * i), p[j]);
  }
  for (int i = 0; i < 4; ++i) vst1q_f32(acc + 4 * i, vaddq_f32(a[i], b[i]));
}

inline void pv4(float* acc, float alpha, const float* p, const float* v, int64_t dv, int64_t lo,
                int64_t hi) {
  float32x4_t a = vmulq_n_f32(vld1q_f32(acc), alpha);
  float32x4_t b = vdupq_n_f32(0.0f);
  int64_t j = lo;
  for (; j + 1 < hi; j += 2) {
    a = vfmaq_n_f32(a, vld1q_f32(v + j * dv), p[j]);
    b = vfmaq_n_f32(b, vld1q_f32(v + (j + 1) * dv), p[j + 1]);
  }
  if (j < hi) a = vfmaq_n_f32(a, vld1q_f32(v + j * dv), p[j]);
  vst1q_f32(acc, vaddq_f32(a, b));
}

// One row of the tile; DK > 0 is the key width as a compile-time constant.
template <int DK>
void tile_row(const FlashTileArgs& a, int64_t r) {
  const int64_t dk = DK > 0 ? DK : a.dk, dv = a.dv;
  const int64_t lo = a.lo[r], hi = a.hi[r];
  if (lo >= hi) return;
  float* s = a.s;
  const float32x4_t neg_inf = vdupq_n_f32(-INFINITY);
  const float* q = a.q + r * dk;
  const int64_t jb = lo & ~int64_t{3};
  float32x4_t vmax = neg_inf;
  for (int64_t j0 = jb; j0 < hi; j0 += 4) {
    float32x4_t acc[4];
    for (int i = 0; i < 4; ++i) acc[i] = vdupq_n_f32(0.0f);
    const float* k = a.k + j0 * dk;
    for (int64_t d = 0; d < dk; d += 4) {
      const float32x4_t qv = vld1q_f32(q + d);
      for (int i = 0; i < 4; ++i) acc[i] = vfmaq_f32(acc[i], qv, vld1q_f32(k + i * dk + d));
    }
    // lane i = sum of the lanes of acc[i]
    const float32x4_t dots = vpaddq_f32(vpaddq_f32(acc[0], acc[1]), vpaddq_f32(acc[2], acc[3]));
    const float32x4_t sv = vbslq_f32(visible(j0, lo, hi), dots, neg_inf);
    vst1q_f32(s + j0, sv);
    vmax = vmaxq_f32(vmax, sv);
  }
  const float m_old = a.m[r];
  const float m_new = std::max(m_old, vmaxvq_f32(vmax));
  const float alpha = vgetq_lane_f32(exp4(vdupq_n_f32(m_old - m_new)), 0);  // no libm call
  const float32x4_t mv = vdupq_n_f32(m_new);
  float32x4_t vsum = vdupq_n_f32(0.0f);
  for (int64_t j0 = jb; j0 < hi; j0 += 4) {
    const float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + j0), mv));
    const float32x4_t p =
        vreinterpretq_f32_u32(vandq_u32(visible(j0, lo, hi), vreinterpretq_u32_f32(e)));
    vst1q_f32(s + j0, p);
    vsum = vaddq_f32(vsum, p);
  }
  a.l[r] = a.l[r] * alpha + vaddvq_f32(vsum);
  a.m[r] = m_new;
  float* out = a.acc + r * dv;
  int64_t d0 = 0;
  for (; d0 + 16 <= dv; d0 += 16) pv16(out + d0, alpha, s, a.v + d0, dv, lo, hi);
  for (; d0 < dv; d0 += 4) pv4(out + d0, alpha, s, a.v + d0, dv, lo, hi);
}

}  // namespace

void flash_tile(const FlashTileArgs& a) {
  if (a.dk % 4 != 0 || a.dv % 4 != 0) {
    kernels::ref::flash_tile(a);
    return;
  }
  for (int64_t r = 0; r < a.n_q; ++r) {
    switch (a.dk) {
      case 64: tile_row<64>(a, r); break;
      case 128: tile_row<128>(a, r); break;
      default: tile_row<0>(a, r); break;
    }
  }
}

void fill_attention(AttentionKernels& t) {
  t.isa = Isa::neon;
  t.flash_tile = flash_tile;
  t.widen_f16 = f16_to_f32_row;
  t.widen_bf16 = bf16_to_f32_row;
}

}  // namespace ef::kernels::arm::neon
