// AMX BF16 matmul (tdpbf16ps) for bf16 weights . bf16 activations.
//
// K is cut into chunks of 32 elements (64 bytes, one tile row); a chunk past
// k is zero-padded. Per output element y = dot(w row r, x token t):
//   y = (...((0 + T_0) + T_1) + ...) + T_{nc-1},
// where T_c is what one tdpbf16ps adds for chunk c: Intel's pseudo-code sums
// the 16 even and the 16 odd products of the chunk in two fp32 chains, then
// adds (even + odd) to the accumulator (DAZ on inputs, FTZ, round to nearest
// even; bf16 x bf16 products are exact in fp32). The chunking is fixed by k
// alone, so an element's bits do not depend on the tiling, the batch or the
// thread count.
//
// Two tile layouts give the same per-element sequence (products are exact and
// commute, so swapping the A and B roles leaves every element's sums as
// they were; amx_bf16_test checks decode == prefill bit for bit):
//  - prefill (n_tokens > 1): A = 16 tokens x 64 bytes, loaded straight from
//    the activation rows; B = a 16-row weight panel in the pair-interleaved
//    layout B[i][2n + j] = w[row n][32c + 2i + j] (a 16x16 dword transpose per
//    chunk), packed once per call and reused by every token tile; C = tokens
//    x 16 rows, stored straight into y (row stride ldy).
//  - decode (one token) and vec_dot: A = 16 weight rows x 64 bytes loaded
//    straight from the weights (no packing), B = the token's chunk as 16 x 4
//    bytes, C = 16 rows x 1 float.
// Against a double-precision sum the error is that of recursive fp32
// summation with at most 16 + 1 + nc terms in a chain; the tests bound it by
// the float kernels' (k/4 + 32) 2^-24 sum|w x|.
#include "kernels/x86/simd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/x86/amx_kernels.h"
#include "kernels/x86/amx_tile_config.h"

namespace ef::kernels::x86::amx {
namespace {

constexpr int64_t kChunk = 32;          // bf16 elements per tile row
constexpr size_t kTileBytes = 16 * 64;  // one full tile

// Prefill: C0 = A0 B0, C1 = A0 B1, C2 = A1 B0, C3 = A1 B1 (tmm0-3), A0, A1
// (tmm4, 5: m0 / m1 tokens), B0, B1 (tmm6, 7: packed panels). m1 = 0 leaves
// the second token tile unconfigured.
void configure_prefill(int m0, int m1) {
  TileConfig c;
  for (int t = 0; t < 8; ++t) c.colsb[t] = 64;
  c.rows[0] = c.rows[1] = c.rows[4] = static_cast<uint8_t>(m0);
  c.rows[2] = c.rows[3] = c.rows[5] = static_cast<uint8_t>(m1);
  if (m1 == 0) c.colsb[2] = c.colsb[3] = c.colsb[5] = 0;
  c.rows[6] = c.rows[7] = 16;
  load_tile_config(c);
}

// Decode: C_g (tmm g, n rows x 4 bytes) += A_g (tmm 3 + g, n rows x 64
// bytes) B (tmm6, 16 x 4 bytes), g = 0..2; rows n = 16 for full groups, nr
// for the last partial one (tmm 2 and 5).
void configure_decode(int n_last) {
  TileConfig c;
  for (int g = 0; g < 3; ++g) {
    const int rows = g == 2 ? n_last : 16;
    c.rows[g] = static_cast<uint8_t>(rows);
    c.colsb[g] = 4;
    c.rows[3 + g] = static_cast<uint8_t>(rows);
    c.colsb[3 + g] = 64;
  }
  c.rows[6] = 16;
  c.colsb[6] = 4;
  load_tile_config(c);
}

// 16x16 transpose of 32-bit elements: out[i] lane n = in[n] lane i.
inline void transpose16(__m512i* r) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // r[4q + s] now holds, per 128-bit lane L, rows 4L'.. of column group;
  // two rounds of 128-bit lane shuffles finish the transpose.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

constexpr int64_t kPackAhead = 4;  // chunks

// nr (<= 16) weight rows -> nc tiles of the B layout (rows >= nr and
// elements >= k are zero; nothing past them is read).
void pack_panel(const uint8_t* w, size_t wrb, int nr, int64_t k, int64_t nc, uint8_t* out) {
  const int64_t kf = k / kChunk;
  const auto tail = static_cast<__mmask32>((uint64_t{1} << (k % kChunk)) - 1u);
  for (int64_t c = 0; c < nc; ++c) {
    // Rows not prefetched by the caller (the first pair of a call) come
    // from L3/DRAM: keep 16 rows x kPackAhead lines on their way.
    if (c + kPackAhead < kf) {
      for (int n = 0; n < nr; ++n) {
        _mm_prefetch(reinterpret_cast<const char*>(w + n * wrb + (c + kPackAhead) * 64),
                     _MM_HINT_T0);
      }
    }
    __m512i r[16];
    for (int n = 0; n < 16; ++n) {
      const uint8_t* p = w + n * wrb + c * 64;
      if (n >= nr) {
        r[n] = _mm512_setzero_si512();
      } else if (c < kf) {
        r[n] = _mm512_loadu_si512(p);
      } else {
        r[n] = _mm512_maskz_loadu_epi16(tail, p);
      }
    }
    transpose16(r);
    for (int i = 0; i < 16; ++i) _mm512_store_si512(out + c * kTileBytes + i * 64, r[i]);
  }
}

// Per-thread buffers, grown and reused (no allocation per call once warm).
struct Scratch {
  std::vector<uint8_t> raw;
  uint8_t* get(size_t bytes) {
    if (raw.size() < bytes + 64) raw.resize(bytes + 64);
    auto p = reinterpret_cast<uintptr_t>(raw.data());
    return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});
  }
};

