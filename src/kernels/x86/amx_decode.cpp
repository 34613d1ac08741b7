// Decode (one token) for the AMX table's q8_0 / q4_0 matmuls, on AVX-512
// VNNI: the same exact per-block int32 sums and the same float sequence as
// the AMX tiles (so a token's result does not depend on whether it was
// evaluated alone or in a batch), without packing weights into tiles.
//
// Rows of a 16-row tile are read one after the other in address order (one
// linear stream, prefetched ahead), their partials kept in an L1 buffer; the
// per-block reduction and scaling then run per block pair.
// For 16 weight rows and a pair of blocks (b, b+1):
//   P_r = vpdpbusd over row r's 64 quants (lanes 0-7: partial sums of
//         block b, lanes 8-15: block b+1); integer partials, exact
//   S_b[r] = sum of P_r lanes 0-7, S_b+1[r] = lanes 8-15: a 16x16 transpose-
//         and-add tree (44 shuffles/adds for 16 rows x 2 blocks)
//   acc[r] = fma(float(S_b[r]), d_w[r] * d_x, acc[r])  for b, then b+1.
#include "kernels/x86/simd.h"

#include <algorithm>
#include <type_traits>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/x86/amx_decode.h"

namespace ef::kernels::x86::amx {
namespace {

// Bytes ahead of the block being read that are prefetched into L1: rows of
// a tile are read in address order, so this is one linear stream per thread.
constexpr int64_t kPrefetchBytes = 2048;

inline __m512i load_pair(const void* q0, const void* q1, bool two) {
  const __m512i lo =
      _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0)));
  return two ? _mm512_inserti64x4(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q1)), 1)
             : lo;
}

