// The row ops of every ISA this machine runs (kernels/row_ops.h) against
// double-precision formulas and against the scalar ops they replace, with
// the tolerances stated in row_ops.h.
#include "kernels/row_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace ef::kernels {
namespace {

std::vector<Isa> isas() { return available_isas(); }

const RowOps& ops_of(Isa isa) {
  auto t = table_for(isa);  // isa comes from available_isas(): always ok
  return row_ops(*t.value());
}

// Distance in representable floats (0 = equal; +0 and -0 are equal).
int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::vector<float> random_vector(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(RowOpsTest, SetMatchesTableIsa) {
  for (Isa isa : isas()) {
    const Isa got = ops_of(isa).isa;
    if (isa == Isa::amx || isa == Isa::avx512_vnni) {
      EXPECT_EQ(got, Isa::avx512);
    } else if (isa == Isa::neon_dotprod) {
      EXPECT_EQ(got, Isa::neon);
    } else {
      EXPECT_EQ(got, isa) << isa_name(isa);
    }
  }
}

// Every 4099th float bit pattern (about a million values over all of
// [-inf, +inf] and the NaNs), dense steps around 0 and both ends of the
// range, and the special values: <= 2 ulp from exp computed in double.
TEST(RowOpsTest, ExpWithin2UlpOverAllFloats) {
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 4099)
    x.push_back(from_bits(static_cast<uint32_t>(u)));
  for (float a = -110.0f; a <= 95.0f; a += 0.0137f) x.push_back(a);
  for (float a : {-104.0f,  -103.98f,  -103.97f, -103.9f, -87.34f, -87.33f, 88.72f,
                  88.7228f, 88.72284f, 88.723f,  89.0f,   100.0f,  1e30f,   -1e30f,
                  0.0f,     -0.0f,     1e-30f,   kInf,    -kInf,   kNan,    -kNan}) {
    x.push_back(a);
  }
  for (Isa isa : isas()) {
    std::vector<float> y(x.size());
    ops_of(isa).exp(x.data(), y.data(), static_cast<int64_t>(x.size()));
    int64_t worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {
        EXPECT_TRUE(std::isnan(y[i])) << isa_name(isa) << " exp(NaN)";
        continue;
      }
      const float ref = static_cast<float>(std::exp(static_cast<double>(x[i])));
      const int64_t d = ulp_distance(y[i], ref);
      if (d > worst) worst = d, worst_i = i;
    }
    EXPECT_LE(worst, 2) << isa_name(isa) << ": exp(" << x[worst_i] << ") = " << y[worst_i];
    // Exact ends: the sign and the limits.
    float s[6] = {-kInf, -1000.0f, -104.0f, 0.0f, 100.0f, kInf};
    ops_of(isa).exp(s, s, 6);
    EXPECT_EQ(s[0], 0.0f) << isa_name(isa);
    EXPECT_FALSE(std::signbit(s[0])) << isa_name(isa);
    EXPECT_EQ(s[1], 0.0f) << isa_name(isa);
    EXPECT_EQ(s[2], 0.0f) << isa_name(isa);
    EXPECT_EQ(s[3], 1.0f) << isa_name(isa);
    EXPECT_EQ(s[4], kInf) << isa_name(isa);
    EXPECT_EQ(s[5], kInf) << isa_name(isa);
  }
}

// Relative error bound for swiglu: 4 float epsilons (exp's 2 ulp plus the
// roundings of 1 + e, the quotient and the product), and an absolute floor
// of 1e-35: for g < -88.7 exp(-g) overflows float, so silu(g) comes out as
// -0 (scalar op too) instead of |g| exp(g) < 1e-36.
bool swiglu_close(float got, double ref) {
  if (std::isnan(ref)) return std::isnan(got);
  if (std::isinf(ref)) return got == ref;
  return std::fabs(got - ref) <= 4.0 * 1.1920929e-7 * std::fabs(ref) + 1e-35;
}

TEST(RowOpsTest, SwigluMatchesDoubleFormulaAndScalarOp) {
  for (int64_t n : {1, 3, 8, 15, 16, 17, 100, 1536}) {
    auto g = random_vector(static_cast<size_t>(n), 10 + static_cast<uint32_t>(n), 6.0f);
    auto u = random_vector(static_cast<size_t>(n), 20 + static_cast<uint32_t>(n), 2.0f);
    if (n >= 15) {  // special gates: silu saturates, underflows, or is NaN
      const float sp[] = {-kInf,  kInf,   kNan,  -100.0f, 100.0f, -88.0f, 0.0f,  -0.0f,
                          1e-30f, -30.0f, 30.0f, -1e30f,  1e30f,  89.5f,  -89.5f};
      for (size_t i = 0; i < 15; ++i) g[i] = sp[i];
    }
    std::vector<double> ref(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      const double gd = g[i];
      ref[i] = gd / (1.0 + std::exp(-gd)) * static_cast<double>(u[i]);
    }
    std::vector<float> scalar(g.size());
    ops::swiglu(scalar.data(), g.data(), u.data(), n);
    for (Isa isa : isas()) {
      std::vector<float> out(g.size());
      ops_of(isa).swiglu(out.data(), g.data(), u.data(), n);
      for (size_t i = 0; i < g.size(); ++i) {
        EXPECT_TRUE(swiglu_close(out[i], ref[i]))
            << isa_name(isa) << " n " << n << " g " << g[i] << " u " << u[i] << ": " << out[i]
            << " vs " << ref[i];
        EXPECT_TRUE(swiglu_close(scalar[i], ref[i])) << "scalar op, g " << g[i];
      }
      // In place (out == gate), as the forward pass calls it.
      std::vector<float> inplace = g;
      ops_of(isa).swiglu(inplace.data(), inplace.data(), u.data(), n);
      for (size_t i = 0; i < g.size(); ++i) {
        EXPECT_TRUE(std::memcmp(&inplace[i], &out[i], sizeof(float)) == 0) << isa_name(isa) << i;
      }
    }
  }
}

