// One 32-float block -> one q8_0 activation block (ggml-cpu's x86 semantics,
// = ref::quantize_row_q8_0_act) and, optionally, its ActBlockInfo
// (kernels/packed.h). Shared by the row quantizers (avx512_quant.cpp) and
// rmsnorm fused with quantization (avx512_row_ops.cpp), so the two produce
// the same bytes. Include only from files compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/packed.h"

namespace ef::kernels::x86::avx512 {

// v0 = elements 0..15, v1 = 16..31. id = 127 / amax, round half to even via
// the conversion's embedded rounding mode, signed saturation to int8. The
// info sum adds the saturated values (what the stored bytes hold).
inline void quantize_block_q8_0_act(__m512 v0, __m512 v1, BlockQ8_0* out, ActBlockInfo* info) {
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const uint16_t d = fp32_to_fp16(amax / 127.0f);
  out->d = d;
  const __m512 idv = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, idv), kRne);
  const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, idv), kRne);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out->qs), _mm512_cvtsepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out->qs + 16), _mm512_cvtsepi32_epi8(q1));
  if (info != nullptr) {
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    const __m512i s0 = _mm512_min_epi32(_mm512_max_epi32(q0, lo), hi);
    const __m512i s1 = _mm512_min_epi32(_mm512_max_epi32(q1, lo), hi);
    info->d = fp16_to_fp32(d);
    info->sum = _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
  }
}

}  // namespace ef::kernels::x86::avx512
