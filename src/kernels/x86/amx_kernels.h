// AMX kernels (defined in amx_*.cpp, compiled with AMX + AVX-512 flags). Call
// only when cpu_features() reports amx_usable (tile permission granted) and
// the AVX-512 table's features.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef::kernels {
struct ActBlockInfo;
}

namespace ef::kernels::x86::amx {

// Exact per-block int32 sums on int8 tiles, then the float sequence of
// ref::vec_dot_*_blockfma per element (bit-identical to it).
void gemm_q8_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
void gemm_q4_0(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);

// The same on packed weights (kernels/packed.h, amx_packed.cpp): PackedGemmFn.
// One token goes to the AVX-512 packed kernel (same bits).
void gemm_packed_q8_0(int64_t k, const void* packed, int64_t row_begin, int64_t row_end,
                      const void* x, size_t x_row_bytes, const ActBlockInfo* x_info,
                      int64_t n_tokens, float* y, int64_t ldy);
void gemm_packed_q4_0(int64_t k, const void* packed, int64_t row_begin, int64_t row_end,
                      const void* x, size_t x_row_bytes, const ActBlockInfo* x_info,
                      int64_t n_tokens, float* y, int64_t ldy);

// bf16 . bf16 on tdpbf16ps (amx_bf16.cpp); needs the CPU's amx_bf16. One
// token (and vec_dot, the 1x1 case) runs the same per-element sequence as
// a batch, so every table entry agrees bit for bit.
void gemm_bf16(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin, int64_t row_end,
               const void* x, size_t x_row_bytes, int64_t n_tokens, float* y, int64_t ldy);
float vec_dot_bf16(int64_t k, const void* w, const void* x);

}  // namespace ef::kernels::x86::amx
