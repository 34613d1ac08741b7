// Softmax fused with cross-entropy over rows of V logits.
// The loss is computed from the log-sum-exp in double (not log(prob)), so it
// stays accurate when the target's probability underflows in float.
#include <cmath>

#include "core/thread_pool.h"
#include "train/ops.h"

namespace ef::train {

void crossentropy_forward(float* losses, float* probs, const float* logits,
                          const int32_t* targets, int64_t n, int64_t V, ThreadPool& pool) {
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float* z = logits + i * V;
      float* p = probs + i * V;
      float max = z[0];
      for (int64_t j = 1; j < V; ++j) max = z[j] > max ? z[j] : max;
      const float target_logit = z[targets[i]];  // read before p overwrites z
      double sum = 0.0;
      for (int64_t j = 0; j < V; ++j) {
        const float e = std::exp(z[j] - max);
        p[j] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < V; ++j) p[j] *= inv;
      losses[i] = static_cast<float>(std::log(sum) - (static_cast<double>(target_logit) - max));
    }
  });
}

void crossentropy_backward(float* dlogits, float dloss, const float* probs,
                           const int32_t* targets, int64_t n, int64_t V, ThreadPool& pool) {
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float* p = probs + i * V;
      float* d = dlogits + i * V;
      const float p_target = p[targets[i]];  // d may alias p
      for (int64_t j = 0; j < V; ++j) d[j] = p[j] * dloss;
      d[targets[i]] = (p_target - 1.0f) * dloss;
    }
  });
}

}  // namespace ef::train
