// Vectorised exp for AVX-512 files only (include from *avx512* / *amx*
// sources: the intrinsics need their ISA flags).
//
// exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln2 with ln2 split in
// a 12-bit head and a tail (Cody-Waite), so |r| <= ln2/2 + tiny and r is
// exact to ~1e-12. exp(r) by its degree-7 Taylor polynomial in Horner form
// (truncation < 5e-9 relative), then 2^n by vscalefps (one rounding, also
// into the subnormal range). Accuracy <= 2 ulp over all floats (tested in
// row_ops_test.cpp against exp in double), including:
//   x <= -104 and -inf  -> +0 (x is clamped to -104: exp(-104) < 2^-150)
//   x >= 88.73 and +inf -> +inf (x clamped to 89: 2^128 overflows)
//   NaN -> NaN (vmaxps/vminps return their second operand on NaN, so x goes
//   second and passes the clamps).
#pragma once

#include <immintrin.h>

namespace ef::kernels::x86::avx512 {

inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace ef::kernels::x86::avx512
