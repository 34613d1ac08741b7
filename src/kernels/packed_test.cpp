// Packed q8_0 / q4_0 weights (kernels/packed.h): the layout, the packed gemm
// of every table that has one against the block-fma oracle bit for bit
// (odd row counts, one block, odd block counts, 1..64 tokens, 1 and 2
// threads), packed vs GGUF-layout matmul, the fallback when a table has no
// packed gemm, and MatmulInput reuse.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/packed.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

using test_util::random_floats;
using test_util::rb;

// rows x k weights of `type` (reference quantizer), GGUF layout.
std::vector<uint8_t> make_weights(DType type, int64_t rows, int64_t k, uint32_t seed) {
  const auto wf = random_floats(static_cast<size_t>(rows * k), seed);
  std::vector<uint8_t> w(rb(type, k) * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    (type == DType::Q8_0 ? ref::quantize_row_q8_0 : ref::quantize_row_q4_0)(
        wf.data() + r * k, w.data() + r * rb(type, k), k);
  }
  return w;
}

std::vector<const KernelTable*> packed_tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : available_isas()) {
    auto t = table_for(isa);
    if (t.ok() && (*t)->q8_0.gemm_packed != nullptr) out.push_back(*t);
  }
  return out;
}

TEST(PackedLayout, BytesFollowTheSpec) {
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    for (int64_t rows : {1, 16, 17}) {
      const int64_t k = 96;  // 3 blocks
      const int64_t nb = k / 32;
      const auto w = make_weights(type, rows, k, 5);
      std::vector<uint8_t> p(packed_bytes(type, rows, k), 0xAB);
      (type == DType::Q8_0 ? repack_q8_0 : repack_q4_0)(w.data(), rb(type, k), rows, k, p.data());
      const size_t gb = packed_group_bytes(type, k);
      EXPECT_EQ(gb % 64, 0u);
      EXPECT_EQ(p.size(), gb * static_cast<size_t>((rows + 15) / 16));
      const int vecs = type == DType::Q8_0 ? 8 : 4;
      for (int64_t r = 0; r < (rows + 15) / 16 * 16; ++r) {
        const int64_t g = r / 16, n = r % 16;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* qs =
              r < rows ? w.data() + r * rb(type, k) + b * (type == DType::Q8_0 ? 34 : 18) + 2
                       : nullptr;
          for (int i = 0; i < vecs; ++i) {
            for (int j = 0; j < 4; ++j) {
              const uint8_t want =
                  qs ? static_cast<uint8_t>(qs[4 * i + j] ^ (type == DType::Q8_0 ? 0x80 : 0))
                     : (type == DType::Q8_0 ? 0x80 : 0);
              ASSERT_EQ(p[g * gb + b * vecs * 64 + 64 * i + 4 * n + j], want)
                  << dtype_name(type) << " r=" << r << " b=" << b << " i=" << i;
            }
          }
          uint16_t d_want = 0, d_got;
          if (qs) std::memcpy(&d_want, qs - 2, 2);
          std::memcpy(&d_got, p.data() + g * gb + nb * vecs * 64 + (b * 16 + n) * 2, 2);
          ASSERT_EQ(d_got, d_want) << dtype_name(type) << " r=" << r << " b=" << b;
        }
      }
    }
  }
}

TEST(PackedLayout, ActBlockInfoIsScaleAndSum) {
  const int64_t k = 96;
  const auto x = random_floats(k, 9);
  std::vector<uint8_t> xq(rb(DType::Q8_0, k));
  ref::quantize_row_q8_0_act(x.data(), xq.data(), k);
  ActBlockInfo info[3];
  act_block_info(xq.data(), k, info);
  for (int b = 0; b < 3; ++b) {
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(xq.data()) + b;
    int s = 0;
    for (int j = 0; j < 32; ++j) s += blk->qs[j];
    EXPECT_EQ(info[b].sum, s);
    EXPECT_EQ(info[b].d, fp16_to_fp32(blk->d));
  }
}

