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

// Y[n_tok, n_rows] = X[n_tok, k] . W[n_rows, k]^T with the active kernels.
void gemm(float* y, const float* x, const float* w, int64_t n_tok, int64_t k, int64_t n_rows,
          ThreadPool& pool) {
  const int64_t ne[2] = {k, n_rows};
  const Tensor wt = make_tensor("", DType::F32, 2, ne, const_cast<float*>(w));
  std::vector<uint8_t> unused;  // F32 weights need no conversion scratch
  kernels::matmul(wt, x, n_tok, y, n_rows, unused, pool);
}

constexpr int64_t kBlock = 32;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Columns [c0, c0 + kBlock) of src [rows, cols] into dst [cols, rows].
void transpose_cols(float* dst, const float* src, int64_t rows, int64_t cols, int64_t c0) {
  const int64_t c1 = std::min(cols, c0 + kBlock);
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t c = c0; c < c1; ++c) {
      float* d = dst + c * rows;
      for (int64_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
    }
  }
}

// y[t, r] = dot(w[r, :k], x[t, :k]) for r < rows, t < n_tok (dense rows):
// the kernels' single-threaded block gemm, or its vec_dot if it has none.
void block_gemm(const kernels::TypeKernels& f32, int64_t k, const float* w, int64_t rows,
                const float* x, int64_t n_tok, float* y) {
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  if (f32.gemm != nullptr) {
    f32.gemm(k, w, row_bytes, 0, rows, x, row_bytes, n_tok, y, rows);
    return;
  }
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t r = 0; r < rows; ++r) y[t * rows + r] = f32.vec_dot(k, w + r * k, x + t * k);
  }
}

void add_rows(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, int64_t n, int64_t IC,
                    int64_t OC, ThreadPool& pool) {
  gemm(out, inp, w, n, IC, OC, pool);
}

size_t matmul_backward_scratch_floats(int64_t n, int64_t IC, int64_t OC, int n_threads) {
  // W^T, dout^T, inp^T, then one [kBlock, IC] product tile per thread.
  return static_cast<size_t>(IC * OC + OC * n + IC * n + kBlock * IC * n_threads);
}

void matmul_backward(float* dinp, float* dw, float* scratch, const float* dout, const float* inp,
                     const float* w, int64_t n, int64_t IC, int64_t OC, ThreadPool& pool) {
  float* wt = scratch;           // [IC, OC]
  float* dout_t = wt + IC * OC;  // [OC, n]
  float* inp_t = dout_t + OC * n;  // [IC, n]
  float* tiles = inp_t + IC * n;   // per thread [kBlock, IC]
  // Region 1: the three transposes, in column blocks.
  const int64_t nb_w = dinp != nullptr ? ceil_div(IC, kBlock) : 0;
  const int64_t nb_d = ceil_div(OC, kBlock), nb_i = ceil_div(IC, kBlock);
  pool.run(nb_w + nb_d + nb_i, [&](int64_t task, int) {
    if (task < nb_w) {
      transpose_cols(wt, w, OC, IC, task * kBlock);
    } else if (task < nb_w + nb_d) {
      transpose_cols(dout_t, dout, n, OC, (task - nb_w) * kBlock);
    } else {
      transpose_cols(inp_t, inp, n, IC, (task - nb_w - nb_d) * kBlock);
    }
  });
  // Region 2: blocks of dinp rows (tokens) and of dW rows (outputs). Each
  // task owns its output rows: product into its tile, then added in place.
  const kernels::TypeKernels& f32 = kernels::active().f32;
  const int64_t nb_x = dinp != nullptr ? ceil_div(n, kBlock) : 0;
  const int64_t nb_o = ceil_div(OC, kBlock);
  pool.run(nb_x + nb_o, [&](int64_t task, int thread) {
    float* tile = tiles + static_cast<int64_t>(thread) * kBlock * IC;
    if (task < nb_x) {
      // dinp[t, :] += sum_o dout[t, o] W[o, :]   (k = OC)
      const int64_t t0 = task * kBlock, t1 = std::min(n, t0 + kBlock);
      block_gemm(f32, OC, wt, IC, dout + t0 * OC, t1 - t0, tile);
      add_rows(dinp + t0 * IC, tile, (t1 - t0) * IC);
    } else {
      // dW[o, :] += sum_t dout[t, o] inp[t, :]   (k = n)
      const int64_t o0 = (task - nb_x) * kBlock, o1 = std::min(OC, o0 + kBlock);
      block_gemm(f32, n, inp_t, IC, dout_t + o0 * n, o1 - o0, tile);
      add_rows(dw + o0 * IC, tile, (o1 - o0) * IC);
    }
  });
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
