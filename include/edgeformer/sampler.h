// Token sampling. Deterministic for a given seed: the same seed and logits
// give the same token whatever the thread count or micro-batch size.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace ef {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t penalty_last_n = 64;
  uint64_t seed = 0xEDCEu;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  // Picks the next token from n_vocab logits (not modified).
  int32_t sample(std::span<const float> logits);
  // Records a token (prompt or generated) for the penalties.
  void accept(int32_t token);
  void reset();
  const SamplerOptions& options() const { return options_; }

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace ef
