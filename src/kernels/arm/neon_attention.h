// NEON flash-attention tile and the attention set of the neon and
// neon_dotprod tables (definitions in neon_attention.cpp). Kept out of
// neon_kernels.h, which the -march=armv8.2-a dotprod file includes and must
// not pull in standard-library headers.
#pragma once

#include "kernels/attention.h"

namespace ef::kernels::arm::neon {

// dk and dv multiples of 4 (else the scalar oracle).
void flash_tile(const FlashTileArgs& a);
// Sets the NEON entries of an attention set (on top of the scalar ones):
// flash_tile and the exact F16/BF16 row widenings.
void fill_attention(AttentionKernels& t);

}  // namespace ef::kernels::arm::neon