TEST(RowOpsTest, SoftmaxMatchesScalarOp) {
  for (int64_t n : {1, 2, 7, 16, 17, 100, 1000}) {
    auto x = random_vector(static_cast<size_t>(n), 30 + static_cast<uint32_t>(n), 4.0f);
    // Masked scores (-inf) and a far outlier that underflows the others.
    if (n >= 7) {
      x[1] = -kInf;
      x[4] = -kInf;
      x[5] = -200.0f;
    }
    std::vector<float> ref = x;
    ops::softmax(ref.data(), n);
    for (Isa isa : isas()) {
      std::vector<float> y = x;
      ops_of(isa).softmax(y.data(), n);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(y[i], ref[i], 1e-6 * ref[i] + 1e-30)
            << isa_name(isa) << " n " << n << " i " << i;
        sum += y[i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-6) << isa_name(isa);
      if (n >= 7) {
        EXPECT_EQ(y[1], 0.0f) << isa_name(isa);
        EXPECT_EQ(y[4], 0.0f) << isa_name(isa);
      }
    }
  }
}

TEST(RowOpsTest, RmsnormWithin2UlpOfScalarOp) {
  for (int64_t n : {1, 5, 16, 33, 576, 2048}) {
    auto x = random_vector(static_cast<size_t>(n), 40 + static_cast<uint32_t>(n), 3.0f);
    auto w = random_vector(static_cast<size_t>(n), 50 + static_cast<uint32_t>(n), 1.0f);
    std::vector<float> ref(x.size());
    ops::rmsnorm(ref.data(), x.data(), w.data(), n, 1e-5f);
    for (Isa isa : isas()) {
      std::vector<float> out(x.size());
      ops_of(isa).rmsnorm(out.data(), x.data(), w.data(), n, 1e-5f);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_LE(ulp_distance(out[i], ref[i]), 2) << isa_name(isa) << " n " << n << " i " << i;
      }
      std::vector<float> inplace = x;
      ops_of(isa).rmsnorm(inplace.data(), inplace.data(), w.data(), n, 1e-5f);
      EXPECT_EQ(0, std::memcmp(inplace.data(), out.data(), sizeof(float) * out.size()))
          << isa_name(isa);
    }
  }
}

TEST(RowOpsTest, RopeCacheAndApplyEqualRopeBitForBit) {
  const float base = 10000.0f;
  for (int64_t n_rot : {2, 6, 16, 24, 64, 128}) {
    for (int64_t head_dim : {n_rot, n_rot + 8}) {
      const int64_t n_heads = 3;
      for (int64_t pos : {0, 1, 17, 511, 4095}) {
        auto x = random_vector(static_cast<size_t>(n_heads * head_dim),
                               60 + static_cast<uint32_t>(pos + n_rot), 1.0f);
        std::vector<float> ref = x;
        ops::rope(ref.data(), n_heads, head_dim, n_rot, pos, base);
        std::vector<float> cs(static_cast<size_t>(2 * n_rot));
        ops::rope_cache(cs.data(), n_rot, pos, base);
        std::vector<float> sc = x;
        ops::rope_apply(sc.data(), n_heads, head_dim, n_rot, cs.data());
        EXPECT_EQ(0, std::memcmp(sc.data(), ref.data(), sizeof(float) * ref.size()))
            << "scalar rope_apply, n_rot " << n_rot << " pos " << pos;
        for (Isa isa : isas()) {
          std::vector<float> y = x;
          ops_of(isa).rope_apply(y.data(), n_heads, head_dim, n_rot, cs.data());
          EXPECT_EQ(0, std::memcmp(y.data(), ref.data(), sizeof(float) * ref.size()))
              << isa_name(isa) << " n_rot " << n_rot << " head_dim " << head_dim << " pos " << pos;
        }
      }
    }
  }
}

TEST(RowOpsTest, AddBitForBit) {
  for (int64_t n : {1, 9, 64, 1000}) {
    auto y = random_vector(static_cast<size_t>(n), 70, 1.0f);
    auto x = random_vector(static_cast<size_t>(n), 71, 1.0f);
    std::vector<float> ref = y;
    ops::add(ref.data(), x.data(), n);
    for (Isa isa : isas()) {
      std::vector<float> out = y;
      ops_of(isa).add(out.data(), x.data(), n);
      EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), sizeof(float) * ref.size()))
          << isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace ef::kernels
