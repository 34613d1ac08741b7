// Causal self-attention with grouped KV heads, forward and backward.
//
// Per (batch b, query head h, query position t), with kh = h / group:
//   s[u]   = (q[t] . k[u]) * scale          u <= t
//   a[u]   = softmax_u(s)                   (saved in att[b, h, t, :])
//   out[t] = sum_u a[u] v[u]
// Backward, with g = dout[t]:
//   da[u]  = g . v[u];          dv[u] += a[u] g
//   ds[u]  = a[u] (da[u] - sum_w a[w] da[w])
//   dq[t] += scale sum_u ds[u] k[u];   dk[u] += scale ds[u] q[t]
#include <cmath>

#include "core/thread_pool.h"
#include "train/ops.h"

namespace ef::train {
namespace {

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

void attention_forward(float* out, float* att, const float* q, const float* k, const float* v,
                       int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                       ThreadPool& pool) {
  const int64_t q_dim = NH * hd;
  const int64_t kv_dim = NKV * hd;
  const int64_t group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  pool.run(B * NH, [&](int64_t task, int) {
    const int64_t b = task / NH;
    const int64_t h = task % NH;
    const int64_t kh = h / group;
    for (int64_t t = 0; t < T; ++t) {
      const float* qt = q + (b * T + t) * q_dim + h * hd;
      float* a = att + ((b * NH + h) * T + t) * T;
      float max = -INFINITY;
      for (int64_t u = 0; u <= t; ++u) {
        a[u] = dot(qt, k + (b * T + u) * kv_dim + kh * hd, hd) * scale;
        max = a[u] > max ? a[u] : max;
      }
      double sum = 0.0;
      for (int64_t u = 0; u <= t; ++u) {
        a[u] = std::exp(a[u] - max);
        sum += a[u];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t u = 0; u <= t; ++u) a[u] *= inv;
      for (int64_t u = t + 1; u < T; ++u) a[u] = 0.0f;
      float* o = out + (b * T + t) * q_dim + h * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = 0.0f;
      for (int64_t u = 0; u <= t; ++u) axpy(o, a[u], v + (b * T + u) * kv_dim + kh * hd, hd);
    }
  });
}

size_t attention_backward_scratch_floats(int64_t T, int n_threads) {
  return static_cast<size_t>(T) * static_cast<size_t>(n_threads);
}

void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                        const float* q, const float* k, const float* v, const float* att,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                        ThreadPool& pool) {
  const int64_t q_dim = NH * hd;
  const int64_t kv_dim = NKV * hd;
  const int64_t group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One task per (batch, KV head): the query heads of a group add into the
  // same dk/dv rows, in head order inside this task.
  pool.run(B * NKV, [&](int64_t task, int thread) {
    const int64_t b = task / NKV;
    const int64_t kh = task % NKV;
    float* ds = scratch + static_cast<int64_t>(thread) * T;  // [T]
    for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        const float* a = att + ((b * NH + h) * T + t) * T;
        const float* g = dout + (b * T + t) * q_dim + h * hd;
        const float* qt = q + (b * T + t) * q_dim + h * hd;
        float* dqt = dq + (b * T + t) * q_dim + h * hd;
        double weighted = 0.0;
        for (int64_t u = 0; u <= t; ++u) {
          const int64_t kv_off = (b * T + u) * kv_dim + kh * hd;
          ds[u] = dot(g, v + kv_off, hd);
          weighted += static_cast<double>(a[u]) * ds[u];
          axpy(dv + kv_off, a[u], g, hd);
        }
        const float wsum = static_cast<float>(weighted);
        for (int64_t u = 0; u <= t; ++u) {
          const int64_t kv_off = (b * T + u) * kv_dim + kh * hd;
          const float d = a[u] * (ds[u] - wsum) * scale;
          axpy(dqt, d, k + kv_off, hd);
          axpy(dk + kv_off, d, qt, hd);
        }
      }
    }
  });
}

}  // namespace ef::train
