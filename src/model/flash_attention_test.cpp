// Flash attention vs a double-precision naive softmax attention, on every
// kernel table this machine supports; masks, ring caches, lse and merging.
#include "model/flash_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "kernels/kernels.h"

namespace ef {
namespace {

// Naive reference in double: out = softmax(scale q K^T over [lo, hi)) V,
// also returning the log-sum-exp of the scaled scores (-inf if empty).
std::vector<double> reference(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t dk, int64_t dv, int64_t lo,
                              int64_t hi, double scale, double* lse = nullptr) {
  std::vector<double> out(static_cast<size_t>(dv), 0.0);
  if (lse) *lse = -INFINITY;
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
  if (lse) *lse = mx + std::log(sum);
  return out;
}

// A random cache of n_kv positions in `type`, plus its exact F32 values.
struct Cache {
  std::vector<float> k, v;         // values the kernel sees, widened
  std::vector<uint16_t> k16, v16;  // F16/BF16 storage
  FlashKv kv;
};

Cache make_cache(int64_t n_kv, int64_t dk, int64_t dv, DType type, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Cache c;
  c.k.resize(static_cast<size_t>(n_kv * dk));
  c.v.resize(static_cast<size_t>(n_kv * dv));
  for (auto& x : c.k) x = nd(rng);
  for (auto& x : c.v) x = nd(rng);
  const bool half = type != DType::F32;
  if (half) {
    c.k16.resize(c.k.size());
    c.v16.resize(c.v.size());
    for (size_t i = 0; i < c.k.size(); ++i) {
      c.k16[i] = type == DType::F16 ? fp32_to_fp16(c.k[i]) : fp32_to_bf16(c.k[i]);
      c.k[i] = type == DType::F16 ? fp16_to_fp32(c.k16[i]) : bf16_to_fp32(c.k16[i]);
    }
    for (size_t i = 0; i < c.v.size(); ++i) {
      c.v16[i] = type == DType::F16 ? fp32_to_fp16(c.v[i]) : fp32_to_bf16(c.v[i]);
      c.v[i] = type == DType::F16 ? fp16_to_fp32(c.v16[i]) : bf16_to_fp32(c.v16[i]);
    }
  }
  c.kv.type = type;
  c.kv.dk = dk;
  c.kv.dv = dv;
  c.kv.k = half ? reinterpret_cast<const char*>(c.k16.data())
                : reinterpret_cast<const char*>(c.k.data());
  c.kv.v = half ? reinterpret_cast<const char*>(c.v16.data())
                : reinterpret_cast<const char*>(c.v.data());
  c.kv.k_stride = static_cast<size_t>(dk) * (half ? 2 : 4);
  c.kv.v_stride = static_cast<size_t>(dv) * (half ? 2 : 4);
  return c;
}

std::vector<const kernels::KernelTable*> tables() {
  std::vector<const kernels::KernelTable*> out;
  for (kernels::Isa isa : kernels::available_isas()) {
    auto t = kernels::table_for(isa);
    out.push_back(*t);
  }
  return out;
}

// Relative error (vector norm) of one flash row against the reference, and
// elementwise within 2e-3 of the reference's rms.
void check_row(const std::vector<float>& out, const std::vector<double>& ref, const char* what) {
  double num = 0, den = 0;
  for (size_t j = 0; j < ref.size(); ++j) {
    ASSERT_TRUE(std::isfinite(out[j])) << what;
    num += (out[j] - ref[j]) * (out[j] - ref[j]);
    den += ref[j] * ref[j];
  }
  EXPECT_LE(std::sqrt(num / den), 2e-3) << what;
  const double rms = std::sqrt(den / static_cast<double>(ref.size()));
  for (size_t j = 0; j < ref.size(); ++j) EXPECT_NEAR(out[j], ref[j], 2e-3 * rms + 1e-6) << what;
}

void run(int64_t n_kv, int64_t dk, int64_t dv, DType type, int64_t lo = 0) {
  Cache c = make_cache(n_kv, dk, dv, type, static_cast<unsigned>(n_kv * 131 + dk));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(dk));
  for (auto& x : q) x = nd(rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dk));
  double ref_lse = 0;
  const auto ref = reference(q, c.k, c.v, dk, dv, lo, n_kv, scale, &ref_lse);
  for (const auto* t : tables()) {
    std::vector<float> out(static_cast<size_t>(dv), 12345.0f);
    float lse = 0;
    FlashRow row{q.data(), out.data(), lo, n_kv, &lse};
    std::vector<float> scratch(flash_scratch_floats(dk, dv, 1));
    flash_attend(c.kv, &row, 1, scale, scratch.data(), *t);
    const std::string what = std::string(kernels::isa_name(t->isa)) + " n_kv " +
                             std::to_string(n_kv) + " dk " + std::to_string(dk) + " type " +
                             dtype_name(type);
    check_row(out, ref, what.c_str());
    EXPECT_NEAR(lse, ref_lse, 1e-5 * std::max(1.0, std::abs(ref_lse))) << what;
  }
}

