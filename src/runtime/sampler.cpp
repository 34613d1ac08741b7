// Token sampler: penalties -> top-k -> top-p -> min-p -> temperature -> draw,
// the order and semantics of llama.cpp's default sampler chain.
//
// Candidates live in one reused vector of (logit, id) pairs; each stage
// shrinks the live prefix [0, n_candidates_). Orderings use a strict total
// order (logit descending, then id ascending) so partial and full sorts agree
// and every result is a pure function of the logits, the history and the RNG
// state, independent of the standard library's sort algorithm.
#include "edgeformer/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ef {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Strict total order: higher logit first, then lower id.
bool better(const Sampler::Candidate& a, const Sampler::Candidate& b) {
  if (a.first != b.first) return a.first > b.first;
  return a.second < b.second;
}

// First adaptive step of top-p: sort this many before falling back to all.
constexpr size_t kTopPFirstSort = 256;

}  // namespace

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {}

void Sampler::reset() {
  history_.clear();
  rng_.seed(options_.seed);
}

void Sampler::accept(int32_t token) {
  const int32_t last_n = options_.penalty_last_n;
  if (last_n == 0) return;  // penalties off: nothing to remember
  history_.push_back(token);
  // Bound the history for a finite window; erasing from the front every
  // ~last_n tokens keeps accept() amortised O(1) without reallocating.
  if (last_n > 0) {
    const size_t keep = static_cast<size_t>(last_n);
    if (history_.size() > 2 * keep + 64) {
      history_.erase(history_.begin(), history_.end() - static_cast<ptrdiff_t>(keep));
    }
  }
}

// Penalises every token seen in the last penalty_last_n accepted tokens, once
// per distinct token (llama.cpp's penalties sampler). Requires candidates_ in
// id order (index == token id), i.e. before any filtering.
void Sampler::apply_penalties() {
  const SamplerOptions& o = options_;
  const bool off = o.repeat_penalty == 1.0f && o.frequency_penalty == 0.0f &&
                   o.presence_penalty == 0.0f;
  if (off || o.penalty_last_n == 0 || history_.empty()) return;
  size_t window = history_.size();
  if (o.penalty_last_n > 0) window = std::min(window, static_cast<size_t>(o.penalty_last_n));
  const auto begin = history_.end() - static_cast<ptrdiff_t>(window);
  const auto n_vocab = static_cast<int64_t>(n_candidates_);
  if (counts_.size() < n_candidates_) counts_.assign(n_candidates_, 0);

  for (auto it = begin; it != history_.end(); ++it) {
    if (*it >= 0 && *it < n_vocab) ++counts_[static_cast<size_t>(*it)];
  }
  for (auto it = begin; it != history_.end(); ++it) {
    if (*it < 0 || *it >= n_vocab) continue;
    const auto t = static_cast<size_t>(*it);
    const int32_t count = counts_[t];
    if (count == 0) continue;  // already applied for an earlier occurrence
    counts_[t] = 0;            // leaves counts_ all zero for the next call
    float& logit = candidates_[t].first;
    logit = logit > 0.0f ? logit / o.repeat_penalty : logit * o.repeat_penalty;
    logit -= static_cast<float>(count) * o.frequency_penalty + o.presence_penalty;
  }
}

void Sampler::sort_prefix(size_t k) {
  if (sorted_) return;
  auto first = candidates_.begin();
  auto last = first + static_cast<ptrdiff_t>(n_candidates_);
  if (k >= n_candidates_) {
    std::sort(first, last, better);
    sorted_ = true;
  } else {
    std::partial_sort(first, first + static_cast<ptrdiff_t>(k), last, better);
  }
}

// Draws from softmax of the live logits with one uniform in [0, 1) built from
// the top 53 bits of the 64-bit engine output (portable, unlike
// std::uniform_real_distribution).
int32_t Sampler::draw() {
  const size_t n = n_candidates_;
  float max_l = candidates_[0].first;
  for (size_t i = 1; i < n; ++i) max_l = std::max(max_l, candidates_[i].first);
  if (max_l == kNegInf) return candidates_[0].second;  // nothing has mass

  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(candidates_[i].first - max_l));
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double target = u * sum;
  double cum = 0.0;
  size_t last_with_mass = 0;
  for (size_t i = 0; i < n; ++i) {
    const double p = std::exp(static_cast<double>(candidates_[i].first - max_l));
    if (p <= 0.0) continue;
    cum += p;
    last_with_mass = i;
    if (cum > target) return candidates_[i].second;
  }
  return candidates_[last_with_mass].second;  // rounding left target unreached
}

