// The packed weight layout of q8_0 / q4_0 matmuls ("16-row interleave"),
// built once at model load by TypeKernels::repack and read by
// TypeKernels::gemm_packed (avx512 table). Portable code: no intrinsics.
//
// Rows are cut into groups of kPackRows = 16 (the last group padded with
// zero rows). Group g of a matrix with nb = k / 32 blocks per row is
//   quants: nb x packed_quant_bytes() bytes   then   scales: nb x 16 fp16
// (the scales padded to a multiple of 64 bytes)
// groups back to back (group bytes = packed_group_bytes()). For block b the
// quants are kPackGroups 64-byte vectors; vector i, byte 4n + j is
//   q8_0: w[row n][4i + j] + 128 (as uint8: vpdpbusd's unsigned operand),
//         i = 0..7 (k-group i = elements 4i..4i+3 of the block)
//   q4_0: the raw quant byte qs[4i + j] of row n, i = 0..3: its low nibble
//         is element 4i + j, its high nibble element 16 + 4i + j
// i.e. AMX's B-tile VNNI layout. Scales: the 16 rows' fp16 d of block b.
//
// Same bytes per 16 rows as the GGUF blocks (q8_0: 16 x 34, q4_0: 16 x 18)
// up to that padding; every group starts 64-byte aligned when the buffer is.
//
// A packed gemm computes, per output, exactly ref::vec_dot_*_blockfma:
//   acc = fma(float(exact int32 block sum), d_w * d_x, acc), blocks in order.
// The int sum uses the activations' per-block sums (ActBlockInfo):
//   q8_0: sum w x = sum (w + 128) x - 128 sum x
//   q4_0: sum (q - 8) x = sum q x - 8 sum x
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ef::kernels {

constexpr int64_t kPackRows = 16;

// Per (token, block) of q8_0 activations: the fp32 scale and the sum of the
// 32 quants, computed once per matmul input and shared by all row groups.
struct ActBlockInfo {
  float d;
  int32_t sum;
};

// Whether `type` has a packed layout (q8_0 and q4_0).
bool packable(DType type);
// Bytes of one 16-row group's quants for one block (q8_0: 512, q4_0: 256).
size_t packed_quant_bytes(DType type);
// Bytes of one 16-row group over k (k a multiple of 32).
size_t packed_group_bytes(DType type, int64_t k);
// Bytes of a packed n_rows x k matrix (whole groups).
size_t packed_bytes(DType type, int64_t n_rows, int64_t k);

// Packs n_rows rows (stride w_row_bytes, GGUF blocks) into `out`
// (packed_bytes() bytes). Portable; the tables point at these.
void repack_q8_0(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k, void* out);
void repack_q4_0(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k, void* out);

// info[b] for the k / 32 blocks of one q8_0 activation row.
void act_block_info(const void* xq, int64_t k, ActBlockInfo* info);

}  // namespace ef::kernels
