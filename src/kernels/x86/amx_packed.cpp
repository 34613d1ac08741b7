// AMX INT8 gemm on packed q8_0 / q4_0 weights (layout: kernels/packed.h).
//
// Per 16-row group the call first turns the packed quants into signed AMX
// B tiles in a thread-local buffer (q8_0: stored w + 128 -> w; q4_0: nibble
// -> nibble - 8, low nibbles to B rows 0..3, high nibbles to rows 4..7),
// once per group, reused by every 16-token tile of the call. Then per block b
//   C (mt x 16 int32) = A (mt tokens x 32 quants) . B (8 x 64 bytes)
// on tdpbssd gives the exact block sums, and per output
//   acc = fma(float(isum), d_w * d_x, acc)      blocks in order
// i.e. ref::vec_dot_*_blockfma bit for bit, like the avx512 packed gemm and
// the GGUF-layout AMX gemm, whatever the tiling or thread split.
//
// The block sums leave the tile unit through memory (tilestored, then
// vector loads), so the loop is software-pipelined three blocks deep:
// while block b is computed on the tiles, block b - 2 is stored and block
// b - 3 (stored one step earlier) is scaled. Three C tiles rotate, A and B
// alternate between two tiles each (7 of the 8 tiles). Storing right after
// a block's tdpbssd would wait for its whole latency; this order never does.
#include "kernels/x86/simd.h"

#include <algorithm>
#include <vector>

#include "core/dtype.h"
#include "kernels/packed.h"
#include "kernels/x86/amx_kernels.h"
#include "kernels/x86/amx_tile_config.h"
#include "kernels/x86/avx512_kernels.h"

namespace ef::kernels::x86::amx {
namespace {

// C tiles 0..2 (mt x 16 int32), A tiles 3..4 (mt x 32 bytes), B tiles 5..6
// (8 x 64 bytes).
void configure(int mt) {
  TileConfig c;
  for (int t = 0; t < 3; ++t) {
    c.rows[t] = static_cast<uint8_t>(mt);
    c.colsb[t] = 64;
  }
  for (int t = 3; t < 5; ++t) {
    c.rows[t] = static_cast<uint8_t>(mt);
    c.colsb[t] = 32;
  }
  for (int t = 5; t < 7; ++t) {
    c.rows[t] = 8;
    c.colsb[t] = 64;
  }
  load_tile_config(c);
}

// The group's packed quants -> nb signed B tiles of 512 bytes at `out`.
template <bool Q4>
void unpack_group(const uint8_t* quants, int64_t nb, int8_t* out) {
  if constexpr (Q4) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const __m512i eight = _mm512_set1_epi8(8);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* q = quants + b * 256;
      int8_t* dst = out + b * 512;
      for (int i = 0; i < 4; ++i) {
        const __m512i raw = _mm512_loadu_si512(q + 64 * i);
        const __m512i lo = _mm512_sub_epi8(_mm512_and_si512(raw, lo4), eight);
        const __m512i hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(raw, 4), lo4), eight);
        _mm512_store_si512(dst + 64 * i, lo);
        _mm512_store_si512(dst + 64 * (i + 4), hi);
      }
    }
  } else {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    for (int64_t i = 0; i < nb * 8; ++i) {
      _mm512_store_si512(out + 64 * i, _mm512_xor_si512(_mm512_loadu_si512(quants + 64 * i), flip));
    }
  }
}

struct TileJob {
  int64_t nb;
  const uint8_t* xq;         // token 0's block-0 quants (activation row + 2)
  long x_stride;             // activation row bytes
  const int8_t* bw;          // nb B tiles
  const uint16_t* dw;        // nb x 16 fp16 weight scales
  const ActBlockInfo* info;  // token 0, block 0 (token m at info[m * nb])
  float* y;                  // token 0, the group's first row
  int64_t ldy;
  int mt;           // tokens (rows of A and C)
  __mmask16 valid;  // rows of the group inside the matrix
};

template <bool FULL>
inline void scale_block(const int32_t* c, const TileJob& j, int64_t b, __m512* acc) {
  const __m512 dwv =
      _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(j.dw + b * 16)));
  const ActBlockInfo* xi = j.info + b;
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    if (!FULL && m >= j.mt) break;
    const __m512 prod = _mm512_mul_ps(dwv, _mm512_set1_ps(xi[m * j.nb].d));
    const __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m));
    acc[m] = _mm512_fmadd_ps(s, prod, acc[m]);
  }
}

