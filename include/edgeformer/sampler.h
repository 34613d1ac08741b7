// Token sampling. Deterministic for a given seed: the same seed and logits
// give the same token whatever the thread count, micro-batch size or
// platform (the RNG is std::mt19937_64, whose output the standard fixes, and
// the uniform draw is computed here rather than by an implementation-defined
// std:: distribution).
//
// The chain follows llama.cpp's default order:
//   penalties -> top-k -> top-p -> min-p -> temperature -> draw
// temperature <= 0 selects greedily: argmax of the logits after penalties,
// ties broken towards the lowest token id.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace ef {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off. logit > 0 ? logit / r : logit * r
  float frequency_penalty = 0.0f; // logit -= count * frequency_penalty
  float presence_penalty = 0.0f;  // logit -= (count > 0) * presence_penalty
  int32_t penalty_last_n = 64;    // window of accepted tokens; 0: off, -1: all
  uint64_t seed = 0xEDCEu;
};

class Sampler {
 public:
  // A candidate: (logit, token id).
  using Candidate = std::pair<float, int32_t>;

  explicit Sampler(SamplerOptions options);
  // Picks the next token from n_vocab logits (not modified). NaN logits are
  // treated as -inf. Returns -1 only for an empty span. Does not record the
  // token: call accept() for that.
  int32_t sample(std::span<const float> logits);
  // Records a token (prompt or generated) for the penalties.
  void accept(int32_t token);
  // Clears the history and re-seeds the RNG with options().seed.
  void reset();
  const SamplerOptions& options() const { return options_; }

  // The candidates that survived every filter in the last sample() call, with
  // their final logits (after penalties and temperature): in descending logit
  // order (ties: lower id first) when top-k, top-p or min-p is on, in id order
  // when all three are off; in greedy mode the chosen token only.
  // For tests and diagnostics; valid until the next sample().
  std::span<const Candidate> last_candidates() const {
    return {candidates_.data(), n_candidates_};
  }

 private:
  void apply_penalties();
  void sort_prefix(size_t k);  // the k best candidates in order at the front
  int32_t draw();

  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;     // accepted tokens, oldest first
  std::vector<Candidate> candidates_;  // reused: n_vocab entries
  size_t n_candidates_ = 0;          // live prefix of candidates_
  bool sorted_ = false;              // candidates_[0, n_candidates_) sorted
  std::vector<int32_t> counts_;      // reused: per-token count in the window, all 0 between calls
};

}  // namespace ef