constexpr int64_t kTileAhead = 4;  // chunks

// One token-tile pair x panel pair over all chunks. NA / NB: how many of
// A0, A1 / B0, B1 are live. a_tail: the tail chunk's A rows (stride 64).
template <int NA, int NB>
void tile_block(int64_t nc, int64_t kf, const uint8_t* x0, const uint8_t* x1, size_t xrb,
                const uint8_t* tail0, const uint8_t* tail1, const uint8_t* b0, const uint8_t* b1,
                float* c_out[4], const size_t c_stride[4]) {
  _tile_zero(0);
  if constexpr (NB == 2) _tile_zero(1);
  if constexpr (NA == 2) _tile_zero(2);
  if constexpr (NA == 2 && NB == 2) _tile_zero(3);
  const auto s = static_cast<long>(xrb);
  for (int64_t c = 0; c < nc; ++c) {
    // Tile loads that miss L1 stall the tdpbf16ps waiting on them (A rows
    // are xrb apart, which the hardware prefetchers do not follow): fetch
    // the operands kTileAhead chunks ahead into L1.
    if (c + kTileAhead < kf) {
      const int64_t o = (c + kTileAhead) * 64;
      for (int i = 0; i < 16 * NA; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>((i < 16 ? x0 : x1 - 16 * xrb) + i * xrb + o),
                     _MM_HINT_T0);
      }
      const int64_t ob = (c + kTileAhead) * static_cast<int64_t>(kTileBytes);
      for (int i = 0; i < 16; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(b0 + ob + i * 64), _MM_HINT_T0);
        if constexpr (NB == 2)
          _mm_prefetch(reinterpret_cast<const char*>(b1 + ob + i * 64), _MM_HINT_T0);
      }
    }
    if (c < kf) {
      _tile_loadd(4, x0 + c * 64, s);
      if constexpr (NA == 2) _tile_loadd(5, x1 + c * 64, s);
    } else {
      _tile_loadd(4, tail0, 64);
      if constexpr (NA == 2) _tile_loadd(5, tail1, 64);
    }
    _tile_loadd(6, b0 + c * kTileBytes, 64);
    if constexpr (NB == 2) _tile_loadd(7, b1 + c * kTileBytes, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NB == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (NA == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (NA == 2 && NB == 2) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c_out[0], static_cast<long>(c_stride[0]));
  if constexpr (NB == 2) _tile_stored(1, c_out[1], static_cast<long>(c_stride[1]));
  if constexpr (NA == 2) _tile_stored(2, c_out[2], static_cast<long>(c_stride[2]));
  if constexpr (NA == 2 && NB == 2) _tile_stored(3, c_out[3], static_cast<long>(c_stride[3]));
}

