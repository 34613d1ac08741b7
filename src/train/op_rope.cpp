// Rotary position embedding (ggml NORM mode: pairs (2i, 2i+1) of each head).
//   forward:  (x0, x1) -> (x0 c - x1 s, x0 s + x1 c)
//   backward: the rotation is orthogonal, so d(x) = R^T d(y):
//             (g0, g1) -> (g0 c + g1 s, -g0 s + g1 c)
#include <cmath>

#include "train/ops.h"

namespace ef::train {

void rope_table(float* cos_t, float* sin_t, int64_t T, int64_t n_rot, float freq_base) {
  const int64_t half = n_rot / 2;
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  for (int64_t t = 0; t < T; ++t) {
    // theta_i = t * theta_scale^i by repeated float multiplication, exactly
    // as ops::rope (and ggml's rope cache) build it.
    float theta = static_cast<float>(t);
    for (int64_t i = 0; i < half; ++i) {
      cos_t[t * half + i] = std::cos(theta);
      sin_t[t * half + i] = std::sin(theta);
      theta *= theta_scale;
    }
  }
}

namespace {

template <bool kInverse>
void rotate(float* x, const float* cos_t, const float* sin_t, int64_t n, int64_t T,
            int64_t n_heads, int64_t head_dim, int64_t n_rot) {
  const int64_t half = n_rot / 2;
  for (int64_t r = 0; r < n; ++r) {
    const float* c = cos_t + (r % T) * half;
    const float* s = sin_t + (r % T) * half;
    float* row = x + r * n_heads * head_dim;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* p = row + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float x0 = p[2 * i];
        const float x1 = p[2 * i + 1];
        const float sn = kInverse ? -s[i] : s[i];
        p[2 * i] = x0 * c[i] - x1 * sn;
        p[2 * i + 1] = x0 * sn + x1 * c[i];
      }
      // Dimensions [n_rot, head_dim) pass through (forward and backward).
    }
  }
}

}  // namespace

void rope_forward(float* x, const float* cos_t, const float* sin_t, int64_t n, int64_t T,
                  int64_t n_heads, int64_t head_dim, int64_t n_rot) {
  rotate<false>(x, cos_t, sin_t, n, T, n_heads, head_dim, n_rot);
}

void rope_backward(float* dx, const float* cos_t, const float* sin_t, int64_t n, int64_t T,
                   int64_t n_heads, int64_t head_dim, int64_t n_rot) {
  rotate<true>(dx, cos_t, sin_t, n, T, n_heads, head_dim, n_rot);
}

}  // namespace ef::train