// Every packed gemm == ref::vec_dot_*_blockfma bit for bit, through
// kernels::matmul (thread split on 16-row boundaries) at 1 and 2 threads.
TEST(PackedGemm, EqualsBlockFmaOracleBitwise) {
  const auto tables = packed_tables();
  if (tables.empty()) GTEST_SKIP() << "no kernel table with packed gemms on this machine/build";
  ThreadPool pool1(1), pool2(2);
  for (const KernelTable* table : tables) {
    for (DType wt : {DType::Q8_0, DType::Q4_0}) {
      const VecDotFn oracle =
          wt == DType::Q8_0 ? ref::vec_dot_q8_0_q8_0_blockfma : ref::vec_dot_q4_0_q8_0_blockfma;
      for (int64_t k : {32, 96, 160, 224, 576}) {
        for (int64_t rows : {1, 15, 16, 17, 33, 100}) {
          const auto w = make_weights(wt, rows, k, static_cast<uint32_t>(k * 31 + rows));
          std::vector<uint8_t> p(packed_bytes(wt, rows, k));
          table->for_type(wt).repack(w.data(), rb(wt, k), rows, k, p.data());
          const int64_t ne[2] = {k, rows};
          Tensor tw = make_tensor("w", wt, 2, ne, const_cast<uint8_t*>(w.data()));
          tw.packed = p.data();
          for (int64_t tokens : {1, 2, 5, 17, 64}) {
            const auto x = random_floats(static_cast<size_t>(k * tokens), uint32_t(k + tokens * 7));
            std::vector<uint8_t> xq(rb(DType::Q8_0, k) * tokens);
            for (int64_t t = 0; t < tokens; ++t) {
              ref::quantize_row_q8_0_act(x.data() + t * k, xq.data() + t * rb(DType::Q8_0, k), k);
            }
            for (ThreadPool* pool : {&pool1, &pool2}) {
              std::vector<float> y(static_cast<size_t>(rows * tokens), -7.0f);
              std::vector<uint8_t> scratch;
              matmul(tw, x.data(), tokens, y.data(), rows, scratch, *pool, *table);
              for (int64_t t = 0; t < tokens; ++t) {
                for (int64_t r = 0; r < rows; ++r) {
                  const float want =
                      oracle(k, w.data() + r * rb(wt, k), xq.data() + t * rb(DType::Q8_0, k));
                  ASSERT_EQ(y[t * rows + r], want)
                      << isa_name(table->isa) << " " << dtype_name(wt) << " k=" << k
                      << " rows=" << rows << " tokens=" << tokens << " t=" << t << " r=" << r
                      << " threads=" << pool->n_threads();
                }
              }
            }
          }
        }
      }
    }
  }
}

// Packed vs GGUF layout on the same table: different float summation order
// (per block vs per lane), so close, not equal; and a strided output (ldy >
// rows) is written only in its columns.
TEST(PackedGemm, CloseToUnpackedMatmul) {
  const auto tables = packed_tables();
  if (tables.empty()) GTEST_SKIP() << "no kernel table with packed gemms on this machine/build";
  ThreadPool pool(2);
  for (const KernelTable* table : tables) {
    for (DType wt : {DType::Q8_0, DType::Q4_0}) {
      for (int64_t k : {64, 160, 576}) {
        const int64_t rows = 50, tokens = 9, ldy = rows + 3;
        const auto w = make_weights(wt, rows, k, 77);
        std::vector<uint8_t> p(packed_bytes(wt, rows, k));
        table->for_type(wt).repack(w.data(), rb(wt, k), rows, k, p.data());
        const int64_t ne[2] = {k, rows};
        Tensor plain = make_tensor("w", wt, 2, ne, const_cast<uint8_t*>(w.data()));
        Tensor packed = plain;
        packed.packed = p.data();
        const auto x = random_floats(static_cast<size_t>(k * tokens), 78);
        std::vector<float> y0(static_cast<size_t>(ldy * tokens), 5.0f), y1 = y0;
        std::vector<uint8_t> scratch;
        matmul(plain, x.data(), tokens, y0.data(), ldy, scratch, pool, *table);
        matmul(packed, x.data(), tokens, y1.data(), ldy, scratch, pool, *table);
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = 0; r < ldy; ++r) {
            const float a = y0[t * ldy + r], b = y1[t * ldy + r];
            if (r >= rows) {
              EXPECT_EQ(b, 5.0f) << "column past the rows was written";
              continue;
            }
            EXPECT_NEAR(a, b, 1e-4f * (1.0f + std::fabs(a)))
                << dtype_name(wt) << " k=" << k << " t=" << t << " r=" << r;
          }
        }
      }
    }
  }
}

