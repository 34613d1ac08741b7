// One 32-float block -> one q8_0 activation block (ggml-cpu's x86 semantics,
// = ref::quantize_row_q8_0_act) and, optionally, its ActBlockInfo
// (kernels/packed.h). Shared by the row quantizers (avx2_quant.cpp) and
// rmsnorm fused with quantization (avx2_row_ops.cpp), so the two produce the
// same bytes. Include only from files compiled with the AVX2 flags.
#pragma once

#include <immintrin.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/packed.h"

namespace ef::kernels::x86::avx2 {

// v[0..3] = elements 0..7, 8..15, 16..23, 24..31. id = 127 / amax, round
// half to even (vroundps with an immediate mode, so MXCSR does not matter),
// saturating packs. The info sum adds the saturated values (what the stored
// bytes hold).
inline void quantize_block_q8_0_act(const __m256* v, BlockQ8_0* out, ActBlockInfo* info) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 m =
      _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                    _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const uint16_t d = fp32_to_fp16(amax / 127.0f);
  out->d = d;
  const __m256 idv = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(v[i], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // 32 x int32 -> 32 x int8; packs interleave 128-bit lanes, perm restores order.
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
  const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
  const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), perm);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->qs), q8);
  if (info != nullptr) {
    // Sum of the 32 stored int8: the int16 packs clamped to [-128, 127]
    // (what packs_epi16 stores), pairs added into int32 by madd.
    const __m256i lo = _mm256_set1_epi16(-128), hi = _mm256_set1_epi16(127);
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i s01 = _mm256_madd_epi16(_mm256_min_epi16(_mm256_max_epi16(q01, lo), hi), ones);
    const __m256i s23 = _mm256_madd_epi16(_mm256_min_epi16(_mm256_max_epi16(q23, lo), hi), ones);
    const __m256i s = _mm256_add_epi32(s01, s23);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
    info->d = fp16_to_fp32(d);
    info->sum = _mm_cvtsi128_si32(s4);
  }
}

}  // namespace ef::kernels::x86::avx2
