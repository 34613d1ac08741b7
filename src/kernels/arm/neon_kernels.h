// NEON kernels (AArch64 Advanced SIMD, baseline on every ARMv8-A CPU) and the
// dot-product variants (SDOT, ARMv8.2-A dotprod extension; call only when
// cpu_features().dotprod). Defined in neon_*.cpp / neon_dotprod_*.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels {
struct ActBlockInfo;
}

namespace ef::kernels::arm {

namespace neon {

float vec_dot_f32(int64_t k, const void* w, const void* x);
float vec_dot_f16(int64_t k, const void* w, const void* x);
float vec_dot_bf16(int64_t k, const void* w, const void* x);
// Integer paths (vmull_s8 + vpadalq_s16): bit-identical to
// ref::vec_dot_q8_0_q8_0 / ref::vec_dot_q4_0_q8_0.
float vec_dot_q8_0(int64_t k, const void* w, const void* x);
float vec_dot_q4_0(int64_t k, const void* w, const void* x);

void gemm_f32(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
              const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_f16(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
              const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_bf16(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_q8_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_q4_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);

// Conversions, bit-identical to the scalar references (finite inputs for q8_0).
void f32_to_f16_row(const float* x, void* y, int64_t n);
void f16_to_f32_row(const void* x, float* y, int64_t n);
void f32_to_bf16_row(const float* x, void* y, int64_t n);
void bf16_to_f32_row(const void* x, float* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_0_act(const float* x, void* y, int64_t n);
// The same + ActBlockInfo in one pass (FromFloatActInfoFn).
void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n);

}  // namespace neon

namespace dotprod {

// Same results as the neon:: versions (exact integer block sums, same float
// steps), with SDOT doing 4 multiply-adds per 32-bit lane.
float vec_dot_q8_0(int64_t k, const void* w, const void* x);
float vec_dot_q4_0(int64_t k, const void* w, const void* x);
void gemm_q8_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_q4_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);

}  // namespace dotprod

}  // namespace ef::kernels::arm
