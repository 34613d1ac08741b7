// Row ops (kernels/row_ops.h) for NEON; definitions in neon_row_ops.cpp.
#pragma once

#include "kernels/row_ops.h"

namespace ef::kernels::arm::neon {
// Sets every entry of t to its NEON version.
void fill_row_ops(RowOps& t);
}  // namespace ef::kernels::arm::neon