// mt tokens x one 16-row group, all blocks (see the pipeline above).
template <bool FULL>
void token_tile(const TileJob& j) {
  alignas(64) int32_t c[3][16 * 16];
  __m512 acc[16];
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  const int64_t nb = j.nb;
  // Step s: block s issued, block s - 2 stored, block s - 3 scaled. The
  // tile numbers must be literals (GCC pastes them into the asm), so six
  // steps are spelled out: step s uses C tile s mod 3, A/B tiles 3/5 or 4/6
  // (s mod 2); block s - 2's C tile goes to c[its number], and block s - 3
  // was stored one step earlier into c[s mod 3].
#define EF_AMX_STEP(s, CT, AT, BT, ST, SB)                                               \
  do {                                                                                   \
    const int64_t blk = (s);                                                             \
    if (blk < nb) {                                                                      \
      _tile_zero(CT);                                                                    \
      _tile_loadd(AT, j.xq + blk * static_cast<int64_t>(sizeof(BlockQ8_0)), j.x_stride); \
      _tile_loadd(BT, j.bw + blk * 512, 64);                                             \
      _tile_dpbssd(CT, AT, BT);                                                          \
    }                                                                                    \
    if (blk >= 2 && blk - 2 < nb) _tile_stored(ST, c[ST], 64);                           \
    if (blk >= 3 && blk - 3 < nb) scale_block<FULL>(c[SB], j, blk - 3, acc);             \
  } while (0)
  for (int64_t s = 0; s < nb + 3; s += 6) {
    EF_AMX_STEP(s, 0, 3, 5, 1, 0);
    EF_AMX_STEP(s + 1, 1, 4, 6, 2, 1);
    EF_AMX_STEP(s + 2, 2, 3, 5, 0, 2);
    EF_AMX_STEP(s + 3, 0, 4, 6, 1, 0);
    EF_AMX_STEP(s + 4, 1, 3, 5, 2, 1);
    EF_AMX_STEP(s + 5, 2, 4, 6, 0, 2);
  }
#undef EF_AMX_STEP
  // Constant bounds when FULL so acc[] stays in registers.
  const int rows = FULL ? 16 : j.mt;
#pragma GCC unroll 16
  for (int m = 0; m < rows; ++m) _mm512_mask_storeu_ps(j.y + m * j.ldy, j.valid, acc[m]);
}

template <bool Q4>
void gemm_packed(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x, size_t xrb,
                 const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  const DType type = Q4 ? DType::Q4_0 : DType::Q8_0;
  const int64_t nb = k / kQK8_0;
  const size_t gb = packed_group_bytes(type, k);
  const size_t quant_bytes = static_cast<size_t>(nb) * packed_quant_bytes(type);
  const int64_t g0 = r0 / kPackRows;
  const int64_t n_groups = (r1 - r0 + kPackRows - 1) / kPackRows;
  // All B tiles of the call first (nb x 512 bytes per group), then token
  // tiles outermost: one tile's activation rows (16 x k bytes) stay in L1
  // while every group reads them, and the B tiles stream in order.
  struct alignas(64) Line {
    int8_t bytes[64];
  };
  thread_local std::vector<Line> tiles;  // 64-byte aligned B tiles
  tiles.resize(static_cast<size_t>(n_groups * nb) * 8);
  auto* bw = reinterpret_cast<int8_t*>(tiles.data());
  const auto* base = static_cast<const uint8_t*>(packed);
  for (int64_t g = 0; g < n_groups; ++g) {
    unpack_group<Q4>(base + (g0 + g) * gb, nb, bw + g * nb * 512);
  }
  const auto* xq = static_cast<const uint8_t*>(x) + 2;
  // ldtilecfg is slow: load it once (after the unpacking, which may call
  // into the C library) and again only when the token-tile height changes.
  int configured = -1;
  for (int64_t t0 = 0; t0 < nt; t0 += 16) {
    const int mt = static_cast<int>(std::min<int64_t>(16, nt - t0));
    if (mt != configured) {
      configure(mt);
      configured = mt;
    }
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t rr = r0 + g * kPackRows;
      const int nr = static_cast<int>(std::min<int64_t>(kPackRows, r1 - rr));
      const TileJob j{nb,
                      xq + t0 * static_cast<int64_t>(xrb),
                      static_cast<long>(xrb),
                      bw + g * nb * 512,
                      reinterpret_cast<const uint16_t*>(base + (g0 + g) * gb + quant_bytes),
                      info + t0 * nb,
                      y + t0 * ldy + rr,
                      ldy,
                      mt,
                      static_cast<__mmask16>((1u << nr) - 1u)};
      if (mt == 16) {
        token_tile<true>(j);
      } else {
        token_tile<false>(j);
      }
    }
  }
}

}  // namespace

void gemm_packed_q8_0(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x,
                      size_t xrb, const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  // One token: the AVX-512 packed kernel streams the weights (same bits).
  if (nt == 1) return avx512::gemm_packed_q8_0(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
  gemm_packed<false>(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
}

void gemm_packed_q4_0(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x,
                      size_t xrb, const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  if (nt == 1) return avx512::gemm_packed_q4_0(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
  gemm_packed<true>(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
}

}  // namespace ef::kernels::x86::amx
