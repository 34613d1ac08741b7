// Every kernel table this machine supports vs the scalar table: conversions,
// vec_dot and matmul on odd shapes, plus matmul determinism across thread
// counts and ISA selection.
//
// Tolerances (why results may differ at all):
//  - Integer paths (q8_0, q4_0): each block's int32 sum is exact in every
//    ISA; only the float accumulation of the nb = k/32 scaled block sums
//    differs in order (and fma vs mul+add). Bound used:
//      |a - b| <= (nb + 4) * 2^-23 * S,  S = sum_i |w_i * x_i| (dequantized).
//  - Float paths (f32, f16, bf16): the reference sums products in double,
//    SIMD sums in float lanes of >= 4 partial sums each; recursive summation
//    error <= (k/4 + 32) * 2^-24 * S relative to the same S.
//  - Activation quantization (q8_0 from_float) must be byte-identical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
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

constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};

size_t row_bytes(DType t, int64_t k) { return *row_size_bytes(t, static_cast<uint64_t>(k)); }

// n rows of k floats converted to `type` with the scalar table.
std::vector<uint8_t> encode(DType type, const std::vector<float>& x, int64_t k) {
  const int64_t n = static_cast<int64_t>(x.size()) / k;
  std::vector<uint8_t> out(row_bytes(type, k) * static_cast<size_t>(n));
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  for (int64_t r = 0; r < n; ++r) {
    scalar.for_type(type).from_float(x.data() + r * k, out.data() + r * row_bytes(type, k), k);
  }
  return out;
}

// sum_i |w_i x_i| over the values the kernels actually see.
double abs_dot(DType wt, DType xt, const uint8_t* w, const uint8_t* x, int64_t k) {
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  std::vector<float> wf(k), xf(k);
  scalar.for_type(wt).to_float(w, wf.data(), k);
  scalar.for_type(xt).to_float(x, xf.data(), k);
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += std::fabs(double(wf[i]) * xf[i]);
  return s;
}

double tolerance(DType wt, int64_t k, double sabs) {
  if (wt == DType::Q8_0 || wt == DType::Q4_0) return (k / 32.0 + 4) * 0x1p-23 * sabs + 1e-30;
  return (k / 4.0 + 32) * 0x1p-24 * sabs + 1e-30;
}

std::vector<const KernelTable*> tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : available_isas()) {
    auto t = table_for(isa);
    EXPECT_TRUE(t.ok()) << isa_name(isa);
    if (t.ok()) out.push_back(*t);
  }
  return out;
}

TEST(KernelsDispatch, ScalarAlwaysAvailableAndTablesComplete) {
  const auto isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::scalar);
  EXPECT_EQ(best_isa(), isas.back());
  std::string names;
  for (Isa isa : isas) {
    names += std::string(isa_name(isa)) + " ";
    auto t = table_for(isa);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ((*t)->isa, isa) << "table filled under the wrong ISA label";
  }
  std::printf("available ISAs: %s\n", names.c_str());
  for (const KernelTable* t : tables()) {
    for (DType type : kTypes) {
      const TypeKernels& k = t->for_type(type);
      EXPECT_NE(k.from_float, nullptr) << isa_name(t->isa) << " " << dtype_name(type);
      EXPECT_NE(k.from_float_act, nullptr) << isa_name(t->isa) << " " << dtype_name(type);
      EXPECT_NE(k.to_float, nullptr);
      EXPECT_NE(k.vec_dot, nullptr);
      EXPECT_NE(t->for_type(k.vec_dot_type).from_float, nullptr);
    }
    EXPECT_EQ(t->q4_0.vec_dot_type, DType::Q8_0);
    EXPECT_EQ(t->q8_0.vec_dot_type, DType::Q8_0);
    EXPECT_EQ(t->f16.vec_dot_type, DType::F16);
    EXPECT_EQ(t->bf16.vec_dot_type, DType::BF16);
    EXPECT_EQ(t->f32.vec_dot_type, DType::F32);
  }
}

