// The row-op sets, one per ISA, built on first use (thread-safe) from the
// same ISA list as the matmul tables (see attention_dispatch.cpp).
#include "kernels/ops.h"
#include "kernels/row_ops.h"
#include "kernels/vector_slot.h"
#if defined(EF_HAVE_X86)
#include "kernels/x86/row_ops_kernels.h"
#endif
#if defined(EF_HAVE_ARM)
#include "kernels/arm/neon_row_ops.h"
#endif

namespace ef::kernels {

namespace ref {
void fill_row_ops(RowOps& t) {
  t.isa = Isa::scalar;
  t.exp = ops::exp_row;
  t.swiglu = ops::swiglu;
  t.softmax = ops::softmax;
  t.rmsnorm = ops::rmsnorm;
  t.rmsnorm_q8_0 = rmsnorm_q8_0;
  t.rope_apply = ops::rope_apply;
  t.add = ops::add;
}
}  // namespace ref

namespace {

void fill(VectorSlot slot, RowOps& t) {
  ref::fill_row_ops(t);
#if defined(EF_HAVE_X86)
  if (slot == kSlotAvx2) x86::avx2::fill_row_ops(t);
  if (slot == kSlotAvx512) x86::avx512::fill_row_ops(t);
#elif defined(EF_HAVE_ARM)
  if (slot == kSlotNeon) arm::neon::fill_row_ops(t);
#else
  (void)slot;
#endif
}

}  // namespace

const RowOps& row_ops(const KernelTable& table) {
  return per_vector_slot<RowOps>(table, fill);
}

}  // namespace ef::kernels
