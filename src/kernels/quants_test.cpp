// Scalar references: quantization formulas (re-derived independently here),
// round-trip error bounds, 16-bit float row conversions, and the reference
// dot products against double-precision sums of dequantized values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/kernels_test_util.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

using test_util::random_floats;

// ---- independent re-statements of ggml's formulas ----------------------------
struct Q8Expect {
  float d_unrounded;
  int q[32];
};
Q8Expect expect_q8_0(const float* x) {
  Q8Expect e{};
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::fabs(x[j]) > amax ? std::fabs(x[j]) : amax;
  e.d_unrounded = amax / 127.0f;
  const float id = amax == 0.0f ? 0.0f : 1.0f / e.d_unrounded;
  // lround: nearest, halfway away from zero (= roundf).
  for (int j = 0; j < 32; ++j) e.q[j] = static_cast<int>(std::lround(x[j] * id));
  return e;
}

struct Q4Expect {
  float d_unrounded;
  int q[32];  // 0..15 per element
};
Q4Expect expect_q4_0(const float* x) {
  Q4Expect e{};
  int arg = 0;  // first index of the largest magnitude
  for (int j = 1; j < 32; ++j) {
    if (std::fabs(x[j]) > std::fabs(x[arg])) arg = j;
  }
  e.d_unrounded = x[arg] / -8.0f;
  const float id = e.d_unrounded == 0.0f ? 0.0f : 1.0f / e.d_unrounded;
  for (int j = 0; j < 32; ++j) {
    const int t = static_cast<int>(std::trunc(x[j] * id + 8.5f));
    e.q[j] = t > 15 ? 15 : t;
  }
  return e;
}

void check_q8_0_block(const float* x) {
  BlockQ8_0 b{};
  ref::quantize_row_q8_0(x, &b, 32);
  const Q8Expect e = expect_q8_0(x);
  EXPECT_EQ(b.d, fp32_to_fp16(e.d_unrounded));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], e.q[j]) << "element " << j;
}

void check_q4_0_block(const float* x) {
  BlockQ4_0 b{};
  ref::quantize_row_q4_0(x, &b, 32);
  const Q4Expect e = expect_q4_0(x);
  EXPECT_EQ(b.d, fp32_to_fp16(e.d_unrounded));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(b.qs[j] & 0x0f, e.q[j]) << "element " << j;
    EXPECT_EQ(b.qs[j] >> 4, e.q[j + 16]) << "element " << j + 16;
  }
}

std::vector<std::vector<float>> edge_blocks() {
  std::vector<std::vector<float>> blocks;
  blocks.emplace_back(32, 0.0f);   // all zeros
  blocks.emplace_back(32, 1.0f);   // all equal
  blocks.emplace_back(32, -2.5f);  // all equal, negative
  std::vector<float> one(32, 0.0f);
  one[5] = -3.0f;  // a single non-zero
  blocks.push_back(one);
  one[5] = 3.0f;
  blocks.push_back(one);
  std::vector<float> pm(32, 0.0f);
  pm[0] = 3.0f;   // +max first, then -max:
  pm[1] = -3.0f;  // q4_0 clamps 16 -> 15
  pm[2] = 1.5f;
  blocks.push_back(pm);
  std::vector<float> mp = pm;
  mp[0] = -3.0f;
  mp[1] = 3.0f;
  blocks.push_back(mp);
  std::vector<float> halves(32, 0.0f);  // q8_0: d = 1, x/d on .5 ties
  halves[0] = 127.0f;
  for (int j = 1; j < 32; ++j) halves[j] = static_cast<float>(j % 9) - 4.5f;
  blocks.push_back(halves);
  blocks.push_back(random_floats(32, 1, 3e4f));   // large (fp16 scale still finite)
  blocks.push_back(random_floats(32, 2, 1e-3f));  // small
  blocks.push_back(random_floats(32, 3, 1e-7f));  // tiny: fp16 scale underflows
  std::vector<float> ramp(32);
  for (int j = 0; j < 32; ++j) ramp[j] = static_cast<float>(j) * 0.25f - 4.0f;
  blocks.push_back(ramp);
  return blocks;
}

TEST(KernelsQuant, Q8_0MatchesFormulaOnEdgeCases) {
  for (const auto& blk : edge_blocks()) check_q8_0_block(blk.data());
}

TEST(KernelsQuant, Q4_0MatchesFormulaOnEdgeCases) {
  for (const auto& blk : edge_blocks()) check_q4_0_block(blk.data());
}

