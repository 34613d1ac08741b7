// ARM-only checks (compiled on AArch64 builds): the NEON integer paths equal
// the scalar oracles bit for bit (not just within the float tolerance of
// kernels_test.cpp), with and without SDOT, on odd shapes and extreme int8
// values; and the dotprod table exists exactly when the CPU has dotprod.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_test_util.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

using test_util::rb;

std::vector<const KernelTable*> neon_tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : {Isa::neon, Isa::neon_dotprod}) {
    if (auto t = table_for(isa); t.ok()) out.push_back(*t);
  }
  return out;
}

// Random blocks with raw int8 quants (including -128, which only files or
// saturated activations contain) and random fp16 scales of either sign.
std::vector<uint8_t> random_q8_rows(int64_t k, int64_t rows, std::mt19937& rng) {
  std::vector<uint8_t> out(rb(DType::Q8_0, k) * rows);
  auto* blocks = reinterpret_cast<BlockQ8_0*>(out.data());
  std::uniform_int_distribution<int> q(-128, 127);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (int64_t b = 0; b < k / 32 * rows; ++b) {
    blocks[b].d = fp32_to_fp16(d(rng));
    for (auto& v : blocks[b].qs) v = static_cast<int8_t>(q(rng));
  }
  // One block of all extremes: every product is (-128) * x.
  std::fill(std::begin(blocks[0].qs), std::end(blocks[0].qs), int8_t{-128});
  return out;
}

std::vector<uint8_t> random_q4_rows(int64_t k, int64_t rows, std::mt19937& rng) {
  std::vector<uint8_t> out(rb(DType::Q4_0, k) * rows);
  auto* blocks = reinterpret_cast<BlockQ4_0*>(out.data());
  std::uniform_int_distribution<int> q(0, 255);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (int64_t b = 0; b < k / 32 * rows; ++b) {
    blocks[b].d = fp32_to_fp16(d(rng));
    for (auto& v : blocks[b].qs) v = static_cast<uint8_t>(q(rng));
  }
  std::fill(std::begin(blocks[0].qs), std::end(blocks[0].qs), uint8_t{0});  // all -8
  return out;
}

TEST(NeonKernels, DotprodTableExactlyWhenCpuHasDotprod) {
  const auto isas = available_isas();
  auto has = [&](Isa isa) { return std::find(isas.begin(), isas.end(), isa) != isas.end(); };
  EXPECT_TRUE(has(Isa::neon));
  EXPECT_EQ(has(Isa::neon_dotprod), cpu_features().dotprod);
  if (const char* expect = std::getenv("EF_EXPECT_DOTPROD"); expect != nullptr) {
    EXPECT_EQ(has(Isa::neon_dotprod), std::string(expect) == "1");
    EXPECT_EQ(best_isa(), std::string(expect) == "1" ? Isa::neon_dotprod : Isa::neon);
  }
}

TEST(NeonKernels, IntegerVecDotEqualsScalarOracleBitwise) {
  const auto tables = neon_tables();
  ASSERT_FALSE(tables.empty());
  std::mt19937 rng(42);
  for (const KernelTable* t : tables) {
    for (int64_t k : {32, 64, 160, 1024}) {
      const auto x = random_q8_rows(k, 1, rng);
      const auto w8 = random_q8_rows(k, 1, rng);
      const auto w4 = random_q4_rows(k, 1, rng);
      const float want8 = ref::vec_dot_q8_0_q8_0(k, w8.data(), x.data());
      const float want4 = ref::vec_dot_q4_0_q8_0(k, w4.data(), x.data());
      const float got8 = t->q8_0.vec_dot(k, w8.data(), x.data());
      const float got4 = t->q4_0.vec_dot(k, w4.data(), x.data());
      EXPECT_EQ(f32_bits(got8), f32_bits(want8)) << isa_name(t->isa) << " q8_0 k=" << k;
      EXPECT_EQ(f32_bits(got4), f32_bits(want4)) << isa_name(t->isa) << " q4_0 k=" << k;
    }
  }
}

