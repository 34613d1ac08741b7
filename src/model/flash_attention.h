// Flash attention on CPU: tiled over KV positions with an online softmax in
// F32, so no score matrix larger than one tile row is ever materialised.
//
// Per call (one KV head, a block of query rows, e.g. a GQA group times a few
// tokens), for each KV tile of kFlashKvTile positions (aligned at multiples
// of the tile size in position space):
//   1. widen the tile's K rows and V rows from the cache's element type to
//      F32 scratch, once for all rows of the block (widen_tile in the .cpp is
//      the only code that looks at the element type), except for calls of a
//      few rows (decode) over F16 caches on ISAs with flash_tile_f16, which
//      read the cache rows in place;
//   2. the kernel table's flash_tile (SIMD per ISA, scalar oracle in
//      kernels/ref) updates every row with positions in the tile:
//        s = (scale q) . k_p;  M' = max(M, max_p s)
//        acc = acc exp(M - M') + sum_p exp(s_p - M') v_p;  S likewise
//   3. finally out = acc / S (zeros when no position is visible) and, if
//      asked, lse = M + log S.
// A row's result depends only on its query, its visible range and the cache
// (tile boundaries are fixed in position space; kernels never mix rows), so
// logits do not depend on the thread count or on micro-batch splits.
//
// Numerics: keys/values are widened exactly (F32/F16/BF16), scores, softmax
// and the accumulator stay F32 throughout. This is not bit-identical to
// llama.cpp's flash path for F16 caches (ggml accumulates V in F16 there);
// the llama.cpp comparison runs with flash attention off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/dtype.h"

namespace ef {
namespace kernels {
struct KernelTable;
}

constexpr int64_t kFlashKvTile = 64;      // KV positions per tile (multiple of 16)
constexpr int64_t kFlashQueryBlock = 16;  // tokens per attention task (x GQA group rows)
// Positions per KV piece in the model's attention (attention.cpp): rows'
// ranges are cut at multiples of this and the pieces merged by lse, so that
// decode can spread one KV head's positions over several threads.
constexpr int64_t kFlashKvChunk = 1024;

// One KV head of a cache: rows of `dk` key and `dv` value elements of
// `type` (V: `v_type` if set). Position p lives in row p, or p % ring when
// ring > 0 (ring-buffer caches of sliding-window layers). Any type whose kernel table entry has a
// to_float works (rows must be whole blocks for block-quantized types).
struct FlashKv {
  const char* k = nullptr;
  size_t k_stride = 0;  // bytes between consecutive rows
  const char* v = nullptr;
  size_t v_stride = 0;
  DType type = DType::F32;  // element type of the K rows (and of V unless v_type)
  int64_t dk = 0;
  int64_t dv = 0;
  int64_t ring = 0;  // 0 = linear cache
  std::optional<DType> v_type;  // element type of the V rows if not `type`
};

// One query row: visible positions [lo, hi) (causal: hi = pos + 1; a window
// of W: lo = max(0, pos + 1 - W)). lo >= hi means fully masked: zeros.
struct FlashRow {
  const float* q = nullptr;  // [dk]
  float* out = nullptr;      // [dv]
  int64_t lo = 0;
  int64_t hi = 0;
  // Optional: log-sum-exp of the visible scaled scores,
  //   lse = M + log(sum_p exp(s_p - M)),  -inf when fully masked,
  // so that results over disjoint KV ranges can be merged (flash_merge).
  float* lse = nullptr;
};

// Floats of per-thread scratch for flash_attend with up to max_rows rows
// (independent of the KV length: one tile plus per-row state).
size_t flash_scratch_floats(int64_t dk, int64_t dv, int64_t max_rows);

// out = softmax(scale * q K^T over [lo, hi)) V for each of n_rows rows
// sharing one KV head; every visible KV row is read and widened once per
// call (so a GQA group reads each KV row once). `scratch` holds
// flash_scratch_floats(dk, dv, n_rows) floats.
void flash_attend(const FlashKv& kv, const FlashRow* rows, int64_t n_rows, float scale,
                  float* scratch, const kernels::KernelTable& table);

// Merges the result of one query over a KV range into its result over a
// disjoint range (e.g. chunks of a cache streamed back from disk): with
//   lse' = log(exp(lse) + exp(part_lse)),
//   out' = exp(lse - lse') out + exp(part_lse - lse') part.
// Start from out = zeros, lse = -inf and merge each part in turn. A part
// with part_lse = -inf (fully masked) changes nothing; `out`/`lse` stay
// zeros/-inf while every part was masked.
void flash_merge(float* out, float* lse, const float* part, float part_lse, int64_t dv);

}  // namespace ef
