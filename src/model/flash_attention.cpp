// Tiled flash attention with online softmax (see flash_attention.h for the
// per-tile update rules and why they follow ggml's tiled CPU kernel).
#include "model/flash_attention.h"

#include <algorithm>
#include <cmath>

#include "core/fp16.h"
#include "kernels/kernels.h"

namespace ef {
namespace {

// Sum of 16 floats in the order of a 512-bit horizontal add (halves first:
// 16 -> 8 -> 4 -> 2 -> 1), which is how ggml's AVX-512 soft_max reduces
// each 16-lane chunk before adding it to its double accumulator.
float lane16_sum(const float* e) {
  float t[8], u[4];
  for (int i = 0; i < 8; ++i) t[i] = e[i + 8] + e[i];
  for (int i = 0; i < 4; ++i) u[i] = t[i + 4] + t[i];
  const float w0 = u[2] + u[0];
  const float w1 = u[3] + u[1];
  return w0 + w1;
}

}  // namespace

size_t flash_scratch_floats(int64_t dk, int64_t dv, int64_t max_rows) {
  // K tile [T][dk], V tile [T][dv], scores [T], then per row: M, S, acc[dv],
  // then the rows' F16 queries [max_rows][dk] (F16 path).
  return static_cast<size_t>(kFlashKvTile * (dk + dv + 1) + max_rows * (2 + dv) +
                             (max_rows * dk + 1) / 2);
}

namespace {

// F16 cache: ggml's one-chunk kernel (ggml_compute_forward_flash_attn_ext_f16
// _one_chunk), which llama.cpp runs for micro-batches of fewer than 64 tokens
// per sequence, i.e. for decode and for llama-perplexity's default
// 16-sequence batches. Per row, positions in increasing order:
//   s = vec_dot_f16(k_p, fp16(q)) * scale
//   if s > M: M = s, acc = fp16(acc * exp(M_old - M)), w = 1 else w = exp(s - M)
//   acc = fp16(fma(v_p, w, acc));  S = S * ms + w
//   out = float(acc) / S
// (acc is rounded to F16 after every update, as ggml_vec_mad_f16 and
// ggml_vec_scale_f16 store it.)
void attend_f16_rows(const FlashKv& kv, const FlashRow* rows, int64_t n_rows, float scale,
                     float* scratch, const kernels::KernelTable& table, int64_t lo_all,
                     int64_t hi_all) {
  constexpr int64_t T = kFlashKvTile;
  const int64_t dk = kv.dk;
  const int64_t dv = kv.dv;
  float* M = scratch + T * (dk + dv + 1);
  float* S = M + n_rows;
  uint16_t* acc = reinterpret_cast<uint16_t*>(S + n_rows);             // [n_rows][dv] F16
  uint16_t* q16 = reinterpret_cast<uint16_t*>(S + n_rows + n_rows * dv);  // [n_rows][dk]
  const kernels::VecDotFn dot = table.f16.vec_dot;
  for (int64_t r = 0; r < n_rows; ++r) {
    table.f16.from_float(rows[r].q, q16 + r * dk, dk);
    std::fill(acc + r * dv, acc + (r + 1) * dv, uint16_t{0});
  }
  // Tiles of positions (rows stay in step, so a tile's K/V rows are read
  // while hot for every row of the group).
  for (int64_t t0 = hi_all > 0 ? lo_all / T * T : 0; t0 < hi_all; t0 += T) {
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t ra = std::max(t0, rows[r].lo);
      const int64_t rb = std::min(t0 + T, rows[r].hi);
      uint16_t* a = acc + r * dv;
      for (int64_t p = ra; p < rb; ++p) {
        const int64_t row = kv.ring > 0 ? p % kv.ring : p;
        const char* kr = kv.k + static_cast<size_t>(row) * kv.k_stride;
        const uint16_t* vr =
            reinterpret_cast<const uint16_t*>(kv.v + static_cast<size_t>(row) * kv.v_stride);
        const float sc = dot(dk, kr, q16 + r * dk) * scale;
        float ms = 1.0f, w = 1.0f;
        if (sc > M[r]) {
          const float m_old = M[r];
          M[r] = sc;
          ms = std::exp(m_old - sc);
          for (int64_t d = 0; d < dv; ++d) a[d] = fp32_to_fp16(fp16_to_fp32(a[d]) * ms);
        } else {
          w = std::exp(sc - M[r]);
        }
        for (int64_t d = 0; d < dv; ++d) {
          a[d] = fp32_to_fp16(std::fma(fp16_to_fp32(vr[d]), w, fp16_to_fp32(a[d])));
        }
        S[r] = S[r] * ms + w;
      }
    }
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const float inv = S[r] == 0.0f ? 0.0f : 1.0f / S[r];
    for (int64_t d = 0; d < dv; ++d) rows[r].out[d] = fp16_to_fp32(acc[r * dv + d]) * inv;
  }
}

}  // namespace

