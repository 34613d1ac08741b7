// AVX2 + FMA row ops (kernels/row_ops.h for the contract and tolerances; the
// scalar oracles are in kernels/ref/ops.cpp). 8 lanes per step; the tail of
// a row runs in the same code through vmaskmov loads and stores (masked
// lanes read as 0 and are never written), so every element gets the same
// arithmetic whatever its index.
// GCC fuses a vector a * b + c written with intrinsics into an FMA
// (-ffp-contract=fast is its C++ default even in ISO mode); rope_apply and
// add promise the scalar ops' separately rounded products.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <immintrin.h>

#include <cmath>

#include "kernels/x86/avx2_exp.h"
#include "kernels/x86/avx2_q8_act.h"
#include "kernels/x86/row_ops_kernels.h"

namespace ef::kernels::x86::avx2 {
namespace {

// All-ones in lanes [0, n) of an 8-lane step.
inline __m256i tail_mask(int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int32_t k = n >= 8 ? 8 : static_cast<int32_t>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), iota);
}
inline __m256 load(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
inline void store(float* p, __m256i m, __m256 v) { _mm256_maskstore_ps(p, m, v); }

void exp_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    store(y + i, m, exp8(load(x + i, m)));
  }
}

// silu(g) * u = g / (1 + exp(-g)) * u (see the AVX-512 version).
void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    const __m256 g = load(gate + i, m);
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, sign))));
    store(out + i, m, _mm256_mul_ps(silu, load(up + i, m)));
  }
}

// Sum of 8 floats, each widened to double (exact), added in double.
inline __m256d widen_add(__m256d acc, __m256 v) {
  acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
inline double reduce_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline float reduce_max(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void softmax(float* x, int64_t n) {
  // max over the row; NaN skipped as in the scalar op (vmaxps returns its
  // second operand, the running max, on NaN); masked lanes count as -inf.
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 vmax = ninf;
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    const __m256 v = _mm256_blendv_ps(ninf, load(x + i, m), _mm256_castsi256_ps(m));
    vmax = _mm256_max_ps(v, vmax);
  }
  const __m256 mx = _mm256_set1_ps(reduce_max(vmax));
  __m256d sum = _mm256_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(m), exp8(_mm256_sub_ps(load(x + i, m), mx)));
    store(x + i, m, e);
    sum = widen_add(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / reduce_pd(sum)));
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    store(x + i, m, _mm256_mul_ps(load(x + i, m), inv));
  }
}

// 1 / sqrt(mean(x^2) + eps), broadcast: float squares summed in double.
__m256 rms_scale(const float* x, int64_t n, float eps) {
  __m256d sum = _mm256_setzero_pd();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 v = load(x + i, tail_mask(n - i));
    sum = widen_add(sum, _mm256_mul_ps(v, v));
  }
  const float mean = static_cast<float>(reduce_pd(sum) / static_cast<double>(n));
  return _mm256_set1_ps(1.0f / std::sqrt(mean + eps));
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  const __m256 scale = rms_scale(x, n, eps);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    store(out + i, m, _mm256_mul_ps(_mm256_mul_ps(load(x + i, m), scale), load(weight + i, m)));
  }
}

// rmsnorm's scale and products, each 32 normed floats quantized from
// registers (avx2_q8_act.h, the quantizer of the AVX2 table).
void rmsnorm_q8_0(void* y, ActBlockInfo* info, const float* x, const float* weight, int64_t n,
                  float eps) {
  const __m256 scale = rms_scale(x, n, eps);
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) {
      const int64_t i = b * kQK8_0 + 8 * j;
      v[j] = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale),
                           _mm256_loadu_ps(weight + i));
    }
    quantize_block_q8_0_act(v, blocks + b, info != nullptr ? info + b : nullptr);
  }
}

// x * cos + swap_pairs(x) * (-sin, +sin), as the scalar rope_apply.
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cs) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* p = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 8) {
      const __m256i m = tail_mask(n_rot - i);
      const __m256 v = load(p + i, m);
      const __m256 a = _mm256_mul_ps(v, load(cs + i, m));
      const __m256 b = _mm256_mul_ps(_mm256_permute_ps(v, 0xB1), load(cs + n_rot + i, m));
      store(p + i, m, _mm256_add_ps(a, b));
    }
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = tail_mask(n - i);
    store(y + i, m, _mm256_add_ps(load(y + i, m), load(x + i, m)));
  }
}

}  // namespace

void fill_row_ops(RowOps& t) {
  t.isa = Isa::avx2;
  t.exp = exp_row;
  t.swiglu = swiglu;
  t.softmax = softmax;
  t.rmsnorm = rmsnorm;
  t.rmsnorm_q8_0 = rmsnorm_q8_0;
  t.rope_apply = rope_apply;
  t.add = add;
}

}  // namespace ef::kernels::x86::avx2
