// One-token q8_0 / q4_0 matvec of the AMX table (AVX-512 VNNI, no tiles),
// bit-identical to the AMX gemm and ref::vec_dot_*_blockfma per element.
// y[r] for r in [r0, r1); x is one q8_0 activation row.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels::x86::amx {

void decode_q8_0(int64_t k, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                 const void* x, float* y);
void decode_q4_0(int64_t k, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                 const void* x, float* y);

}  // namespace ef::kernels::x86::amx
