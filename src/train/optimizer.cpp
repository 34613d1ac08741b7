// AdamW, gradient clipping and the learning-rate schedule (see optimizer.h).
#include "train/optimizer.h"

#include <cmath>

#include "core/thread_pool.h"

namespace ef::train {

float LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) {
    return lr * static_cast<float>(step + 1) / static_cast<float>(warmup);
  }
  const int64_t span = total - warmup;
  if (span <= 0) return lr;
  double progress = static_cast<double>(step - warmup) / static_cast<double>(span);
  progress = progress > 1.0 ? 1.0 : progress;
  const double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  return static_cast<float>(min_lr + (static_cast<double>(lr) - min_lr) * cosine);
}

Result<AdamW> AdamW::create(int64_t n_params, const AdamWConfig& config) {
  if (!(config.beta1 >= 0.0f && config.beta1 < 1.0f && config.beta2 >= 0.0f &&
        config.beta2 < 1.0f)) {
    return make_error(Errc::out_of_range, "AdamW betas must be in [0, 1)", "beta1/beta2");
  }
  if (!(config.eps > 0.0f) || !(config.weight_decay >= 0.0f)) {
    return make_error(Errc::out_of_range, "AdamW needs eps > 0 and weight_decay >= 0",
                      "eps/weight_decay");
  }
  AdamW opt;
  opt.config_ = config;
  opt.n_ = n_params;
  const size_t bytes = static_cast<size_t>(n_params) * sizeof(float);
  EF_ASSIGN_OR_RETURN(opt.m_, Buffer::allocate(bytes));
  EF_ASSIGN_OR_RETURN(opt.v_, Buffer::allocate(bytes));
  return opt;
}

double global_norm(const float* x, int64_t n, ThreadPool& pool) {
  constexpr int64_t kChunk = 65536;
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(n_chunks), 0.0);
  pool.run(n_chunks, [&](int64_t chunk, int) {
    const int64_t begin = chunk * kChunk;
    const int64_t end = begin + kChunk < n ? begin + kChunk : n;
    double s = 0.0;
    for (int64_t i = begin; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
    partial[static_cast<size_t>(chunk)] = s;
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

float AdamW::step(float* params, float* grads, const std::vector<ParamInfo>& layout, float lr,
                  ThreadPool& pool) {
  const double norm = global_norm(grads, n_, pool);
  // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when < 1.
  float grad_scale = 1.0f;
  if (config_.clip > 0.0f) {
    const double coef = config_.clip / (norm + 1e-6);
    if (coef < 1.0) grad_scale = static_cast<float>(coef);
  }
  ++t_;
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
  const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t_));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  float* m = m_.as<float>();
  float* v = v_.as<float>();
  for (const ParamInfo& p : layout) {
    const float decay = p.is_norm ? 1.0f : 1.0f - lr * config_.weight_decay;
    float* w = params + p.offset;
    float* g = grads + p.offset;
    float* mp = m + p.offset;
    float* vp = v + p.offset;
    pool.parallel_for(p.count, 4096, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) {
        const float gi = g[i] * grad_scale;
        g[i] = gi;
        w[i] *= decay;
        mp[i] = b1 * mp[i] + (1.0f - b1) * gi;
        vp[i] = b2 * vp[i] + (1.0f - b2) * gi * gi;
        w[i] -= step_size * mp[i] / (std::sqrt(vp[i]) / bc2_sqrt + eps);
      }
    });
  }
  return static_cast<float>(norm);
}

}  // namespace ef::train
