// TrainModel internals shared by train_model.cpp (layout, memory, the layer
// loop, llama attention) and train_mla.cpp (deepseek2 attention). Not a
// public header.
#pragma once

#include <memory>
#include <vector>

#include "core/memory.h"
#include "core/thread_pool.h"
#include "train/train_model.h"

namespace ef::train {

// Row widths of the attention tensors of one layer.
//   llama:     q = NH*hd, k = v = NKV*hd, y (attention output) = NH*hd
//   deepseek2: q = k = NH*(nope + rope), v = y = NH*hv (decompressed MLA)
struct AttnDims {
  int64_t q, k, v, y;
};
AttnDims attn_dims(const ModelConfig& c);
bool is_mla(const ModelConfig& c);
// Tensors per layer in param_layout(): llama 9; deepseek2 11 (plain attn_q)
// or 13 (attn_q_a, attn_q_a_norm, attn_q_b). The last five are always
// attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down.
int64_t params_per_layer(const ModelConfig& c);

// Pointers into the activation buffer, per layer (see the activation policy
// in train_model.h). N = B*T rows each.
struct LayerActs {
  float *res_in, *xn1, *rstd1, *q, *k, *v, *att, *y, *res_mid, *xn2, *rstd2, *gate, *up, *h;
  // deepseek2 only (null for llama):
  float* qa = nullptr;       // [N, ql] attn_q_a output (q_lora_rank > 0)
  float* rstd_qa = nullptr;  // [N]
  float* qan = nullptr;      // [N, ql] its norm: input of attn_q_b
  float* lat = nullptr;      // [N, r] latent before attn_kv_a_norm
  float* rstd_kv = nullptr;  // [N]
  float* cn = nullptr;       // [N, r] normed latent: input of attn_k_b / attn_v_b
  float* kpe = nullptr;      // [N, rope] shared RoPE key (rotated)
};

struct TrainModel::Impl {
  std::unique_ptr<ThreadPool> pool;
  Buffer acts_buf, work_buf;
  std::vector<LayerActs> layers;
  float *res_out = nullptr, *xf = nullptr, *rstdf = nullptr, *logits = nullptr, *losses = nullptr;
  float *dres = nullptr, *dxn = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr;
  float *dy = nullptr, *dgate = nullptr, *dup = nullptr, *dh = nullptr;
  float *att_scratch = nullptr, *rope_cos = nullptr, *rope_sin = nullptr;
  // deepseek2 work buffers (null for llama).
  float* dqan = nullptr;    // [N, ql]
  float* dqa = nullptr;     // [N, ql]
  float* kva = nullptr;     // [N, r + rope] attn_kv_a_mqa output; its gradient in backward
  float* dlat = nullptr;    // [N, r]
  float* dkpe = nullptr;    // [N, rope]
  float* dcn = nullptr;     // [N, r]
  float* knope = nullptr;   // [N, NH*nope] k_nope (forward), its gradient (backward)
  float* wkb_t = nullptr;   // [NH*nope, r] attn_k_b as a linear weight
  float* dwkb_t = nullptr;  // [NH*nope, r] its gradient
  int32_t *ids = nullptr, *targets = nullptr;
  bool has_targets = false;
};

}  // namespace ef::train
