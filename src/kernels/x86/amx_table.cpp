// The AMX kernel table: the AVX-512 table with q8_0 / q4_0 matmuls on AMX
// int8 tiles and bf16 on AMX-BF16 tiles (amx_bf16.cpp). The int8 results
// follow ref::vec_dot_*_blockfma (an fma per block), not the AVX-512 lane
// order, so vec_dot is that oracle; bf16's vec_dot is the AMX kernel's 1x1
// case. A table is always self-consistent (vec_dot == 1x1 gemm).
// EDGEFORMER_ISA=avx512 selects the AVX-512 table, i.e. disables AMX.
#include "core/cpu_features.h"
#include "kernels/ref/ref.h"
#include "kernels/x86/amx_kernels.h"
#include "kernels/x86/x86_tables.h"

namespace ef::kernels::x86 {

void fill_amx_table(KernelTable& t) {
  fill_avx512_table(t);
  t.isa = Isa::amx;
  t.q8_0.vec_dot = ref::vec_dot_q8_0_q8_0_blockfma;
  t.q8_0.gemm = amx::gemm_q8_0;
  t.q4_0.vec_dot = ref::vec_dot_q4_0_q8_0_blockfma;
  t.q4_0.gemm = amx::gemm_q4_0;
  // Weights repacked at load (the avx512 table's repack) feed the packed
  // AMX gemm; unpacked weights (EDGEFORMER_PACK=0) the GGUF-layout gemm.
  t.q8_0.gemm_packed = amx::gemm_packed_q8_0;
  t.q4_0.gemm_packed = amx::gemm_packed_q4_0;
  // bf16 on tdpbf16ps when the CPU has AMX-BF16 (the table itself needs only
  // AMX-INT8); else the AVX-512 vdpbf16ps kernels stay.
  if (cpu_features().amx_bf16) {
    t.bf16.vec_dot = amx::vec_dot_bf16;
    t.bf16.gemm = amx::gemm_bf16;
  }
}

}  // namespace ef::kernels::x86
