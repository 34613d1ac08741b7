// AVX-512 row ops (kernels/row_ops.h for the contract and tolerances; the
// scalar oracles are in kernels/ref/ops.cpp). 16 lanes per step; the tail
// of a row runs in the same code under a lane mask, so every element gets
// the same arithmetic whatever its index.
// GCC 12's headers trip -Wmaybe-uninitialized on _mm512_undefined_*().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// GCC fuses a vector a * b + c written with intrinsics into an FMA
// (-ffp-contract=fast is its C++ default even in ISO mode); rope_apply and
// add promise the scalar ops' separately rounded products.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <immintrin.h>

#include <cmath>

#include "kernels/x86/avx512_exp.h"
#include "kernels/x86/avx512_q8_act.h"
#include "kernels/x86/row_ops_kernels.h"

namespace ef::kernels::x86::avx512 {
namespace {

// Lanes [0, n) of a 16-lane step (n >= 16: all).
inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

void exp_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

// silu(g) * u = g / (1 + exp(-g)) * u: for g -> -inf, exp(-g) = inf and the
// quotient is -0 as in the scalar op.
void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = exp16(_mm512_xor_ps(g, sign));
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// Sum of 16 floats, each widened to double (exact), added in double.
inline __m512d widen_add(__m512d acc, __m512 v) {
  acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
  return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

void softmax(float* x, int64_t n) {
  // max over the row; NaN lanes are skipped as in the scalar op (vmaxps
  // returns its second operand, the running max, when x is NaN).
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    vmax = _mm512_max_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, x + i), vmax);
  }
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  __m512d sum = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e =
        _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mx)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = widen_add(sum, e);
  }
  // As the scalar op: 1/sum in double, rounded to float once.
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(sum)));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

// 1 / sqrt(mean(x^2) + eps), broadcast: squares as float products, summed
// in double (as the scalar op, in 8 double lanes instead of one).
__m512 rms_scale(const float* x, int64_t n, float eps) {
  __m512d sum = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    sum = widen_add(sum, _mm512_mul_ps(v, v));
  }
  const float mean = static_cast<float>(_mm512_reduce_add_pd(sum) / static_cast<double>(n));
  return _mm512_set1_ps(1.0f / std::sqrt(mean + eps));
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  const __m512 scale = rms_scale(x, n, eps);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i)));
  }
}

// rmsnorm's scale and products, 32 normed floats per block quantized from
// registers (avx512_q8_act.h, the quantizer of the AVX-512 tables).
void rmsnorm_q8_0(void* y, ActBlockInfo* info, const float* x, const float* weight, int64_t n,
                  float eps) {
  const __m512 scale = rms_scale(x, n, eps);
  auto load = [&](int64_t b, __m512& v0, __m512& v1) {
    const int64_t i = b * kQK8_0;
    v0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale), _mm512_loadu_ps(weight + i));
    v1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i + 16), scale),
                       _mm512_loadu_ps(weight + i + 16));
  };
  quantize_blocks_q8_0_act(load, n / kQK8_0, static_cast<BlockQ8_0*>(y), info);
}

// x * cos + swap_pairs(x) * (-sin, +sin): two rounded products and a sum,
// exactly the scalar rope_apply. Pairs never straddle a 16-lane step.
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cs) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* p = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 16) {
      const __mmask16 m = tail_mask(n_rot - i);
      const __m512 v = _mm512_maskz_loadu_ps(m, p + i);
      const __m512 a = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, cs + i));
      const __m512 b =
          _mm512_mul_ps(_mm512_permute_ps(v, 0xB1), _mm512_maskz_loadu_ps(m, cs + n_rot + i));
      _mm512_mask_storeu_ps(p + i, m, _mm512_add_ps(a, b));
    }
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(
        y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace

void fill_row_ops(RowOps& t) {
  t.isa = Isa::avx512;
  t.exp = exp_row;
  t.swiglu = swiglu;
  t.softmax = softmax;
  t.rmsnorm = rmsnorm;
  t.rmsnorm_q8_0 = rmsnorm_q8_0;
  t.rope_apply = rope_apply;
  t.add = add;
}

}  // namespace ef::kernels::x86::avx512
