// The AVX-512 kernel table: VNNI integer dots, vdpbf16ps for bf16, 16-lane
// fma for f32/f16; f16 activation conversions reuse the AVX2 ones
// (this table requires AVX2 too).
#include "kernels/packed.h"
#include "kernels/x86/avx2_kernels.h"
#include "kernels/x86/avx512_kernels.h"
#include "kernels/x86/x86_tables.h"

namespace ef::kernels::x86 {

void fill_avx512_table(KernelTable& t) {
  fill_avx2_table(t);
  t.isa = Isa::avx512;
  t.f32.vec_dot = avx512::vec_dot_f32;
  t.f32.gemm = avx512::gemm_f32;
  t.f16.vec_dot = avx512::vec_dot_f16;
  t.f16.gemm = avx512::gemm_f16;
  t.bf16.vec_dot = avx512::vec_dot_bf16;
  t.bf16.gemm = avx512::gemm_bf16;
  t.bf16.from_float = avx512::f32_to_bf16_row;
  t.bf16.from_float_act = avx512::f32_to_bf16_row;
  t.q8_0.from_float = avx512::quantize_row_q8_0;
  t.q8_0.from_float_act = avx512::quantize_row_q8_0_act;
  t.q8_0.from_float_act_info = avx512::quantize_row_q8_0_act_info;
  t.q8_0.vec_dot = avx512::vec_dot_q8_0;
  t.q8_0.gemm = avx512::gemm_q8_0;
  t.q4_0.vec_dot = avx512::vec_dot_q4_0;
  t.q4_0.gemm = avx512::gemm_q4_0;
  // Packed (16-row interleaved) weights: repacked at model load.
  t.q8_0.repack = repack_q8_0;
  t.q8_0.gemm_packed = avx512::gemm_packed_q8_0;
  t.q4_0.repack = repack_q4_0;
  t.q4_0.gemm_packed = avx512::gemm_packed_q4_0;
}

}  // namespace ef::kernels::x86
