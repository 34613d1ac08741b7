// Flash attention on CPU: tiled over the KV positions with an online softmax,
// so no score matrix larger than one tile row is ever materialised.
//
// F16 caches follow ggml's one-chunk CPU kernel exactly in its rounding
// points (query rounded to F16 for the K dots, V accumulated in F16, online
// softmax in F32; see attend_f16_rows in the .cpp): that is what llama.cpp's
// default (flash on, F16 cache) runs for decode and for llama-perplexity.
// F32 caches follow ggml's CPU tiled flash-attention kernel
// (ggml_compute_forward_flash_attn_ext_tiled, which llama.cpp runs by
// default for prefill): the query stays F32, keys/values are widened from
// the cache type to F32 one KV tile (64 positions, aligned at multiples of 64
// in position space) at a time, and per tile and query row
//   s      = (q . k_p) * scale                      p in the tile, visible
//   M'     = max(M, max_p s);  if M' > M: acc *= exp(M - M'), S *= exp(M - M')
//   e_p    = exp(s_p - M');    S += sum_p e_p       (16-lane partial sums)
//   acc   += sum_p e_p v_p                          (sequential in p)
// and finally out = acc / S (zeros when no position is visible).
// Each row's result depends only on its query, its visible range and the
// cache, never on which other rows are processed with it, so logits do not
// depend on the thread count or on micro-batch splits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ef {
namespace kernels {
struct KernelTable;
}

constexpr int64_t kFlashKvTile = 64;  // KV positions per tile (ggml: GGML_FA_TILE_KV)
constexpr int64_t kFlashQueryBlock = 16;  // tokens per attention task (x GQA group rows)

// One KV head of a cache: rows of `dk` key and `dv` value elements (types
// below; anything but F16/F16 and F32/F32 is widened tile by tile). Position p lives in row p, or p % ring when ring > 0 (ring-buffer
// caches of sliding-window layers).
struct FlashKv {
  const char* k = nullptr;
  size_t k_stride = 0;  // bytes between consecutive rows
  const char* v = nullptr;
  size_t v_stride = 0;
  bool f16 = false;     // K and V both F16 (overrides k_type / v_type below)
  int64_t dk = 0;
  int64_t dv = 0;
  int64_t ring = 0;     // 0 = linear cache
  // F16 only: true = ggml's one-chunk numerics (F16 query, F16 accumulator;
  // matches llama.cpp, drifts ~1e-2 relative over thousands of near-uniform
  // positions); false = widen to F32 and accumulate in F32 (tiled path).
  bool f16_accumulate = true;
  // Element types of the K and V rows when !f16 (any dtype with a to_float
  // kernel: F32, F16, BF16, Q8_0, Q4_0; block types need dk / dv multiples
  // of 32). Rows are widened to F32 one tile at a time.
  DType k_type = DType::F32;
  DType v_type = DType::F32;
};

// One query row: visible positions [lo, hi) (causal: hi = pos + 1; a window
// of W: lo = max(0, pos + 1 - W)). lo >= hi means fully masked: zeros.
struct FlashRow {
  const float* q = nullptr;  // [dk]
  float* out = nullptr;      // [dv]
  int64_t lo = 0;
  int64_t hi = 0;
};

// Floats of per-thread scratch for flash_attend with up to max_rows rows.
size_t flash_scratch_floats(int64_t dk, int64_t dv, int64_t max_rows);

// out = softmax(scale * q K^T over [lo, hi)) V for each of n_rows rows
// sharing one KV head; every visible KV row is read and widened once per
// call (so a GQA group at decode reads each KV row once). `scratch` holds
// flash_scratch_floats(dk, dv, n_rows) floats.
void flash_attend(const FlashKv& kv, const FlashRow* rows, int64_t n_rows, float scale,
                  float* scratch, const kernels::KernelTable& table);

}  // namespace ef
