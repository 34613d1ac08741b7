// The Q8_0 *activation* quantizer (ggml-cpu's x86 semantics) against an
// independent restatement of its formula, and against the weight quantizer
// (llama-quantize's reference formula) where the two must differ.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

// x86 ggml: d = amax/127 (fp16), q = nearbyint(x * (127/amax)) under the
// default round-to-nearest-even mode.
void expect_act_block(const float* x, const BlockQ8_0& got) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  EXPECT_EQ(got.d, fp32_to_fp16(amax / 127.0f));
  const float id = amax == 0.0f ? 0.0f : 127.0f / amax;
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(got.qs[j], static_cast<int>(std::nearbyint(x[j] * id))) << "j=" << j << " x=" << x[j];
  }
}

TEST(KernelsActQuant, RoundHalfEven) {
  EXPECT_EQ(ref::round_half_even(2.5f), 2.0f);
  EXPECT_EQ(ref::round_half_even(3.5f), 4.0f);
  EXPECT_EQ(ref::round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(ref::round_half_even(-3.5f), -4.0f);
  EXPECT_EQ(ref::round_half_even(0.49999997f), 0.0f);
  EXPECT_EQ(ref::round_half_even(-126.6f), -127.0f);
  EXPECT_EQ(ref::round_half_even(8388609.0f), 8388609.0f);  // odd integer above 2^23
}

TEST(KernelsActQuant, TiesGoToEvenUnlikeWeights) {
  // amax = 127 -> d = 1 and both multipliers are exactly 1: only ties differ.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  BlockQ8_0 act{}, wgt{};
  ref::quantize_row_q8_0_act(x.data(), &act, 32);
  ref::quantize_row_q8_0(x.data(), &wgt, 32);
  EXPECT_EQ(act.qs[1], 2);
  EXPECT_EQ(act.qs[2], -2);
  EXPECT_EQ(act.qs[3], 4);
  EXPECT_EQ(wgt.qs[1], 3);
  EXPECT_EQ(wgt.qs[2], -3);
  expect_act_block(x.data(), act);
}

TEST(KernelsActQuant, RandomBlocksMatchFormulaOnEveryIsa) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t k = 32 * 64;
  std::vector<float> x(k);
  for (auto& v : x) v = dist(rng);
  for (int j = 0; j < 32; ++j) x[32 + j] = 0.0f;  // an all-zero block
  for (int j = 0; j < 32; ++j) x[64 + j] = static_cast<float>(j) - 15.5f;  // .5 ties
  x[64] = -127.0f;                                                          // d = 1
  int n_differ = 0;
  for (Isa isa : available_isas()) {
    auto table = table_for(isa);
    ASSERT_TRUE(table.ok());
    const KernelTable* t = *table;
    std::vector<BlockQ8_0> act(k / 32), wgt(k / 32);
    t->q8_0.from_float_act(x.data(), act.data(), k);
    ref::quantize_row_q8_0(x.data(), wgt.data(), k);
    for (int64_t b = 0; b < k / 32; ++b) {
      expect_act_block(x.data() + b * 32, act[b]);
      for (int j = 0; j < 32; ++j) n_differ += act[b].qs[j] != wgt[b].qs[j];
    }
  }
  // The tie block must differ from the weight formula (else this test could
  // not tell the two quantizers apart).
  EXPECT_GT(n_differ, 0);
}

TEST(KernelsActQuant, MatmulUsesActivationQuantizer) {
  // A q8_0 weight row of ones and an x whose quants are all ties: matmul
  // must equal the dot with the act-quantized x, not the roundf one.
  std::vector<float> wf(32, 1.0f), x(32, 0.0f);
  x[0] = 127.0f;
  for (int j = 1; j < 32; ++j) x[j] = 0.5f + static_cast<float>(j % 4);  // all ties
  std::vector<BlockQ8_0> w(1), xa(1), xw(1);
  ref::quantize_row_q8_0(wf.data(), w.data(), 32);
  ref::quantize_row_q8_0_act(x.data(), xa.data(), 32);
  ref::quantize_row_q8_0(x.data(), xw.data(), 32);
  const float want = ref::vec_dot_q8_0_q8_0(32, w.data(), xa.data());
  const float wrong = ref::vec_dot_q8_0_q8_0(32, w.data(), xw.data());
  ASSERT_NE(want, wrong);
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  const int64_t ne[2] = {32, 1};
  const Tensor tw = make_tensor("w", DType::Q8_0, 2, ne, w.data());
  std::vector<uint8_t> scratch;
  ThreadPool pool(1);
  float y = 0.0f;
  matmul(tw, x.data(), 1, &y, 1, scratch, pool, scalar);
  EXPECT_EQ(y, want);
}

}  // namespace
}  // namespace ef::kernels
