// The attention kernel sets, one per ISA, built on first use (thread-safe)
// from the same ISA list as the matmul tables.
#include "kernels/attention.h"
#include "kernels/ref/ref.h"
#include "kernels/vector_slot.h"
#if defined(EF_HAVE_X86)
#include "kernels/x86/attention_kernels.h"
#endif
#if defined(EF_HAVE_ARM)
#include "kernels/arm/neon_attention.h"
#endif

namespace ef::kernels {

ToFloatFn AttentionKernels::widen(DType type) const {
  switch (type) {
    case DType::F32:
      return widen_f32;
    case DType::F16:
      return widen_f16;
    case DType::BF16:
      return widen_bf16;
    case DType::Q8_0:
      return widen_q8_0;
    case DType::Q4_0:
      return widen_q4_0;
  }
  return nullptr;
}

namespace ref {
void fill_attention(AttentionKernels& t) {
  t.isa = Isa::scalar;
  t.flash_tile = flash_tile;
  t.widen_f32 = f32_copy_row_back;
  t.widen_f16 = f16_to_f32_row;
  t.widen_bf16 = bf16_to_f32_row;
  t.widen_q8_0 = dequantize_row_q8_0;
  t.widen_q4_0 = dequantize_row_q4_0;
}
}  // namespace ref

namespace {

void fill(VectorSlot slot, AttentionKernels& t) {
  ref::fill_attention(t);
#if defined(EF_HAVE_X86)
  if (slot == kSlotAvx2 || slot == kSlotAvx512) x86::avx2::fill_attention(t);
  if (slot == kSlotAvx512) x86::avx512::fill_attention(t);
#elif defined(EF_HAVE_ARM)
  if (slot == kSlotNeon) arm::neon::fill_attention(t);
#else
  (void)slot;
#endif
}

}  // namespace

const AttentionKernels& attention_kernels(const KernelTable& table) {
  return per_vector_slot<AttentionKernels>(table, fill);
}

}  // namespace ef::kernels
