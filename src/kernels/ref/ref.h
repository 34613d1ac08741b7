// Scalar reference kernels: the oracles every ISA version is tested against.
// Formulas and rounding follow ggml (ggml-quants.c: quantize_row_*_ref,
// dequantize_row_*; ggml-cpu: ggml_vec_dot_* generic paths) so quantized
// files and results match llama.cpp's.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace ef::kernels::ref {

// ---- row conversions (n elements) -------------------------------------------
void f32_copy_row(const float* x, void* y, int64_t n);  // F32 "conversion"
void f32_copy_row_back(const void* x, float* y, int64_t n);
void f32_to_f16_row(const float* x, void* y, int64_t n);
void f16_to_f32_row(const void* x, float* y, int64_t n);
void f32_to_bf16_row(const float* x, void* y, int64_t n);
void bf16_to_f32_row(const void* x, float* y, int64_t n);

// ---- block quantization (n multiple of 32) ----------------------------------
// Q8_0: d = max|x| / 127, q = roundf(x / d)  (x * (1/d) exactly as ggml).
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);
// Q8_0 for activations, as ggml-cpu quantizes them on x86 (AVX/AVX2 path,
// also used by AVX-512 builds): d = amax / 127 (stored fp16),
// q = round_half_even(x * (127 / amax)), saturated to int8.
// Differs from quantize_row_q8_0 in the multiplier (127/amax vs 1/d) and in
// ties (2.5 -> 2, not 3). NaN inputs: unspecified.
void quantize_row_q8_0_act(const float* x, void* y, int64_t n);
// quantize_row_q8_0_act and act_block_info (kernels/packed.h) in one pass
// (FromFloatActInfoFn).
void quantize_row_q8_0_act_info(const float* x, void* y, ActBlockInfo* info, int64_t n);
// Round half to even, independent of the FPU rounding mode.
float round_half_even(float v);
// Q4_0: m = the x with the largest |x| (sign kept), d = m / -8,
// q = min(15, (int8)(x / d + 8.5)), byte j = q[j] | q[j+16] << 4.
void quantize_row_q4_0(const float* x, void* y, int64_t n);
void dequantize_row_q4_0(const void* x, float* y, int64_t n);

// ---- dot products: weight row (type) . activation row (vec_dot_type) --------
// Float types: products in float, accumulated in double (ggml_float), as the
// generic ggml path does.
float vec_dot_f32(int64_t k, const void* w, const void* x);
float vec_dot_f16(int64_t k, const void* w, const void* x);
float vec_dot_bf16(int64_t k, const void* w, const void* x);
// Quantized: exact int32 sum per block, then sumf += sumi * (d_w * d_x) in
// float, block by block (q4_0: sumf += sumi * d_w * d_x, ggml's order).
float vec_dot_q8_0_q8_0(int64_t k, const void* w, const void* x);
float vec_dot_q4_0_q8_0(int64_t k, const void* w, const void* x);

// The same dots with one fma per block, in block order:
//   acc = fma(float(sumi_b), d_w * d_x, acc)
// (sumi_b exact; q4_0 sumi_b = sum (q - 8) x). The oracle of kernels that
// compute exact per-block sums on matrix units (AMX), bit-for-bit.
float vec_dot_q8_0_q8_0_blockfma(int64_t k, const void* w, const void* x);
float vec_dot_q4_0_q8_0_blockfma(int64_t k, const void* w, const void* x);

// gemm as a loop over a vec_dot (row-major over rows, then tokens).
void gemm_via_vec_dot(VecDotFn vec_dot, int64_t k, const void* w, size_t w_row_bytes,
                      int64_t row_begin, int64_t row_end, const void* x, size_t x_row_bytes,
                      int64_t n_tokens, float* y, int64_t ldy);

// The scalar table (always available).
void fill_scalar_table(KernelTable& table);

}  // namespace ef::kernels::ref
