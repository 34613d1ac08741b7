// Linear layer forward/backward on the kernels' tiled gemm.
//
// kernels::matmul computes Y[t][r] = dot(W[r], X[t]) with every output
// element produced by one thread in a fixed order (deterministic for any
// thread count). The three products of a linear layer map onto it as
//   forward  out[n, OC]  = inp[n, IC]  . W[OC, IC]^T          (W as is)
//   dinp     dinp[n, IC] += dout[n, OC] . (W^T)[IC, OC]^T      (W transposed)
//   dW       dW[OC, IC]  += (dout^T)[OC, n] . (inp^T)[IC, n]^T (both transposed)
// The transposes cost O(size) against the O(n * IC * OC) products.
#include <algorithm>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "train/ops.h"

namespace ef::train {
namespace {

// y[rows x k] (row stride k) -> a[k x rows]: blocked transpose, parallel over
// output row blocks.
void transpose(float* dst, const float* src, int64_t rows, int64_t cols, ThreadPool& pool) {
  constexpr int64_t kBlock = 32;
  pool.parallel_for(cols, kBlock, [&](int64_t c0, int64_t c1, int) {
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
      const int64_t r1 = std::min(rows, r0 + kBlock);
      for (int64_t c = c0; c < c1; ++c) {
        float* d = dst + c * rows;
        for (int64_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
      }
    }
  });
}

// Y[n_tok, n_rows] = X[n_tok, k] . W[n_rows, k]^T with the active kernels.
void gemm(float* y, const float* x, const float* w, int64_t n_tok, int64_t k, int64_t n_rows,
          ThreadPool& pool) {
  const int64_t ne[2] = {k, n_rows};
  const Tensor wt = make_tensor("", DType::F32, 2, ne, const_cast<float*>(w));
  std::vector<uint8_t> unused;  // F32 weights need no conversion scratch
  kernels::matmul(wt, x, n_tok, y, n_rows, unused, pool);
}

void add_into(float* dst, const float* src, int64_t count, ThreadPool& pool) {
  pool.parallel_for(count, 4096, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) dst[i] += src[i];
  });
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                    int64_t OC, ThreadPool& pool) {
  gemm(out, inp, w, n, IC, OC, pool);
}

size_t matmul_backward_scratch_floats(int64_t n, int64_t IC, int64_t OC) {
  const int64_t for_dinp = IC * OC + n * IC;            // W^T, product
  const int64_t for_dw = OC * n + IC * n + OC * IC;     // dout^T, inp^T, product
  return static_cast<size_t>(std::max(for_dinp, for_dw));
}

void matmul_backward(float* dinp, float* dw, float* scratch, const float* dout, const float* inp,
                     const float* w, int64_t n, int64_t IC, int64_t OC, ThreadPool& pool) {
  if (dinp != nullptr) {
    float* wt = scratch;              // [IC, OC]
    float* prod = scratch + IC * OC;  // [n, IC]
    transpose(wt, w, OC, IC, pool);
    gemm(prod, dout, wt, n, OC, IC, pool);
    add_into(dinp, prod, n * IC, pool);
  }
  float* dout_t = scratch;               // [OC, n]
  float* inp_t = scratch + OC * n;       // [IC, n]
  float* prod = inp_t + IC * n;          // [OC, IC]
  transpose(dout_t, dout, n, OC, pool);
  transpose(inp_t, inp, n, IC, pool);
  gemm(prod, dout_t, inp_t, OC, n, IC, pool);
  add_into(dw, prod, OC * IC, pool);
}

void matmul_forward_ref(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                        int64_t OC) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < OC; ++o) {
      double s = 0.0;
      for (int64_t c = 0; c < IC; ++c) s += static_cast<double>(inp[i * IC + c]) * w[o * IC + c];
      out[i * OC + o] = static_cast<float>(s);
    }
  }
}

void matmul_backward_ref(float* dinp, float* dw, const float* dout, const float* inp,
                         const float* w, int64_t n, int64_t IC, int64_t OC) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < IC; ++c) {
      double s = 0.0;
      for (int64_t o = 0; o < OC; ++o) s += static_cast<double>(dout[i * OC + o]) * w[o * IC + c];
      dinp[i * IC + c] += static_cast<float>(s);
    }
  }
  for (int64_t o = 0; o < OC; ++o) {
    for (int64_t c = 0; c < IC; ++c) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += static_cast<double>(dout[i * OC + o]) * inp[i * IC + c];
      dw[o * IC + c] += static_cast<float>(s);
    }
  }
}

}  // namespace ef::train
