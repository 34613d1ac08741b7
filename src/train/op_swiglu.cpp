// SwiGLU gate: out = silu(g) * u, silu(g) = g * sigmoid(g).
//   d/dg = dout * u * s * (1 + g * (1 - s)),  d/du = dout * g * s,  s = sigmoid(g)
#include <cmath>

#include "core/thread_pool.h"
#include "train/ops.h"

namespace ef::train {

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n, ThreadPool& pool) {
  pool.parallel_for(n, 1024, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t n, ThreadPool& pool) {
  pool.parallel_for(n, 1024, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = gate[i];
      const float s = 1.0f / (1.0f + std::exp(-g));
      dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
      dup[i] += dout[i] * g * s;
    }
  });
}

}  // namespace ef::train
