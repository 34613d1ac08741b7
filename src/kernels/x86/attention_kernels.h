// Flash-attention kernels and the row widenings they are fed with, per x86
// ISA (definitions in avx2_attention.cpp / avx512_attention.cpp, compiled
// with their ISA's flags: call only when the CPU has the ISA).
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace ef::kernels::x86 {

namespace avx2 {
void flash_tile(const FlashTileArgs& a);
void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows);
// Exact widenings (F16 and BF16 values are all representable in F32).
void f16_to_f32_row(const void* x, float* y, int64_t n);
void bf16_to_f32_row(const void* x, float* y, int64_t n);
// Sets the AVX2 entries of an attention set (on top of the scalar ones).
void fill_attention(AttentionKernels& t);
}  // namespace avx2

namespace avx512 {
void flash_tile(const FlashTileArgs& a);
void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows);
void f16_to_f32_row(const void* x, float* y, int64_t n);
void fill_attention(AttentionKernels& t);
}  // namespace avx512

}  // namespace ef::kernels::x86
