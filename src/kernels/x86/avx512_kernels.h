// AVX-512 F/BW/VL/DQ + VNNI + BF16 kernels (defined in avx512_*.cpp, compiled
// with those flags). Call only when cpu_features() reports all of them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels {
struct ActBlockInfo;
}

namespace ef::kernels::x86::avx512 {

float vec_dot_f32(int64_t k, const void* w, const void* x);
float vec_dot_f16(int64_t k, const void* w, const void* x);
float vec_dot_bf16(int64_t k, const void* w, const void* x);
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

// Packed weights (kernels/packed.h): PackedGemmFn, = ref::vec_dot_*_blockfma.
void gemm_packed_q8_0(int64_t k, const void* packed, int64_t row_begin, int64_t row_end,
                      const void* x, size_t x_row_bytes, const ActBlockInfo* x_info,
                      int64_t n_tokens, float* y, int64_t ldy);
void gemm_packed_q4_0(int64_t k, const void* packed, int64_t row_begin, int64_t row_end,
                      const void* x, size_t x_row_bytes, const ActBlockInfo* x_info,
                      int64_t n_tokens, float* y, int64_t ldy);

// Activation conversions, bit-identical to the scalar references.
void f32_to_bf16_row(const float* x, void* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
// Activation quantizer (ggml-cpu x86 semantics), = ref::quantize_row_q8_0_act.
void quantize_row_q8_0_act(const float* x, void* y, int64_t n);
// The same + ActBlockInfo in one pass (FromFloatActInfoFn).
void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n);

}  // namespace ef::kernels::x86::avx512
