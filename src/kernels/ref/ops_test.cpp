// The llama ops against their textbook formulas computed in double.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ef::ops {
namespace {

std::vector<float> random_vector(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(OpsTest, RmsnormMatchesFormula) {
  const int64_t n = 576;
  const float eps = 1e-5f;
  auto x = random_vector(n, 1, 3.0f);
  auto w = random_vector(n, 2);
  std::vector<float> out(n);
  rmsnorm(out.data(), x.data(), w.data(), n, eps);
  double ms = 0;
  for (float v : x) ms += double(v) * v;
  ms /= n;
  const double inv = 1.0 / std::sqrt(ms + eps);
  for (int64_t i = 0; i < n; ++i) {
    const double expect = x[i] * inv * w[i];
    EXPECT_NEAR(out[i], expect, 1e-5 * std::abs(expect) + 1e-7) << i;
  }
}

TEST(OpsTest, RmsnormInPlaceEqualsOutOfPlace) {
  const int64_t n = 64;
  auto x = random_vector(n, 3);
  auto w = random_vector(n, 4);
  std::vector<float> out(n);
  rmsnorm(out.data(), x.data(), w.data(), n, 1e-6f);
  rmsnorm(x.data(), x.data(), w.data(), n, 1e-6f);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[i], x[i]);
}

TEST(OpsTest, RmsnormEpsDominatesTinyInput) {
  // For x ~ 0, the result is x / sqrt(eps) * w.
  std::vector<float> x = {1e-6f, -2e-6f, 0.0f, 3e-6f};
  std::vector<float> w = {1.0f, 1.0f, 2.0f, 0.5f};
  std::vector<float> out(4);
  rmsnorm(out.data(), x.data(), w.data(), 4, 1e-2f);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], x[i] / 0.1 * w[i], 1e-9);
}

TEST(OpsTest, RopeMatchesFormula) {
  const int64_t n_heads = 3, head_dim = 16, n_rot = 12;
  const float base = 10000.0f;
  for (int64_t pos : {0, 1, 7, 100, 2047}) {
    auto x = random_vector(n_heads * head_dim, 5 + static_cast<uint32_t>(pos));
    auto y = x;
    rope(y.data(), n_heads, head_dim, n_rot, pos, base);
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < head_dim; i += 2) {
        const float* a = x.data() + h * head_dim + i;
        const float* b = y.data() + h * head_dim + i;
        if (i >= n_rot) {  // untouched
          EXPECT_EQ(b[0], a[0]);
          EXPECT_EQ(b[1], a[1]);
          continue;
        }
        const double theta = double(pos) * std::pow(double(base), -double(i) / double(n_rot));
        const double e0 = a[0] * std::cos(theta) - a[1] * std::sin(theta);
        const double e1 = a[0] * std::sin(theta) + a[1] * std::cos(theta);
        // theta is built by repeated float multiplication: relative error
        // grows with pos (about pos * 1e-6 radians at most here).
        const double tol = 1e-5 + 4e-7 * double(pos);
        EXPECT_NEAR(b[0], e0, tol) << "pos " << pos << " h " << h << " i " << i;
        EXPECT_NEAR(b[1], e1, tol) << "pos " << pos << " h " << h << " i " << i;
      }
    }
  }
}

TEST(OpsTest, RopePositionZeroIsIdentityAndRotationKeepsNorm) {
  auto x = random_vector(32, 9);
  auto y = x;
  rope(y.data(), 2, 16, 16, 0, 10000.0f);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
  rope(y.data(), 2, 16, 16, 12345, 500000.0f);
  for (size_t i = 0; i < x.size(); i += 2) {
    const double before = double(x[i]) * x[i] + double(x[i + 1]) * x[i + 1];
    const double after = double(y[i]) * y[i] + double(y[i + 1]) * y[i + 1];
    EXPECT_NEAR(after, before, 1e-5 * before + 1e-9);
  }
}

TEST(OpsTest, RopeFirstPairRotatesByPos) {
  // Pair 0 has frequency 1: angle = pos exactly.
  float x[4] = {1.0f, 0.0f, 0.0f, 1.0f};
  rope(x, 1, 4, 4, 3, 10000.0f);
  EXPECT_FLOAT_EQ(x[0], std::cos(3.0f));
  EXPECT_FLOAT_EQ(x[1], std::sin(3.0f));
  const float theta1 = 3.0f * std::pow(10000.0f, -0.5f);
  EXPECT_NEAR(x[2], -std::sin(theta1), 1e-6);
  EXPECT_NEAR(x[3], std::cos(theta1), 1e-6);
}

TEST(OpsTest, SoftmaxMatchesFormula) {
  auto x = random_vector(100, 11, 5.0f);
  auto y = x;
  softmax(y.data(), 100);
  double mx = -1e30;
  for (float v : x) mx = std::max(mx, double(v));
  double s = 0;
  for (float v : x) s += std::exp(v - mx);
  double total = 0;
  for (int i = 0; i < 100; ++i) {
    const double e = std::exp(x[i] - mx) / s;
    EXPECT_NEAR(y[i], e, 1e-6 * e + 1e-9);
    total += y[i];
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(OpsTest, SoftmaxIsStableForLargeInputs) {
  std::vector<float> x = {1000.0f, 1000.0f, -1000.0f, 999.0f};
  softmax(x.data(), 4);
  for (float v : x) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(x[0], 1.0 / (2 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(x[2], 0.0f);
  std::vector<float> one = {-3.0f};
  softmax(one.data(), 1);
  EXPECT_EQ(one[0], 1.0f);
}

TEST(OpsTest, SwigluMatchesFormula) {
  auto g = random_vector(50, 12, 4.0f);
  auto u = random_vector(50, 13);
  std::vector<float> out(50);
  swiglu(out.data(), g.data(), u.data(), 50);
  for (int i = 0; i < 50; ++i) {
    const double e = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
    EXPECT_NEAR(out[i], e, 1e-6 * std::abs(e) + 1e-7);
  }
  // silu(0) = 0, silu(large) ~ identity, silu(very negative) ~ 0 (no NaN).
  float gg[3] = {0.0f, 50.0f, -100.0f}, uu[3] = {1.0f, 1.0f, 1.0f}, oo[3];
  swiglu(oo, gg, uu, 3);
  EXPECT_EQ(oo[0], 0.0f);
  EXPECT_FLOAT_EQ(oo[1], 50.0f);
  EXPECT_LE(std::abs(oo[2]), 1e-30f);
}

TEST(OpsTest, AddAccumulates) {
  std::vector<float> y = {1, 2, 3}, x = {0.5f, -2, 10};
  add(y.data(), x.data(), 3);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 13.0f);
}

}  // namespace
}  // namespace ef::ops
