// The AMX kernel table: the AVX-512 table with q8_0 / q4_0 matmuls on AMX
// int8 tiles. Their per-element results follow ref::vec_dot_*_blockfma (an
// fma per block), not the AVX-512 lane order, so vec_dot is that oracle: a
// table is always self-consistent (vec_dot == 1x1 gemm).
// EDGEFORMER_ISA=avx512 selects the AVX-512 table, i.e. disables AMX.
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
  // The AMX gemms read the GGUF layout (and pack per call): no load-time
  // repacking on this table.
  t.q8_0.repack = nullptr;
  t.q8_0.gemm_packed = nullptr;
  t.q4_0.repack = nullptr;
  t.q4_0.gemm_packed = nullptr;
}

}  // namespace ef::kernels::x86
