// The AVX2 kernel table: SIMD dot products / gemm for every weight type,
// SIMD activation conversions; weight-side conversions stay scalar (they run
// once per model load).
#include "kernels/ref/ref.h"
#include "kernels/x86/attention_kernels.h"
#include "kernels/x86/avx2_kernels.h"
#include "kernels/x86/x86_tables.h"

namespace ef::kernels::x86 {

void fill_avx2_table(KernelTable& t) {
  ref::fill_scalar_table(t);
  t.isa = Isa::avx2;
  t.f32.vec_dot = avx2::vec_dot_f32;
  t.f32.gemm = avx2::gemm_f32;
  t.f16.from_float = avx2::f32_to_f16_row;
  t.f16.vec_dot = avx2::vec_dot_f16;
  t.f16.gemm = avx2::gemm_f16;
  t.bf16.from_float = avx2::f32_to_bf16_row;
  t.bf16.vec_dot = avx2::vec_dot_bf16;
  t.bf16.gemm = avx2::gemm_bf16;
  t.q8_0.from_float = avx2::quantize_row_q8_0;
  t.f16.from_float_act = avx2::f32_to_f16_row;
  t.bf16.from_float_act = avx2::f32_to_bf16_row;
  t.q8_0.from_float_act = avx2::quantize_row_q8_0_act;
  t.q8_0.from_float_act_info = avx2::quantize_row_q8_0_act_info;
  t.q8_0.vec_dot = avx2::vec_dot_q8_0;
  t.q8_0.gemm = avx2::gemm_q8_0;
  t.q4_0.vec_dot = avx2::vec_dot_q4_0;
  t.q4_0.gemm = avx2::gemm_q4_0;
  // Widening (dequantization) of rows: KV cache tiles, embedding rows.
  t.f16.to_float = avx2::f16_to_f32_row;
  t.bf16.to_float = avx2::bf16_to_f32_row;
  t.q8_0.to_float = avx2::dequantize_row_q8_0;
  t.q4_0.to_float = avx2::dequantize_row_q4_0;
}

}  // namespace ef::kernels::x86
