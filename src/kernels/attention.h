// Flash-attention kernels, dispatched per ISA like the matmul table in
// kernels.h (same ISA choice: attention_kernels(table) returns the set that
// matches table.isa). A separate small table so that adding attention
// kernels does not touch the matmul contract. No model knowledge: rows are
// just vectors.
//
// Two kinds of entries:
//   flash_tile   the F32 math of one KV tile for a block of query rows;
//   widen        per cache element type, converts rows of that type to F32
//                (the only place where the KV cache's type matters; a new
//                cache type plugs in one function here).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace ef::kernels {

// One KV tile of online-softmax attention for a block of query rows, all
// F32. For each row r with lo[r] < hi[r] (tile positions [lo, hi) visible
// to r, 0 <= lo, hi <= n_kv):
//   s_j   = q_r . k_j                          j in [lo, hi)  (q pre-scaled)
//   m'    = max(m[r], max_j s_j)
//   acc_r = acc_r exp(m[r] - m') + sum_j exp(s_j - m') v_j
//   l[r]  = l[r]  exp(m[r] - m') + sum_j exp(s_j - m');   m[r] = m'
// Rows with lo >= hi are left untouched. Each row's result depends only on
// its own q, range and state (never on the other rows of the block), so
// callers get results independent of how rows are grouped.
// k must have round_up(n_kv, 16) readable, finite rows (kernels compute
// masked scores of whole 16-row blocks); v rows outside [lo, hi) are never
// read. Any dk, dv: the SIMD kernels take multiples of 16 (AVX2: 8) and
// defer to the scalar oracle otherwise.
struct FlashTileArgs {
  const float* q = nullptr;  // [n_q][dk]  queries times the softmax scale
  int64_t n_q = 0;
  const float* k = nullptr;  // [n_kv][dk] keys (row-major F32)
  const float* v = nullptr;  // [n_kv][dv] values
  int64_t n_kv = 0;
  int64_t dk = 0;
  int64_t dv = 0;
  const int32_t* lo = nullptr;  // [n_q]
  const int32_t* hi = nullptr;  // [n_q]
  float* m = nullptr;           // [n_q] running max (-inf initially)
  float* l = nullptr;           // [n_q] running sum of exp (0 initially)
  float* acc = nullptr;         // [n_q][dv] unnormalised output (0 initially)
  float* s = nullptr;           // [round_up(n_kv, 16)] scratch: one row's scores
  // Optional scratch of flash_tile_wide_floats(n_kv, dk) floats. With it a
  // SIMD kernel may take several rows at a time (K transposed once per call,
  // each key load shared by a few rows); without it, row by row. The same
  // bits either way: a kernel's per-row and multi-row paths sum every dot
  // product and P V term in the same order.
  float* wide = nullptr;
};

// Floats of FlashTileArgs::wide for a tile of n_kv keys of width dk: K
// transposed in 16-key blocks [round_up(n_kv, 16) / 16][dk][16], then the
// scores of up to kFlashWideRows rows [kFlashWideRows][round_up(n_kv, 16)].
constexpr int64_t kFlashWideRows = 8;
constexpr int64_t flash_tile_wide_floats(int64_t n_kv, int64_t dk) {
  return (n_kv + 15) / 16 * 16 * (dk + kFlashWideRows);
}
using FlashTileFn = void (*)(const FlashTileArgs& a);

// K and V rows in F16, read in place (no widened F32 copy; the caller points
// them at the cache): key row j is k[j * k_stride .. + dk), value row j is
// v[j * v_stride .. + dv), strides in elements. Half the bytes of F32 rows,
// converted in registers: at long context decode is a stream over the cache.
struct FlashF16Rows {
  const uint16_t* k = nullptr;
  int64_t k_stride = 0;
  const uint16_t* v = nullptr;
  int64_t v_stride = 0;
};
// flash_tile on F16 rows (a.k and a.v unused). Same math and, on one ISA,
// the same bits as flash_tile on the widened rows. Unlike flash_tile it
// reads, for each row r, only key rows [lo[r] rounded down to 16, hi[r])
// and value rows [lo[r], hi[r]): rows past the largest hi need not exist
// (the tail of a cache), and key rows before lo only need to be readable
// (their scores are masked whatever their values).
using FlashTileF16Fn = void (*)(const FlashTileArgs& a, const FlashF16Rows& rows);

struct AttentionKernels {
  Isa isa = Isa::scalar;
  FlashTileFn flash_tile = nullptr;
  FlashTileF16Fn flash_tile_f16 = nullptr;  // nullptr: callers widen F16 rows for flash_tile
  // Row widenings to F32 per cache element type (nullptr: not supported).
  ToFloatFn widen_f32 = nullptr;
  ToFloatFn widen_f16 = nullptr;
  ToFloatFn widen_bf16 = nullptr;
  ToFloatFn widen_q8_0 = nullptr;
  ToFloatFn widen_q4_0 = nullptr;
  ToFloatFn widen(DType type) const;
};

// The attention kernels of the ISA of `table` (amx: the avx512 ones).
const AttentionKernels& attention_kernels(const KernelTable& table);

namespace ref {
// Scalar oracle of flash_tile (dots in double, the rest in F32, std::exp).
void flash_tile(const FlashTileArgs& a);
// flash_tile_f16 as the oracle defines it: the rows each query reads,
// widened to F32, through flash_tile. Not in the scalar set (it allocates);
// SIMD kernels fall back to it for widths they do not take.
void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows);
// The scalar set (widenings = the scalar table's to_float).
void fill_attention(AttentionKernels& t);
}  // namespace ref

}  // namespace ef::kernels