TEST(KernelsDispatch, ParseAndResolveIsa) {
  EXPECT_EQ(parse_isa("scalar").value(), Isa::scalar);
  EXPECT_EQ(parse_isa("avx2").value(), Isa::avx2);
  EXPECT_EQ(parse_isa("avx512").value(), Isa::avx512);
  EXPECT_EQ(parse_isa("neon").value(), Isa::neon);
  EXPECT_EQ(parse_isa("neon_dotprod").value(), Isa::neon_dotprod);
  EXPECT_FALSE(parse_isa("avx9000").ok());
  EXPECT_FALSE(parse_isa("").ok());
  EXPECT_EQ(parse_isa("sse").error().code, Errc::invalid_argument);

  std::string warning;
  EXPECT_EQ(resolve_isa_request(nullptr, &warning), best_isa());
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(resolve_isa_request("scalar", &warning), Isa::scalar);
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(resolve_isa_request("bogus", &warning), best_isa());
  EXPECT_NE(warning.find("bogus"), std::string::npos);
  // An ISA this build/CPU cannot run falls back with a warning.
  for (Isa isa : {Isa::avx2, Isa::avx512, Isa::neon, Isa::neon_dotprod, Isa::amx}) {
    warning.clear();
    const Isa got = resolve_isa_request(isa_name(isa), &warning);
    if (isa_supported(isa)) {
      EXPECT_EQ(got, isa);
      EXPECT_TRUE(warning.empty());
      EXPECT_TRUE(table_for(isa).ok());
    } else {
      EXPECT_EQ(got, best_isa());
      EXPECT_FALSE(warning.empty());
      EXPECT_FALSE(table_for(isa).ok());
      EXPECT_FALSE(select_isa(isa).ok());
    }
  }
}

TEST(KernelsDispatch, SelectIsaSwitchesActive) {
  const Isa before = active().isa;
  ASSERT_TRUE(select_isa(Isa::scalar).ok());
  EXPECT_EQ(active().isa, Isa::scalar);
  ASSERT_TRUE(select_isa(before).ok());
  EXPECT_EQ(active().isa, before);
}

TEST(KernelsIsa, ActivationConversionsMatchScalar) {
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  for (const KernelTable* t : tables()) {
    for (int64_t k : {32, 64, 96, 4096}) {
      auto x = random_floats(k, 100 + k);
      x[3] = 0.0f;
      // Block 1 (or 0 when k = 32) holds exact .5 ties after scaling
      // (amax 127 -> d = 1): roundf must send them away from zero.
      const int64_t tb = k > 32 ? 32 : 0;
      for (int j = 0; j < 32; ++j) x[tb + j] = static_cast<float>(j % 11) - 5.5f;
      x[tb + 7] = -127.0f;
      if (k >= 96) std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
      for (DType type : kTypes) {
        std::vector<uint8_t> a(row_bytes(type, k)), b(row_bytes(type, k));
        scalar.for_type(type).from_float(x.data(), a.data(), k);
        t->for_type(type).from_float(x.data(), b.data(), k);
        EXPECT_EQ(a, b) << isa_name(t->isa) << " " << dtype_name(type) << " k=" << k;
        if (type != DType::Q4_0) {  // activation conversions (q4_0 is never a vec_dot_type)
          std::vector<uint8_t> aa(row_bytes(type, k)), ab(row_bytes(type, k));
          scalar.for_type(type).from_float_act(x.data(), aa.data(), k);
          t->for_type(type).from_float_act(x.data(), ab.data(), k);
          EXPECT_EQ(aa, ab) << "act " << isa_name(t->isa) << " " << dtype_name(type) << " k=" << k;
        }
        std::vector<float> fa(k), fb(k);
        scalar.for_type(type).to_float(a.data(), fa.data(), k);
        t->for_type(type).to_float(a.data(), fb.data(), k);
        EXPECT_EQ(0, std::memcmp(fa.data(), fb.data(), k * sizeof(float)))
            << isa_name(t->isa) << " " << dtype_name(type);
      }
    }
  }
}

TEST(KernelsIsa, VecDotMatchesScalar) {
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  for (const KernelTable* t : tables()) {
    for (DType wt : kTypes) {
      const DType xt = t->for_type(wt).vec_dot_type;
      const bool quant = wt == DType::Q8_0 || wt == DType::Q4_0;
      std::vector<int64_t> ks = {32, 64, 96, 4096};
      if (!quant) ks.insert(ks.end(), {1, 7, 17, 100});  // float tails
      for (int64_t k : ks) {
        const auto w = encode(wt, random_floats(k, 200 + k), k);
        const auto x = encode(xt, random_floats(k, 300 + k), k);
        const float want = scalar.for_type(wt).vec_dot(k, w.data(), x.data());
        const float got = t->for_type(wt).vec_dot(k, w.data(), x.data());
        const double tol = tolerance(wt, k, abs_dot(wt, xt, w.data(), x.data(), k));
        EXPECT_NEAR(got, want, tol) << isa_name(t->isa) << " " << dtype_name(wt) << " k=" << k;
      }
    }
  }
}

