// Flash attention kernel vs a double-precision naive softmax attention.
#include "model/flash_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "kernels/kernels.h"

namespace ef {
namespace {

struct Case {
  int64_t n_kv, dk, dv;
  bool f16;
  bool f16_accumulate = false;  // ggml's F16-accumulator numerics
};

// Naive reference on the values the kernel sees (F16-rounded cache if f16).
std::vector<double> reference(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t dk, int64_t dv, int64_t lo,
                              int64_t hi, double scale) {
  std::vector<double> out(static_cast<size_t>(dv), 0.0);
  if (lo >= hi) return out;
  std::vector<double> s(static_cast<size_t>(hi - lo));
  double mx = -INFINITY;
  for (int64_t p = lo; p < hi; ++p) {
    double d = 0;
    for (int64_t i = 0; i < dk; ++i) d += double(q[i]) * double(k[p * dk + i]);
    s[p - lo] = d * scale;
    mx = std::max(mx, s[p - lo]);
  }
  double sum = 0;
  for (auto& x : s) sum += (x = std::exp(x - mx));
  for (int64_t p = lo; p < hi; ++p)
    for (int64_t j = 0; j < dv; ++j) out[j] += s[p - lo] / sum * double(v[p * dv + j]);
  return out;
}

void run(const Case& c, int64_t lo_override = -1) {
  std::mt19937 rng(static_cast<unsigned>(c.n_kv * 131 + c.dk));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(c.dk), k(c.n_kv * c.dk), v(c.n_kv * c.dv);
  for (auto& x : q) x = nd(rng);
  for (auto& x : k) x = nd(rng);
  for (auto& x : v) x = nd(rng);
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  if (c.f16) {
    for (size_t i = 0; i < k.size(); ++i) k[i] = fp16_to_fp32(k16[i] = fp32_to_fp16(k[i]));
    for (size_t i = 0; i < v.size(); ++i) v[i] = fp16_to_fp32(v16[i] = fp32_to_fp16(v[i]));
  }
  FlashKv kv;
  kv.f16 = c.f16;
  kv.f16_accumulate = c.f16_accumulate;
  kv.dk = c.dk;
  kv.dv = c.dv;
  kv.k = c.f16 ? reinterpret_cast<const char*>(k16.data()) : reinterpret_cast<const char*>(k.data());
  kv.v = c.f16 ? reinterpret_cast<const char*>(v16.data()) : reinterpret_cast<const char*>(v.data());
  kv.k_stride = static_cast<size_t>(c.dk) * (c.f16 ? 2 : 4);
  kv.v_stride = static_cast<size_t>(c.dv) * (c.f16 ? 2 : 4);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  std::vector<float> out(c.dv, 12345.0f);
  FlashRow row{q.data(), out.data(), lo_override >= 0 ? lo_override : 0, c.n_kv};
  std::vector<float> scratch(flash_scratch_floats(c.dk, c.dv, 1));
  flash_attend(kv, &row, 1, scale, scratch.data(), kernels::active());
  auto ref = reference(q, k, v, c.dk, c.dv, row.lo, row.hi, scale);
  double num = 0, den = 0;
  for (int64_t j = 0; j < c.dv; ++j) {
    ASSERT_TRUE(std::isfinite(out[j]));
    num += (out[j] - ref[j]) * (out[j] - ref[j]);
    den += ref[j] * ref[j];
  }
  // ggml's F16 accumulator loses ~2^-11 per update: looser bound there.
  EXPECT_LE(std::sqrt(num / den), c.f16_accumulate ? 2e-2 : 2e-3) << "n_kv " << c.n_kv << " dk " << c.dk << " dv " << c.dv;
  // Elementwise too, relative to the output's scale, for the F32 path. The
  // F16 path accumulates V in F16 like ggml (each update rounded to 11
  // bits), so single elements of long rows drift past 2e-3 of the rms while
  // the vector as a whole stays within 2e-3 (checked above).
  if (!c.f16_accumulate) {
    const double rms = std::sqrt(den / c.dv);
    for (int64_t j = 0; j < c.dv; ++j) EXPECT_NEAR(out[j], ref[j], 2e-3 * rms + 1e-6);
  }
}

TEST(FlashAttentionTest, MatchesNaiveSoftmaxAttention) {
  for (int64_t n_kv : {1, 63, 64, 65, 513, 4096}) {
    for (int64_t d : {64, 128}) {
      for (bool f16 : {false, true}) run({n_kv, d, d, f16});
      run({n_kv, d, d, true, true});
    }
  }
}

TEST(FlashAttentionTest, MlaShapeKeyAndValueWidthsDiffer) {
  for (int64_t n_kv : {1, 65, 513}) {
    run({n_kv, 576, 512, true});
    run({n_kv, 576, 512, true, true});
  }
}

TEST(FlashAttentionTest, WindowedRangeMatchesReference) {
  // lo > 0 inside a tile and across tiles (sliding-window rows).
  run({300, 64, 64, true}, 37);
  run({300, 64, 64, true, true}, 37);
  run({300, 64, 64, false}, 236);
}

TEST(FlashAttentionTest, FullyMaskedRowGivesZeros) {
  std::vector<float> k(64 * 4, 1.0f), v(64 * 4, 1.0f), q(64, 1.0f), out(64, 7.0f);
  FlashKv kv{reinterpret_cast<const char*>(k.data()), 256, reinterpret_cast<const char*>(v.data()),
             256, false, 64, 64, 0};
  FlashRow rows[2] = {{q.data(), out.data(), 3, 3}, {q.data(), out.data(), 5, 2}};
  std::vector<float> scratch(flash_scratch_floats(64, 64, 2));
  flash_attend(kv, rows, 2, 0.125f, scratch.data(), kernels::active());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST(FlashAttentionTest, RowsAreIndependentOfTheirNeighbours) {
  // Same row alone and inside a group with other ranges: bit-identical.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  const int64_t n = 200, d = 64;
  std::vector<float> k(n * d), v(n * d), q(4 * d);
  for (auto& x : k) x = nd(rng);
  for (auto& x : v) x = nd(rng);
  for (auto& x : q) x = nd(rng);
  FlashKv kv{reinterpret_cast<const char*>(k.data()), d * 4, reinterpret_cast<const char*>(v.data()),
             d * 4, false, d, d, 0};
  std::vector<float> alone(d), grouped(4 * d);
  std::vector<float> scratch(flash_scratch_floats(d, d, 4));
  FlashRow one{q.data(), alone.data(), 10, 150};
  flash_attend(kv, &one, 1, 0.125f, scratch.data(), kernels::active());
  FlashRow four[4] = {{q.data(), grouped.data(), 10, 150},
                      {q.data() + d, grouped.data() + d, 0, 200},
                      {q.data() + 2 * d, grouped.data() + 2 * d, 100, 101},
                      {q.data() + 3 * d, grouped.data() + 3 * d, 0, 1}};
  flash_attend(kv, four, 4, 0.125f, scratch.data(), kernels::active());
  for (int64_t j = 0; j < d; ++j) EXPECT_EQ(alone[j], grouped[j]);
}

}  // namespace
}  // namespace ef
