// AMX kernels (defined in amx_*.cpp, compiled with AMX + AVX-512 flags). Call
// only when cpu_features() reports amx_usable (tile permission granted) and
// the AVX-512 table's features.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels::x86::amx {

// Exact per-block int32 sums on int8 tiles, then the float sequence of
// ref::vec_dot_*_blockfma per element (bit-identical to it).
void gemm_q8_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_q4_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);

}  // namespace ef::kernels::x86::amx
