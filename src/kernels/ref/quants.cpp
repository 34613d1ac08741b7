// Q8_0 / Q4_0 block quantization, written from ggml's reference definitions
// (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref and the
// dequantize_row_* pair) so that files we write are byte-identical to
// llama-quantize's and activations are quantized as llama.cpp does.
// Blocks: 32 consecutive elements, scale d stored as fp16 (core/dtype.h).
#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/packed.h"
#include "kernels/ref/ref.h"

namespace ef::kernels::ref {

void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  const int64_t nb = n / kQK8_0;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    // The scale is rounded to fp16 for storage, but the quants use the
    // unrounded reciprocal (ggml does the same).
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) {
      // roundf: halfway cases away from zero (not banker's rounding).
      blocks[b].qs[j] = static_cast<int8_t>(std::roundf(xb[j] * id));
    }
  }
}

float round_half_even(float v) {
  // v - trunc(v) is exact in float, so the tie test is exact.
  const float t = std::trunc(v);
  const float frac = std::fabs(v - t);
  const float away = t + std::copysign(1.0f, v);
  if (frac > 0.5f) return away;
  if (frac == 0.5f && std::fmod(t, 2.0f) != 0.0f) return away;
  return t;
}

void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  const int64_t nb = n / kQK8_0;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    blocks[b].d = fp32_to_fp16(amax / 127.0f);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < kQK8_0; ++j) {
      // |x * id| <= 127 * (1 + 2^-23) rounds to at most 127; the clamp only
      // mirrors the SIMD saturating packs (reached for inf inputs).
      const float r = round_half_even(xb[j] * id);
      blocks[b].qs[j] = static_cast<int8_t>(std::clamp(r, -128.0f, 127.0f));
    }
  }
}

void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    quantize_row_q8_0_act(x + b * kQK8_0, blocks + b, kQK8_0);
    int32_t s = 0;
    for (int j = 0; j < kQK8_0; ++j) s += blocks[b].qs[j];
    info[b].d = fp16_to_fp32(blocks[b].d);
    info[b].sum = s;
  }
}

void dequantize_row_q8_0(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = n / kQK8_0;
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(blocks[b].d);
    for (int j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = static_cast<float>(blocks[b].qs[j]) * d;
  }
}

void quantize_row_q4_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ4_0*>(y);
  const int64_t nb = n / kQK4_0;
  constexpr int kHalf = kQK4_0 / 2;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kQK4_0;
    // First element with the strictly largest |x|, sign kept: it maps to -8,
    // the one extra level on the negative side.
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) {
      // +8.5 then truncation toward zero = round half up of x/d + 8
      // (x/d + 8.5 >= 0 always since |x/d| <= 8); 16 is clamped to 15.
      const int8_t t0 = static_cast<int8_t>(xb[j] * id + 8.5f);
      const int8_t t1 = static_cast<int8_t>(xb[j + kHalf] * id + 8.5f);
      const auto q0 = static_cast<uint8_t>(std::min<int8_t>(15, t0));
      const auto q1 = static_cast<uint8_t>(std::min<int8_t>(15, t1));
      blocks[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q4_0(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(x);
  const int64_t nb = n / kQK4_0;
  constexpr int kHalf = kQK4_0 / 2;
  for (int64_t b = 0; b < nb; ++b) {
    const float d = fp16_to_fp32(blocks[b].d);
    for (int j = 0; j < kHalf; ++j) {
      const int lo = (blocks[b].qs[j] & 0x0f) - 8;
      const int hi = (blocks[b].qs[j] >> 4) - 8;
      y[b * kQK4_0 + j] = static_cast<float>(lo) * d;
      y[b * kQK4_0 + j + kHalf] = static_cast<float>(hi) * d;
    }
  }
}

}  // namespace ef::kernels::ref