// A tensor with a packed copy on a table without a packed gemm (scalar)
// uses its GGUF rows: same bits as without the copy.
TEST(PackedGemm, TablesWithoutPackedGemmReadTheGgufRows) {
  auto scalar = table_for(Isa::scalar);
  ASSERT_TRUE(scalar.ok());
  ASSERT_EQ((*scalar)->q8_0.gemm_packed, nullptr);
  ThreadPool pool(1);
  const int64_t k = 64, rows = 20, tokens = 3;
  const auto w = make_weights(DType::Q8_0, rows, k, 3);
  std::vector<uint8_t> junk(packed_bytes(DType::Q8_0, rows, k), 0x55);
  const int64_t ne[2] = {k, rows};
  Tensor plain = make_tensor("w", DType::Q8_0, 2, ne, const_cast<uint8_t*>(w.data()));
  Tensor tagged = plain;
  tagged.packed = junk.data();
  const auto x = random_floats(static_cast<size_t>(k * tokens), 4);
  std::vector<float> y0(static_cast<size_t>(rows * tokens)), y1(y0.size());
  std::vector<uint8_t> scratch;
  matmul(plain, x.data(), tokens, y0.data(), rows, scratch, pool, **scalar);
  matmul(tagged, x.data(), tokens, y1.data(), rows, scratch, pool, **scalar);
  EXPECT_EQ(std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(float)), 0);
}

// One MatmulInput for several weights (mixed types, packed and not) gives
// the same bits as separate matmul calls, on every table.
TEST(MatmulInputTest, SharedInputEqualsSeparateCalls) {
  ThreadPool pool(2);
  const int64_t k = 96, rows = 40, tokens = 6;
  const auto x = random_floats(static_cast<size_t>(k * tokens), 12);
  for (Isa isa : available_isas()) {
    auto tr = table_for(isa);
    ASSERT_TRUE(tr.ok());
    const KernelTable& table = **tr;
    std::vector<std::vector<uint8_t>> store;
    std::vector<Tensor> ws;
    const int64_t ne[2] = {k, rows};
    for (DType type : {DType::Q8_0, DType::F16, DType::Q4_0, DType::Q8_0}) {
      const auto wf = random_floats(static_cast<size_t>(k * rows), uint32_t(store.size() + 20));
      store.emplace_back(rb(type, k) * rows);
      for (int64_t r = 0; r < rows; ++r) {
        table.for_type(type).from_float(wf.data() + r * k, store.back().data() + r * rb(type, k),
                                        k);
      }
      ws.push_back(make_tensor("w", type, 2, ne, store.back().data()));
      if (packable(type) && table.for_type(type).repack != nullptr && ws.size() > 1) {
        const std::vector<uint8_t> src = store.back();
        store.emplace_back(packed_bytes(type, rows, k));
        table.for_type(type).repack(src.data(), rb(type, k), rows, k, store.back().data());
        ws.back().packed = store.back().data();
      }
    }
    std::vector<uint8_t> shared_scratch;
    MatmulInput in(x.data(), tokens, k, shared_scratch);
    for (const Tensor& w : ws) {
      std::vector<float> y0(static_cast<size_t>(rows * tokens)), y1(y0.size());
      std::vector<uint8_t> scratch;
      matmul(w, x.data(), tokens, y0.data(), rows, scratch, pool, table);
      matmul(w, in, y1.data(), rows, pool, table);
      EXPECT_EQ(std::memcmp(y0.data(), y1.data(), y0.size() * sizeof(float)), 0)
          << isa_name(isa) << " " << dtype_name(w.type) << (w.packed ? " packed" : "");
    }
  }
}

}  // namespace
}  // namespace ef::kernels
