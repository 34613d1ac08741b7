// Tiled flash attention with online softmax (see flash_attention.h for the
// update rules; the per-tile math is the kernel table's flash_tile).
#include "model/flash_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/kernels.h"

namespace ef {

size_t flash_scratch_floats(int64_t dk, int64_t dv, int64_t max_rows) {
  // Up to 15 floats to reach a 64-byte boundary; K tile [T][dk], V tile
  // [T][dv], scores [T], the kernel's multi-row scratch (FlashTileArgs::wide:
  // K transposed, a few rows' scores); per row: scaled query [dk], acc [dv],
  // M, S, lo, hi (int32 stored in float slots).
  return static_cast<size_t>(16 + kFlashKvTile * (dk + dv + 1) +
                             kernels::flash_tile_wide_floats(kFlashKvTile, dk) +
                             max_rows * (dk + dv + 4));
}

namespace {

// Widens positions [a, b) of one K or V head into tile rows a - t0 .. b - t0
// (F32, `n` floats each). The only place where the cache's element type
// matters: `widen` is that type's to_float.
void widen_tile(const char* base, size_t stride, int64_t ring, int64_t a, int64_t b, int64_t t0,
                int64_t n, kernels::ToFloatFn widen, float* tile) {
  for (int64_t p = a; p < b; ++p) {
    const int64_t row = ring > 0 ? p % ring : p;
    widen(base + static_cast<size_t>(row) * stride, tile + (p - t0) * n, n);
  }
}

}  // namespace

void flash_attend(const FlashKv& kv, const FlashRow* rows, int64_t n_rows, float scale,
                  float* scratch, const kernels::KernelTable& table) {
  constexpr int64_t T = kFlashKvTile;
  const int64_t dk = kv.dk;
  const int64_t dv = kv.dv;
  // Tiles on 64-byte boundaries (T is a multiple of 16): a vector load
  // split over two cache lines costs two, and the kernels' P V is
  // load-bound on them. Callers' per-thread scratch need not be aligned.
  const auto addr = reinterpret_cast<uintptr_t>(scratch);
  float* ktile = scratch + (((addr + 63) & ~uintptr_t{63}) - addr) / sizeof(float);  // [T][dk]
  float* vtile = ktile + T * dk;                         // [T][dv]  values of the tile, F32
  float* s = vtile + T * dv;                             // [T]      one row's scores
  float* wide = s + T;                                   // flash_tile_wide_floats(T, dk)
  float* qs = wide + kernels::flash_tile_wide_floats(T, dk);  // [n_rows][dk] scale * q
  float* acc = qs + n_rows * dk;                         // [n_rows][dv] unnormalised output
  float* M = acc + n_rows * dv;                          // [n_rows] running max
  float* S = M + n_rows;                                 // [n_rows] running sum of exp
  int32_t* lo = reinterpret_cast<int32_t*>(S + n_rows);  // [n_rows] tile-relative range
  int32_t* hi = lo + n_rows;                             // [n_rows]
  const kernels::AttentionKernels& ak = kernels::attention_kernels(table);
  const kernels::ToFloatFn widen_k = ak.widen(kv.type);
  const kernels::ToFloatFn widen_v = ak.widen(kv.v_type.value_or(kv.type));
  // F16 caches (the default) are read in place by few rows (decode: one GQA
  // group) when the ISA has a kernel for it: no widened copy, half the bytes
  // of F32 rows per KV read. Many rows (prefill blocks) widen once instead:
  // converting per row costs more than the copy, and a head's rows strided
  // by the whole cache row thrash a few L1 sets when re-read row after row.
  constexpr int64_t kMaxRowsInPlace = 8;
  const bool f16_in_place = ak.flash_tile_f16 != nullptr && n_rows <= kMaxRowsInPlace &&
                            kv.type == DType::F16 && kv.v_type.value_or(kv.type) == DType::F16;
  const auto* k16 = reinterpret_cast<const uint16_t*>(kv.k);
  const auto* v16 = reinterpret_cast<const uint16_t*>(kv.v);
  const auto k16_stride = static_cast<int64_t>(kv.k_stride / sizeof(uint16_t));
  const auto v16_stride = static_cast<int64_t>(kv.v_stride / sizeof(uint16_t));

  int64_t lo_all = INT64_MAX, hi_all = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    M[r] = -INFINITY;
    S[r] = 0.0f;
    std::fill(acc + r * dv, acc + (r + 1) * dv, 0.0f);
    for (int64_t d = 0; d < dk; ++d) qs[r * dk + d] = rows[r].q[d] * scale;
    if (rows[r].lo < rows[r].hi) {
      lo_all = std::min(lo_all, rows[r].lo);
      hi_all = std::max(hi_all, rows[r].hi);
    }
  }

