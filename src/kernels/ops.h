// Element-wise and row ops of the llama family (scalar, auto-vectorised by
// the compiler). Each forward op has its backward twin in src/train (same
// argument order, llm.c style). These are also the oracles of the per-ISA
// SIMD versions in kernels/row_ops.h, which the forward pass calls.
#pragma once

#include <cstdint>

namespace ef::ops {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], for one row of n.
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);

// Rotates pairs (x[2i], x[2i+1]) of each of n_heads heads of head_dim floats
// by angle pos * freq_base^(-2i/n_rot) for 2i < n_rot (ggml's NORM mode, used
// by the llama architecture). Angles computed as ggml does (theta *= scale
// in float) so results match llama.cpp.
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos,
          float freq_base);

// rope() split in two, so that a forward pass computes the cos/sin of each
// position once for all layers and heads (rope = rope_cache + rope_apply,
// bit for bit). cs: [2 * n_rot] floats, n_rot even:
//   cs[2i] = cs[2i+1] = cos(theta_i)            (first n_rot floats)
//   cs[n_rot + 2i] = -sin(theta_i), cs[n_rot + 2i + 1] = +sin(theta_i)
// so that the rotation of a pair is  x * cs[0:n_rot] + swap_pairs(x) * cs[n_rot:]
// lane by lane (what the SIMD versions in kernels/row_ops.h compute).
void rope_cache(float* cs, int64_t n_rot, int64_t pos, float freq_base);
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cs);

// In-place, numerically stable softmax over n floats (max subtracted first).
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i].
void swiglu(float* out, const float* gate, const float* up, int64_t n);

// y[i] += x[i].
void add(float* y, const float* x, int64_t n);

// y[i] = std::exp(x[i]) (the oracle of the vectorised exp in row_ops.h).
void exp_row(const float* x, float* y, int64_t n);

}  // namespace ef::ops
