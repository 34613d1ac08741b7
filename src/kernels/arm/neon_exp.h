// Vectorised exp for NEON (AArch64) files.
//
// Same range reduction and polynomial as x86/avx512_exp.h; 2^n applied as
// 2^n1 * 2^n2 (n1 = floor(n / 2), n2 = n - n1, both in [-75, 64], built in
// the exponent field) so that p * 2^n1 is exact and the second product
// rounds once: subnormal results and the overflow to inf come out right.
// Accuracy <= 2 ulp over all floats (row_ops_test.cpp); x <= -104 and -inf
// -> +0, x >= 88.73 and +inf -> +inf, NaN -> NaN (FMAX/FMIN propagate NaN).
// Explicit vfmaq: the build turns off FMA contraction on AArch64.
#pragma once

#include <arm_neon.h>

namespace ef::kernels::arm::neon {

inline float32x4_t exp4(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-104.0f));
  x = vminq_f32(x, vdupq_n_f32(89.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
  r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187e-06f));
  float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  const int32x4_t ni = vcvtq_s32_f32(n);
  const int32x4_t n1 = vshrq_n_s32(ni, 1);
  const int32x4_t n2 = vsubq_s32(ni, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  return vmulq_f32(vmulq_f32(p, s1), s2);
}

}  // namespace ef::kernels::arm::neon