  kernels::FlashTileArgs args;
  args.q = qs;
  args.n_q = n_rows;
  args.k = ktile;
  args.v = vtile;
  args.n_kv = T;
  args.dk = dk;
  args.dv = dv;
  args.lo = lo;
  args.hi = hi;
  args.m = M;
  args.l = S;
  args.acc = acc;
  args.s = s;
  args.wide = wide;
  for (int64_t t0 = hi_all > 0 ? lo_all / T * T : 0; t0 < hi_all; t0 += T) {
    for (int64_t r = 0; r < n_rows; ++r) {
      lo[r] = static_cast<int32_t>(std::clamp(rows[r].lo - t0, int64_t{0}, T));
      hi[r] = static_cast<int32_t>(std::clamp(rows[r].hi - t0, int64_t{0}, T));
    }
    // In place: the tile's positions must be consecutive rows (a ring cache
    // whose tile wraps around goes through the widened copy).
    if (f16_in_place && (kv.ring == 0 || t0 % kv.ring + T <= kv.ring)) {
      const int64_t row0 = kv.ring > 0 ? t0 % kv.ring : t0;
      const kernels::FlashF16Rows in_place{k16 + row0 * k16_stride, k16_stride,
                                           v16 + row0 * v16_stride, v16_stride};
      ak.flash_tile_f16(args, in_place);
      continue;
    }
    // Positions [a, b) of this tile are visible to at least one row: widen
    // them once for all rows (one read of each KV row per call).
    const int64_t a = std::max(t0, lo_all);
    const int64_t b = std::min(t0 + T, hi_all);
    widen_tile(kv.k, kv.k_stride, kv.ring, a, b, t0, dk, widen_k, ktile);
    widen_tile(kv.v, kv.v_stride, kv.ring, a, b, t0, dv, widen_v, vtile);
    // Kernels compute scores of whole 16-row blocks: keep the unread key
    // rows of partial tiles finite (their scores are masked).
    if (a > t0) std::memset(ktile, 0, sizeof(float) * static_cast<size_t>((a - t0) * dk));
    if (b < t0 + T) {
      std::memset(ktile + (b - t0) * dk, 0, sizeof(float) * static_cast<size_t>((t0 + T - b) * dk));
    }
    ak.flash_tile(args);
  }

  for (int64_t r = 0; r < n_rows; ++r) {
    const float inv = S[r] == 0.0f ? 0.0f : 1.0f / S[r];
    const float* o = acc + r * dv;
    for (int64_t d = 0; d < dv; ++d) rows[r].out[d] = o[d] * inv;
    if (rows[r].lse != nullptr) {
      *rows[r].lse = S[r] == 0.0f ? -INFINITY : M[r] + std::log(S[r]);
    }
  }
}

void flash_merge(float* out, float* lse, const float* part, float part_lse, int64_t dv) {
  if (part_lse == -INFINITY) return;  // nothing visible in the part
  if (*lse == -INFINITY) {            // nothing visible so far
    std::copy_n(part, dv, out);
    *lse = part_lse;
    return;
  }
  // lse' = log(exp(lse) + exp(part_lse)) = mx + log(exp(lse - mx) + exp(part_lse - mx))
  const double a = *lse, b = part_lse;
  const double mx = std::max(a, b);
  const double merged = mx + std::log(std::exp(a - mx) + std::exp(b - mx));
  const float wa = static_cast<float>(std::exp(a - merged));
  const float wb = static_cast<float>(std::exp(b - merged));
  for (int64_t d = 0; d < dv; ++d) out[d] = wa * out[d] + wb * part[d];
  *lse = static_cast<float>(merged);
}

}  // namespace ef