TEST(FlashAttentionTest, MatchesNaiveSoftmaxAttention) {
  for (int64_t n_kv : {1, 63, 64, 65, 513, 4096}) {
    for (int64_t d : {64, 128}) {
      for (DType type : {DType::F32, DType::F16, DType::BF16}) run(n_kv, d, d, type);
    }
  }
}

TEST(FlashAttentionTest, MlaShapeKeyAndValueWidthsDiffer) {
  for (int64_t n_kv : {1, 65, 513}) {
    run(n_kv, 576, 512, DType::F16);
    run(n_kv, 576, 512, DType::F32);
  }
}

TEST(FlashAttentionTest, OddHeadDimsUseTheOracle) {
  run(100, 40, 24, DType::F32);  // multiples of 8, not of 16
  run(100, 36, 20, DType::F16);  // neither
}

TEST(FlashAttentionTest, WindowedRangeMatchesReference) {
  // lo > 0 inside a tile and across tiles (sliding-window rows).
  run(300, 64, 64, DType::F16, 37);
  run(300, 64, 64, DType::F32, 236);
  run(300, 64, 64, DType::F32, 299);
}

TEST(FlashAttentionTest, RingCacheReadsPositionModuloCapacity) {
  // Ring of 80 rows; the query sees positions [150, 230): rows p % 80.
  const int64_t ring = 80, d = 64, lo = 150, hi = 230;
  Cache lin = make_cache(hi, d, d, DType::F16, 11);
  // The ring holds position p at row p % ring (the last `ring` positions).
  std::vector<uint16_t> rk(static_cast<size_t>(ring * d)), rv(rk.size());
  for (int64_t p = hi - ring; p < hi; ++p) {
    std::copy_n(lin.k16.begin() + p * d, d, rk.begin() + (p % ring) * d);
    std::copy_n(lin.v16.begin() + p * d, d, rv.begin() + (p % ring) * d);
  }
  FlashKv kv = lin.kv;
  kv.k = reinterpret_cast<const char*>(rk.data());
  kv.v = reinterpret_cast<const char*>(rv.data());
  kv.ring = ring;
  std::vector<float> q(d, 0.3f);
  q[5] = -1.0f;
  const auto ref = reference(q, lin.k, lin.v, d, d, lo, hi, 0.125);
  for (const auto* t : tables()) {
    std::vector<float> out(d), scratch(flash_scratch_floats(d, d, 1));
    FlashRow row{q.data(), out.data(), lo, hi};
    flash_attend(kv, &row, 1, 0.125f, scratch.data(), *t);
    check_row(out, ref, kernels::isa_name(t->isa));
  }
}

