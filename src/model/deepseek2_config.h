// deepseek2 hyper-parameters (Multi-head Latent Attention, DeepSeek-V2) read
// from llama.cpp's `deepseek2.*` GGUF keys into ModelConfig.
//
// Two file layouts exist (llama.cpp's convert script):
//   MLA layout (current): key_length_mla / value_length_mla present; then
//     key_length = kv_lora_rank + rope dims, value_length = kv_lora_rank (the
//     absorbed "MQA" view) and the tensors are attn_k_b / attn_v_b.
//   legacy: no *_mla keys; key_length = nope + rope dims, value_length = v
//     head size, and one attn_kv_b tensor (split at load).
// In ModelConfig: head_dim = nope + rope (query/key head), n_rot = rope dims,
// head_dim_v = value head, kv_lora_rank = latent width, q_lora_rank = 0 when
// the query is one plain attn_q projection.
#pragma once

#include "edgeformer/error.h"
#include "edgeformer/model.h"

namespace ef {
namespace gguf {
class File;
}

// Reads and validates the deepseek2.* keys. Files with mixture-of-experts
// layers (expert_count > 0 with fewer leading dense blocks than layers, or
// any ffn_*_exps tensor) and RoPE scaling other than none get
// Errc::unsupported.
Result<ModelConfig> deepseek2_config_from_gguf(const gguf::File& file);

// Range and cross-field checks (called by ModelConfig::validate()).
Status validate_deepseek2_config(const ModelConfig& config);

// Attention scale: 1 / sqrt(nope + rope dims) (no YaRN mscale: scaled RoPE
// is rejected at load).
float deepseek2_kq_scale(const ModelConfig& config);

}  // namespace ef
