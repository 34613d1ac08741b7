// Row ops (kernels/row_ops.h) per x86 ISA; definitions in avx2_row_ops.cpp
// and avx512_row_ops.cpp, compiled with their ISA's flags: call only when
// the CPU has the ISA (the dispatch in row_ops_dispatch.cpp makes sure).
#pragma once

#include "kernels/row_ops.h"

namespace ef::kernels::x86 {
namespace avx2 {
// Sets every entry of t to its AVX2 + FMA version.
void fill_row_ops(RowOps& t);
}  // namespace avx2
namespace avx512 {
// Sets every entry of t to its AVX-512 version.
void fill_row_ops(RowOps& t);
}  // namespace avx512
}  // namespace ef::kernels::x86
