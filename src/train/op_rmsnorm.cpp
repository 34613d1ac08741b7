// RMSNorm forward/backward.
//   y_c  = x_c * r * w_c,  r = (mean_c(x^2) + eps)^(-1/2)
//   dx_j = r * w_j * dy_j - r^3 * x_j / C * sum_c(dy_c * w_c * x_c)
//   dw_c = sum_rows dy_c * x_c * r
#include <cmath>

#include "core/thread_pool.h"
#include "train/ops.h"

namespace ef::train {

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* w, int64_t n,
                     int64_t C, float eps, ThreadPool& pool) {
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float* xi = x + i * C;
      float* yi = out + i * C;
      // Same rounding as ops::rmsnorm: float squares summed in double.
      double sum = 0.0;
      for (int64_t c = 0; c < C; ++c) sum += static_cast<double>(xi[c] * xi[c]);
      const float mean = static_cast<float>(sum / static_cast<double>(C));
      const float r = 1.0f / std::sqrt(mean + eps);
      rstd[i] = r;
      for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] * r) * w[c];
    }
  });
}

void rmsnorm_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                      const float* rstd, int64_t n, int64_t C, ThreadPool& pool) {
  // dx: rows are independent.
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const float* xi = x + i * C;
      const float* gi = dout + i * C;
      float* dxi = dx + i * C;
      const float r = rstd[i];
      double dot = 0.0;
      for (int64_t c = 0; c < C; ++c) dot += static_cast<double>(gi[c] * w[c]) * xi[c];
      const float k = static_cast<float>(dot / static_cast<double>(C)) * r * r * r;
      for (int64_t c = 0; c < C; ++c) dxi[c] += r * w[c] * gi[c] - k * xi[c];
    }
  });
  // dw: split over channels; each task sums its channels over all rows in
  // row order, so the result does not depend on the thread count.
  pool.parallel_for(C, 16, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x + i * C;
      const float* gi = dout + i * C;
      const float r = rstd[i];
      for (int64_t c = begin; c < end; ++c) dw[c] += gi[c] * (xi[c] * r);
    }
  });
}

}  // namespace ef::train