int32_t Sampler::sample(std::span<const float> logits) {
  const SamplerOptions& o = options_;
  if (logits.empty()) {
    n_candidates_ = 0;
    return -1;
  }
  // Reuses the vector's capacity: allocates only when n_vocab grows.
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    candidates_[i] = {std::isnan(l) ? kNegInf : l, static_cast<int32_t>(i)};
  }
  n_candidates_ = logits.size();
  sorted_ = false;

  apply_penalties();

  if (o.temperature <= 0.0f) {
    // Greedy: strictly-greater keeps the lowest id among ties.
    size_t best = 0;
    for (size_t i = 1; i < n_candidates_; ++i) {
      if (candidates_[i].first > candidates_[best].first) best = i;
    }
    candidates_[0] = candidates_[best];
    n_candidates_ = 1;
    sorted_ = true;
    return candidates_[0].second;
  }

  // top-k: keep the k best.
  if (o.top_k > 0) {
    const size_t k = std::min(static_cast<size_t>(o.top_k), n_candidates_);
    sort_prefix(k);
    n_candidates_ = k;
    sorted_ = true;
  }

  // top-p: the smallest sorted prefix whose softmax mass reaches p (>= 1 token).
  if (o.top_p < 1.0f && n_candidates_ > 1) {
    float max_l = candidates_[0].first;
    for (size_t i = 1; i < n_candidates_; ++i) max_l = std::max(max_l, candidates_[i].first);
    if (max_l != kNegInf) {
      double sum = 0.0;
      for (size_t i = 0; i < n_candidates_; ++i) {
        sum += std::exp(static_cast<double>(candidates_[i].first - max_l));
      }
      // Most of the mass usually sits in a few hundred tokens: sort those
      // first and sort everything only if the walk runs past them.
      size_t sorted_upto = std::min(kTopPFirstSort, n_candidates_);
      sort_prefix(sorted_upto);
      if (sorted_) sorted_upto = n_candidates_;
      double cum = 0.0;
      size_t keep = n_candidates_;
      for (size_t i = 0; i < n_candidates_; ++i) {
        if (i == sorted_upto) {
          sort_prefix(n_candidates_);  // prefix [0, i) is unchanged: total order
          sorted_upto = n_candidates_;
        }
        cum += std::exp(static_cast<double>(candidates_[i].first - max_l)) / sum;
        if (cum >= static_cast<double>(o.top_p)) {
          keep = i + 1;
          break;
        }
      }
      if (keep == n_candidates_) sort_prefix(n_candidates_);
      n_candidates_ = keep;
      sorted_ = true;
    }
  }

  // min-p: keep p_i >= min_p * p_max, i.e. logit_i >= max + log(min_p).
  if (o.min_p > 0.0f && n_candidates_ > 1) {
    const float threshold_offset = std::log(o.min_p);
    if (sorted_) {
      const float threshold = candidates_[0].first + threshold_offset;
      size_t keep = 1;  // the best token always stays
      while (keep < n_candidates_ && candidates_[keep].first >= threshold) ++keep;
      n_candidates_ = keep;
    } else {
      float max_l = kNegInf;
      for (size_t i = 0; i < n_candidates_; ++i) max_l = std::max(max_l, candidates_[i].first);
      const float threshold = max_l + threshold_offset;
      size_t out = 0;
      for (size_t i = 0; i < n_candidates_; ++i) {
        if (candidates_[i].first >= threshold) candidates_[out++] = candidates_[i];
      }
      if (out == 0) {  // min_p > 1: nothing reaches the bar; keep the best
        sort_prefix(1);  // nothing was overwritten: all n_candidates_ still live
        out = 1;
      }
      n_candidates_ = out;
      sort_prefix(n_candidates_);
    }
  }

  // Temperature scales the survivors' logits; the draw softmaxes them.
  if (o.temperature != 1.0f) {
    for (size_t i = 0; i < n_candidates_; ++i) candidates_[i].first /= o.temperature;
  }
  return draw();
}

}  // namespace ef
