// Fast Walsh-Hadamard transform (see hadamard.h).
#include "kernels/hadamard.h"

#include <cmath>

namespace ef::kernels {

void hadamard(float* x, int64_t n) {
  // Butterflies of span h: (a, b) -> (a + b, a - b). After all log2(n)
  // passes x = H_n x (unnormalised, Sylvester order).
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j];
        const float b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  const float s = 1.0f / std::sqrt(static_cast<float>(n));
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void hadamard_heads(float* x, int64_t n_heads, int64_t head_dim) {
  for (int64_t h = 0; h < n_heads; ++h) hadamard(x + h * head_dim, head_dim);
}

}  // namespace ef::kernels