// Every tile shape of the gemm (1..4 rows x 1..4 tokens plus remainders),
// through matmul (activations quantized by the table) at 1 and 2 threads.
TEST(NeonKernels, IntegerMatmulEqualsScalarOracleBitwise) {
  const auto tables = neon_tables();
  ASSERT_FALSE(tables.empty());
  ThreadPool pool1(1), pool2(2);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (DType wt : {DType::Q8_0, DType::Q4_0}) {
    const VecDotFn oracle = wt == DType::Q8_0 ? ref::vec_dot_q8_0_q8_0 : ref::vec_dot_q4_0_q8_0;
    for (int64_t k : {32, 96}) {
      for (int64_t rows : {1, 2, 3, 4, 5, 9, 19}) {
        for (int64_t tokens : {1, 2, 3, 4, 5, 11}) {
          const auto w =
              wt == DType::Q8_0 ? random_q8_rows(k, rows, rng) : random_q4_rows(k, rows, rng);
          std::vector<float> x(static_cast<size_t>(k * tokens));
          for (auto& v : x) v = normal(rng);
          std::vector<uint8_t> xq(rb(DType::Q8_0, k) * tokens);
          for (int64_t t = 0; t < tokens; ++t) {
            ref::quantize_row_q8_0_act(x.data() + t * k, xq.data() + t * rb(DType::Q8_0, k), k);
          }
          const int64_t ne[2] = {k, rows};
          const Tensor wten = make_tensor("w", wt, 2, ne, const_cast<uint8_t*>(w.data()));
          for (const KernelTable* tab : tables) {
            for (ThreadPool* pool : {&pool1, &pool2}) {
              std::vector<float> y(static_cast<size_t>(rows * tokens), -1.0f);
              std::vector<uint8_t> scratch;
              matmul(wten, x.data(), tokens, y.data(), rows, scratch, *pool, *tab);
              for (int64_t t = 0; t < tokens; ++t) {
                for (int64_t r = 0; r < rows; ++r) {
                  const float want =
                      oracle(k, w.data() + r * rb(wt, k), xq.data() + t * rb(DType::Q8_0, k));
                  ASSERT_EQ(f32_bits(y[t * rows + r]), f32_bits(want))
                      << isa_name(tab->isa) << " " << dtype_name(wt) << " k=" << k
                      << " rows=" << rows << " tokens=" << tokens << " at t=" << t << " r=" << r;
                }
              }
            }
          }
        }
      }
    }
  }
}

// Special float values through the conversions (kernels_test.cpp covers
// random values): subnormals, overflow, rounding ties, infinities, NaN.
TEST(NeonKernels, ConversionsOfSpecialValuesMatchScalar) {
  const auto tables = neon_tables();
  ASSERT_FALSE(tables.empty());
  std::vector<float> x = {0.0f,           -0.0f,          1e-8f,  -3e-6f,  6.1e-5f,
                          65504.0f,       65520.0f,       1e6f,   -1e6f,   1.0009765625f + 0x1p-11f,
                          1.0f + 0x1p-8f, 3.0f + 0x1p-7f, 1e-40f, -1e-39f, 1e38f,
                          3.4e38f};
  x.push_back(bits_f32(0x7f800000u));  // +inf
  x.push_back(bits_f32(0xff800000u));  // -inf
  x.push_back(bits_f32(0x7fc00001u));  // quiet NaN with payload
  x.push_back(bits_f32(0xffa12345u));  // signalling NaN
  const int64_t n = static_cast<int64_t>(x.size());
  KernelTable scalar;
  ref::fill_scalar_table(scalar);
  for (const KernelTable* t : tables) {
    for (DType type : {DType::F16, DType::BF16}) {
      std::vector<uint16_t> a(n), b(n);
      scalar.for_type(type).from_float(x.data(), a.data(), n);
      t->for_type(type).from_float(x.data(), b.data(), n);
      EXPECT_EQ(a, b) << isa_name(t->isa) << " " << dtype_name(type);
      std::vector<float> fa(n), fb(n);
      scalar.for_type(type).to_float(a.data(), fa.data(), n);
      t->for_type(type).to_float(a.data(), fb.data(), n);
      EXPECT_EQ(0, std::memcmp(fa.data(), fb.data(), n * sizeof(float))) << dtype_name(type);
    }
  }
}

}  // namespace
}  // namespace ef::kernels
