// NEON row ops (kernels/row_ops.h for the contract and tolerances; the scalar
// oracles are in kernels/ref/ops.cpp). 4 lanes per step; a row's last
// partial step goes through a zero-padded 4-float buffer and the same
// vector code, so every element gets the same arithmetic whatever its index.
// Products and sums are separate instructions (no FMA outside exp4), which
// keeps rope_apply and add bit-identical to the oracles.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "kernels/arm/neon_exp.h"
#include "kernels/arm/neon_q8_act.h"
#include "kernels/arm/neon_row_ops.h"

namespace ef::kernels::arm::neon {
namespace {

inline float32x4_t load(const float* p, int64_t n) {
  if (n >= 4) return vld1q_f32(p);
  float b[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  std::copy(p, p + n, b);
  return vld1q_f32(b);
}
inline void store(float* p, int64_t n, float32x4_t v) {
  if (n >= 4) {
    vst1q_f32(p, v);
    return;
  }
  float b[4];
  vst1q_f32(b, v);
  std::copy(b, b + n, p);
}

void exp_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 4) store(y + i, n - i, exp4(load(x + i, n - i)));
}

// silu(g) * u = g / (1 + exp(-g)) * u (see the AVX-512 version).
void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  for (int64_t i = 0; i < n; i += 4) {
    const float32x4_t g = load(gate + i, n - i);
    const float32x4_t silu = vdivq_f32(g, vaddq_f32(one, exp4(vnegq_f32(g))));
    store(out + i, n - i, vmulq_f32(silu, load(up + i, n - i)));
  }
}

// Sum of 4 floats, each widened to double (exact), added in double.
inline float64x2_t widen_add(float64x2_t acc, float32x4_t v) {
  acc = vaddq_f64(acc, vcvt_f64_f32(vget_low_f32(v)));
  return vaddq_f64(acc, vcvt_high_f64_f32(v));
}

void softmax(float* x, int64_t n) {
  // Scalar max (NaN skipped as in the scalar op; FMAX would propagate it).
  float mxs = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mxs = x[i] > mxs ? x[i] : mxs;
  const float32x4_t mx = vdupq_n_f32(mxs);
  float64x2_t sum = vdupq_n_f64(0.0);
  for (int64_t i = 0; i < n; i += 4) {
    float32x4_t e = exp4(vsubq_f32(load(x + i, n - i), mx));
    if (n - i < 4) {  // padding lanes must not enter the sum
      static const int32_t kIota[4] = {0, 1, 2, 3};
      const uint32x4_t keep = vcltq_s32(vld1q_s32(kIota), vdupq_n_s32(static_cast<int32_t>(n - i)));
      e = vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(e)));
    }
    store(x + i, n - i, e);
    sum = widen_add(sum, e);
  }
  const float32x4_t inv = vdupq_n_f32(static_cast<float>(1.0 / vaddvq_f64(sum)));
  for (int64_t i = 0; i < n; i += 4) store(x + i, n - i, vmulq_f32(load(x + i, n - i), inv));
}

// 1 / sqrt(mean(x^2) + eps), broadcast: float squares summed in double.
float32x4_t rms_scale(const float* x, int64_t n, float eps) {
  float64x2_t sum = vdupq_n_f64(0.0);
  for (int64_t i = 0; i < n; i += 4) {
    const float32x4_t v = load(x + i, n - i);
    sum = widen_add(sum, vmulq_f32(v, v));
  }
  const float mean = static_cast<float>(vaddvq_f64(sum) / static_cast<double>(n));
  return vdupq_n_f32(1.0f / std::sqrt(mean + eps));
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  const float32x4_t scale = rms_scale(x, n, eps);
  for (int64_t i = 0; i < n; i += 4) {
    const float32x4_t v = vmulq_f32(load(x + i, n - i), scale);
    store(out + i, n - i, vmulq_f32(v, load(weight + i, n - i)));
  }
}

// rmsnorm's scale and products, each 32 normed floats quantized from
// registers (neon_q8_act.h, the quantizer of the NEON tables).
void rmsnorm_q8_0(void* y, ActBlockInfo* info, const float* x, const float* weight, int64_t n,
                  float eps) {
  const float32x4_t scale = rms_scale(x, n, eps);
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    float32x4_t v[8];
    for (int j = 0; j < 8; ++j) {
      const int64_t i = b * kQK8_0 + 4 * j;
      v[j] = vmulq_f32(vmulq_f32(vld1q_f32(x + i), scale), vld1q_f32(weight + i));
    }
    quantize_block_q8_0_act(v, blocks + b, info != nullptr ? info + b : nullptr);
  }
}

// x * cos + swap_pairs(x) * (-sin, +sin), as the scalar rope_apply.
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cs) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* p = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 4) {
      const int64_t k = n_rot - i;
      const float32x4_t v = load(p + i, k);
      const float32x4_t a = vmulq_f32(v, load(cs + i, k));
      const float32x4_t b = vmulq_f32(vrev64q_f32(v), load(cs + n_rot + i, k));
      store(p + i, k, vaddq_f32(a, b));
    }
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 4) {
    store(y + i, n - i, vaddq_f32(load(y + i, n - i), load(x + i, n - i)));
  }
}

}  // namespace

void fill_row_ops(RowOps& t) {
  t.isa = Isa::neon;
  t.exp = exp_row;
  t.swiglu = swiglu;
  t.softmax = softmax;
  t.rmsnorm = rmsnorm;
  t.rmsnorm_q8_0 = rmsnorm_q8_0;
  t.rope_apply = rope_apply;
  t.add = add;
}

}  // namespace ef::kernels::arm::neon
