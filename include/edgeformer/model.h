// Loading a llama-family model from a GGUF file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "edgeformer/error.h"

namespace ef {
namespace gguf {
class File;
}
class Tokenizer;
struct ModelConfig;
struct LlamaWeights;
struct Deepseek2Weights;

// Hyper-parameters of a llama-architecture model, read from GGUF keys
// `llama.*`. validate() runs range and cross-field checks before anything is
// allocated.
struct ModelConfig {
  std::string architecture = "llama";
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;   // llama.context_length
  int64_t n_embd = 0;        // llama.embedding_length
  int64_t n_layer = 0;       // llama.block_count
  int64_t n_ff = 0;          // llama.feed_forward_length
  int64_t n_head = 0;        // llama.attention.head_count
  int64_t n_head_kv = 0;     // llama.attention.head_count_kv (default n_head)
  int64_t head_dim = 0;      // n_embd / n_head (or llama.attention.key_length)
  int64_t n_rot = 0;         // llama.rope.dimension_count (default head_dim)
  float rms_eps = 1e-5f;     // llama.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // llama.rope.freq_base
  bool tied_output = false;  // no output.weight: reuse token_embd
  // Sliding-window attention (llama.cpp's LLAMA_SWA_TYPE_STANDARD): a query
  // at position i sees keys at positions j with i - j < n_swa.
  int64_t n_swa = 0;         // llama.attention.sliding_window (0 = none)
  // llama.attention.sliding_window_pattern, as llama.cpp's set_swa_pattern:
  // 0 = every layer windowed; P >= 1: layer il is windowed iff
  // il % P < P - 1 (the last layer of each group of P is global; P = 1: none).
  // Absent with n_swa > 0: every layer windowed.
  int64_t swa_pattern = 0;
  bool is_swa(int64_t il) const {
    return n_swa > 0 && (swa_pattern == 0 || il % swa_pattern < swa_pattern - 1);
  }

  // deepseek2 (Multi-head Latent Attention) only; zero/false for llama. For
  // deepseek2, head_dim is the query/key head size (nope + rope dims, i.e.
  // key_length_mla) and n_rot the decoupled RoPE dims (see
  // src/model/deepseek2_config.h).
  int64_t q_lora_rank = 0;         // deepseek2.attention.q_lora_rank (0: plain attn_q)
  int64_t kv_lora_rank = 0;        // deepseek2.attention.kv_lora_rank (latent width)
  int64_t head_dim_v = 0;          // value head size (value_length_mla)
  int64_t n_layer_dense_lead = 0;  // deepseek2.leading_dense_block_count
  bool mla_legacy_kv_b = false;    // file has attn_kv_b (split at load) instead of attn_k_b/v_b

  Status validate() const;
  static Result<ModelConfig> from_gguf(const gguf::File& file);
};

class Model {
 public:
  // Maps the file, validates config and every tensor's presence/shape/type.
  static Result<std::unique_ptr<Model>> load(const std::string& path);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const gguf::File& file() const { return *file_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const LlamaWeights& weights() const { return *weights_; }  // llama only
  // deepseek2 only (nullptr for llama); see src/model/deepseek2_weights.h.
  const Deepseek2Weights* deepseek2_weights() const { return deepseek2_.get(); }
  uint64_t weight_bytes() const;   // bytes of all tensors
  uint64_t n_params() const;       // elements of all tensors
  std::string type_summary() const;  // e.g. "Q8_0" (the dominant weight type)

 private:
  Model() = default;
  ModelConfig config_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<LlamaWeights> weights_;
  std::unique_ptr<Deepseek2Weights> deepseek2_;
};

}  // namespace ef
