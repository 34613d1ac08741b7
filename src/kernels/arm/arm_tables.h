// Entry points of the ARM kernel tables. The definitions live in
// kernels/arm/neon_table.cpp; the dotprod table must only be built after
// cpu_features() reports dotprod (HWCAP_ASIMDDP).
#pragma once

#include "kernels/kernels.h"

namespace ef::kernels::arm {

// AArch64 Advanced SIMD (always present on AArch64).
void fill_neon_table(KernelTable& table);
// The NEON table with SDOT (ARMv8.2-A dotprod) integer dot products.
void fill_neon_dotprod_table(KernelTable& table);

}  // namespace ef::kernels::arm
