// An independent, deliberately naive reference of the llama forward pass, for
// testing the engine. Written from the math (llama.cpp's graph for
// LLM_ARCH_LLAMA), not from the engine's src/model code:
//
//   x_t      = token_embd[tok_t]                                 (n_embd)
//   per layer:
//     h_t    = rmsnorm(x_t) * attn_norm
//     q,k,v  = Wq h_t, Wk h_t, Wv h_t      (n_head*hd, n_head_kv*hd, n_head_kv*hd)
//     q,k    = rope_norm(q, t), rope_norm(k, t)   (pairs (2i, 2i+1), 2i < n_rot)
//     o_t[h] = sum_{s<=t} softmax_s(q_t[h].k_s[g(h)] / sqrt(hd)) v_s[g(h)],
//              g(h) = h / (n_head / n_head_kv)
//     x_t   += Wo o_t
//     h_t    = rmsnorm(x_t) * ffn_norm
//     x_t   += Wdown (silu(Wgate h_t) * Wup h_t)
//   logits_t = Wout (rmsnorm(x_t) * output_norm)   (Wout = token_embd if tied)
//
// Everything is dequantized to double up front and computed in double with
// explicit loops and no KV cache: every position recomputes full causal
// attention. Slow by design; meant for models with a few thousand parameters.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgeformer/error.h"

namespace ef::naive {

// A row-major matrix: rows x cols, element (r, c) at r * cols + c.
// Matches ggml's weight layout W with ne = {cols, rows}: y[r] = sum_c W(r, c) x[c].
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;
  uint32_t file_type = 0;  // ggml type id the values were decoded from (0 = F32)
  double at(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * cols + c)]; }
};

struct Layer {
  std::vector<double> attn_norm;  // n_embd
  Matrix wq;                      // n_head*head_dim x n_embd
  Matrix wk;                      // n_head_kv*head_dim x n_embd
  Matrix wv;                      // n_head_kv*head_dim x n_embd
  Matrix wo;                      // n_embd x n_head*head_dim
  std::vector<double> ffn_norm;   // n_embd
  Matrix w_gate;                  // n_ff x n_embd
  Matrix w_up;                    // n_ff x n_embd
  Matrix w_down;                  // n_embd x n_ff
};

struct Weights {
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_ff = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_rot = 0;
  double rms_eps = 1e-5;
  double rope_freq_base = 10000.0;
  bool tied_output = false;

  Matrix token_embd;  // n_vocab x n_embd (row = one token's embedding)
  std::vector<Layer> layers;
  std::vector<double> output_norm;  // n_embd
  Matrix output;                    // n_vocab x n_embd; empty when tied
};

// Reads every hyper-parameter and weight of a llama GGUF file (any supported
// weight type: F32, F16, BF16, Q8_0, Q4_0), dequantizing with this file's own
// decoders, and checks every shape against the hyper-parameters.
Result<Weights> load(const std::string& path);

// Optional emulation of ggml's intermediate roundings, to tighten comparisons
// with an engine that computes like ggml. Off by default: the pure reference.
struct Options {
  // Before W x, round x to W's vec_dot type as ggml's mul_mat does:
  // F16 weights -> x to half, BF16 -> x to bfloat16, Q8_0/Q4_0 -> x quantized
  // to Q8_0 (per block of 32: d = max|x|/127 stored as half, q = x * (127/max|x|)
  // rounded half to even, ggml-cpu's x86 activation quantizer).
  bool round_activations = false;
  // Round K (after RoPE) and V to half, as stored in an F16 KV cache.
  bool kv_f16 = false;
  // Round Q and the softmax probabilities to half in attention, as ggml's
  // mul_mat converts them to the F16 cache's vec_dot type (K.Q and V.P).
  bool attn_f16_operands = false;
  // RoPE angles as ggml computes them in float: theta = pos, then
  // theta *= base^(-2/n_rot) per pair (cosf/sinf of that float angle).
  // The float recurrence drifts ~1e-7 relative per step, i.e. ~1e-5 rad at pos 100.
  bool rope_float_angles = false;
};

// Logits for every position of `tokens` (starting at position 0):
// tokens.size() rows of n_vocab values.
std::vector<std::vector<double>> forward(const Weights& w, std::span<const int32_t> tokens,
                                         const Options& options = {});

}  // namespace ef::naive
