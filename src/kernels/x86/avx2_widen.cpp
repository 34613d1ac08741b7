// AVX2 dequantization of Q8_0 / Q4_0 rows to F32 ("widening"): what flash
// attention runs on every KV tile of a quantized cache, so they are on the
// decode path. Bit-identical to the scalar oracles in ref/ (a dequantized
// element is one float product q * d, rounded once in both versions). The
// F16/BF16 widenings live in avx2_attention.cpp.
#include <immintrin.h>

#include <cstring>

#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/x86/avx2_kernels.h"

namespace ef::kernels::x86::avx2 {

// Q8_0 blocks: y = q * d (n multiple of 32).
void dequantize_row_q8_0(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(x);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(blocks[b].d));
    for (int j = 0; j < kQK8_0; j += 8) {
      int64_t q8;
      std::memcpy(&q8, blocks[b].qs + j, 8);
      const __m256i q = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8));
      _mm256_storeu_ps(y + b * kQK8_0 + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

// Q4_0 blocks: byte j holds elements j (low nibble) and j + 16 (high);
// y = (q - 8) * d (n multiple of 32).
void dequantize_row_q4_0(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(x);
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m128i eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(blocks[b].d));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[b].qs));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(bytes, low_mask), eight);  // elements 0..15
    const __m128i hi =
        _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask), eight);  // 16..31
    float* yb = y + b * kQK4_0;
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int p = 0; p < 4; ++p) {
      const __m256i q = _mm256_cvtepi8_epi32(parts[p]);
      _mm256_storeu_ps(yb + 8 * p, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

}  // namespace ef::kernels::x86::avx2
