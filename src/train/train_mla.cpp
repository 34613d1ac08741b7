// deepseek2 Multi-head Latent Attention block of TrainModel, forward and
// backward, in the decompressed form (per-head keys and values rebuilt from
// the latent), with the inference engine's conventions
// (src/model/deepseek2_forward.cpp, deepseek2_attention.cpp):
//
//   q    = xn Wq^T  or  (rmsnorm(xn Wq_a^T) * q_a_norm) Wq_b^T   [N, NH, nope | rope]
//   rope(q[:, h, nope:])                       NORM mode, rope dims, position t
//   kva  = xn Wkv_a^T = [lat | k_pe]           [N, r + rope]
//   rope(k_pe)                                 one key shared by all heads
//   c    = rmsnorm(lat) * kv_a_norm            [N, r], eps = rms_eps
//   k_nope[:, h] = c W_kb[h]                   attn_k_b {nope, r, NH}: W_kb[h] is [r, nope]
//   v[:, h]      = c W_vb[h]^T                 attn_v_b {r, hv, NH}: W_vb[h] is [hv, r]
//   k[:, h] = [k_nope[:, h] | k_pe]            [N, NH, nope + rope]
//   y = causal attention(q, k, v), scale 1/sqrt(nope + rope)   [N, NH*hv]
// No YaRN / mscale factor: the engine rejects scaled RoPE for deepseek2, so
// the scale is exactly deepseek2_kq_scale() = 1/sqrt(nope + rope).
// The engine's default absorbed form computes the same function
// (q_nope . c W_kb = (W_kb q_nope) . c); only the rounding differs.
#include <cstring>

#include "train/ops.h"
#include "train/train_model_impl.h"