void prefill(int64_t k, const uint8_t* w, size_t wrb, int64_t r0, int64_t r1, const uint8_t* x,
             size_t xrb, int64_t n_tokens, float* y, int64_t ldy) {
  const int64_t nc = (k + kChunk - 1) / kChunk;
  const int64_t kf = k / kChunk;
  thread_local Scratch panels_buf, tail_buf, c_buf;
  uint8_t* panels = panels_buf.get(2 * static_cast<size_t>(nc) * kTileBytes);
  // The tail chunk of every token, zero-padded to 64 bytes (the rows
  // themselves end at k: a full-width load would read past them).
  uint8_t* tails = nullptr;
  if (kf < nc) {
    tails = tail_buf.get(static_cast<size_t>(n_tokens) * 64);
    const auto m = static_cast<__mmask32>((uint64_t{1} << (k % kChunk)) - 1u);
    for (int64_t t = 0; t < n_tokens; ++t) {
      _mm512_store_si512(tails + t * 64, _mm512_maskz_loadu_epi16(m, x + t * xrb + kf * 64));
    }
  }
  // Outputs of a partial panel (< 16 rows) go through this, then are copied.
  auto* cbuf = reinterpret_cast<float*>(c_buf.get(4 * 16 * 16 * sizeof(float)));

  const auto ystride = static_cast<size_t>(ldy) * sizeof(float);
  int cfg0 = -1, cfg1 = -1;
  for (int64_t rr = r0; rr < r1; rr += 32) {
    const int n0 = static_cast<int>(std::min<int64_t>(16, r1 - rr));
    const int n1 = static_cast<int>(std::clamp<int64_t>(r1 - rr - 16, 0, 16));
    uint8_t* b0 = panels;
    uint8_t* b1 = panels + static_cast<size_t>(nc) * kTileBytes;
    pack_panel(w + rr * wrb, wrb, n0, k, nc, b0);
    if (n1 > 0) pack_panel(w + (rr + 16) * wrb, wrb, n1, k, nc, b1);
    const int nrs[2] = {n0, n1};
    // The next panel pair's rows go to L2 while this pair computes, a slice
    // per token-tile step, so its packing does not wait on memory.
    const int64_t next = rr + 32;
    const int64_t next_rows = std::clamp<int64_t>(r1 - next, 0, 32);
    const int64_t lines_per_row = (k * 2 + 63) / 64;
    const int64_t pf_lines = next_rows * lines_per_row;
    const int64_t n_steps = (n_tokens + 31) / 32;
    int64_t pf_done = 0;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += 32) {
      const int64_t pf_to = pf_lines * (t0 / 32 + 1) / n_steps;
      for (; pf_done < pf_to; ++pf_done) {
        const int64_t row = next + pf_done / lines_per_row;
        _mm_prefetch(reinterpret_cast<const char*>(w + row * wrb + (pf_done % lines_per_row) * 64),
                     _MM_HINT_T1);
      }
      const int m0 = static_cast<int>(std::min<int64_t>(16, n_tokens - t0));
      const int m1 = static_cast<int>(std::clamp<int64_t>(n_tokens - t0 - 16, 0, 16));
      // Packing may call into libc: (re)load the tile config after it.
      if (m0 != cfg0 || m1 != cfg1 || t0 == 0) {
        configure_prefill(m0, m1);
        cfg0 = m0;
        cfg1 = m1;
      }
      // C tile q = (token tile q / 2, panel q % 2): straight into y when
      // its panel is full, else into cbuf.
      float* c_out[4];
      size_t c_stride[4];
      for (int q = 0; q < 4; ++q) {
        const int ti = q / 2, pi = q % 2;
        if (nrs[pi] == 16) {
          c_out[q] = y + (t0 + 16 * ti) * ldy + rr + 16 * pi;
          c_stride[q] = ystride;
        } else {
          c_out[q] = cbuf + q * 256;
          c_stride[q] = 64;
        }
      }
      const uint8_t* x0 = x + t0 * xrb;
      const uint8_t* x1 = x0 + 16 * xrb;
      const uint8_t* tl0 = tails ? tails + t0 * 64 : nullptr;
      const uint8_t* tl1 = tails ? tl0 + 16 * 64 : nullptr;
      if (m1 > 0 && n1 > 0) {
        tile_block<2, 2>(nc, kf, x0, x1, xrb, tl0, tl1, b0, b1, c_out, c_stride);
      } else if (m1 > 0) {
        tile_block<2, 1>(nc, kf, x0, x1, xrb, tl0, tl1, b0, b1, c_out, c_stride);
      } else if (n1 > 0) {
        tile_block<1, 2>(nc, kf, x0, x1, xrb, tl0, tl1, b0, b1, c_out, c_stride);
      } else {
        tile_block<1, 1>(nc, kf, x0, x1, xrb, tl0, tl1, b0, b1, c_out, c_stride);
      }
      for (int q = 0; q < 4; ++q) {
        const int ti = q / 2, pi = q % 2;
        const int m = ti == 0 ? m0 : m1;
        if (nrs[pi] == 16 || nrs[pi] == 0 || m == 0) continue;
        const auto mask = static_cast<__mmask16>((1u << nrs[pi]) - 1u);
        for (int i = 0; i < m; ++i) {
          _mm512_mask_storeu_ps(y + (t0 + 16 * ti + i) * ldy + rr + 16 * pi, mask,
                                _mm512_load_ps(cbuf + q * 256 + i * 16));
        }
      }
    }
  }
}

