// A factory for small random deepseek2 (MLA) models written as GGUF files in
// llama.cpp's `deepseek2` layout. Used by tests and `edgeformer init-model
// --arch deepseek2`; llama.cpp loads these files too (cross-checks).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "edgeformer/error.h"

namespace ef {

struct TinyDeepseek2Spec {
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_ff = 128;
  int64_t n_ctx = 256;
  int64_t q_lora_rank = 0;   // 0: plain attn_q
  int64_t kv_lora_rank = 32;
  int64_t nope_dim = 32;     // qk_nope_head_dim
  int64_t rope_dim = 16;     // qk_rope_head_dim (decoupled RoPE)
  int64_t v_dim = 32;        // v_head_dim
  bool legacy_kv_b = false;  // one attn_kv_b instead of attn_k_b / attn_v_b
  int64_t n_expert = 0;      // > 0 writes MoE layers (for the "unsupported" path)
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-6f;
  DType weight_type = DType::F32;  // matrices whose rows fit its blocks; others F32
  uint64_t seed = 42;
  bool tied_output = false;
  std::string vocab_path;          // GGUF to copy tokenizer.* from; empty = synthetic
  int n_vocab_synthetic = 512;
};

// Writes the model with seeded random weights (matrices ~ N(0, 1/fan_in),
// norms ~ 1 + N(0, 0.1^2)).
Status write_tiny_deepseek2(const std::string& path, const TinyDeepseek2Spec& spec);

}  // namespace ef