namespace ef::train {
namespace {

// Offsets (in floats) of one deepseek2 layer's attention tensors.
struct MlaParams {
  int64_t q = -1, q_a = -1, q_a_norm = -1, q_b = -1;  // q or (q_a, q_a_norm, q_b)
  int64_t kv_a, kv_a_norm, k_b, v_b;
};

MlaParams mla_params(const std::vector<ParamInfo>& layout, size_t first, bool q_lora) {
  MlaParams p;
  size_t i = first + 1;  // after attn_norm
  if (q_lora) {
    p.q_a = layout[i++].offset;
    p.q_a_norm = layout[i++].offset;
    p.q_b = layout[i++].offset;
  } else {
    p.q = layout[i++].offset;
  }
  p.kv_a = layout[i++].offset;
  p.kv_a_norm = layout[i++].offset;
  p.k_b = layout[i++].offset;
  p.v_b = layout[i++].offset;
  return p;
}

void zero(float* p, int64_t n) { std::memset(p, 0, static_cast<size_t>(n) * sizeof(float)); }

}  // namespace

void TrainModel::mla_forward(int64_t l, size_t first) {
  Impl& I = *impl_;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  LayerActs& L = I.layers[static_cast<size_t>(l)];
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd, NH = c.n_head;
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, nope = hk - rope;
  const int64_t hv = c.head_dim_v, ql = c.q_lora_rank;
  const MlaParams p = mla_params(layout_, first, ql > 0);
  const float* w = params();

  // Query [N, NH*hk], RoPE on the last `rope` dims of every head.
  if (ql > 0) {
    matmul_forward(L.qa, L.xn1, w + p.q_a, N, C, ql, pool);
    rmsnorm_forward(L.qan, L.rstd_qa, L.qa, w + p.q_a_norm, N, ql, c.rms_eps, pool);
    matmul_forward(L.q, L.qan, w + p.q_b, N, ql, NH * hk, pool);
  } else {
    matmul_forward(L.q, L.xn1, w + p.q, N, C, NH * hk, pool);
  }
  rope_forward(L.q + nope, I.rope_cos, I.rope_sin, N, T, NH, hk, rope);
  // Latent and shared RoPE key.
  matmul_forward(I.kva, L.xn1, w + p.kv_a, N, C, r + rope, pool);  // [N, r + rope]
  split_cols_forward(L.lat, L.kpe, I.kva, N, r, rope);
  rope_forward(L.kpe, I.rope_cos, I.rope_sin, N, T, 1, rope, rope);
  rmsnorm_forward(L.cn, L.rstd_kv, L.lat, w + p.kv_a_norm, N, r, c.rms_eps, pool);
  // Decompressed keys and values.
  head_transpose_forward(I.wkb_t, w + p.k_b, NH, r, nope);        // [NH*nope, r]
  matmul_forward(I.knope, L.cn, I.wkb_t, N, r, NH * nope, pool);  // [N, NH*nope]
  mla_keys_forward(L.k, I.knope, L.kpe, N, NH, nope, rope);       // [N, NH*hk]
  matmul_forward(L.v, L.cn, w + p.v_b, N, r, NH * hv, pool);      // [N, NH*hv]
  attention_forward(L.y, L.att, I.att_scratch, L.q, L.k, L.v, B, T, NH, NH, hk, pool, 0, hv);
}

void TrainModel::mla_backward(int64_t l, size_t first) {
  Impl& I = *impl_;
  ThreadPool& pool = *I.pool;
  const ModelConfig& c = c_;
  LayerActs& L = I.layers[static_cast<size_t>(l)];
  const int64_t B = B_, T = T_, N = B * T, C = c.n_embd, NH = c.n_head;
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, nope = hk - rope;
  const int64_t hv = c.head_dim_v, ql = c.q_lora_rank;
  const MlaParams p = mla_params(layout_, first, ql > 0);
  const float* w = params();
  float* g = grads();

  // dy [N, NH*hv] -> dq, dk [N, NH*hk], dv [N, NH*hv]
  zero(I.dq, N * NH * hk);
  zero(I.dk, N * NH * hk);
  zero(I.dv, N * NH * hv);
  attention_backward(I.dq, I.dk, I.dv, I.att_scratch, I.dy, L.q, L.k, L.v, L.att, B, T, NH, NH, hk,
                     pool, 0, hv);
  // Keys -> k_nope (per head) and the shared k_pe (sum over heads).
  zero(I.knope, N * NH * nope);
  zero(I.dkpe, N * rope);
  mla_keys_backward(I.knope, I.dkpe, I.dk, N, NH, nope, rope);
  // Values and k_nope -> normed latent.
  zero(I.dcn, N * r);
  matmul_backward(I.dcn, g + p.v_b, I.dv, L.cn, w + p.v_b, N, r, NH * hv, pool);
  head_transpose_forward(I.wkb_t, w + p.k_b, NH, r, nope);
  zero(I.dwkb_t, NH * nope * r);
  matmul_backward(I.dcn, I.dwkb_t, I.knope, L.cn, I.wkb_t, N, r, NH * nope, pool);
  head_transpose_backward(g + p.k_b, I.dwkb_t, NH, r, nope);
  // Latent norm, RoPE of k_pe, then the kv_a projection.
  zero(I.dlat, N * r);
  rmsnorm_backward(I.dlat, g + p.kv_a_norm, I.dcn, L.lat, w + p.kv_a_norm, L.rstd_kv, N, r, pool);
  rope_backward(I.dkpe, I.rope_cos, I.rope_sin, N, T, 1, rope, rope);
  zero(I.kva, N * (r + rope));
  split_cols_backward(I.kva, I.dlat, I.dkpe, N, r, rope);
  zero(I.dxn, N * C);
  matmul_backward(I.dxn, g + p.kv_a, I.kva, L.xn1, w + p.kv_a, N, C, r + rope, pool);
  // Query.
  rope_backward(I.dq + nope, I.rope_cos, I.rope_sin, N, T, NH, hk, rope);
  if (ql > 0) {
    zero(I.dqan, N * ql);
    matmul_backward(I.dqan, g + p.q_b, I.dq, L.qan, w + p.q_b, N, ql, NH * hk, pool);
    zero(I.dqa, N * ql);
    rmsnorm_backward(I.dqa, g + p.q_a_norm, I.dqan, L.qa, w + p.q_a_norm, L.rstd_qa, N, ql, pool);
    matmul_backward(I.dxn, g + p.q_a, I.dqa, L.xn1, w + p.q_a, N, C, ql, pool);
  } else {
    matmul_backward(I.dxn, g + p.q, I.dq, L.xn1, w + p.q, N, C, NH * hk, pool);
  }
}

}  // namespace ef::train