// Decode reads a step of 48 rows chunk column by chunk column (48 short
// interleaved streams); when the matrix is dense the next step is one
// contiguous range, prefetched into L2 a slice per chunk column.

void decode(int64_t k, const uint8_t* w, size_t wrb, int64_t r0, int64_t r1, const uint8_t* x,
            float* y) {
  const int64_t nc = (k + kChunk - 1) / kChunk;
  const int64_t kf = k / kChunk;
  const auto tmask = static_cast<__mmask32>((uint64_t{1} << (k % kChunk)) - 1u);
  thread_local Scratch xbuf, abuf, cbuf_s;
  // x padded to whole chunks (B rows are 4 bytes: one pair per row).
  uint8_t* xp = xbuf.get(static_cast<size_t>(nc) * 64);
  std::memcpy(xp, x, static_cast<size_t>(kf) * 64);
  if (kf < nc) _mm512_store_si512(xp + kf * 64, _mm512_maskz_loadu_epi16(tmask, x + kf * 64));
  // Tail chunks of a 48-row step, zero-padded (3 tiles).
  uint8_t* atail = abuf.get(3 * kTileBytes);
  auto* cb = reinterpret_cast<float*>(cbuf_s.get(64 * sizeof(float)));
  const bool dense = wrb == static_cast<size_t>(k) * 2;
  const uint8_t* w_end = w + r1 * wrb;
  // The first step has no previous one to prefetch it: put all its lines
  // in flight at once (calls are short: a decode matmul is cut into ~8).
  if (dense) {
    const uint8_t* p0 = w + r0 * wrb;
    const uint8_t* p1 = std::min(w_end, p0 + 48 * wrb);
    for (const uint8_t* p = p0; p < p1; p += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T1);
  }
  int cfg = -1;
  for (int64_t rr = r0; rr < r1; rr += 48) {
    const int64_t left = r1 - rr;
    const int ng = static_cast<int>(std::min<int64_t>(3, (left + 15) / 16));
    const int n_last = static_cast<int>(left >= 48 ? 16 : left - 16 * (ng - 1));
    if (kf < nc) {
      for (int g = 0; g < ng; ++g) {
        const int nr = g == ng - 1 ? n_last : 16;
        for (int n = 0; n < 16; ++n) {
          const __m512i v =
              n < nr ? _mm512_maskz_loadu_epi16(tmask, w + (rr + 16 * g + n) * wrb + kf * 64)
                     : _mm512_setzero_si512();
          _mm512_store_si512(atail + g * kTileBytes + n * 64, v);
        }
      }
    }
    // Group g uses tiles (g, 3 + g); a short last group is configured on
    // group 2's tiles, so a step with ng groups runs groups 3 - ng .. 2.
    const int want = n_last;
    if (want != cfg || rr == r0) {
      configure_decode(want);
      cfg = want;
    }
    // Prefetch (into L2) the next step's rows, a slice per chunk column.
    const uint8_t* pf0 = w + (rr + 48) * wrb;
    const size_t pf_total =
        dense && pf0 < w_end ? std::min<size_t>(48 * wrb, static_cast<size_t>(w_end - pf0)) : 0;
    const uint8_t* wg[3];
    for (int g = 0; g < 3; ++g) wg[g] = w + (rr + 16 * (g - (3 - ng))) * wrb;
    const auto s = static_cast<long>(wrb);
    if (ng == 3) {
      _tile_zero(0);
      _tile_zero(1);
    } else if (ng == 2) {
      _tile_zero(1);
    }
    _tile_zero(2);
    for (int64_t c = 0; c < nc; ++c) {
      if (pf_total > 0) {
        const size_t lo =
            (pf_total * static_cast<size_t>(c) / static_cast<size_t>(nc)) & ~size_t{63};
        const size_t hi = pf_total * static_cast<size_t>(c + 1) / static_cast<size_t>(nc);
        for (size_t o = lo; o < hi; o += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(pf0 + o), _MM_HINT_T1);
        }
      }
      _tile_loadd(6, xp + c * 64, 4);
      if (c < kf) {
        if (ng == 3) _tile_loadd(3, wg[0] + c * 64, s);
        if (ng >= 2) _tile_loadd(4, wg[1] + c * 64, s);
        _tile_loadd(5, wg[2] + c * 64, s);
      } else {
        if (ng == 3) _tile_loadd(3, atail + 0 * kTileBytes, 64);
        if (ng >= 2) _tile_loadd(4, atail + (ng - 2) * kTileBytes, 64);
        _tile_loadd(5, atail + (ng - 1) * kTileBytes, 64);
      }
      if (ng == 3) _tile_dpbf16ps(0, 3, 6);
      if (ng >= 2) _tile_dpbf16ps(1, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
    }
    float* yo = y + rr;
    if (ng == 3) _tile_stored(0, yo, 4);
    if (ng >= 2) _tile_stored(1, yo + 16 * (ng - 2), 4);
    if (n_last == 16) {
      _tile_stored(2, yo + 16 * (ng - 1), 4);
    } else {
      _tile_stored(2, cb, 4);
      std::memcpy(yo + 16 * (ng - 1), cb, static_cast<size_t>(n_last) * sizeof(float));
      cfg = -1;  // memcpy may have touched the tile state (see amx_quant.cpp)
    }
  }
}

}  // namespace

void gemm_bf16(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  if (r1 <= r0 || nt <= 0 || k <= 0) return;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  if (nt == 1) {
    decode(k, wb, wrb, r0, r1, xb, y);
  } else {
    prefill(k, wb, wrb, r0, r1, xb, xrb, nt, y, ldy);
  }
}

float vec_dot_bf16(int64_t k, const void* w, const void* x) {
  float out = 0.0f;
  gemm_bf16(k, w, static_cast<size_t>(k) * 2, 0, 1, x, static_cast<size_t>(k) * 2, 1, &out, 1);
  return out;
}

}  // namespace ef::kernels::x86::amx
