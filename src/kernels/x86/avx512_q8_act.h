// q8_0 activation blocks (ggml-cpu's x86 semantics, = ref::quantize_row_q8_0_act)
// and, optionally, their ActBlockInfo (kernels/packed.h), from 32 floats per
// block given by a loader. Shared by the row quantizers (avx512_quant.cpp) and
// rmsnorm fused with quantization (avx512_row_ops.cpp), so the two produce
// the same bytes for the same floats. Include only from files compiled with
// the AVX-512 flags.
//
// Per block: amax = max |x|, d = fp16(amax / 127), id = 127 / amax (0 for
// amax 0), q = round half to even (x * id), saturated to int8; info = {d as
// float, sum of the stored q}. Blocks go 16 at a time: their 16 horizontal
// maxima (and sums) come out of one shuffle tree as one vector instead of 16
// separate reductions, and d, id and the fp16 rounding are 16-lane ops (the
// same IEEE divisions and round-to-nearest-even conversion as one block at a
// time, so the same bits as ref::quantize_row_q8_0_act).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/packed.h"

namespace ef::kernels::x86::avx512 {

// 16 vectors -> one vector whose lane b is op over all 16 lanes of v[b]
// (op: max or add, associative and commutative on the values at hand: float
// max of non-NaN values, int32 add). Four levels of pairwise folds; the last
// leaves block i + 4j in lane 4i + j, put back in order by one permute.
template <class Op>
inline __m512 fold16(__m512* v, Op op) {
  for (int j = 0; j < 8; ++j) {  // 256-bit halves: lanes 0-7 <- v[2j], 8-15 <- v[2j+1]
    const __m512 a = v[2 * j], b = v[2 * j + 1];
    v[j] = op(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  for (int j = 0; j < 4; ++j) {  // 128-bit lane i <- block 4j + i
    const __m512 a = v[2 * j], b = v[2 * j + 1];
    v[j] = op(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
              _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  for (int j = 0; j < 2; ++j) {  // 128-bit lane i: 2 of block 8j + i, 2 of block 8j + 4 + i
    const __m512 a = v[2 * j], b = v[2 * j + 1];
    v[j] = op(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
              _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  const __m512 f = op(_mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(2, 0, 2, 0)),
                      _mm512_shuffle_ps(v[0], v[1], _MM_SHUFFLE(3, 1, 3, 1)));
  // Lane 4i + j holds block i + 4j: lane b of the result reads lane 4(b%4) + b/4.
  const __m512i order =
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, f);
}

// Blocks [0, nb): load(b, v0, v1) gives block b's floats (called twice per
// block, so it must return the same floats each time). A last group of
// fewer than 16 blocks runs the same code with zero vectors in the unused
// lanes: every lane of the folds only ever combines its own block's values,
// so a block's bytes do not depend on its group.
template <class Load>
inline void quantize_blocks_q8_0_act(Load load, int64_t nb, BlockQ8_0* out, ActBlockInfo* info) {
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t b0 = 0; b0 < nb; b0 += 16) {
    const int count = nb - b0 < 16 ? static_cast<int>(nb - b0) : 16;
    __m512 m[16];
    for (int j = 0; j < 16; ++j) {
      m[j] = _mm512_setzero_ps();
      if (j >= count) continue;
      __m512 v0, v1;
      load(b0 + j, v0, v1);
      m[j] = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    }
    const __m512 amax = fold16(m, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); });
    const __m256i d16 = _mm512_cvtps_ph(_mm512_div_ps(amax, _mm512_set1_ps(127.0f)), kRne);
    // amax != 0 (NaN included, as the scalar test), else id = 0.
    const __mmask16 nonzero = _mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    alignas(64) float id[16];
    alignas(32) uint16_t d[16];
    _mm512_store_ps(id, _mm512_maskz_div_ps(nonzero, _mm512_set1_ps(127.0f), amax));
    _mm256_store_si256(reinterpret_cast<__m256i*>(d), d16);
    __m512 sums[16];
    for (int j = 0; j < 16; ++j) {
      sums[j] = _mm512_setzero_ps();
      if (j >= count) continue;
      __m512 v0, v1;
      load(b0 + j, v0, v1);
      const __m512 idv = _mm512_set1_ps(id[j]);
      const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, idv), kRne);
      const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, idv), kRne);
      BlockQ8_0& o = out[b0 + j];
      o.d = d[j];
      const __m128i lo8 = _mm512_cvtsepi32_epi8(q0), hi8 = _mm512_cvtsepi32_epi8(q1);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs), lo8);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16), hi8);
      if (info != nullptr) {
        // Sum of the stored int8 q: sum (q + 128) by vpsadbw, in 4 uint64
        // lanes (each < 2^11: its high int32 half is 0), less 32 * 128 below.
        const __m256i u = _mm256_xor_si256(_mm256_set_m128i(hi8, lo8), _mm256_set1_epi8(-128));
        sums[j] = _mm512_castsi512_ps(
            _mm512_zextsi256_si512(_mm256_sad_epu8(u, _mm256_setzero_si256())));
      }
    }
    if (info != nullptr) {
      const __m512 s = _mm512_castsi512_ps(_mm512_sub_epi32(
          _mm512_castps_si512(fold16(sums,
                                     [](__m512 a, __m512 b) {
                                       return _mm512_castsi512_ps(_mm512_add_epi32(
                                           _mm512_castps_si512(a), _mm512_castps_si512(b)));
                                     })),
          _mm512_set1_epi32(32 * 128)));
      // {d, sum} pairs: lanes (d_b, sum_b) of the two vectors interleaved;
      // blocks 0-7 of the group, then 8-15, only the `count` that exist.
      const __m512 dv = _mm512_cvtph_ps(d16);
      const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const __m512i second =
          _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const uint64_t pairs = (uint64_t{1} << (2 * count)) - 1;  // 2 floats per block
      _mm512_mask_storeu_ps(info + b0, static_cast<__mmask16>(pairs),
                            _mm512_permutex2var_ps(dv, first, s));
      if (count > 8) {
        _mm512_mask_storeu_ps(info + b0 + 8, static_cast<__mmask16>(pairs >> 16),
                              _mm512_permutex2var_ps(dv, second, s));
      }
    }
  }
}

}  // namespace ef::kernels::x86::avx512
