// Plain-NEON integer paths (any AArch64 CPU): q8_0 . q8_0 and q4_0 . q8_0
// via vmull_s8 + vpadalq_s16 (see neon_quant_tile.h for the tile and why it
// equals the scalar oracle bit for bit), and the q8_0 quantizers.
#include <arm_neon.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/arm/neon_gemm.h"
#include "kernels/arm/neon_kernels.h"
#include "kernels/arm/neon_q8_act.h"
#include "kernels/arm/neon_quant_tile.h"

namespace ef::kernels::arm::neon {
namespace {

// 32 int8 products of one block summed into 4 int32 lanes. A product is at
// most 128 * 128 = 2^14 in magnitude, so the int16 lanes of vmull cannot
// overflow, and vpadal widens pairs into int32 before adding.
struct MullDot {
  static int32x4_t block(const BlockI8& w, const BlockI8& x) {
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w.lo), vget_low_s8(x.lo)));
    s = vpadalq_s16(s, vmull_high_s8(w.lo, x.lo));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w.hi), vget_low_s8(x.hi)));
    return vpadalq_s16(s, vmull_high_s8(w.hi, x.hi));
  }
};
using Tiles = QuantTiles<MullDot>;

}  // namespace

float vec_dot_q8_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Tiles::Q8>(k, w, x);
}
float vec_dot_q4_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Tiles::Q4>(k, w, x);
}

// Decode: 4 rows (one per float lane); prefill: 4 rows x 4 tokens.
void gemm_q8_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Tiles::Q8, 4, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Tiles::Q4, 4, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

// Same formula and rounding as ref::quantize_row_q8_0 (bit-identical):
// d = amax / 127, id = 1 / d, q = roundf(x * id) (FCVTAS: ties away from 0).
void quantize_row_q8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(xb + 4 * i);
    const float d = block_amax(v) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = fp32_to_fp16(d);
    int32x4_t q[8];
    for (int i = 0; i < 8; ++i) q[i] = vcvtaq_s32_f32(vmulq_n_f32(v[i], id));
    store_q8(q, blocks[b].qs);
  }
}

// The activation quantizer of the x86 builds (= ref::quantize_row_q8_0_act,
// so every ISA feeds the dot products the same int8 values): id = 127 / amax,
// round half to even (FCVTNS), saturated to int8 (neon_q8_act.h). ggml's own
// ARM build uses id = 1 / d here; we keep one definition across ISAs instead.
void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + b * kQK8_0 + 4 * i);
    quantize_block_q8_0_act(v, blocks + b, nullptr);
  }
}

void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(x + b * kQK8_0 + 4 * i);
    quantize_block_q8_0_act(v, blocks + b, info + b);
  }
}

}  // namespace ef::kernels::arm::neon
