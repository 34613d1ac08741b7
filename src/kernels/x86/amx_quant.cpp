// AMX INT8 gemm for q8_0 . q8_0 and q4_0 . q8_0 (decode and prefill).
//
// Tiles (per 32-element block b, up to 16 tokens x 16 weight rows):
//   A (tmm1): tokens x 32 bytes  = the activations' q8_0 quants, loaded
//             straight from the activation rows (stride = activation row bytes)
//   B (tmm2): 8 x 64 bytes       = 16 weight rows in AMX's VNNI layout,
//             B[i][4n + j] = w[row n][4i + j] (q4_0: nibble - 8, as int8)
//   C (tmm0): tokens x 16 int32  = exact per-block sums  sum_j x[t][j] w[n][j]
// tdpbssd (s8 x s8) gives every block sum exactly; then for each output
//   acc[t][n] = fma(float(isum), d_w[n] * d_x[t], acc[t][n])   for b = 0, 1, ...
// (lanes = weight rows), i.e. exactly ref::vec_dot_*_blockfma. Decode (one
// token) and prefill run the same per-element sequence, so the result of an
// element does not depend on the batch size, tiling or thread count.
//
// B is built per 16-row tile with dword gathers from the GGUF layout and
// reused for every token tile of the call. This is the path for weights not
// repacked at load (EDGEFORMER_PACK=0, or tensors a caller did not pack);
// packed weights go to amx_packed.cpp, which skips the gathers. One token
// (decode) goes to amx_decode.cpp: same sums and float sequence, no tiles.
#include "kernels/x86/simd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/x86/amx_decode.h"
#include "kernels/x86/amx_kernels.h"
#include "kernels/x86/amx_tile_config.h"

namespace ef::kernels::x86::amx {
namespace {

// Loads the tile configuration for `mt` tokens x 16 weight rows. Done right
// before each run of tile instructions, never cached across calls: a library
// call in between (the dynamic linker's lazy-binding trampoline saves and
// restores only the vector state) can leave the tiles unconfigured, and the
// next tile instruction then faults (#UD).
void configure(int mt) {
  TileConfig c;
  c.rows[0] = static_cast<uint8_t>(mt);  // C: mt x 16 int32
  c.colsb[0] = 64;
  c.rows[1] = static_cast<uint8_t>(mt);  // A: mt x 32 bytes
  c.colsb[1] = 32;
  c.rows[2] = 8;  // B: 8 x 64 bytes
  c.colsb[2] = 64;
  // Tiles 3, 4, 5: a second C, A, B (two blocks in flight).
  for (int t = 0; t < 3; ++t) {
    c.rows[3 + t] = c.rows[t];
    c.colsb[3 + t] = c.colsb[t];
  }
  load_tile_config(c);
}

// Per 16-row weight tile: VNNI-packed quants (nb x 512 bytes) and scales
// (nb x 16 floats; rows past the end get scale 0 and zero quants).
struct WeightTile {
  std::vector<int8_t> b;
  std::vector<float> d;
};

template <bool Q4>
void pack_weights(const uint8_t* w, size_t wrb, int nr, int64_t nb, WeightTile& out) {
  out.b.resize(static_cast<size_t>(nb) * 512);
  out.d.resize(static_cast<size_t>(nb) * 16);
  const __mmask16 valid = static_cast<__mmask16>((1u << nr) - 1u);
  const __m512i row_off =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(wrb)));
  const __m512i zero = _mm512_setzero_si512();
  constexpr int kBlockBytes = Q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* base = w + b * kBlockBytes;
    // Scales: the fp16 d at the start of each row's block b.
    const __m512i dh = _mm512_mask_i32gather_epi32(zero, valid, row_off, base, 1);
    _mm512_storeu_ps(out.d.data() + b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh)));
    int8_t* dst = out.b.data() + b * 512;
    if constexpr (Q4) {
      // Quant byte j holds elements j (low nibble) and j + 16 (high).
      const __m512i lo4 = _mm512_set1_epi8(0x0f);
      const __m512i eight = _mm512_set1_epi8(8);
      for (int i = 0; i < 4; ++i) {
        const __m512i g = _mm512_mask_i32gather_epi32(zero, valid, row_off, base + 2 + 4 * i, 1);
        const __m512i lo = _mm512_sub_epi8(_mm512_and_si512(g, lo4), eight);
        const __m512i hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(g, 4), lo4), eight);
        // Rows past the end must contribute 0, not -8.
        _mm512_storeu_si512(dst + 64 * i, _mm512_maskz_mov_epi32(valid, lo));
        _mm512_storeu_si512(dst + 64 * (i + 4), _mm512_maskz_mov_epi32(valid, hi));
      }
    } else {
      for (int i = 0; i < 8; ++i) {
        const __m512i g = _mm512_mask_i32gather_epi32(zero, valid, row_off, base + 2 + 4 * i, 1);
        _mm512_storeu_si512(dst + 64 * i, g);
      }
    }
  }
}

// One block's sums (c: mt x 16 int32) scaled into acc (lanes = weight rows).
// Rows of c past mt hold stale sums; FULL = all 16 tokens (no bound checks).
template <bool FULL>
inline void scale_block(const int32_t* c, const float* dw, const float* dx, int mt, __m512* acc) {
  const __m512 dwv = _mm512_loadu_ps(dw);
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    if (!FULL && m >= mt) break;
    const __m512 prod = _mm512_mul_ps(dwv, _mm512_set1_ps(dx[m]));
    const __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m));
    acc[m] = _mm512_fmadd_ps(s, prod, acc[m]);
  }
}

