// Linear layer forward/backward.
//
//   forward  out[n, OC]   = inp[n, IC] . W[OC, IC]^T   kernels::matmul (the
//            tiled SIMD dot-product gemm; W rows and inp rows are both
//            contiguous along IC, as that form needs)
//   dinp     dinp[n, IC] += dout[n, OC] . W[OC, IC]     gemm_acc, A = dout
//   dW       dW[OC, IC]  += dout^T[OC, n] . inp[n, IC]  gemm_acc, A = dout^T
// The backward products run on gemm_acc's outer-product tiles, which read
// dout^T through strides and add straight into dinp / dW: no transposes and
// no extra passes. Both are deterministic for any thread count.
#include <algorithm>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "train/gemm_acc.h"
#include "train/ops.h"

namespace ef::train {
namespace {

// Y[n_tok, n_rows] = X[n_tok, k] . W[n_rows, k]^T with the active kernels.
void gemm(float* y, const float* x, const float* w, int64_t n_tok, int64_t k, int64_t n_rows,
          ThreadPool& pool) {
  const int64_t ne[2] = {k, n_rows};
  const Tensor wt = make_tensor("", DType::F32, 2, ne, const_cast<float*>(w));
  std::vector<uint8_t> unused;  // F32 weights need no conversion scratch
  kernels::matmul(wt, x, n_tok, y, n_rows, unused, pool);
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                    int64_t OC, ThreadPool& pool) {
  gemm(out, inp, w, n, IC, OC, pool);
}

void matmul_backward(float* dinp, float* dw, const float* dout, const float* inp,
                     const float* w, int64_t n, int64_t IC, int64_t OC, ThreadPool& pool) {
  // dinp[t, :] += sum_o dout[t, o] W[o, :]    (A = dout, row stride OC)
  if (dinp != nullptr) gemm_acc(n, IC, OC, dout, OC, 1, w, IC, dinp, IC, pool);
  // dW[o, :] += sum_t dout[t, o] inp[t, :]    (A = dout^T read in place)
  gemm_acc(OC, IC, n, dout, 1, OC, inp, IC, dw, IC, pool);
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
