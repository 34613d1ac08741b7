// The AMX int8 matmuls are exact by construction: they must equal the
// block-fma oracle (ref::vec_dot_*_blockfma) bit for bit on every element,
// for odd shapes (rows not a multiple of the 16-row tile, k = one block,
// tokens 1..17 and past one 16-token tile), at 1 and 2 threads. Also checks
// the oracle itself against a double-precision sum of dequantized values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

using test_util::random_floats;
using test_util::rb;

TEST(KernelsBlockFma, OracleCloseToExactSum) {
  for (DType wt : {DType::Q8_0, DType::Q4_0}) {
    const int64_t k = 576;
    const auto wf = random_floats(k, 1), xf = random_floats(k, 2);
    std::vector<uint8_t> w(rb(wt, k)), x(rb(DType::Q8_0, k));
    (wt == DType::Q8_0 ? ref::quantize_row_q8_0 : ref::quantize_row_q4_0)(wf.data(), w.data(), k);
    ref::quantize_row_q8_0_act(xf.data(), x.data(), k);
    std::vector<float> wd(k), xd(k);
    (wt == DType::Q8_0 ? ref::dequantize_row_q8_0 : ref::dequantize_row_q4_0)(w.data(), wd.data(),
                                                                              k);
    ref::dequantize_row_q8_0(x.data(), xd.data(), k);
    double exact = 0, sabs = 0;
    for (int64_t i = 0; i < k; ++i) {
      exact += double(wd[i]) * xd[i];
      sabs += std::fabs(double(wd[i]) * xd[i]);
    }
    const float got = wt == DType::Q8_0 ? ref::vec_dot_q8_0_q8_0_blockfma(k, w.data(), x.data())
                                        : ref::vec_dot_q4_0_q8_0_blockfma(k, w.data(), x.data());
    EXPECT_NEAR(got, exact, (k / 32 + 4) * 0x1p-23 * sabs) << dtype_name(wt);
  }
}

TEST(KernelsBlockFma, AmxMatmulEqualsOracleBitwise) {
  auto amx = table_for(Isa::amx);
  if (!amx.ok()) GTEST_SKIP() << "AMX not available on this machine/build";
  const KernelTable& table = **amx;
  ThreadPool pool1(1), pool2(2);
  for (DType wt : {DType::Q8_0, DType::Q4_0}) {
    ASSERT_EQ(table.for_type(wt).vec_dot_type, DType::Q8_0);
    const VecDotFn oracle =
        wt == DType::Q8_0 ? ref::vec_dot_q8_0_q8_0_blockfma : ref::vec_dot_q4_0_q8_0_blockfma;
    for (int64_t k : {32, 64, 576}) {
      for (int64_t rows : {1, 15, 16, 17, 40}) {
        for (int64_t tokens = 1; tokens <= 33; tokens += (tokens < 17 ? 1 : 16)) {
          const auto wf = random_floats(static_cast<size_t>(k * rows), uint32_t(k * 31 + rows));
          std::vector<uint8_t> w(rb(wt, k) * rows);
          for (int64_t r = 0; r < rows; ++r) {
            table.for_type(wt).from_float(wf.data() + r * k, w.data() + r * rb(wt, k), k);
          }
          const auto x = random_floats(static_cast<size_t>(k * tokens), uint32_t(k + tokens * 7));
          std::vector<uint8_t> xq(rb(DType::Q8_0, k) * tokens);
          for (int64_t t = 0; t < tokens; ++t) {
            ref::quantize_row_q8_0_act(x.data() + t * k, xq.data() + t * rb(DType::Q8_0, k), k);
          }
          const int64_t ne[2] = {k, rows};
          const Tensor tw = make_tensor("w", wt, 2, ne, w.data());
          for (ThreadPool* pool : {&pool1, &pool2}) {
            std::vector<float> y(static_cast<size_t>(rows * tokens), -7.0f);
            std::vector<uint8_t> scratch;
            matmul(tw, x.data(), tokens, y.data(), rows, scratch, *pool, table);
            for (int64_t t = 0; t < tokens; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                const float want =
                    oracle(k, w.data() + r * rb(wt, k), xq.data() + t * rb(DType::Q8_0, k));
                ASSERT_EQ(y[t * rows + r], want)
                    << dtype_name(wt) << " k=" << k << " rows=" << rows << " tokens=" << tokens
                    << " t=" << t << " r=" << r << " threads=" << pool->n_threads();
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ef::kernels
