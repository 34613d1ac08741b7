// Vectorised element-wise and row ops of the llama family, dispatched per ISA
// like the matmul table (row_ops(table) returns the set matching table.isa;
// amx and avx512_vnni use the avx512 set, neon_dotprod the neon set).
//
// The scalar set is kernels/ops.h (ggml's scalar arithmetic step for step)
// plus ops::exp_row; it is the oracle of every SIMD set. Stated tolerances
// (checked on every ISA the CPU runs, in row_ops_test.cpp):
//   exp      <= 2 ulp of exp computed in double, over all float inputs;
//            -inf and x < -103.98 -> +0, x > 88.73 and +inf -> +inf, NaN -> NaN
//   swiglu   <= 4 float epsilons relative to silu(g) * u computed in double
//            (exp plus a divide and a product), or 1e-35 absolute: for
//            g < -88.7 exp(-g) overflows and silu(g) is -0 (scalar op too)
//   softmax  <= 1e-6 relative to the scalar op (sum of exp in double either
//            way; only the summation order and exp differ)
//   rmsnorm  bit-identical to the scalar op except when the double sum of
//            squares, summed in another order, rounds to a different float
//            mean: <= 1 ulp of the scale, so <= 2 ulp per element
//   rope_apply, add: bit-identical (same products and sums, no FMA)
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace ef::kernels {

struct RowOps {
  Isa isa = Isa::scalar;
  // y[i] = exp(x[i]), y may equal x.
  void (*exp)(const float* x, float* y, int64_t n) = nullptr;
  // out[i] = silu(gate[i]) * up[i]; out may equal gate or up.
  void (*swiglu)(float* out, const float* gate, const float* up, int64_t n) = nullptr;
  // In-place softmax over n floats (max subtracted first).
  void (*softmax)(float* x, int64_t n) = nullptr;
  // out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may equal x.
  void (*rmsnorm)(float* out, const float* x, const float* weight, int64_t n, float eps) = nullptr;
  // rmsnorm fused with the q8_0 activation quantizer, one row, no float
  // output: y (n / 32 BlockQ8_0) = from_float_act(rmsnorm(x, weight)) and,
  // when info is not null, info[b] = act_block_info of y (kernels/packed.h).
  // Bit for bit what this set's rmsnorm followed by the quantizer of the
  // tables on its vector unit produces (the same float ops in the same
  // order, then the same quantization). n a multiple of 32.
  void (*rmsnorm_q8_0)(void* y, ActBlockInfo* info, const float* x, const float* weight,
                       int64_t n, float eps) = nullptr;
  // Rotates the first n_rot dims of n_heads heads by a rope cache row from
  // ops::rope_cache (cs: [2 * n_rot]).
  void (*rope_apply)(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                     const float* cs) = nullptr;
  // y[i] += x[i].
  void (*add)(float* y, const float* x, int64_t n) = nullptr;
};

// The row ops of the ISA of `table`.
const RowOps& row_ops(const KernelTable& table);

namespace ref {
// The scalar set (the ops.h functions).
void fill_row_ops(RowOps& t);
// ops::rmsnorm then quantize_row_q8_0_act_info, fused (RowOps::rmsnorm_q8_0).
void rmsnorm_q8_0(void* y, ActBlockInfo* info, const float* x, const float* weight, int64_t n,
                  float eps);
}  // namespace ref

}  // namespace ef::kernels
