// NEON dot products and gemm for float weights (f32, f16, bf16), plus the
// f16/bf16 row conversions.
//
// Each (row, token) pair accumulates in two 4-lane registers over k in steps
// of 8 (8 partial sums, enough independent FMAs to hide their latency); the
// last k % 8 elements go through a zero-padded copy so they take the same
// path. The lanes are summed at the end in a fixed order. f16 and bf16 are
// widened to f32 before the FMA (FCVTL / shift by 16), so products are exact
// float products, as in the scalar reference.
#include <arm_neon.h>

#include <cstring>

#include "core/fp16.h"
#include "kernels/arm/neon_gemm.h"
#include "kernels/arm/neon_kernels.h"

namespace ef::kernels::arm::neon {
namespace {

// Element loaders: 8 elements at p -> two float32x4.
struct F32Elem {
  using T = float;
  static void load8(const float* p, float32x4_t& lo, float32x4_t& hi) {
    lo = vld1q_f32(p);
    hi = vld1q_f32(p + 4);
  }
};
struct F16Elem {
  using T = uint16_t;
  static void load8(const uint16_t* p, float32x4_t& lo, float32x4_t& hi) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
    lo = vcvt_f32_f16(vget_low_f16(h));
    hi = vcvt_high_f32_f16(h);
  }
};
struct BF16Elem {
  using T = uint16_t;
  static void load8(const uint16_t* p, float32x4_t& lo, float32x4_t& hi) {
    const uint16x8_t b = vld1q_u16(p);
    lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16));
    hi = vreinterpretq_f32_u32(vshll_high_n_u16(b, 16));
  }
};

template <class E>
struct FloatTile {
  using T = typename E::T;
  template <int R, int NT>
  static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                   float* y, int64_t ldy) {
    const T* wr[R];
    const T* xt[NT];
    for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) xt[t] = reinterpret_cast<const T*>(x + t * xrb);
    float32x4_t acc_lo[R][NT], acc_hi[R][NT];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < NT; ++t) {
        acc_lo[r][t] = vdupq_n_f32(0.0f);
        acc_hi[r][t] = vdupq_n_f32(0.0f);
      }
    }
    auto step = [&](const T* const* wp, const T* const* xp, int64_t i) {
      float32x4_t wlo[R], whi[R];
      for (int r = 0; r < R; ++r) E::load8(wp[r] + i, wlo[r], whi[r]);
      for (int t = 0; t < NT; ++t) {
        float32x4_t xlo, xhi;
        E::load8(xp[t] + i, xlo, xhi);
        for (int r = 0; r < R; ++r) {
          acc_lo[r][t] = vfmaq_f32(acc_lo[r][t], wlo[r], xlo);
          acc_hi[r][t] = vfmaq_f32(acc_hi[r][t], whi[r], xhi);
        }
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
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < NT; ++t) y[t * ldy + r] = vaddvq_f32(vaddq_f32(acc_lo[r][t], acc_hi[r][t]));
    }
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

// Decode 4x1 (8 accumulators), prefill 4x2 (16 accumulators + 8 weight
// registers + 2 activation registers of the 32).
void gemm_f32(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<F32Elem>, 4, 4, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_f16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
              size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<F16Elem>, 4, 4, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_bf16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<FloatTile<BF16Elem>, 4, 4, 2>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

void f32_to_f16_row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  // FCVTN rounds with FPCR's mode, round to nearest even under Linux's
  // default; overflow goes to inf, subnormals are kept (FZ16 = 0) and NaNs
  // stay quiet with their top payload bits: the same as fp32_to_fp16.
  for (; i + 4 <= n; i += 4) {
    vst1_u16(out + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
  }
  for (; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void f16_to_f32_row(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint16_t*>(x);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + i))));
  for (; i < n; ++i) y[i] = fp16_to_fp32(in[i]);
}

void f32_to_bf16_row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  // Integer round-to-nearest-even on the top 16 bits, NaN -> quiet NaN: the
  // same as fp32_to_bf16 (BFCVTN is ARMv8.6-A BF16, not baseline).
  const uint32x4_t round_base = vdupq_n_u32(0x7fff);
  const uint32x4_t one = vdupq_n_u32(1);
  const uint32x4_t abs_mask = vdupq_n_u32(0x7fffffff);
  const uint32x4_t inf = vdupq_n_u32(0x7f800000);
  const uint32x4_t quiet = vdupq_n_u32(64);
  for (; i + 4 <= n; i += 4) {
    const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
    const uint32x4_t top = vshrq_n_u32(u, 16);
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(u, vaddq_u32(round_base, vandq_u32(top, one))), 16);
    const uint32x4_t is_nan = vcgtq_u32(vandq_u32(u, abs_mask), inf);
    const uint32x4_t v = vbslq_u32(is_nan, vorrq_u32(top, quiet), rounded);
    vst1_u16(out + i, vmovn_u32(v));
  }
  for (; i < n; ++i) out[i] = fp32_to_bf16(x[i]);
}

void bf16_to_f32_row(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint16_t*>(x);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(in + i), 16)));
  for (; i < n; ++i) y[i] = bf16_to_fp32(in[i]);
}

}  // namespace ef::kernels::arm::neon
