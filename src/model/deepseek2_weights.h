// The tensors of a deepseek2 (MLA) model, bound by name from a GGUF file as
// zero-copy views (ggml order, ne[0] innermost). Per layer:
//   attn_q           {n_embd, n_head * hk}            when q_lora_rank == 0
//   attn_q_a         {n_embd, q_lora_rank}            otherwise, with
//   attn_q_a_norm    {q_lora_rank} and attn_q_b {q_lora_rank, n_head * hk}
//   attn_kv_a_mqa    {n_embd, kv_lora_rank + rope}    latent | shared rope key
//   attn_kv_a_norm   {kv_lora_rank}
//   attn_k_b         {nope, kv_lora_rank, n_head}     head h: rows r = latent dim
//   attn_v_b         {kv_lora_rank, hv, n_head}       head h: rows d = value dim
//   attn_output      {n_head * hv, n_embd}
// hk = nope + rope (ModelConfig::head_dim), hv = ModelConfig::head_dim_v.
// A legacy file's attn_kv_b {kv_lora_rank, n_head * (nope + hv)} is split at
// load into F32 copies of attn_k_b (transposed) and attn_v_b, owned here.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"

namespace ef {

struct Deepseek2Layer {
  Tensor attn_norm;       // {n_embd} F32
  Tensor attn_q;          // plain query projection (q_lora_rank == 0), else empty
  Tensor attn_q_a;        // low-rank query (q_lora_rank > 0)
  Tensor attn_q_a_norm;   // {q_lora_rank} F32
  Tensor attn_q_b;
  Tensor attn_kv_a_mqa;   // {n_embd, kv_lora_rank + rope}
  Tensor attn_kv_a_norm;  // {kv_lora_rank} F32
  Tensor attn_k_b;        // {nope, kv_lora_rank, n_head}
  Tensor attn_v_b;        // {kv_lora_rank, hv, n_head}
  Tensor attn_output;     // {n_head * hv, n_embd}
  Tensor ffn_norm;        // {n_embd} F32
  Tensor ffn_gate;        // {n_embd, n_ff}
  Tensor ffn_up;          // {n_embd, n_ff}
  Tensor ffn_down;        // {n_ff, n_embd}

  // Head h of attn_k_b / attn_v_b as a 2-D matmul weight:
  //   k_b_head: {nope, kv_lora_rank}  (q_nope -> latent: absorbed query)
  //   v_b_head: {kv_lora_rank, hv}    (latent -> value)
  Tensor k_b_head(int64_t h) const;
  Tensor v_b_head(int64_t h) const;
};

struct Deepseek2Weights {
  Tensor token_embd;   // {n_embd, n_vocab}
  Tensor output_norm;  // {n_embd} F32
  Tensor output;       // {n_embd, n_vocab}; token_embd's view when tied
  std::vector<Deepseek2Layer> layers;
  // F32 storage of split legacy attn_kv_b tensors (k_b and v_b per layer).
  std::vector<std::vector<float>> owned;

  static Result<Deepseek2Weights> bind(const gguf::File& file, const ModelConfig& config);
};

}  // namespace ef
