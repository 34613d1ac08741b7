// The q8_0 . q8_0 and q4_0 . q8_0 tile kernels shared by neon_quant.cpp
// (plain NEON: vmull_s8 + vpadalq_s16) and neon_dotprod_quant.cpp (SDOT).
// They differ only in the `Dot` policy that sums the 32 int8 products of one
// block into an int32x4 (exact in both).
//
// Results are bit-identical to the scalar oracles ref::vec_dot_q8_0_q8_0 and
// ref::vec_dot_q4_0_q8_0: each block's int32 sum is exact, and the float
// steps are the oracle's, in its order, one row per vector lane:
//   q8_0: sum = sum + float(sumi) * (d_w * d_x)
//   q4_0: sum = sum + (float(sumi) * d_w) * d_x
// (separate multiply and add: AArch64 builds use -ffp-contract=off, so
// neither this file nor the oracle is fused into FMAs by the compiler).
//
// Included by a file compiled with -march=armv8.2-a+dotprod: only arm_neon.h
// (always-inline intrinsics) and templates over file-local types, nothing
// with external linkage that another file could end up calling.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ef::kernels::arm {

// Weight rows of one block, ready for Dot::block: 32 int8 values as two
// 16-byte halves (elements 0..15 and 16..31).
struct BlockI8 {
  int8x16_t lo, hi;
};

template <class Dot>
struct QuantTiles {
  // Scales of R blocks (fp16) as float lanes 0..R-1, zero above.
  template <int R>
  static float32x4_t load_scales(const uint16_t* d) {
    uint16_t h[4] = {0, 0, 0, 0};
    for (int r = 0; r < R; ++r) h[r] = d[r];
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
  }

  // Lane r = horizontal sum of p[r] (r < R), 0 above: exact int32 adds.
  template <int R>
  static float32x4_t lane_sums(const int32x4_t* p) {
    const int32x4_t z = vdupq_n_s32(0);
    const int32x4_t p01 = vpaddq_s32(p[0], R > 1 ? p[1] : z);
    const int32x4_t p23 = vpaddq_s32(R > 2 ? p[2] : z, R > 3 ? p[3] : z);
    // |sum| <= 32 * 128 * 128 < 2^24: the conversion is exact.
    return vcvtq_f32_s32(vpaddq_s32(p01, p23));
  }

  template <int R, int T>
  static void store(const float32x4_t* acc, float* y, int64_t ldy) {
    for (int t = 0; t < T; ++t) {
      float lanes[4];
      vst1q_f32(lanes, acc[t]);
      for (int r = 0; r < R; ++r) y[t * ldy + r] = lanes[r];
    }
  }

  // R <= 4 q8_0 weight rows x T q8_0 activation rows.
  struct Q8 {
    template <int R, int T>
    static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                     float* y, int64_t ldy) {
      static_assert(R >= 1 && R <= 4, "one row per float lane");
      float32x4_t acc[T];
      for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
      for (int64_t b = 0; b < k / kQK8_0; ++b) {
        BlockI8 wq[R];
        uint16_t dh[R];
        for (int r = 0; r < R; ++r) {
          const BlockQ8_0& blk = reinterpret_cast<const BlockQ8_0*>(w + r * wrb)[b];
          wq[r].lo = vld1q_s8(blk.qs);
          wq[r].hi = vld1q_s8(blk.qs + 16);
          dh[r] = blk.d;
        }
        const float32x4_t dw = load_scales<R>(dh);
        for (int t = 0; t < T; ++t) {
          const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x + t * xrb)[b];
          const BlockI8 xq{vld1q_s8(xb.qs), vld1q_s8(xb.qs + 16)};
          const float dx = vgetq_lane_f32(load_scales<1>(&xb.d), 0);
          int32x4_t p[R];
          for (int r = 0; r < R; ++r) p[r] = Dot::block(wq[r], xq);
          acc[t] = vaddq_f32(acc[t], vmulq_f32(lane_sums<R>(p), vmulq_n_f32(dw, dx)));
        }
      }
      store<R, T>(acc, y, ldy);
    }
  };

  // R <= 4 q4_0 weight rows x T q8_0 activation rows. Nibbles are unpacked
  // once per block to signed q - 8 in -8..7 and shared by the T tokens.
  struct Q4 {
    template <int R, int T>
    static void tile(int64_t k, const uint8_t* w, size_t wrb, const uint8_t* x, size_t xrb,
                     float* y, int64_t ldy) {
      static_assert(R >= 1 && R <= 4, "one row per float lane");
      const uint8x16_t low_mask = vdupq_n_u8(0x0f);
      const int8x16_t eight = vdupq_n_s8(8);
      float32x4_t acc[T];
      for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
      for (int64_t b = 0; b < k / kQK4_0; ++b) {
        BlockI8 wq[R];
        uint16_t dh[R];
        for (int r = 0; r < R; ++r) {
          const BlockQ4_0& blk = reinterpret_cast<const BlockQ4_0*>(w + r * wrb)[b];
          const uint8x16_t q = vld1q_u8(blk.qs);
          // byte j: element j in the low nibble, element j + 16 in the high one
          wq[r].lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, low_mask)), eight);
          wq[r].hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
          dh[r] = blk.d;
        }
        const float32x4_t dw = load_scales<R>(dh);
        for (int t = 0; t < T; ++t) {
          const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x + t * xrb)[b];
          const BlockI8 xq{vld1q_s8(xb.qs), vld1q_s8(xb.qs + 16)};
          const float dx = vgetq_lane_f32(load_scales<1>(&xb.d), 0);
          int32x4_t p[R];
          for (int r = 0; r < R; ++r) p[r] = Dot::block(wq[r], xq);
          acc[t] = vaddq_f32(acc[t], vmulq_n_f32(vmulq_f32(lane_sums<R>(p), dw), dx));
        }
      }
      store<R, T>(acc, y, ldy);
    }
  };
};

}  // namespace ef::kernels::arm