// Pools live for the whole test binary (thread start-up is not under test).
ThreadPool& pool_of(int threads) {
  static ThreadPool p1(1), p2(2), p3(3);
  return threads == 1 ? p1 : threads == 2 ? p2 : p3;
}

// Rows of `type` back to float (scalar table).
std::vector<float> decode(DType type, const std::vector<uint8_t>& data, int64_t k) {
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  const size_t rb = row_bytes(type, k);
  const size_t n = data.size() / rb;
  std::vector<float> out(n * static_cast<size_t>(k));
  for (size_t r = 0; r < n; ++r)
    scalar.for_type(type).to_float(data.data() + r * rb, out.data() + r * k, k);
  return out;
}

struct MatmulCase {
  DType type;
  int64_t k, rows, tokens;
};

// Runs matmul with `table` on a fresh random problem; returns y (tokens x rows).
std::vector<float> run_matmul(const KernelTable& table, const MatmulCase& c,
                              const std::vector<uint8_t>& wdata, const std::vector<float>& x,
                              int threads) {
  const int64_t ne[2] = {c.k, c.rows};
  Tensor w = make_tensor("w", c.type, 2, ne, const_cast<uint8_t*>(wdata.data()));
  std::vector<float> y(static_cast<size_t>(c.tokens * c.rows), -1.0f);
  std::vector<uint8_t> scratch;
  matmul(w, x.data(), c.tokens, y.data(), c.rows, scratch, pool_of(threads), table);
  return y;
}

TEST(KernelsIsa, MatmulMatchesScalarOnOddShapes) {
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  for (DType wt : kTypes) {
    for (int64_t k : {32, 64, 96, 4096}) {
      for (int64_t rows : {1, 3, 17, 33}) {
        for (int64_t tokens : {1, 2, 5, 17}) {
          if (k == 4096 && rows * tokens > 17 * 5) continue;  // keep the scalar oracle quick
          const MatmulCase c{wt, k, rows, tokens};
          const auto wdata = encode(wt, random_floats(k * rows, uint32_t(k + rows)), k);
          const auto x = random_floats(k * tokens, uint32_t(7 * k + tokens));
          const auto want = run_matmul(scalar, c, wdata, x, 1);
          // Scalar matmul = scalar vec_dot on the converted activation, element by element.
          const DType xt = scalar.for_type(wt).vec_dot_type;
          const auto xq = encode(xt, x, k);
          for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              const float e = scalar.for_type(wt).vec_dot(k, wdata.data() + r * row_bytes(wt, k),
                                                          xq.data() + t * row_bytes(xt, k));
              ASSERT_EQ(want[t * rows + r], e) << dtype_name(wt);
            }
          }
          const auto wf = decode(wt, wdata, k);
          const auto xf = decode(xt, xq, k);
          for (const KernelTable* tab : tables()) {
            const auto got = run_matmul(*tab, c, wdata, x, 2);
            for (int64_t t = 0; t < tokens; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                double sabs = 0;
                for (int64_t i = 0; i < k; ++i)
                  sabs += std::fabs(double(wf[r * k + i]) * xf[t * k + i]);
                ASSERT_NEAR(got[t * rows + r], want[t * rows + r], tolerance(wt, k, sabs))
                    << isa_name(tab->isa) << " " << dtype_name(wt) << " k=" << k << " rows=" << rows
                    << " tokens=" << tokens << " at t=" << t << " r=" << r;
              }
            }
          }
        }
      }
    }
  }
}

