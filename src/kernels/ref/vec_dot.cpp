// Scalar dot products (the oracles) and the scalar kernel table.
#include <cmath>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/ref/ref.h"

namespace ef::kernels::ref {

float vec_dot_f32(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

float vec_dot_f16(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    sum += static_cast<double>(fp16_to_fp32(a[i]) * fp16_to_fp32(b[i]));
  }
  return static_cast<float>(sum);
}

float vec_dot_bf16(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const uint16_t*>(x);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    sum += static_cast<double>(bf16_to_fp32(a[i]) * bf16_to_fp32(b[i]));
  }
  return static_cast<float>(sum);
}

float vec_dot_q8_0_q8_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = k / kQK8_0;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += a[i].qs[j] * b[i].qs[j];
    sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d));
  }
  return sum;
}

float vec_dot_q4_0_q8_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  const int64_t nb = k / kQK8_0;
  constexpr int kHalf = kQK4_0 / 2;
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kHalf; ++j) {
      const int lo = (a[i].qs[j] & 0x0f) - 8;
      const int hi = (a[i].qs[j] >> 4) - 8;
      sumi += lo * b[i].qs[j] + hi * b[i].qs[j + kHalf];
    }
    sum += static_cast<float>(sumi) * fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d);
  }
  return sum;
}

float vec_dot_q8_0_q8_0_blockfma(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float acc = 0.0f;
  for (int64_t i = 0; i < k / kQK8_0; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += a[i].qs[j] * b[i].qs[j];
    acc = std::fma(static_cast<float>(sumi), fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), acc);
  }
  return acc;
}

float vec_dot_q4_0_q8_0_blockfma(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  constexpr int kHalf = kQK4_0 / 2;
  float acc = 0.0f;
  for (int64_t i = 0; i < k / kQK8_0; ++i) {
    int32_t sumi = 0;
    for (int j = 0; j < kHalf; ++j) {
      sumi += ((a[i].qs[j] & 0x0f) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + kHalf];
    }
    acc = std::fma(static_cast<float>(sumi), fp16_to_fp32(a[i].d) * fp16_to_fp32(b[i].d), acc);
  }
  return acc;
}

void gemm_via_vec_dot(VecDotFn vec_dot, int64_t k, const void* w, size_t w_row_bytes,
                      int64_t row_begin, int64_t row_end, const void* x, size_t x_row_bytes,
                      int64_t n_tokens, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* wr = wb + static_cast<size_t>(r) * w_row_bytes;
    for (int64_t t = 0; t < n_tokens; ++t) {
      y[t * ldy + r] = vec_dot(k, wr, xb + static_cast<size_t>(t) * x_row_bytes);
    }
  }
}

namespace {
template <VecDotFn F>
void gemm_generic(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin,
                  int64_t row_end, const void* x, size_t x_row_bytes, int64_t n_tokens, float* y,
                  int64_t ldy) {
  gemm_via_vec_dot(F, k, w, w_row_bytes, row_begin, row_end, x, x_row_bytes, n_tokens, y, ldy);
}
}  // namespace

void fill_scalar_table(KernelTable& t) {
  t.isa = Isa::scalar;
  t.f32 = {DType::F32, f32_copy_row, f32_copy_row_back, vec_dot_f32, gemm_generic<vec_dot_f32>};
  t.f16 = {DType::F16, f32_to_f16_row, f16_to_f32_row, vec_dot_f16, gemm_generic<vec_dot_f16>};
  t.bf16 = {DType::BF16, f32_to_bf16_row, bf16_to_f32_row, vec_dot_bf16,
            gemm_generic<vec_dot_bf16>};
  t.q8_0 = {DType::Q8_0, quantize_row_q8_0, dequantize_row_q8_0, vec_dot_q8_0_q8_0,
            gemm_generic<vec_dot_q8_0_q8_0>};
  t.q4_0 = {DType::Q8_0, quantize_row_q4_0, dequantize_row_q4_0, vec_dot_q4_0_q8_0,
            gemm_generic<vec_dot_q4_0_q8_0>};
  // Activations: ggml-cpu's x86 conversions. F16: vcvtps2ph, round to
  // nearest even = fp32_to_fp16; BF16: scalar ggml_compute_fp32_to_bf16 =
  // fp32_to_bf16 (no subnormal flush); Q8_0: the x86 quantizer (see ref.h).
  t.f32.from_float_act = f32_copy_row;
  t.f16.from_float_act = f32_to_f16_row;
  t.bf16.from_float_act = f32_to_bf16_row;
  t.q8_0.from_float_act = quantize_row_q8_0_act;
  t.q8_0.from_float_act_info = quantize_row_q8_0_act_info;
  t.q4_0.from_float_act = quantize_row_q4_0;  // never used: q4_0 is not a vec_dot_type
}

}  // namespace ef::kernels::ref
