// A factory for small random llama models, written as real GGUF files.
// Used by tests (a model whose file and behaviour we control) and by the CLI
// command `init-model` (the starting point for training).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "edgeformer/error.h"

namespace ef {

// Standard normal samples from a 64-bit Mersenne Twister via Box-Muller
// (written here rather than std::normal_distribution, whose algorithm varies
// between standard libraries).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 6.283185307179586 * u2;
    spare_ = static_cast<float>(r * std::sin(a));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(a));
  }

 private:
  std::mt19937_64 rng_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

struct TinyModelSpec {
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t n_ff = 128;
  int64_t n_ctx = 256;            // llama.context_length
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  DType weight_type = DType::F32;  // matrices; norms are always F32
  uint64_t seed = 42;
  bool tied_output = false;        // no output.weight: reuse token_embd
  int64_t sliding_window = 0;      // > 0: llama.attention.sliding_window
  int64_t swa_pattern = -1;        // >= 0: llama.attention.sliding_window_pattern
  // GGUF to copy the tokenizer.* keys (and vocabulary) from; empty = the
  // synthetic SentencePiece-style vocabulary below.
  std::string vocab_path;
  int n_vocab_synthetic = 512;     // >= 259 + 64
};

// The synthetic vocabulary: <unk>=0 (UNKNOWN), <s>=1, </s>=2 (CONTROL), the
// 256 byte tokens <0x00>..<0xFF> (BYTE), then NORMAL pieces ("▁", letters,
// "▁the", common English words with and without the ▁ prefix and the
// prefixes needed to build them by merges, ...) with descending scores.
struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_types;  // llama.cpp's: 1 normal, 2 unknown, 3 control, 6 byte
};
Result<SyntheticVocab> make_synthetic_vocab(int n_vocab);

// Writes a llama GGUF with seeded random weights (std::mt19937_64 and a
// Box-Muller transform written here, so a seed gives the same file on every
// platform): matrices ~ N(0, 1/fan_in), norm weights ~ 1 + N(0, 0.1^2),
// quantized to spec.weight_type with the kernels' from_float.
Status write_tiny_llama(const std::string& path, const TinyModelSpec& spec);

}  // namespace ef