TEST(KernelsQuant, KnownValues) {
  // Hand-derived: one non-zero -3 -> q4_0 d = 0.375, q = 0 at that element,
  // 8 elsewhere; q8_0 -> q = -127, d = 3/127.
  std::vector<float> x(32, 0.0f);
  x[5] = -3.0f;
  BlockQ4_0 b4{};
  ref::quantize_row_q4_0(x.data(), &b4, 32);
  EXPECT_EQ(fp16_to_fp32(b4.d), 0.375f);
  EXPECT_EQ(b4.qs[5] & 0x0f, 0);
  EXPECT_EQ(b4.qs[0], 0x88);
  BlockQ8_0 b8{};
  ref::quantize_row_q8_0(x.data(), &b8, 32);
  EXPECT_EQ(b8.qs[5], -127);
  EXPECT_EQ(b8.qs[0], 0);
  // +3 then -3: d = -0.375; -3/d + 8.5 = 16.5 -> 16 -> clamped to 15.
  std::vector<float> pm(32, 0.0f);
  pm[0] = 3.0f;
  pm[1] = -3.0f;
  ref::quantize_row_q4_0(pm.data(), &b4, 32);
  EXPECT_EQ(fp16_to_fp32(b4.d), -0.375f);
  EXPECT_EQ(b4.qs[0] & 0x0f, 0);
  EXPECT_EQ(b4.qs[1] & 0x0f, 15);
  std::vector<float> back(32);
  ref::dequantize_row_q4_0(&b4, back.data(), 32);
  EXPECT_EQ(back[0], 3.0f);
  EXPECT_EQ(back[1], -2.625f);
  // Ties round away from zero (roundf), not to even.
  std::vector<float> ties(32, 0.0f);
  ties[0] = 127.0f;  // d = 1, id = 1
  ties[1] = 2.5f;
  ties[2] = -3.5f;
  ties[3] = 0.5f;
  ties[4] = -0.5f;
  ref::quantize_row_q8_0(ties.data(), &b8, 32);
  EXPECT_EQ(fp16_to_fp32(b8.d), 1.0f);
  EXPECT_EQ(b8.qs[1], 3);
  EXPECT_EQ(b8.qs[2], -4);
  EXPECT_EQ(b8.qs[3], 1);
  EXPECT_EQ(b8.qs[4], -1);
  // All zeros: d = 0 and every quant is the zero level.
  std::vector<float> zeros(32, 0.0f);
  ref::quantize_row_q4_0(zeros.data(), &b4, 32);
  EXPECT_EQ(fp16_to_fp32(b4.d), 0.0f);  // 0 / -8 = -0: sign bit set, as in ggml
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b4.qs[j], 0x88);
}

TEST(KernelsQuant, RandomRowsMatchFormula) {
  const auto x = random_floats(32 * 64, 42, 2.0f);
  for (size_t b = 0; b < 64; ++b) {
    check_q8_0_block(x.data() + b * 32);
    check_q4_0_block(x.data() + b * 32);
  }
}

TEST(KernelsQuant, RoundTripErrorBounds) {
  const int64_t n = 32 * 128;
  const auto x = random_floats(n, 7, 1.5f);
  std::vector<BlockQ8_0> q8(n / 32);
  std::vector<BlockQ4_0> q4(n / 32);
  std::vector<float> y8(n), y4(n);
  ref::quantize_row_q8_0(x.data(), q8.data(), n);
  ref::dequantize_row_q8_0(q8.data(), y8.data(), n);
  ref::quantize_row_q4_0(x.data(), q4.data(), n);
  ref::dequantize_row_q4_0(q4.data(), y4.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d8 = fp16_to_fp32(q8[b].d);
    const float d4 = std::fabs(fp16_to_fp32(q4[b].d));
    for (int64_t j = b * 32; j < b * 32 + 32; ++j) {
      // half a step, plus fp16 rounding of d (rel 2^-11) times at most 127 / 8 steps
      EXPECT_LE(std::fabs(x[j] - y8[j]), 0.5f * d8 + 127.0f * d8 * 0x1p-11f + 1e-7f);
      // q4_0: half a step, or one full step for the clamped -max element
      EXPECT_LE(std::fabs(x[j] - y4[j]), 1.0f * d4 + 8.0f * d4 * 0x1p-11f + 1e-7f);
    }
  }
  // On average q8_0 is far more accurate than q4_0.
  double e8 = 0, e4 = 0;
  for (int64_t j = 0; j < n; ++j) {
    e8 += std::fabs(x[j] - y8[j]);
    e4 += std::fabs(x[j] - y4[j]);
  }
  EXPECT_LT(e8 * 8, e4);
}