// mt tokens (rows of A at xt, stride xrb) x 16 packed weight rows, all blocks.
// dx: nb x 16 activation scales. Software-pipelined: while the tiles compute
// block b + 1, block b's sums are stored and block b - 1's (stored one step
// earlier, in the other buffer) are scaled, so the tile latency, the store
// and the reload overlap the float work. The scaling order per element is
// unchanged (block 0, 1, 2, ...).
template <bool FULL>
void token_tile(int64_t nb, const uint8_t* xt, size_t xrb, const int8_t* bw, const float* dw,
                const float* dx, int mt, __mmask16 valid, float* y, int64_t ldy) {
  alignas(64) int32_t c[2][16 * 16];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  const auto stride = static_cast<long>(xrb);
  // Even blocks on tiles 0-2, odd blocks on tiles 3-5.
#define EF_AMX_SUMS(b, C, A, B)                           \
  do {                                                    \
    _tile_zero(C);                                        \
    _tile_loadd(A, xt + (b) * sizeof(BlockQ8_0), stride); \
    _tile_loadd(B, bw + (b)*512, 64);                     \
    _tile_dpbssd(C, A, B);                                \
  } while (0)
  const auto scale = [&](int64_t b) {
    scale_block<FULL>(c[b & 1], dw + b * 16, dx + b * 16, mt, acc);
  };
  EF_AMX_SUMS(0, 0, 1, 2);
  int64_t b = 0;
  // Invariant at the top: block b is on its tiles (even: 0, odd: 3);
  // block b - 1 is stored in c[(b - 1) & 1].
  // (Tile instructions run in order: each store is issued before the next
  // block's tdpbssd, a scaling step after its own tdpbssd was issued.)
  for (; b + 1 < nb; b += 2) {
    _tile_stored(0, c[0], 64);
    EF_AMX_SUMS(b + 1, 3, 4, 5);
    if (b > 0) scale(b - 1);
    _tile_stored(3, c[1], 64);
    if (b + 2 < nb) EF_AMX_SUMS(b + 2, 0, 1, 2);
    scale(b);
  }
  if (b < nb) {  // nb odd: the last (even) block is on tile 0
    _tile_stored(0, c[0], 64);
    if (b > 0) scale(b - 1);
    scale(b);
  } else {
    scale(b - 1);
  }
#undef EF_AMX_SUMS
  // Constant bounds when FULL so acc[] stays in registers (a runtime index
  // would keep it in memory, reloaded around every tile store).
  const int rows = FULL ? 16 : mt;
#pragma GCC unroll 16
  for (int m = 0; m < rows; ++m) _mm512_mask_storeu_ps(y + m * ldy, valid, acc[m]);
}

template <bool Q4>
void gemm(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x, size_t xrb,
          int64_t n_tokens, float* y, int64_t ldy) {
  const int64_t nb = k / kQK8_0;
  const int64_t n_tiles = (n_tokens + 15) / 16;
  thread_local WeightTile tile;
  thread_local std::vector<float> dx;  // per token tile: nb x 16 activation scales
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);

  // Activation scales once per call (tokens at stride xrb -> one gather each).
  dx.resize(static_cast<size_t>(n_tiles * nb) * 16);
  const __m512i tok_off =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(xrb)));
  for (int64_t tt = 0; tt < n_tiles; ++tt) {
    const int mt = static_cast<int>(std::min<int64_t>(16, n_tokens - tt * 16));
    const auto tvalid = static_cast<__mmask16>((1u << mt) - 1u);
    for (int64_t b = 0; b < nb; ++b) {
      const __m512i dh = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), tvalid, tok_off,
                                                     xb + tt * 16 * xrb + b * sizeof(BlockQ8_0), 1);
      _mm512_storeu_ps(dx.data() + (tt * nb + b) * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh)));
    }
  }

  for (int64_t rr = r0; rr < r1; rr += 16) {
    const int nr = static_cast<int>(std::min<int64_t>(16, r1 - rr));
    const __mmask16 valid = static_cast<__mmask16>((1u << nr) - 1u);
    pack_weights<Q4>(wb + rr * wrb, wrb, nr, nb, tile);
    const int8_t* bw = tile.b.data();
    const float* dw = tile.d.data();
    // ldtilecfg is slow: load it only when the token-tile height changes
    // (and after the packing above, which may call into the C library).
    int configured = -1;
    for (int64_t tt = 0; tt < n_tiles; ++tt) {
      const int64_t t0 = tt * 16;
      const int mt = static_cast<int>(std::min<int64_t>(16, n_tokens - t0));
      if (mt != configured) {
        configure(mt);
        configured = mt;
      }
      const uint8_t* xt = xb + t0 * xrb + 2;  // quants of block 0
      const float* dxt = dx.data() + tt * nb * 16;
      float* yt = y + t0 * ldy + rr;
      if (mt == 16) {
        token_tile<true>(nb, xt, xrb, bw, dw, dxt, mt, valid, yt, ldy);
      } else {
        token_tile<false>(nb, xt, xrb, bw, dw, dxt, mt, valid, yt, ldy);
      }
    }
  }
}

}  // namespace

void gemm_q8_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  if (nt == 1) return decode_q8_0(k, w, wrb, r0, r1, x, y);
  gemm<false>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

void gemm_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  if (nt == 1) return decode_q4_0(k, w, wrb, r0, r1, x, y);
  gemm<true>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

}  // namespace ef::kernels::x86::amx
