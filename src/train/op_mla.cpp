// The data-movement ops of Multi-head Latent Attention (deepseek2) training,
// forward and backward. The arithmetic of MLA runs on the generic ops
// (matmul, rmsnorm, rope, attention); these three move values between the
// layouts they need:
//   split_cols:     attn_kv_a_mqa output [n, r + rope] -> latent [n, r], k_pe [n, rope]
//   mla_keys:       per-head keys [n, NH, nope + rope] = [k_nope[n, h] | k_pe[n]]
//                   (k_pe shared by every head, so its gradient sums the heads)
//   head_transpose: attn_k_b {nope, r, NH} (head h: r rows of nope) <-> the
//                   linear weight [NH * nope, r] that maps a latent to k_nope
// All three are linear; each backward is the transpose of its forward.
#include <cstring>

#include "train/ops.h"

namespace ef::train {

void split_cols_forward(float* a, float* b, const float* x, int64_t n, int64_t ca, int64_t cb) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(a + i * ca, x + i * (ca + cb), static_cast<size_t>(ca) * sizeof(float));
    std::memcpy(b + i * cb, x + i * (ca + cb) + ca, static_cast<size_t>(cb) * sizeof(float));
  }
}

void split_cols_backward(float* dx, const float* da, const float* db, int64_t n, int64_t ca,
                         int64_t cb) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = dx + i * (ca + cb);
    for (int64_t j = 0; j < ca; ++j) row[j] += da[i * ca + j];
    for (int64_t j = 0; j < cb; ++j) row[ca + j] += db[i * cb + j];
  }
}

void mla_keys_forward(float* k, const float* k_nope, const float* k_pe, int64_t n, int64_t NH,
                      int64_t nope, int64_t rope) {
  const int64_t hk = nope + rope;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t h = 0; h < NH; ++h) {
      float* kh = k + (i * NH + h) * hk;
      std::memcpy(kh, k_nope + (i * NH + h) * nope, static_cast<size_t>(nope) * sizeof(float));
      std::memcpy(kh + nope, k_pe + i * rope, static_cast<size_t>(rope) * sizeof(float));
    }
  }
}

void mla_keys_backward(float* dk_nope, float* dk_pe, const float* dk, int64_t n, int64_t NH,
                       int64_t nope, int64_t rope) {
  const int64_t hk = nope + rope;
  for (int64_t i = 0; i < n; ++i) {
    float* dpe = dk_pe + i * rope;
    for (int64_t h = 0; h < NH; ++h) {  // heads in order: deterministic sum
      const float* dkh = dk + (i * NH + h) * hk;
      float* dn = dk_nope + (i * NH + h) * nope;
      for (int64_t d = 0; d < nope; ++d) dn[d] += dkh[d];
      for (int64_t d = 0; d < rope; ++d) dpe[d] += dkh[nope + d];
    }
  }
}

void head_transpose_forward(float* wt, const float* w, int64_t NH, int64_t rows, int64_t cols) {
  for (int64_t h = 0; h < NH; ++h) {
    const float* wh = w + h * rows * cols;  // [rows, cols]
    float* th = wt + h * cols * rows;       // [cols, rows]
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) th[c * rows + r] = wh[r * cols + c];
    }
  }
}

void head_transpose_backward(float* dw, const float* dwt, int64_t NH, int64_t rows, int64_t cols) {
  for (int64_t h = 0; h < NH; ++h) {
    float* dh = dw + h * rows * cols;
    const float* th = dwt + h * cols * rows;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) dh[r * cols + c] += th[c * rows + r];
    }
  }
}

}  // namespace ef::train
