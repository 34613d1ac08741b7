// The one-pass q8_0 activation quantizer with block info
// (TypeKernels::from_float_act_info) and rmsnorm fused with it
// (RowOps::rmsnorm_q8_0), on every ISA this machine runs:
//  - from_float_act_info == from_float_act then act_block_info, and == the
//    scalar oracle, bit for bit (quants, fp16 d, info d and int sum);
//  - rmsnorm_q8_0 == the same set's rmsnorm, then the table's quantizer and
//    act_block_info, bit for bit (with and without info);
//  - matmul on a pre-quantized MatmulInput == matmul on the floats.
// Rows of k = 32 ... 1536 with zero rows/blocks, huge and small
// magnitudes and exact .5 ties.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/ref/ref.h"
#include "kernels/row_ops.h"

namespace ef::kernels {
namespace {

// Blocks per row 1, 2, 3, 8, 9, 15, 18, 48: the AVX-512 quantizer goes 16
// blocks at a time, so every partial last group size class is here.
const int64_t kLengths[] = {32, 64, 96, 256, 288, 480, 576, 1536};

// Named rows of k floats covering the cases the quantizer must get right.
struct Row {
  std::string name;
  std::vector<float> x;
};

std::vector<Row> test_rows(int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> coin(0, 1);
  const auto n = static_cast<size_t>(k);
  std::vector<Row> rows;
  auto add = [&](const std::string& name, auto&& gen) {
    Row r{name, std::vector<float>(n)};
    for (size_t i = 0; i < n; ++i) r.x[i] = gen(i);
    rows.push_back(std::move(r));
  };
  add("gaussian", [&](size_t) { return normal(rng); });
  add("zeros", [&](size_t) { return 0.0f; });
  add("huge", [&](size_t) { return 1e30f * normal(rng); });
  add("small", [&](size_t) { return 1e-30f * normal(rng); });
  // Per block: amax 127 exactly (id = 1), every other element a .5 tie.
  add("ties", [&](size_t i) {
    if (i % 32 == 0) return coin(rng) ? 127.0f : -127.0f;
    return static_cast<float>(static_cast<int>(i % 32) - 16) + 0.5f;
  });
  // Blocks alternating zero / mixed magnitudes / saturated +-127 patterns.
  add("mixed", [&](size_t i) {
    const size_t b = i / 32;
    if (b % 3 == 0) return 0.0f;
    if (b % 3 == 1) return normal(rng) * (i % 2 ? 1e20f : 1e-20f);
    return (coin(rng) ? 1.0f : -1.0f) * static_cast<float>(i % 7);
  });
  return rows;
}

std::string where(Isa isa, int64_t k, const std::string& row) {
  return std::string(isa_name(isa)) + " k=" + std::to_string(k) + " " + row;
}

bool same_bits(const void* a, const void* b, size_t n) { return std::memcmp(a, b, n) == 0; }

void expect_same_info(const std::vector<ActBlockInfo>& want, const std::vector<ActBlockInfo>& got,
                      const std::string& at) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t b = 0; b < want.size(); ++b) {
    EXPECT_TRUE(same_bits(&want[b].d, &got[b].d, sizeof(float)))
        << at << " block " << b << ": d " << want[b].d << " vs " << got[b].d;
    EXPECT_EQ(want[b].sum, got[b].sum) << at << " block " << b;
  }
}

// The scalar oracle: ref quantizer, then the sums of the stored int8.
void oracle(const float* x, int64_t k, std::vector<BlockQ8_0>& q, std::vector<ActBlockInfo>& info) {
  const auto nb = static_cast<size_t>(k / 32);
  q.assign(nb, BlockQ8_0{});
  info.assign(nb, ActBlockInfo{});
  ref::quantize_row_q8_0_act(x, q.data(), k);
  for (size_t b = 0; b < nb; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += q[b].qs[j];
    info[b] = {fp16_to_fp32(q[b].d), s};
  }
}

TEST(KernelsActQuantInfo, OnePassEqualsQuantizerThenBlockInfoOnEveryIsa) {
  int n_checked = 0;
  for (Isa isa : available_isas()) {
    auto table = table_for(isa);
    ASSERT_TRUE(table.ok());
    const TypeKernels& tk = (*table)->q8_0;
    ASSERT_NE(tk.from_float_act_info, nullptr) << isa_name(isa);
    for (int64_t k : kLengths) {
      for (const Row& r : test_rows(k, static_cast<uint32_t>(k))) {
        const std::string at = where(isa, k, r.name);
        const auto nb = static_cast<size_t>(k / 32);
        std::vector<BlockQ8_0> two_pass(nb), one_pass(nb), want_q;
        std::vector<ActBlockInfo> two_info(nb), one_info(nb, {-1.0f, -1}), want_info;
        tk.from_float_act(r.x.data(), two_pass.data(), k);
        act_block_info(two_pass.data(), k, two_info.data());
        tk.from_float_act_info(r.x.data(), one_pass.data(), one_info.data(), k);
        oracle(r.x.data(), k, want_q, want_info);
        EXPECT_TRUE(same_bits(two_pass.data(), one_pass.data(), nb * sizeof(BlockQ8_0))) << at;
        EXPECT_TRUE(same_bits(want_q.data(), one_pass.data(), nb * sizeof(BlockQ8_0))) << at;
        expect_same_info(two_info, one_info, at);
        expect_same_info(want_info, one_info, at);
        ++n_checked;
      }
    }
  }
  EXPECT_GT(n_checked, 0);
}

