// Kernel sets that depend only on the vector unit (not on integer-dot or
// tile extensions): attention and row ops. Every ISA maps to one of four
// slots (avx512_vnni and amx use the AVX-512 set; neon_dotprod the NEON
// one), and each slot's set is built once, on first use (thread-safe).
#pragma once

#include <mutex>

#include "kernels/kernels.h"

namespace ef::kernels {

enum VectorSlot { kSlotScalar, kSlotAvx2, kSlotAvx512, kSlotNeon, kNumVectorSlots };

inline VectorSlot vector_slot(Isa isa) {
  switch (isa) {
#if defined(EF_HAVE_X86)
    case Isa::avx2:
      return kSlotAvx2;
    case Isa::avx512:
    case Isa::avx512_vnni:
    case Isa::amx:
      return kSlotAvx512;
#endif
#if defined(EF_HAVE_ARM)
    case Isa::neon:
    case Isa::neon_dotprod:
      return kSlotNeon;
#endif
    default:
      return kSlotScalar;
  }
}

// The set of `table`'s slot, filled by fill(slot, set) the first time.
template <class Set, class Fill>
const Set& per_vector_slot(const KernelTable& table, Fill fill) {
  static Set sets[kNumVectorSlots];
  static std::once_flag built[kNumVectorSlots];
  const VectorSlot slot = vector_slot(table.isa);
  std::call_once(built[slot], [&] { fill(slot, sets[slot]); });
  return sets[slot];
}

}  // namespace ef::kernels
