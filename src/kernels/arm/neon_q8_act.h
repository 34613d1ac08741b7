// One 32-float block -> one q8_0 activation block (= ref::quantize_row_q8_0_act,
// the x86 semantics every ISA shares) and, optionally, its ActBlockInfo
// (kernels/packed.h). Shared by the row quantizers (neon_quant.cpp) and
// rmsnorm fused with quantization (neon_row_ops.cpp), so the two produce the
// same bytes.
#pragma once

#include <arm_neon.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/packed.h"

namespace ef::kernels::arm::neon {

// 32 floats -> max |x| (finite inputs; NaN handling is unspecified, as in the
// reference).
inline float block_amax(const float32x4_t* v) {
  float32x4_t m = vabsq_f32(v[0]);
  for (int i = 1; i < 8; ++i) m = vmaxq_f32(m, vabsq_f32(v[i]));
  return vmaxvq_f32(m);
}

// 8 x int32x4 -> 32 saturated int8; returns their sum when `sum` is set.
inline void store_q8(const int32x4_t* q, int8_t* out, int32_t* sum = nullptr) {
  int16x8_t acc = vdupq_n_s16(0);
  for (int i = 0; i < 8; i += 2) {
    const int16x8_t h = vcombine_s16(vqmovn_s32(q[i]), vqmovn_s32(q[i + 1]));
    const int8x8_t b = vqmovn_s16(h);
    vst1_s8(out + 4 * i, b);
    acc = vaddw_s8(acc, b);  // 4 adds of |b| <= 128: no int16 overflow
  }
  if (sum != nullptr) *sum = vaddlvq_s16(acc);
}

// v[0..7] = elements 4i..4i+3. id = 127 / amax, round half to even
// (FCVTNS), saturated to int8.
inline void quantize_block_q8_0_act(const float32x4_t* v, BlockQ8_0* out, ActBlockInfo* info) {
  const float amax = block_amax(v);
  const uint16_t d = fp32_to_fp16(amax / 127.0f);
  out->d = d;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32x4_t q[8];
  for (int i = 0; i < 8; ++i) q[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));
  if (info == nullptr) {
    store_q8(q, out->qs);
    return;
  }
  store_q8(q, out->qs, &info->sum);
  info->d = fp16_to_fp32(d);
}

}  // namespace ef::kernels::arm::neon