// The oracle itself on hand-checked blocks: ties to even, sums of the
// rounded values, zero blocks.
TEST(KernelsActQuantInfo, OracleOnKnownBlocks) {
  std::vector<float> x(64, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;   // -> 2
  x[2] = -3.5f;  // -> -4
  x[3] = 0.5f;   // -> 0
  std::vector<BlockQ8_0> q(2);
  std::vector<ActBlockInfo> info(2, {-1.0f, -1});
  ref::quantize_row_q8_0_act_info(x.data(), q.data(), info.data(), 64);
  EXPECT_EQ(info[0].sum, 127 + 2 - 4 + 0);
  EXPECT_EQ(info[0].d, 1.0f);
  EXPECT_EQ(info[1].sum, 0);
  EXPECT_EQ(info[1].d, 0.0f);
}

TEST(RowOpsRmsnormQ8, FusedEqualsRmsnormThenQuantizerOnEveryIsa) {
  int n_checked = 0;
  for (Isa isa : available_isas()) {
    auto table = table_for(isa);
    ASSERT_TRUE(table.ok());
    const TypeKernels& tk = (*table)->q8_0;
    const RowOps& ro = row_ops(**table);
    ASSERT_NE(ro.rmsnorm_q8_0, nullptr) << isa_name(isa);
    for (int64_t k : kLengths) {
      std::mt19937 rng(static_cast<uint32_t>(k * 3 + 1));
      std::normal_distribution<float> normal(0.0f, 1.0f);
      const auto n = static_cast<size_t>(k);
      std::vector<float> weight(n), zero_blocks(n), ones(n, 1.0f);
      for (auto& v : weight) v = 1.0f + 0.1f * normal(rng);
      for (size_t i = 0; i < n; ++i) zero_blocks[i] = (i / 32) % 2 ? weight[i] : 0.0f;
      // x = 1 everywhere, eps = 0: scale is exactly 1, so the normed row is
      // the weight itself, here the tie pattern (exact .5 ties after norm).
      const std::vector<Row> tie_rows = test_rows(k, 99);
      struct Case {
        std::string name;
        std::vector<float> x;
        const std::vector<float>* w;
        float eps;
      };
      std::vector<Case> cases;
      for (const Row& r : test_rows(k, static_cast<uint32_t>(k + 5))) {
        cases.push_back({r.name, r.x, &weight, 1e-5f});
        cases.push_back({r.name + " zero-weight blocks", r.x, &zero_blocks, 1e-6f});
      }
      cases.push_back({"ties after norm", ones, &tie_rows[4].x, 0.0f});
      for (const Case& cs : cases) {
        const std::string at = where(isa, k, cs.name);
        const auto nb = static_cast<size_t>(k / 32);
        std::vector<float> normed(n);
        std::vector<BlockQ8_0> want(nb), got(nb), got_no_info(nb);
        std::vector<ActBlockInfo> want_info(nb), got_info(nb, {-1.0f, -1});
        ro.rmsnorm(normed.data(), cs.x.data(), cs.w->data(), k, cs.eps);
        tk.from_float_act(normed.data(), want.data(), k);
        act_block_info(want.data(), k, want_info.data());
        ro.rmsnorm_q8_0(got.data(), got_info.data(), cs.x.data(), cs.w->data(), k, cs.eps);
        ro.rmsnorm_q8_0(got_no_info.data(), nullptr, cs.x.data(), cs.w->data(), k, cs.eps);
        EXPECT_TRUE(same_bits(want.data(), got.data(), nb * sizeof(BlockQ8_0))) << at;
        EXPECT_TRUE(same_bits(want.data(), got_no_info.data(), nb * sizeof(BlockQ8_0))) << at;
        expect_same_info(want_info, got_info, at);
        ++n_checked;
      }
    }
  }
  EXPECT_GT(n_checked, 0);
}

// Many random rows: a normed float that differs by one ulp (another order
// of the same products) flips a quant now and then (~1e-5 per element), so
// a million elements per ISA catch a fused op that is not the row op's
// arithmetic even where hand-made rows do not.
TEST(RowOpsRmsnormQ8, ManyRandomRowsBitIdenticalOnEveryIsa) {
  const int64_t k = 576, rows = 2048;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(k * rows)), weight(static_cast<size_t>(k));
  for (auto& v : x) v = normal(rng) * (1.0f + 0.5f * normal(rng));
  for (auto& v : weight) v = 1.0f + 0.3f * normal(rng);
  const auto nb = static_cast<size_t>(k / 32);
  for (Isa isa : available_isas()) {
    auto table = table_for(isa);
    ASSERT_TRUE(table.ok());
    const RowOps& ro = row_ops(**table);
    std::vector<float> normed(static_cast<size_t>(k));
    std::vector<BlockQ8_0> want(nb), got(nb);
    std::vector<ActBlockInfo> want_info(nb), got_info(nb);
    int64_t bad_rows = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * k;
      ro.rmsnorm(normed.data(), xr, weight.data(), k, 1e-5f);
      (*table)->q8_0.from_float_act_info(normed.data(), want.data(), want_info.data(), k);
      ro.rmsnorm_q8_0(got.data(), got_info.data(), xr, weight.data(), k, 1e-5f);
      bad_rows += !same_bits(want.data(), got.data(), nb * sizeof(BlockQ8_0)) ||
                  !same_bits(want_info.data(), got_info.data(), nb * sizeof(ActBlockInfo));
    }
    EXPECT_EQ(bad_rows, 0) << isa_name(isa);
  }
}

