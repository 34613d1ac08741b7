// AdamW with bias correction and decoupled weight decay, gradient clipping by
// global norm, and the warmup + cosine learning-rate schedule.
//
// Update (PyTorch's torch.optim.AdamW, which the reference fixture uses):
//   p -= lr * wd * p                      (decoupled decay, decayed params only)
//   m  = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Weight decay applies to every matrix INCLUDING the token embedding (as
// llm.c and GPT-2 training do: all 2-D tensors decay) and never to the
// RMSNorm weights (ParamInfo::is_norm).
//
// Determinism: the global norm is summed in double over fixed 64Ki-element
// chunks (independent of the thread count), then over chunks in order.
#pragma once

#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "train/train_model.h"

namespace ef {
class ThreadPool;
}

namespace ef::train {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  float clip = 1.0f;  // max global gradient norm; <= 0 disables clipping
};

struct LrSchedule {
  float lr = 1e-3f;        // peak
  float min_lr = 1e-4f;    // end of the cosine
  int64_t warmup = 0;      // linear warmup steps: lr * (step + 1) / warmup
  int64_t total = 1;       // steps of the whole run (cosine ends here)
  float at(int64_t step) const;  // step counts from 0
};

class AdamW {
 public:
  static Result<AdamW> create(int64_t n_params, const AdamWConfig& config);

  // Clips grads in place to the global norm limit, then updates params.
  // Returns the gradient norm before clipping.
  float step(float* params, float* grads, const std::vector<ParamInfo>& layout, float lr,
             ThreadPool& pool);

  const AdamWConfig& config() const { return config_; }
  int64_t t() const { return t_; }  // steps taken
  void set_t(int64_t t) { t_ = t; }
  float* m() { return m_.as<float>(); }
  float* v() { return v_.as<float>(); }
  int64_t n_params() const { return n_; }

 private:
  AdamWConfig config_;
  int64_t n_ = 0;
  int64_t t_ = 0;
  Buffer m_, v_;
};

// Global L2 norm of n floats (deterministic chunked double sum).
double global_norm(const float* x, int64_t n, ThreadPool& pool);

}  // namespace ef::train
