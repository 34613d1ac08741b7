// KL divergence and top-1 agreement between logit rows (see logit_compare.h).
#include "runtime/logit_compare.h"

#include <algorithm>
#include <cmath>

namespace ef {

namespace {
// log(sum_i exp(x_i)) in double.
double log_sum_exp(const float* x, int64_t n, double max) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - max);
  return max + std::log(s);
}
}  // namespace

double kl_divergence(const float* base, const float* test, int64_t n) {
  if (n <= 0) return 0.0;
  const double lse_p = log_sum_exp(base, n, *std::max_element(base, base + n));
  const double lse_q = log_sum_exp(test, n, *std::max_element(test, test + n));
  double kl = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double log_p = static_cast<double>(base[i]) - lse_p;
    const double log_q = static_cast<double>(test[i]) - lse_q;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return kl;
}

int64_t argmax(const float* logits, int64_t n) {
  return n <= 0 ? -1 : static_cast<int64_t>(std::max_element(logits, logits + n) - logits);
}

void LogitComparison::add(const float* base, const float* test, int64_t n) {
  kl_.push_back(kl_divergence(base, test, n));
  if (argmax(base, n) == argmax(test, n)) ++same_top1_;
}

double LogitComparison::mean_kl() const {
  if (kl_.empty()) return 0.0;
  double s = 0.0;
  for (double v : kl_) s += v;
  return s / static_cast<double>(kl_.size());
}

double LogitComparison::mean_kl_stderr() const {
  if (kl_.size() < 2) return 0.0;
  const double m = mean_kl();
  double ss = 0.0;
  for (double v : kl_) ss += (v - m) * (v - m);
  const double n = static_cast<double>(kl_.size());
  return std::sqrt(ss / (n - 1.0) / n);
}

double LogitComparison::max_kl() const {
  return kl_.empty() ? 0.0 : *std::max_element(kl_.begin(), kl_.end());
}

double LogitComparison::kl_quantile(double q) const {
  if (kl_.empty()) return 0.0;
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  return sorted[static_cast<size_t>(std::llround(pos))];
}

double LogitComparison::top1_agreement() const {
  return kl_.empty() ? 0.0 : static_cast<double>(same_top1_) / static_cast<double>(kl_.size());
}

}  // namespace ef
