// The AMX BF16 matmul (x86/amx_bf16.cpp) on odd shapes: k not a multiple of
// the 32-element tile chunk (tails), rows not a multiple of the 16-row panel,
// 1..64 tokens (one and several token tiles).
//
// Tolerance: tdpbf16ps sums a chunk's 16 even and 16 odd products in two
// fp32 chains, adds them, then adds that to the accumulator chunk after
// chunk; bf16 x bf16 products are exact in fp32. Every product therefore
// passes through at most 16 + 1 + nc roundings (nc = ceil(k / 32)), so
//   |got - exact| <= (nc + 18) * 2^-24 * S,   S = sum_i |w_i x_i|,
// exact = the double-precision sum of the same bf16 values.
// Bit-exact properties (the kernel's design, see amx_bf16.cpp): one token
// (decode layout) == the same token inside a batch (prefill layout), vec_dot
// == the 1x1 gemm, 1 thread == 2 threads, strided weight rows == dense.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = fp32_to_bf16(dist(rng));
  return v;
}

// 100 floats: normal values plus the cases rounding gets wrong easily.
std::vector<float> random_floats_for_conversion() {
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> x(100);
  for (auto& v : x) v = dist(rng);
  const auto from_bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  x[0] = from_bits(0x3f808000u);   // tie, even below: rounds down
  x[1] = from_bits(0x3f818000u);   // tie, odd below: rounds up
  x[2] = from_bits(0x00012345u);   // denormal
  x[3] = from_bits(0x80000001u);   // smallest negative denormal
  x[5] = std::numeric_limits<float>::infinity();
  x[6] = -std::numeric_limits<float>::infinity();
  x[7] = from_bits(0x7f800001u);   // signalling NaN -> quiet
  x[8] = from_bits(0xffc00000u);   // negative quiet NaN
  x[14] = from_bits(0x7f7fffffu);  // max float: rounds to inf
  x[15] = -0.0f;
  x[16] = from_bits(0x3f80ffffu);  // just below a tie
  return x;
}

const KernelTable* amx_bf16_table() {
  auto t = table_for(Isa::amx);
  if (!t.ok() || !cpu_features().amx_bf16) return nullptr;
  return *t;
}

// y (tokens x rows) through matmul; x given as floats that are exactly bf16
// values, so the activation conversion is the identity.
std::vector<float> run(const KernelTable& table, const std::vector<uint16_t>& w, int64_t k,
                       int64_t rows, const std::vector<float>& x, int64_t tokens,
                       ThreadPool& pool) {
  const int64_t ne[2] = {k, rows};
  const Tensor tw = make_tensor("w", DType::BF16, 2, ne, const_cast<uint16_t*>(w.data()));
  std::vector<float> y(static_cast<size_t>(rows * tokens), -7.0f);
  std::vector<uint8_t> scratch;
  matmul(tw, x.data(), tokens, y.data(), rows, scratch, pool, table);
  return y;
}

TEST(AmxBf16, MatmulWithinBoundOfDoubleAndThreadInvariant) {
  const KernelTable* table = amx_bf16_table();
  if (table == nullptr) GTEST_SKIP() << "no AMX-BF16 on this machine/build";
  EXPECT_NE(table->bf16.gemm, nullptr);
  ThreadPool pool1(1), pool2(2);
  double worst = 0;  // max |got - exact| / S over all elements
  for (int64_t k : {1, 7, 31, 32, 33, 64, 100, 576, 1536}) {
    const int64_t nc = (k + 31) / 32;
    for (int64_t rows : {1, 15, 16, 17, 33, 40, 100}) {
      for (int64_t tokens : {1, 2, 3, 16, 17, 33, 64}) {
        if (k >= 576 && rows * tokens > 40 * 64) continue;
        const auto w = random_bf16(static_cast<size_t>(k * rows), uint32_t(k * 131 + rows));
        const auto xb = random_bf16(static_cast<size_t>(k * tokens), uint32_t(k + 977 * tokens));
        std::vector<float> x(xb.size());
        for (size_t i = 0; i < xb.size(); ++i) x[i] = bf16_to_fp32(xb[i]);
        const auto y1 = run(*table, w, k, rows, x, tokens, pool1);
        const auto y2 = run(*table, w, k, rows, x, tokens, pool2);
        ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)))
            << "thread count changed bits: k=" << k << " rows=" << rows << " tokens=" << tokens;
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double exact = 0, sabs = 0;
            for (int64_t i = 0; i < k; ++i) {
              const double p = double(bf16_to_fp32(w[r * k + i])) * x[t * k + i];
              exact += p;
              sabs += std::fabs(p);
            }
            const float got = y1[t * rows + r];
            ASSERT_NEAR(got, exact, (nc + 18) * 0x1p-24 * sabs + 1e-30)
                << "k=" << k << " rows=" << rows << " tokens=" << tokens << " t=" << t
                << " r=" << r;
            if (sabs > 0) worst = std::max(worst, std::fabs(got - exact) / sabs);
          }
        }
      }
    }
  }
  std::printf("AMX bf16: max |got - exact| / sum|w x| = %.3g (2^-24 = %.3g)\n", worst, 0x1p-24);
}

