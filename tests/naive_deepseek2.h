// An independent, deliberately naive double-precision reference of the
// deepseek2 (DeepSeek-V2 Multi-head Latent Attention) forward pass, written
// from the math, not from src/model:
//
//   per layer, for token t (hk = nope + rope, r = kv_lora_rank):
//     h      = rmsnorm(x_t) * attn_norm
//     q      = Wq h   or   Wq_b (rmsnorm(Wq_a h) * q_a_norm)     [n_head][nope | rope]
//     [a|kp] = Wkv_a h                                           [r | rope]
//     c_t    = rmsnorm(a) * kv_a_norm                            latent
//     kp_t   = rope(kp, t); q_pe = rope(q_pe, t)     pairs (2i, 2i+1), theta = t base^(-2i/rope)
//     k_t[h] = [K_b[h] c_t | kp_t],  v_t[h] = V_b[h] c_t       (explicit decompression)
//       legacy attn_kv_b: [K_b[h]; V_b[h]] = rows h*(nope+hv) .. of kv_b
//       split: K_b[h](i, j) = attn_k_b[h][j][i], V_b[h] = attn_v_b[h]
//     o[h]   = sum_{s<=t} softmax_s(q[h].k_s[h] / sqrt(hk)) v_s[h]
//     x_t   += Wo o;  x_t += Wdown(silu(Wgate h') * Wup h'), h' = rmsnorm(x_t) * ffn_norm
//   logits_t = Wout (rmsnorm(x_t) * output_norm)
// F32 weights only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgeformer/error.h"

namespace ef::naive {

// Logits of every position: tokens.size() rows of n_vocab.
Result<std::vector<double>> deepseek2_logits(const std::string& path,
                                             std::span<const int32_t> tokens);

}  // namespace ef::naive
