// AVX-512 VNNI gemm on packed q8_0 / q4_0 weights (layout: kernels/packed.h).
//
// A 16-row group's block b is 8 vectors W_i (byte 4n + j = row n's quant
// 4i + j, unsigned). For one token, with x_i = its quants 4i..4i+3 (signed)
// broadcast to every dword:
//   S = vpdpbusd(... vpdpbusd(corr, W_0, x_0) ..., W_7, x_7)
// gives the 16 rows' exact block sums at once (lanes = rows), where corr =
// -128 * sum x (q8_0, stored w + 128) or -8 * sum x (q4_0, nibbles 0..15)
// undoes the offset. Then, per block in order,
//   acc = fma(float(S), d_w[16] * d_x, acc)
// which is ref::vec_dot_*_blockfma per lane, bit for bit, whatever the tile
// shape, thread split or token count. No horizontal sums: acc lanes are the
// 16 outputs of one token, stored directly.
//
// Register tile: G row groups x T tokens; the G x 8 weight vectors of a
// block are loaded (q4_0: unpacked) once and reused for T tokens.
#include "kernels/x86/simd.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "core/dtype.h"
#include "kernels/packed.h"
#include "kernels/x86/avx512_kernels.h"
#include "kernels/x86/gemm_tiled.h"

namespace ef::kernels::x86::avx512 {
namespace {

template <bool Q4>
struct Fmt {
  static constexpr int64_t kQuantBytes = Q4 ? 256 : 512;
  static constexpr int32_t kCorr = Q4 ? -8 : -128;
  static DType type() { return Q4 ? DType::Q4_0 : DType::Q8_0; }
};

// The 8 weight vectors of one group's block (q4_0: low nibbles are k-groups
// 0..3, high nibbles 4..7).
template <bool Q4>
inline void load_block(const uint8_t* q, __m512i* wv) {
  if constexpr (Q4) {
    const __m512i m = _mm512_set1_epi8(0x0f);
    for (int i = 0; i < 4; ++i) {
      const __m512i raw = _mm512_loadu_si512(q + 64 * i);
      wv[i] = _mm512_and_si512(raw, m);
      wv[i + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m);
    }
  } else {
    for (int i = 0; i < 8; ++i) wv[i] = _mm512_loadu_si512(q + 64 * i);
  }
}

inline __m512i bcast32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

struct TileArgs {
  int64_t nb;
  const uint8_t* group;  // first group of the tile
  size_t group_bytes;
  const int8_t* xq;  // token 0, block 0 quants (activation row + 2)
  size_t xrb;
  const ActBlockInfo* info;  // token 0, block 0
  float* y;                  // token 0, first row of the tile
  int64_t ldy;
  __mmask16 last_mask;  // valid rows of the tile's last group
  bool prefetch;        // decode: prefetch the weight stream ahead
};

template <bool Q4, int G, int T>
void tile(const TileArgs& a) {
  using F = Fmt<Q4>;
  const int64_t nb = a.nb;
  const uint8_t* scales[G];
  for (int g = 0; g < G; ++g) scales[g] = a.group + g * a.group_bytes + nb * F::kQuantBytes;
  __m512 acc[G][T];
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i wv[G][8];
    __m512 dw[G];
    for (int g = 0; g < G; ++g) {
      const uint8_t* q = a.group + g * a.group_bytes + b * F::kQuantBytes;
      if (a.prefetch) {
        for (int64_t l = 0; l < F::kQuantBytes + 64; l += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(q + kDecodePrefetchBytes + l), _MM_HINT_T0);
        }
      }
      load_block<Q4>(q, wv[g]);
      dw[g] =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales[g] + b * 32)));
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* xb = a.xq + t * a.xrb + b * static_cast<int64_t>(sizeof(BlockQ8_0));
      const ActBlockInfo xi = a.info[t * nb + b];
      const __m512i corr = _mm512_set1_epi32(xi.sum * F::kCorr);
      const __m512 dx = _mm512_set1_ps(xi.d);
      for (int g = 0; g < G; ++g) {
        __m512i s = corr;
        for (int i = 0; i < 8; ++i) s = _mm512_dpbusd_epi32(s, wv[g][i], bcast32(xb + 4 * i));
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[g], dx), acc[g][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int g = 0; g < G; ++g) {
      float* out = a.y + t * a.ldy + 16 * g;
      if (g == G - 1) {
        _mm512_mask_storeu_ps(out, a.last_mask, acc[g][t]);
      } else {
        _mm512_storeu_ps(out, acc[g][t]);
      }
    }
  }
}

using PackedTileFn = void (*)(const TileArgs&);

template <bool Q4, int G, int T, size_t... I>
constexpr std::array<PackedTileFn, G * T> tile_table(std::index_sequence<I...>) {
  return {&tile<Q4, static_cast<int>(I) / T + 1, static_cast<int>(I) % T + 1>...};
}

// Prefill tile: G groups x T tokens (measured, see bench/kernels_bench.cpp).
constexpr int kG = 2;
constexpr int kT = 4;
// Decode: groups per step (independent dpbusd chains while streaming).
constexpr int kDecodeG = 2;

template <bool Q4>
void gemm_packed(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x, size_t xrb,
                 const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  static constexpr auto kTiles = tile_table<Q4, kG, kT>(std::make_index_sequence<kG * kT>{});
  static constexpr auto kDecode = tile_table<Q4, kDecodeG, 1>(std::make_index_sequence<kDecodeG>{});
  const int64_t nb = k / kQK8_0;
  const size_t gb = packed_group_bytes(Fmt<Q4>::type(), k);
  const auto* base = static_cast<const uint8_t*>(packed);
  const auto* xq = static_cast<const int8_t*>(x) + 2;
  const int64_t g_end = (r1 + kPackRows - 1) / kPackRows;
  const bool decode = nt == 1;
  const int gstep = decode ? kDecodeG : kG;
  for (int64_t g = r0 / kPackRows; g < g_end; g += gstep) {
    const int ng = static_cast<int>(std::min<int64_t>(gstep, g_end - g));
    const int64_t last_rows = std::min<int64_t>(kPackRows, r1 - (g + ng - 1) * kPackRows);
    TileArgs a{nb,
               base + g * gb,
               gb,
               xq,
               xrb,
               info,
               y + g * kPackRows,
               ldy,
               static_cast<__mmask16>((1u << last_rows) - 1u),
               decode};
    if (decode) {
      kDecode[ng - 1](a);
      continue;
    }
    for (int64_t t = 0; t < nt; t += kT) {
      const int tt = static_cast<int>(std::min<int64_t>(kT, nt - t));
      a.xq = xq + t * static_cast<int64_t>(xrb);
      a.info = info + t * nb;
      a.y = y + t * ldy + g * kPackRows;
      kTiles[(ng - 1) * kT + (tt - 1)](a);
    }
  }
}

}  // namespace

void gemm_packed_q8_0(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x,
                      size_t xrb, const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  gemm_packed<false>(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
}

void gemm_packed_q4_0(int64_t k, const void* packed, int64_t r0, int64_t r1, const void* x,
                      size_t xrb, const ActBlockInfo* info, int64_t nt, float* y, int64_t ldy) {
  gemm_packed<true>(k, packed, r0, r1, x, xrb, info, nt, y, ldy);
}

}  // namespace ef::kernels::x86::avx512
