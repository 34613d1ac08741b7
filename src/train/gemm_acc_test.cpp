// gemm_acc on every implementation this CPU runs, against a double-precision
// loop, on shapes that hit every tail (rows % 4, columns % 64 / % 32 / % 16 /
// % 4, K % 128) and both A layouts (dout and dout^T); NEON also bit for bit
// against the scalar loop; plus thread-count independence.
#include "train/gemm_acc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"

namespace ef::train {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(TrainGemmAcc, MatchesDoubleReferenceOnEveryImpl) {
  ThreadPool pool(2);
  struct Shape { int64_t M, N, K; };
  for (const Shape s : {Shape{1, 1, 1}, Shape{7, 70, 130}, Shape{33, 129, 257}, Shape{4, 64, 128},
                        Shape{18, 17, 5}}) {
    for (bool transposed : {false, true}) {
      // A(i, p): [M, K] row-major, or read from a [K, M] matrix (A^T in place).
      const auto a = randn(static_cast<size_t>(s.M * s.K), 1);
      const auto b = randn(static_cast<size_t>(s.K * s.N), 2);
      const auto c0 = randn(static_cast<size_t>(s.M * s.N), 3);
      const int64_t a_row = transposed ? 1 : s.K, a_col = transposed ? s.M : 1;
      std::vector<double> ref(c0.begin(), c0.end());
      for (int64_t i = 0; i < s.M; ++i)
        for (int64_t p = 0; p < s.K; ++p)
          for (int64_t j = 0; j < s.N; ++j)
            ref[i * s.N + j] += static_cast<double>(a[i * a_row + p * a_col]) * b[p * s.N + j];
      std::vector<float> c_scalar = c0;
      gemm_acc(s.M, s.N, s.K, a.data(), a_row, a_col, b.data(), s.N, c_scalar.data(), s.N, pool,
               GemmImpl::scalar);
      if (gemm_impl_supported(GemmImpl::neon)) {
        // NEON does the scalar loop's unfused multiply-adds in the same order.
        std::vector<float> c = c0;
        gemm_acc(s.M, s.N, s.K, a.data(), a_row, a_col, b.data(), s.N, c.data(), s.N, pool,
                 GemmImpl::neon);
        ASSERT_EQ(c, c_scalar) << "M " << s.M << " N " << s.N << " K " << s.K << " transposed "
                               << transposed;
      }
      for (GemmImpl impl : {GemmImpl::scalar, GemmImpl::avx2, GemmImpl::avx512, GemmImpl::neon,
                            GemmImpl::automatic}) {
        if (!gemm_impl_supported(impl)) continue;
        std::vector<float> c = c0;
        gemm_acc(s.M, s.N, s.K, a.data(), a_row, a_col, b.data(), s.N, c.data(), s.N, pool, impl);
        for (size_t i = 0; i < c.size(); ++i) {
          ASSERT_NEAR(c[i], ref[i], 1e-4 * std::sqrt(static_cast<double>(s.K)) + 1e-5)
              << "impl " << static_cast<int>(impl) << " M " << s.M << " N " << s.N << " K " << s.K
              << " transposed " << transposed << " at " << i;
        }
      }
    }
  }
}

TEST(TrainGemmAcc, ThreadCountIndependent) {
  const int64_t M = 45, N = 77, K = 300;
  const auto a = randn(M * K, 4), b = randn(K * N, 5);
  std::vector<std::vector<float>> out;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> c(static_cast<size_t>(M * N), 0.5f);
    gemm_acc(M, N, K, a.data(), K, 1, b.data(), N, c.data(), N, pool);
    out.push_back(c);
  }
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
}

}  // namespace
}  // namespace ef::train