TEST(KernelsIsa, MatmulBitIdenticalAcrossThreadCounts) {
  for (const KernelTable* tab : tables()) {
    for (DType wt : kTypes) {
      // 300 rows: several row chunks, not a multiple of the chunk size;
      // 70 tokens: two token chunks.
      for (int64_t tokens : {1, 70}) {
        const MatmulCase c{wt, 96, 300, tokens};
        const auto wdata = encode(wt, random_floats(c.k * c.rows, 5), c.k);
        const auto x = random_floats(c.k * tokens, 6);
        const auto y1 = run_matmul(*tab, c, wdata, x, 1);
        const auto y2 = run_matmul(*tab, c, wdata, x, 2);
        const auto y3 = run_matmul(*tab, c, wdata, x, 3);
        EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)))
            << isa_name(tab->isa) << " " << dtype_name(wt);
        EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)));
        for (float v : y1) ASSERT_NE(v, -1.0f);  // every element written
      }
    }
  }
}

TEST(KernelsIsa, MatmulRespectsLdy) {
  // y rows wider than n_rows: the gap must stay untouched.
  for (const KernelTable* tab : tables()) {
    const int64_t k = 64, rows = 5, tokens = 3, ldy = 8;
    const auto wdata = encode(DType::Q8_0, random_floats(k * rows, 9), k);
    const auto x = random_floats(k * tokens, 10);
    const int64_t ne[2] = {k, rows};
    Tensor w = make_tensor("w", DType::Q8_0, 2, ne, const_cast<uint8_t*>(wdata.data()));
    std::vector<float> y(tokens * ldy, 123.0f);
    std::vector<uint8_t> scratch;
    matmul(w, x.data(), tokens, y.data(), ldy, scratch, pool_of(2), *tab);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = rows; r < ldy; ++r) EXPECT_EQ(y[t * ldy + r], 123.0f);
      for (int64_t r = 0; r < rows; ++r) EXPECT_NE(y[t * ldy + r], 123.0f);
    }
  }
}

// Design property of every table here (see x86/gemm_tiled.h): an output
// element's bits do not depend on the tiling or on how many tokens are in
// the batch, so decoding token by token reproduces a batched prefill.
TEST(KernelsIsa, MatmulElementsIndependentOfBatch) {
  for (const KernelTable* tab : tables()) {
    for (DType wt : kTypes) {
      const MatmulCase batch{wt, 96, 37, 9};
      const auto wdata = encode(wt, random_floats(batch.k * batch.rows, 21), batch.k);
      const auto x = random_floats(batch.k * batch.tokens, 22);
      const auto yb = run_matmul(*tab, batch, wdata, x, 2);
      for (int64_t t = 0; t < batch.tokens; ++t) {
        const std::vector<float> xt(x.begin() + t * batch.k, x.begin() + (t + 1) * batch.k);
        const auto y1 = run_matmul(*tab, {wt, batch.k, batch.rows, 1}, wdata, xt, 1);
        EXPECT_EQ(0, std::memcmp(y1.data(), yb.data() + t * batch.rows, y1.size() * sizeof(float)))
            << isa_name(tab->isa) << " " << dtype_name(wt) << " token " << t;
      }
    }
  }
}

TEST(KernelsIsa, ValidateMatmulWeight) {
  std::vector<uint8_t> buf(4096);
  const int64_t ok_ne[2] = {64, 4};
  EXPECT_TRUE(validate_matmul_weight(make_tensor("w", DType::Q4_0, 2, ok_ne, buf.data())).ok());
  EXPECT_TRUE(validate_matmul_weight(make_tensor("w", DType::F32, 2, ok_ne, buf.data())).ok());
  // f16 rows of 33 are fine for f16 but the activation type is f16 too: ok.
  const int64_t odd_ne[2] = {33, 4};
  EXPECT_TRUE(validate_matmul_weight(make_tensor("w", DType::F16, 2, odd_ne, buf.data())).ok());
  // q8_0 rows must be whole 32-element blocks.
  Tensor bad;
  bad.name = "blk.0.attn_q.weight";
  bad.type = DType::Q8_0;
  bad.n_dims = 2;
  bad.ne[0] = 33;
  bad.ne[1] = 4;
  bad.nb[1] = 40;
  bad.data = buf.data();
  const Status st = validate_matmul_weight(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().where.find("attn_q"), std::string::npos);
  // matmul on it returns without touching y.
  std::vector<float> x(33, 1.0f), y(4, 7.0f);
  std::vector<uint8_t> scratch;
  matmul(bad, x.data(), 1, y.data(), 4, scratch, pool_of(1), active());
  for (float v : y) EXPECT_EQ(v, 7.0f);
}

}  // namespace
}  // namespace ef::kernels
