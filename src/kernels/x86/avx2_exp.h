// Vectorised exp for AVX2 (+FMA) files only (include from *avx2* sources).
//
// Same range reduction and polynomial as avx512_exp.h. Without vscalefps,
// 2^n is applied as 2^n1 * 2^n2 (n1 = floor(n / 2), n2 = n - n1, both in
// [-75, 64], each built in the exponent field): p * 2^n1 is exact (still a
// normal float) and the second product rounds once, so subnormal results
// and the overflow to inf come out right. Accuracy <= 2 ulp over all floats
// (row_ops_test.cpp); x <= -104 and -inf -> +0, x >= 88.73 and +inf -> +inf,
// NaN -> NaN (the clamps take x as their second operand, which vmaxps /
// vminps return on NaN; the garbage exponent of a NaN lane cannot hide the
// NaN in p).
#pragma once

#include <immintrin.h>

namespace ef::kernels::x86::avx2 {

inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

}  // namespace ef::kernels::x86::avx2