TEST(AmxBf16, DecodeEqualsBatchAndVecDotBitwise) {
  const KernelTable* table = amx_bf16_table();
  if (table == nullptr) GTEST_SKIP() << "no AMX-BF16 on this machine/build";
  ThreadPool pool(2);
  for (int64_t k : {7, 32, 33, 100, 576}) {
    for (int64_t rows : {5, 16, 50}) {
      const int64_t tokens = 19;
      const auto w = random_bf16(static_cast<size_t>(k * rows), uint32_t(k + rows));
      const auto xb = random_bf16(static_cast<size_t>(k * tokens), uint32_t(3 * k + 1));
      std::vector<float> x(xb.size());
      for (size_t i = 0; i < xb.size(); ++i) x[i] = bf16_to_fp32(xb[i]);
      const auto batch = run(*table, w, k, rows, x, tokens, pool);
      for (int64_t t = 0; t < tokens; ++t) {
        const std::vector<float> xt(x.begin() + t * k, x.begin() + (t + 1) * k);
        const auto one = run(*table, w, k, rows, xt, 1, pool);
        ASSERT_EQ(0, std::memcmp(one.data(), batch.data() + t * rows, rows * sizeof(float)))
            << "decode != batch at k=" << k << " rows=" << rows << " t=" << t;
        for (int64_t r = 0; r < rows; ++r) {
          const float d = table->bf16.vec_dot(k, w.data() + r * k, xb.data() + t * k);
          ASSERT_EQ(0, std::memcmp(&d, &one[r], sizeof(float)))
              << "vec_dot != gemm at k=" << k << " r=" << r;
        }
      }
    }
  }
}

// Weight rows at a stride larger than the row (a KV-cache view), partial
// row ranges, and ldy > rows: same bits as the dense call, gaps untouched.
TEST(AmxBf16, StridedRowsAndRowRanges) {
  const KernelTable* table = amx_bf16_table();
  if (table == nullptr) GTEST_SKIP() << "no AMX-BF16 on this machine/build";
  const int64_t k = 70, rows = 37, pad = 13, ldy = rows + 3;
  const auto w = random_bf16(static_cast<size_t>(k * rows), 11);
  std::vector<uint16_t> ws(static_cast<size_t>((k + pad) * rows), 0x7fc0);  // NaN padding
  for (int64_t r = 0; r < rows; ++r) std::memcpy(&ws[r * (k + pad)], &w[r * k], k * 2);
  for (int64_t tokens : {1, 5, 20}) {
    const auto x = random_bf16(static_cast<size_t>(k * tokens), uint32_t(tokens));
    std::vector<float> dense(static_cast<size_t>(tokens * ldy), 5.0f);
    std::vector<float> strided(dense.size(), 5.0f);
    table->bf16.gemm(k, w.data(), k * 2, 0, rows, x.data(), k * 2, tokens, dense.data(), ldy);
    // In two row ranges, as the matmul split would call it.
    table->bf16.gemm(k, ws.data(), (k + pad) * 2, 0, 21, x.data(), k * 2, tokens, strided.data(),
                     ldy);
    table->bf16.gemm(k, ws.data(), (k + pad) * 2, 21, rows, x.data(), k * 2, tokens,
                     strided.data(), ldy);
    ASSERT_EQ(0, std::memcmp(dense.data(), strided.data(), dense.size() * sizeof(float)))
        << "tokens=" << tokens;
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = rows; r < ldy; ++r) EXPECT_EQ(dense[t * ldy + r], 5.0f);
      for (int64_t r = 0; r < rows; ++r) EXPECT_FALSE(std::isnan(dense[t * ldy + r]));
    }
  }
}

// The bf16 activation conversion of every table (the AVX-512 one is 16
// lanes with a masked tail) == fp32_to_bf16 bit for bit, on lengths that
// are not a multiple of 16 and on the special values: round-to-nearest-even
// ties, denormals (no DAZ), infinities, NaN (quieted).
TEST(AmxBf16, Bf16ConversionEqualsScalarOnTailsAndSpecials) {
  std::vector<float> x = random_floats_for_conversion();
  for (const Isa isa : available_isas()) {
    auto t = table_for(isa);
    ASSERT_TRUE(t.ok());
    for (int64_t n : {1, 15, 16, 17, 33, 100}) {
      std::vector<uint16_t> got(static_cast<size_t>(n) + 1, 0xabcd);
      (*t)->bf16.from_float_act(x.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(got[i], fp32_to_bf16(x[i])) << isa_name(isa) << " n=" << n << " i=" << i;
      }
      EXPECT_EQ(got[n], 0xabcd) << "wrote past n: " << isa_name(isa);
      std::vector<uint16_t> got2(static_cast<size_t>(n));
      (*t)->bf16.from_float(x.data(), got2.data(), n);
      EXPECT_EQ(0, std::memcmp(got.data(), got2.data(), n * 2)) << isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace ef::kernels