TEST(KernelsQuant, HalfRowConversions) {
  // Exactly representable values survive both ways; others round within half
  // an ulp of the target format; inf and NaN are kept.
  std::vector<float> x = {0.0f,
                          -0.0f,
                          1.0f,
                          -2.5f,
                          65504.0f,
                          0x1p-24f,
                          1.0f / 3.0f,
                          1e-3f,
                          std::numeric_limits<float>::infinity(),
                          70000.0f,
                          std::numeric_limits<float>::quiet_NaN()};
  std::vector<uint16_t> h(x.size()), bf(x.size());
  std::vector<float> xh(x.size()), xb(x.size());
  ref::f32_to_f16_row(x.data(), h.data(), static_cast<int64_t>(x.size()));
  ref::f16_to_f32_row(h.data(), xh.data(), static_cast<int64_t>(x.size()));
  ref::f32_to_bf16_row(x.data(), bf.data(), static_cast<int64_t>(x.size()));
  ref::bf16_to_f32_row(bf.data(), xb.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(xh[i], x[i]) << i;
  EXPECT_TRUE(std::signbit(xh[1]));
  EXPECT_NEAR(xh[6], x[6], x[6] * 0x1p-11f);
  EXPECT_NEAR(xh[7], x[7], x[7] * 0x1p-11f);
  EXPECT_TRUE(std::isinf(xh[8]));
  EXPECT_TRUE(std::isinf(xh[9]));  // overflow -> inf
  EXPECT_TRUE(std::isnan(xh[10]));
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(xb[i], x[i]) << i;
  EXPECT_NEAR(xb[6], x[6], x[6] * 0x1p-8f);
  EXPECT_NEAR(xb[9], x[9], x[9] * 0x1p-8f);
  EXPECT_TRUE(std::isinf(xb[8]));
  EXPECT_TRUE(std::isnan(xb[10]));
  // bf16 is the top half of the float, rounded to nearest even.
  const float tie = bits_f32(0x3f808000u);  // halfway between two bf16 values
  uint16_t t = 0;
  ref::f32_to_bf16_row(&tie, &t, 1);
  EXPECT_EQ(t, 0x3f80u);
}

// Reference dot products vs double sums over dequantized / widened values.
TEST(KernelsQuant, RefDotsMatchDoubleSums) {
  for (int64_t k : {32, 96, 4096}) {
    const auto w = random_floats(k, 11 + k);
    const auto x = random_floats(k, 13 + k);
    double sabs = 0;  // sum |w x|: scale of the rounding error
    for (int64_t i = 0; i < k; ++i) sabs += std::fabs(double(w[i]) * x[i]);
    // Float accumulation of k/32 block terms: error <= (nb + 2) * 2^-24 * sabs.
    const double tol_q = (k / 32.0 + 2) * 0x1p-24 * sabs * 1.5;

    std::vector<BlockQ8_0> w8(k / 32), x8(k / 32);
    std::vector<BlockQ4_0> w4(k / 32);
    ref::quantize_row_q8_0(w.data(), w8.data(), k);
    ref::quantize_row_q8_0(x.data(), x8.data(), k);
    ref::quantize_row_q4_0(w.data(), w4.data(), k);
    std::vector<float> dw8(k), dx8(k), dw4(k);
    ref::dequantize_row_q8_0(w8.data(), dw8.data(), k);
    ref::dequantize_row_q8_0(x8.data(), dx8.data(), k);
    ref::dequantize_row_q4_0(w4.data(), dw4.data(), k);
    double e88 = 0, e48 = 0;
    for (int64_t i = 0; i < k; ++i) {
      e88 += double(dw8[i]) * dx8[i];
      e48 += double(dw4[i]) * dx8[i];
    }
    EXPECT_NEAR(ref::vec_dot_q8_0_q8_0(k, w8.data(), x8.data()), e88, tol_q) << k;
    EXPECT_NEAR(ref::vec_dot_q4_0_q8_0(k, w4.data(), x8.data()), e48, tol_q) << k;

    double e32 = 0;
    for (int64_t i = 0; i < k; ++i) e32 += double(w[i]) * x[i];
    EXPECT_NEAR(ref::vec_dot_f32(k, w.data(), x.data()), e32, 1e-6 * sabs) << k;
    std::vector<uint16_t> wh(k), xh(k);
    ref::f32_to_f16_row(w.data(), wh.data(), k);
    ref::f32_to_f16_row(x.data(), xh.data(), k);
    double e16 = 0;
    for (int64_t i = 0; i < k; ++i) e16 += double(fp16_to_fp32(wh[i])) * fp16_to_fp32(xh[i]);
    EXPECT_NEAR(ref::vec_dot_f16(k, wh.data(), xh.data()), e16, 1e-6 * sabs) << k;
    ref::f32_to_bf16_row(w.data(), wh.data(), k);
    ref::f32_to_bf16_row(x.data(), xh.data(), k);
    double eb = 0;
    for (int64_t i = 0; i < k; ++i) eb += double(bf16_to_fp32(wh[i])) * bf16_to_fp32(xh[i]);
    EXPECT_NEAR(ref::vec_dot_bf16(k, wh.data(), xh.data()), eb, 1e-6 * sabs) << k;
    // and the low-precision dots still approximate the float dot
    EXPECT_NEAR(e88, e32, 0.05 * sabs) << k;
  }
}

}  // namespace
}  // namespace ef::kernels
