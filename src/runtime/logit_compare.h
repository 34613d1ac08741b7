// Comparing two models' (or two caches') next-token distributions, as
// llama.cpp's `perplexity --kl-divergence` does: per token the KL divergence
// KL(base || test) = sum_i p_i (log p_i - log q_i) of the softmaxes of the
// two logit rows, and whether both rank the same token first.
#pragma once

#include <cstdint>
#include <vector>

namespace ef {

// KL(softmax(base) || softmax(test)) over n logits, in double (log-sum-exp
// with the max subtracted). >= 0 up to rounding.
double kl_divergence(const float* base, const float* test, int64_t n);

// Index of the largest logit (the first one on ties).
int64_t argmax(const float* logits, int64_t n);

// Accumulates per-token comparisons and summarises them.
class LogitComparison {
 public:
  // One token: base and test logit rows of n floats.
  void add(const float* base, const float* test, int64_t n);

  int64_t count() const { return static_cast<int64_t>(kl_.size()); }
  double mean_kl() const;
  double mean_kl_stderr() const;  // standard error of the mean
  double max_kl() const;
  // q-quantile of the per-token KL (q in [0, 1], nearest rank).
  double kl_quantile(double q) const;
  double top1_agreement() const;  // fraction in [0, 1]

 private:
  std::vector<double> kl_;
  int64_t same_top1_ = 0;
};

}  // namespace ef