// A pre-quantized input (with its info, or without: computed on demand)
// gives the matmul the same bytes as the float input, packed or not.
TEST(KernelsActQuantInfo, PrequantizedMatmulInputEqualsFloatInput) {
  const int64_t k = 96, n_rows = 40, n_tokens = 7;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(k * n_rows)), x(static_cast<size_t>(k * n_tokens));
  for (auto& v : wf) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  // Two threads run the per-token loops (conversion, on-demand info) in
  // parallel. Not under qemu-user (aarch64 build): there ThreadPool's own
  // tests hang at 2 threads today, independently of this code.
#if defined(EF_HAVE_ARM)
  ThreadPool pool(1);
#else
  ThreadPool pool(2);
#endif
  int n_checked = 0;
  for (Isa isa : available_isas()) {
    auto tr = table_for(isa);
    ASSERT_TRUE(tr.ok());
    const KernelTable& table = **tr;
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
      const TypeKernels& tk = table.for_type(type);
      const size_t rb = *row_size_bytes(type, static_cast<uint64_t>(k));
      std::vector<uint8_t> wq(rb * static_cast<size_t>(n_rows));
      for (int64_t r = 0; r < n_rows; ++r) tk.from_float(wf.data() + r * k, wq.data() + r * rb, k);
      const int64_t ne[2] = {k, n_rows};
      Tensor w = make_tensor("w", type, 2, ne, wq.data());
      std::vector<uint8_t> packed;
      for (bool pack : {false, true}) {
        if (pack) {
          if (tk.repack == nullptr || tk.gemm_packed == nullptr) continue;
          packed.assign(packed_bytes(type, n_rows, k), 0);
          tk.repack(wq.data(), rb, n_rows, k, packed.data());
          w.packed = packed.data();
        }
        const std::string at = std::string(isa_name(isa)) + " " + dtype_name(type) +
                               (pack ? " packed" : " gguf");
        ASSERT_TRUE(matmul_takes_q8_0(w, table)) << at;
        EXPECT_EQ(matmul_uses_act_info(w, table), pack) << at;
        const size_t out = static_cast<size_t>(n_rows * n_tokens);
        std::vector<float> want(out, -1.0f), got(out, -2.0f), got_lazy(out, -3.0f);
        std::vector<uint8_t> s1, s2, s3;
        matmul(w, x.data(), n_tokens, want.data(), n_rows, s1, pool, table);
        const auto nb = static_cast<size_t>(k / 32);
        std::vector<BlockQ8_0> xq(nb * n_tokens);
        std::vector<ActBlockInfo> info(nb * n_tokens);
        for (int64_t t = 0; t < n_tokens; ++t) {
          table.q8_0.from_float_act_info(x.data() + t * k, xq.data() + t * nb,
                                         info.data() + t * nb, k);
        }
        MatmulInput in(xq.data(), info.data(), n_tokens, k, s2);
        matmul(w, in, got.data(), n_rows, pool, table);
        MatmulInput lazy(xq.data(), nullptr, n_tokens, k, s3);
        matmul(w, lazy, got_lazy.data(), n_rows, pool, table);
        matmul(w, lazy, got_lazy.data(), n_rows, pool, table);  // info reused
        EXPECT_TRUE(same_bits(want.data(), got.data(), out * sizeof(float))) << at;
        EXPECT_TRUE(same_bits(want.data(), got_lazy.data(), out * sizeof(float))) << at;
        ++n_checked;
      }
    }
    // No floats to convert for an F32 weight: matmul leaves y alone.
    const int64_t ne[2] = {k, n_rows};
    const Tensor wf32 = make_tensor("w", DType::F32, 2, ne, wf.data());
    EXPECT_FALSE(matmul_takes_q8_0(wf32, table));
    std::vector<BlockQ8_0> xq(static_cast<size_t>(k / 32 * n_tokens));
    table.q8_0.from_float_act(x.data(), xq.data(), k * n_tokens);
    std::vector<uint8_t> s;
    MatmulInput in(xq.data(), nullptr, n_tokens, k, s);
    std::vector<float> y(static_cast<size_t>(n_rows * n_tokens), 7.0f);
    matmul(wf32, in, y.data(), n_rows, pool, table);
    for (float v : y) ASSERT_EQ(v, 7.0f);
  }
  EXPECT_GT(n_checked, 0);
}

}  // namespace
}  // namespace ef::kernels