TEST(FlashAttentionTest, FullyMaskedRowGivesZerosAndMinusInfinityLse) {
  std::vector<float> k(64 * 4, 1.0f), v(64 * 4, 1.0f), q(64, 1.0f), out(64, 7.0f);
  FlashKv kv{reinterpret_cast<const char*>(k.data()),
             256,
             reinterpret_cast<const char*>(v.data()),
             256,
             DType::F32,
             64,
             64,
             0};
  for (const auto* t : tables()) {
    float lse[2] = {1.0f, 1.0f};
    FlashRow rows[2] = {{q.data(), out.data(), 3, 3, &lse[0]},
                        {q.data(), out.data(), 5, 2, &lse[1]}};
    std::vector<float> scratch(flash_scratch_floats(64, 64, 2));
    flash_attend(kv, rows, 2, 0.125f, scratch.data(), *t);
    for (float x : out) EXPECT_EQ(x, 0.0f);
    EXPECT_EQ(lse[0], -INFINITY);
    EXPECT_EQ(lse[1], -INFINITY);
  }
}

TEST(FlashAttentionTest, RowsAreIndependentOfTheirNeighbours) {
  // Same row alone and inside a group with other ranges: bit-identical.
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  const int64_t n = 200, d = 64;
  Cache c = make_cache(n, d, d, DType::F16, 5);
  std::vector<float> q(4 * d);
  for (auto& x : q) x = nd(rng);
  for (const auto* t : tables()) {
    std::vector<float> alone(d), grouped(4 * d);
    std::vector<float> scratch(flash_scratch_floats(d, d, 4));
    FlashRow one{q.data(), alone.data(), 10, 150};
    flash_attend(c.kv, &one, 1, 0.125f, scratch.data(), *t);
    FlashRow four[4] = {{q.data() + d, grouped.data() + d, 0, 200},
                        {q.data(), grouped.data(), 10, 150},
                        {q.data() + 2 * d, grouped.data() + 2 * d, 100, 101},
                        {q.data() + 3 * d, grouped.data() + 3 * d, 0, 1}};
    flash_attend(c.kv, four, 4, 0.125f, scratch.data(), *t);
    for (int64_t j = 0; j < d; ++j) EXPECT_EQ(alone[j], grouped[j]) << kernels::isa_name(t->isa);
  }
}

TEST(FlashAttentionTest, MergingChunksWithLseEqualsTheWholeRange) {
  // [0, 700) attended in chunks [0, 130) [130, 130) [130, 512) [512, 700),
  // merged, vs the whole range at once and vs the double reference.
  const int64_t n = 700, d = 64;
  Cache c = make_cache(n, d, d, DType::F16, 9);
  std::vector<float> q(d);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (auto& x : q) x = nd(rng);
  double ref_lse = 0;
  const auto ref = reference(q, c.k, c.v, d, d, 0, n, 0.125, &ref_lse);
  const int64_t cuts[] = {0, 130, 130, 512, 700};
  for (const auto* t : tables()) {
    std::vector<float> merged(d, 0.0f), part(d), scratch(flash_scratch_floats(d, d, 1));
    float lse = -INFINITY;
    for (int i = 0; i + 1 < 5; ++i) {
      float part_lse = 0;
      FlashRow row{q.data(), part.data(), cuts[i], cuts[i + 1], &part_lse};
      flash_attend(c.kv, &row, 1, 0.125f, scratch.data(), *t);
      flash_merge(merged.data(), &lse, part.data(), part_lse, d);
    }
    check_row(merged, ref, kernels::isa_name(t->isa));
    EXPECT_NEAR(lse, ref_lse, 1e-5 * std::max(1.0, std::abs(ref_lse)));
  }
}

TEST(FlashAttentionTest, MergeOfOnlyMaskedPartsStaysEmpty) {
  std::vector<float> out(8, 0.0f), part(8, 5.0f);
  float lse = -INFINITY;
  flash_merge(out.data(), &lse, part.data(), -INFINITY, 8);
  flash_merge(out.data(), &lse, part.data(), -INFINITY, 8);
  for (float x : out) EXPECT_EQ(x, 0.0f);
  EXPECT_EQ(lse, -INFINITY);
  // Two equal parts: same output, lse + log 2.
  flash_merge(out.data(), &lse, part.data(), 1.0f, 8);
  flash_merge(out.data(), &lse, part.data(), 1.0f, 8);
  for (float x : out) EXPECT_NEAR(x, 5.0f, 1e-6);
  EXPECT_NEAR(lse, 1.0 + std::log(2.0), 1e-6);
}

}  // namespace
}  // namespace ef
