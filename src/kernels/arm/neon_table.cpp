// The NEON kernel tables: SIMD dot products / gemm for every weight type and
// SIMD row conversions; q8_0/q4_0 weight dequantization and q4_0
// quantization stay scalar (they run once per model load).
#include "kernels/arm/arm_tables.h"
#include "kernels/arm/neon_kernels.h"
#include "kernels/ref/ref.h"

namespace ef::kernels::arm {

void fill_neon_table(KernelTable& t) {
  ref::fill_scalar_table(t);
  t.isa = Isa::neon;
  t.f32.vec_dot = neon::vec_dot_f32;
  t.f32.gemm = neon::gemm_f32;
  t.f16.from_float = neon::f32_to_f16_row;
  t.f16.from_float_act = neon::f32_to_f16_row;
  t.f16.to_float = neon::f16_to_f32_row;
  t.f16.vec_dot = neon::vec_dot_f16;
  t.f16.gemm = neon::gemm_f16;
  t.bf16.from_float = neon::f32_to_bf16_row;
  t.bf16.from_float_act = neon::f32_to_bf16_row;
  t.bf16.to_float = neon::bf16_to_f32_row;
  t.bf16.vec_dot = neon::vec_dot_bf16;
  t.bf16.gemm = neon::gemm_bf16;
  t.q8_0.from_float = neon::quantize_row_q8_0;
  t.q8_0.from_float_act = neon::quantize_row_q8_0_act;
  t.q8_0.from_float_act_info = neon::quantize_row_q8_0_act_info;
  t.q8_0.vec_dot = neon::vec_dot_q8_0;
  t.q8_0.gemm = neon::gemm_q8_0;
  t.q4_0.vec_dot = neon::vec_dot_q4_0;
  t.q4_0.gemm = neon::gemm_q4_0;
}

void fill_neon_dotprod_table(KernelTable& t) {
  fill_neon_table(t);
  t.isa = Isa::neon_dotprod;
  t.q8_0.vec_dot = dotprod::vec_dot_q8_0;
  t.q8_0.gemm = dotprod::gemm_q8_0;
  t.q4_0.vec_dot = dotprod::vec_dot_q4_0;
  t.q4_0.gemm = dotprod::gemm_q4_0;
}

}  // namespace ef::kernels::arm