void flash_attend(const FlashKv& kv, const FlashRow* rows, int64_t n_rows, float scale,
                  float* scratch, const kernels::KernelTable& table) {
  constexpr int64_t T = kFlashKvTile;
  const int64_t dk = kv.dk;
  const int64_t dv = kv.dv;
  float* ktile = scratch;             // [T][dk]  keys of the tile, F32
  float* vtile = ktile + T * dk;      // [T][dv]  values of the tile, F32
  float* e = vtile + T * dv;          // [T]      scores, then exp(s - M)
  float* M = e + T;                   // [n_rows] running max
  float* S = M + n_rows;              // [n_rows] running sum
  float* acc = S + n_rows;            // [n_rows][dv] unnormalised output
  // Rows of the cache's element types -> F32 (F32 rows are copied).
  const kernels::ToFloatFn widen_k = table.for_type(kv.f16 ? DType::F16 : kv.k_type).to_float;
  const kernels::ToFloatFn widen_v = table.for_type(kv.f16 ? DType::F16 : kv.v_type).to_float;
  const kernels::VecDotFn dot = table.f32.vec_dot;

  int64_t lo_all = INT64_MAX, hi_all = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    M[r] = -INFINITY;
    S[r] = 0.0f;
    std::fill(acc + r * dv, acc + (r + 1) * dv, 0.0f);
    if (rows[r].lo < rows[r].hi) {
      lo_all = std::min(lo_all, rows[r].lo);
      hi_all = std::max(hi_all, rows[r].hi);
    }
  }

  if (kv.f16 && kv.f16_accumulate) {
    attend_f16_rows(kv, rows, n_rows, scale, scratch, table, lo_all, hi_all);
    return;
  }

  for (int64_t t0 = hi_all > 0 ? lo_all / T * T : 0; t0 < hi_all; t0 += T) {
    // Positions [a, b) of this tile are visible to at least one row: widen
    // them once for all rows (one read of each KV row per GQA group).
    const int64_t a = std::max(t0, lo_all);
    const int64_t b = std::min(t0 + T, hi_all);
    for (int64_t p = a; p < b; ++p) {
      const int64_t row = kv.ring > 0 ? p % kv.ring : p;
      const char* kr = kv.k + static_cast<size_t>(row) * kv.k_stride;
      const char* vr = kv.v + static_cast<size_t>(row) * kv.v_stride;
      float* kd = ktile + (p - t0) * dk;
      float* vd = vtile + (p - t0) * dv;
      widen_k(kr, kd, dk);
      widen_v(vr, vd, dv);
    }

    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t ra = std::max(t0, rows[r].lo);
      const int64_t rb = std::min(t0 + T, rows[r].hi);
      if (ra >= rb) continue;  // the whole tile is masked for this row
      // Masked positions of the tile score -inf, i.e. e = 0 below.
      float tile_max = -INFINITY;
      for (int64_t p = ra; p < rb; ++p) {
        const float s = dot(dk, ktile + (p - t0) * dk, rows[r].q) * scale;
        e[p - t0] = s;
        tile_max = std::max(tile_max, s);
      }
      float* o = acc + r * dv;
      const float m_new = std::max(M[r], tile_max);
      if (m_new > M[r]) {
        const float ms = std::exp(M[r] - m_new);
        for (int64_t d = 0; d < dv; ++d) o[d] *= ms;
        S[r] *= ms;
      }
      M[r] = m_new;
      for (int64_t p = t0; p < t0 + T; ++p) {
        e[p - t0] = (p >= ra && p < rb) ? std::exp(e[p - t0] - m_new) : 0.0f;
      }
      double sum = 0.0;
      for (int64_t c = 0; c < T; c += 16) sum += static_cast<double>(lane16_sum(e + c));
      S[r] = static_cast<float>(static_cast<double>(S[r]) + sum);
      for (int64_t p = ra; p < rb; ++p) {
        const float w = e[p - t0];
        const float* vd = vtile + (p - t0) * dv;
        for (int64_t d = 0; d < dv; ++d) o[d] += w * vd[d];
      }
    }
  }

  for (int64_t r = 0; r < n_rows; ++r) {
    const float inv = S[r] == 0.0f ? 0.0f : 1.0f / S[r];
    const float* o = acc + r * dv;
    for (int64_t d = 0; d < dv; ++d) rows[r].out[d] = o[d] * inv;
  }
}

}  // namespace ef
