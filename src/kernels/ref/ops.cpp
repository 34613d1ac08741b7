// Scalar element-wise and row ops of the llama family (see kernels/ops.h).
//
// Each op reproduces ggml's CPU arithmetic step for step (same precision of
// every intermediate, same order of operations) so that a forward pass built
// from them matches llama.cpp's numbers:
//   rmsnorm  ggml_compute_forward_rms_norm_f32 followed by ggml_mul
//   rope     ggml_rope_cache_init + rope_yarn (ext_factor 0, freq_scale 1,
//            mscale 1) + rotate pairs in NORM mode
//   softmax  ggml_compute_forward_soft_max_f32 (scalar tail of
//            ggml_vec_soft_max_f32)
//   swiglu   ggml_vec_swiglu_f32 (scalar path)
// This file is compiled without ISA flags and -std=c++20 (ISO mode), so GCC
// does not contract a*b+c into an FMA; every product is rounded to float.
#include "kernels/ops.h"

#include <cmath>

namespace ef::ops {

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  // The square is a float product; the sum is accumulated in double.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // (x * scale) first, then the weight: ggml_rms_norm then ggml_mul.
  // Safe in place (out == x): each element is read before it is written.
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos,
          float freq_base) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  // theta_i = pos * theta_scale^i, built by repeated multiplication in float
  // exactly like ggml's cache (not with pow per pair: that rounds differently).
  float theta = static_cast<float>(pos);
  for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
    const float cos_theta = std::cos(theta);
    const float sin_theta = std::sin(theta);
    for (int64_t h = 0; h < n_heads; ++h) {
      float* p = x + h * head_dim + i0;
      const float x0 = p[0];
      const float x1 = p[1];
      p[0] = x0 * cos_theta - x1 * sin_theta;
      p[1] = x0 * sin_theta + x1 * cos_theta;
    }
    theta *= theta_scale;
  }
  // Dimensions [n_rot, head_dim) pass through unchanged.
}

void rope_cache(float* cs, int64_t n_rot, int64_t pos, float freq_base) {
  // Same angles, built the same way, as rope() above.
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(pos);
  for (int64_t i0 = 0; i0 < n_rot; i0 += 2) {
    const float cos_theta = std::cos(theta);
    const float sin_theta = std::sin(theta);
    cs[i0] = cos_theta;
    cs[i0 + 1] = cos_theta;
    cs[n_rot + i0] = -sin_theta;
    cs[n_rot + i0 + 1] = sin_theta;
    theta *= theta_scale;
  }
}

void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cs) {
  // x0 c + x1 (-s) == x0 c - x1 s and x1 c + x0 s == x0 s + x1 c exactly
  // (negation is exact, addition commutes), so this equals rope().
  const float* sn = cs + n_rot;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* p = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 2) {
      const float x0 = p[i];
      const float x1 = p[i + 1];
      p[i] = x0 * cs[i] + x1 * sn[i];
      p[i + 1] = x1 * cs[i + 1] + x0 * sn[i + 1];
    }
  }
}

void softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = x[i] > max ? x[i] : max;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp(x[i] - max);
    x[i] = e;
    sum += static_cast<double>(e);
  }
  // ggml: sum = 1.0/sum (double), then scale by that value rounded to float.
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float silu = g / (1.0f + std::exp(-g));
    out[i] = silu * up[i];
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void exp_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

}  // namespace ef::ops