// q4_0 nibbles of blocks b, b+1 as bytes in element order (low nibbles =
// elements 0-15, high = 16-31), unsigned 0..15.
inline __m512i load_q4_pair(const BlockQ4_0* blk, bool two) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs));
  const __m128i c =
      two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)) : _mm_setzero_si128();
  const __m256i ac = _mm256_inserti128_si256(_mm256_castsi128_si256(a), c, 1);
  const __m512i z = _mm512_zextsi256_si512(ac);
  const __m512i aacc = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(1, 1, 0, 0));
  const __m512i shifted = _mm512_mask_srli_epi16(aacc, 0xff00ff00u, aacc, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// {S_b, S_b+1} from P_0..P_15 (see the file comment).
inline void reduce16(const __m512i* p, __m512i& sb, __m512i& sb1) {
  __m512i u[8], v[4];
  for (int j = 0; j < 8; ++j) {
    u[j] = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2 * j], p[2 * j + 1]),
                            _mm512_unpackhi_epi32(p[2 * j], p[2 * j + 1]));
  }
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm512_add_epi32(_mm512_unpacklo_epi64(u[2 * j], u[2 * j + 1]),
                            _mm512_unpackhi_epi64(u[2 * j], u[2 * j + 1]));
  }
  // v[k] lane L (128 bits) = rows 4k..4k+3 summed over lane L's dwords;
  // lanes 0, 1 belong to block b, lanes 2, 3 to block b+1.
  const __m512i x01 = _mm512_add_epi32(_mm512_shuffle_i64x2(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i64x2(v[0], v[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i x23 = _mm512_add_epi32(_mm512_shuffle_i64x2(v[2], v[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                       _mm512_shuffle_i64x2(v[2], v[3], _MM_SHUFFLE(3, 1, 3, 1)));
  // x01 = [v0 b, v0 b+1, v1 b, v1 b+1]
  sb = _mm512_shuffle_i64x2(x01, x23, _MM_SHUFFLE(2, 0, 2, 0));
  sb1 = _mm512_shuffle_i64x2(x01, x23, _MM_SHUFFLE(3, 1, 3, 1));
}

// Block pairs per pass over a tile's rows: each pass reads a slice of every
// row (16 rows x kPassPairs x 68 bytes at most) into the partials buffer.
constexpr int64_t kPassPairs = 16;

template <bool Q4>
void decode(int64_t k, const uint8_t* w, size_t wrb, int64_t r0, int64_t r1, const uint8_t* x,
            float* y) {
  using WBlock = std::conditional_t<Q4, BlockQ4_0, BlockQ8_0>;
  const int64_t nb = k / kQK8_0;
  const int64_t n_pairs = (nb + 1) / 2;
  // Passes of equal size (a row of k = 576 is read in one pass, 1536 in two).
  const int64_t n_passes = (n_pairs + kPassPairs - 1) / kPassPairs;
  const int64_t pass_pairs = (n_pairs + n_passes - 1) / n_passes;
  const auto* xq = reinterpret_cast<const BlockQ8_0*>(x);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i ones8 = _mm512_set1_epi8(1);
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i row_off = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(wrb)));
  // Prefetch only a dense matrix (rows back to back): one linear stream.
  const bool dense = wrb == static_cast<size_t>(nb) * sizeof(WBlock);
  const uint8_t* w_end = w + r1 * wrb;
  // P vectors of one pass: partials[pair][row].
  alignas(64) __m512i partials[kPassPairs][16];
  alignas(64) __m512i xs[kPassPairs];
  alignas(64) __m512i xcorr[kPassPairs];
  for (int64_t rr = r0; rr < r1; rr += 16) {
    const int nr = static_cast<int>(std::min<int64_t>(16, r1 - rr));
    const __mmask16 valid = static_cast<__mmask16>((1u << nr) - 1u);
    const uint8_t* wt = w + rr * wrb;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < n_pairs; p0 += pass_pairs) {
      const int64_t np = std::min(pass_pairs, n_pairs - p0);
      // Activation side of each pair, shared by the 16 rows: q8_0 needs
      // x + 128 (u8 operand); q4_0 needs x and -8 * sum x.
      for (int64_t j = 0; j < np; ++j) {
        const int64_t b = 2 * (p0 + j);
        const bool two = b + 1 < nb;
        const __m512i xv = load_pair(xq[b].qs, two ? xq[b + 1].qs : nullptr, two);
        if constexpr (Q4) {
          xs[j] = xv;
          xcorr[j] =
              _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones8, xv), 3));
        } else {
          xs[j] = _mm512_xor_si512(xv, bias);
        }
      }
      // 1. Row by row, in address order (a single linear stream when the pass
      //    is the whole row): exact int32 partials P_r for each block pair.
      for (int r = 0; r < 16; ++r) {
        if (r >= nr) {
          for (int64_t j = 0; j < np; ++j) partials[j][r] = zero;
          continue;
        }
        const auto* row = reinterpret_cast<const WBlock*>(wt + r * wrb);
        for (int64_t j = 0; j < np; ++j) {
          const int64_t b = 2 * (p0 + j);
          const bool two = b + 1 < nb;
          const WBlock* blk = row + b;
          if (dense) {
            const auto* pf = reinterpret_cast<const uint8_t*>(blk) + kPrefetchBytes;
            if (pf < w_end) _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
          }
          if constexpr (Q4) {
            // sum (q - 8) x = vpdpbusd(-8 * sum x, q, x)
            partials[j][r] = _mm512_dpbusd_epi32(xcorr[j], load_q4_pair(blk, two), xs[j]);
          } else {
            // sum w x = vpdpbusd(-128 * sum w, x + 128, w)
            const __m512i wv = load_pair(blk[0].qs, two ? blk[1].qs : nullptr, two);
            const __m512i wcorr =
                _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones8, wv), 7));
            partials[j][r] = _mm512_dpbusd_epi32(wcorr, xs[j], wv);
          }
        }
      }
      // 2. Per pair, in block order: block sums (lanes = rows), then the
      //    per-block fma of ref::vec_dot_*_blockfma.
      for (int64_t j = 0; j < np; ++j) {
        const int64_t b = 2 * (p0 + j);
        const bool two = b + 1 < nb;
        __m512i s[2];
        reduce16(partials[j], s[0], s[1]);
        for (int h = 0; h < (two ? 2 : 1); ++h) {
          const uint8_t* dbase = wt + (b + h) * static_cast<int64_t>(sizeof(WBlock));
          const __m512i dh = _mm512_mask_i32gather_epi32(zero, valid, row_off, dbase, 1);
          const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dh));
          const __m512 prod = _mm512_mul_ps(dw, _mm512_set1_ps(fp16_to_fp32(xq[b + h].d)));
          acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[h]), prod, acc);
        }
      }
    }
    _mm512_mask_storeu_ps(y + rr, valid, acc);
  }
}

}  // namespace

void decode_q8_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
                 float* y) {
  decode<false>(k, static_cast<const uint8_t*>(w), wrb, r0, r1, static_cast<const uint8_t*>(x), y);
}

void decode_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
                 float* y) {
  decode<true>(k, static_cast<const uint8_t*>(w), wrb, r0, r1, static_cast<const uint8_t*>(x), y);
}

}  // namespace ef::kernels::x86::amx
