// Forward and backward passes of the llama layers for training (llm.c style).
//
// Every op comes as a pair with the same argument order:
//   foo_forward(out, <saved>, inputs..., shape...)
//   foo_backward(d_inputs..., dout, inputs..., <saved>, shape...)
// Conventions:
//  - Row-major F32. "n" is the number of token rows (batch * seq).
//  - Backward ops ADD into their gradient outputs (dx += ..., dw += ...),
//    like llm.c: a tensor used twice (residual stream, q/k/v sharing their
//    input, tied embedding) gets both contributions without extra buffers.
//    Callers zero gradient buffers first. rope_backward is the exception:
//    it rotates the gradient in place.
//  - Determinism: every output element is produced by one task in a fixed
//    order, and reductions over tokens (dw of rmsnorm, dW of matmul) run in
//    token order inside one task, so results are bit-identical for any
//    number of threads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ef {
class ThreadPool;
}

namespace ef::train {

// ---- embedding: out[i] = wte[ids[i]]  (wte: [V, C], out: [n, C]) -----------
void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t n, int64_t C);
void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t n, int64_t C);

// ---- RMSNorm over rows of C: out = x * rstd * w, rstd = 1/sqrt(mean(x^2)+eps)
// rstd [n] is saved for the backward pass. Same rounding as ops::rmsnorm
// (inference), so a trained model evaluates identically in Session.
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t n,
                     int64_t C, float eps, ThreadPool& pool);
void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t n, int64_t C, ThreadPool& pool);

// ---- linear layer: out[n, OC] = inp[n, IC] * W^T, W: [OC, IC] (ggml ne {IC, OC})
// Forward on kernels::matmul; backward on gemm_acc (train/gemm_acc.h):
// dinp += dout * W and dW += dout^T * inp. dinp may be null.
void matmul_forward(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                    int64_t OC, ThreadPool& pool);
void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                     int64_t n, int64_t IC, int64_t OC, ThreadPool& pool);
// Scalar references (tests): plain triple loops in double.
void matmul_forward_ref(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                        int64_t OC);
void matmul_backward_ref(float* dinp, float* dw, const float* dout, const float* inp,
                         const float* w, int64_t n, int64_t IC, int64_t OC);

// ---- RoPE, ggml NORM mode (adjacent pairs), positions t = row % T --------
// cos/sin tables [T, n_rot/2] from rope_table(), which builds the angles
// exactly like ops::rope (theta *= theta_scale in float).
void rope_table(float* cos_t, float* sin_t, int64_t T, int64_t n_rot, float freq_base);
// x: [n, n_heads * head_dim], rotated in place. Backward rotates the
// gradient by the opposite angle (the rotation is orthogonal), in place.
void rope_forward(float* x, const float* cos_t, const float* sin_t, int64_t n, int64_t T,
                  int64_t n_heads, int64_t head_dim, int64_t n_rot);
void rope_backward(float* dx, const float* cos_t, const float* sin_t, int64_t n, int64_t T,
                   int64_t n_heads, int64_t head_dim, int64_t n_rot);

// ---- causal self-attention with grouped KV heads (MHA/GQA/MQA) -----------
// q, k: [B*T, NH*hd] / [B*T, NKV*hd]; v: [B*T, NKV*hd_v]; query head h
// reads KV head h / (NH/NKV). att: [B, NH, T, T] softmax probabilities
// (saved; masked entries are 0). out: [B*T, NH*hd_v]. Scale 1/sqrt(hd).
// window: 0 = full causal; W > 0 = sliding window with the inference
// engine's rule, query t sees key u iff 0 <= t - u < W. hd_v: value head
// size, 0 = hd (MLA has hd_v != hd).
// The products run on the kernels' block gemm; `scratch` holds
// attention_scratch_floats(T, max(hd, hd_v), pool threads) floats (both passes).
// Backward tasks are (batch, KV head) so the heads sharing a KV head add
// into dk/dv in a fixed order.
size_t attention_scratch_floats(int64_t T, int64_t hd, int n_threads);
void attention_forward(float* out, float* att, float* scratch, const float* q, const float* k,
                       const float* v, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                       ThreadPool& pool, int64_t window = 0, int64_t hd_v = 0);
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                        const float* q, const float* k, const float* v, const float* att,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                        ThreadPool& pool, int64_t window = 0, int64_t hd_v = 0);

// ---- MLA (deepseek2) data movement (op_mla.cpp) -----------------------------
// Column split: a[n, ca] = x[:, :ca], b[n, cb] = x[:, ca:]  (x: [n, ca + cb]).
void split_cols_forward(float* a, float* b, const float* x, int64_t n, int64_t ca, int64_t cb);
void split_cols_backward(float* dx, const float* da, const float* db, int64_t n, int64_t ca,
                         int64_t cb);
// Per-head keys: k[i, h] = [k_nope[i, h] (nope) | k_pe[i] (rope)], k: [n, NH*(nope+rope)],
// k_nope: [n, NH*nope], k_pe: [n, rope] shared by the heads (its gradient
// sums them, in head order).
void mla_keys_forward(float* k, const float* k_nope, const float* k_pe, int64_t n, int64_t NH,
                      int64_t nope, int64_t rope);
void mla_keys_backward(float* dk_nope, float* dk_pe, const float* dk, int64_t n, int64_t NH,
                       int64_t nope, int64_t rope);
// Per-head transpose: w is NH blocks of [rows, cols] (attn_k_b {nope, r, NH}:
// rows = r, cols = nope), wt is NH blocks of [cols, rows], i.e. the linear
// weight [NH*nope, r] mapping a latent to every head's k_nope.
void head_transpose_forward(float* wt, const float* w, int64_t NH, int64_t rows, int64_t cols);
void head_transpose_backward(float* dw, const float* dwt, int64_t NH, int64_t rows, int64_t cols);

// ---- SwiGLU: out = silu(gate) * up, elementwise over n values -------------
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n, ThreadPool& pool);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t n, ThreadPool& pool);

// ---- softmax + cross-entropy fused over rows of V logits -----------------
// probs may alias logits (in place). losses[i] = -log softmax(logits[i])[targets[i]].
// Backward: dlogits[i] = (probs[i] - onehot(targets[i])) * dloss (dloss is
// the gradient of the objective w.r.t. each row's loss, e.g. 1/n for the
// mean). dlogits may alias probs. This op overwrites instead of adding: the
// logits have no other consumer.
void crossentropy_forward(float* losses, float* probs, const float* logits,
                          const int32_t* targets, int64_t n, int64_t V, ThreadPool& pool);
void crossentropy_backward(float* dlogits, float dloss, const float* probs,
                           const int32_t* targets, int64_t n, int64_t V, ThreadPool& pool);

}  // namespace ef::train
