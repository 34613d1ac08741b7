// Entry points of the x86 kernel tables. Only declarations here: the
// definitions live in files compiled with their ISA's flags and must only be
// called after cpu_features() says the CPU has that ISA.
#pragma once

#include "kernels/kernels.h"

namespace ef::kernels::x86 {

// AVX2 + FMA + F16C.
void fill_avx2_table(KernelTable& table);
// AVX-512 F/BW/VL/DQ + VNNI + BF16 (the flags every *avx512* file gets).
void fill_avx512_table(KernelTable& table);
// The AVX-512 table + AMX int8 tiles for q8_0/q4_0 matmuls.
void fill_amx_table(KernelTable& table);

}  // namespace ef::kernels::x86
