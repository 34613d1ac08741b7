// The row-op sets, one per ISA, built on first use (thread-safe) from the
// same ISA list as the matmul tables (see attention_dispatch.cpp).
#include <mutex>

#include "kernels/ops.h"
#include "kernels/row_ops.h"
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
  t.rope_apply = ops::rope_apply;
  t.add = ops::add;
}
}  // namespace ref

namespace {

enum Slot { kScalar, kAvx2, kAvx512, kNeon, kNumSlots };

Slot slot_of(Isa isa) {
  switch (isa) {
#if defined(EF_HAVE_X86)
    case Isa::avx2:
      return kAvx2;
    case Isa::avx512:
    case Isa::avx512_vnni:
    case Isa::amx:
      return kAvx512;
#endif
#if defined(EF_HAVE_ARM)
    case Isa::neon:
    case Isa::neon_dotprod:
      return kNeon;
#endif
    default:
      return kScalar;
  }
}

void fill(Slot slot, RowOps& t) {
  ref::fill_row_ops(t);
#if defined(EF_HAVE_X86)
  if (slot == kAvx2) x86::avx2::fill_row_ops(t);
  if (slot == kAvx512) x86::avx512::fill_row_ops(t);
#elif defined(EF_HAVE_ARM)
  if (slot == kNeon) arm::neon::fill_row_ops(t);
#else
  (void)slot;
#endif
}

}  // namespace

const RowOps& row_ops(const KernelTable& table) {
  static RowOps sets[kNumSlots];
  static std::once_flag built[kNumSlots];
  const Slot slot = slot_of(table.isa);
  std::call_once(built[slot], [&] { fill(slot, sets[slot]); });
  return sets[slot];
}

}  // namespace ef::kernels
