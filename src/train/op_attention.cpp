// Causal self-attention with grouped KV heads, forward and backward.
//
// Per (batch b, query head h), with kh = h / group, Q/K the [T, hd] and V/O
// the [T, hd_v] slices of head h / kv head kh, P the saved probabilities
// [T, T]:
//   S  = Q K^T * scale, masked outside lo(t) <= u <= t ;  P = softmax_rows(S) ;  O = P V
// lo(t) = 0 for full causal attention, max(0, t - window + 1) with a sliding
// window (the inference engine's rule: query t sees key u iff 0 <= t - u < window).
// Backward, with dO:
//   dP = dO V^T ;  dS = P * (dP - rowsum(P * dP)) * scale
//   dQ += dS K ;   dK += dS^T Q ;   dV += P^T dO
// Every product runs on the kernels' single-threaded block gemm (the same
// SIMD code as the linear layers), inside one task per (b, h) forward and
// per (b, kv head) backward; the operands it needs with the token dimension
// innermost are transposed into per-thread scratch first.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "train/ops.h"

namespace ef::train {
namespace {

// y[t * ldy + r] = sum_i w[r * ws + i] * x[t * xs + i] for r < rows, t < n
// (strides in floats), on the active table's F32 gemm (or its vec_dot).
void block_gemm(int64_t k, const float* w, int64_t ws, int64_t rows, const float* x, int64_t xs,
                int64_t n, float* y, int64_t ldy) {
  const kernels::TypeKernels& f32 = kernels::active().f32;
  if (f32.gemm != nullptr) {
    f32.gemm(k, w, static_cast<size_t>(ws) * sizeof(float), 0, rows, x,
             static_cast<size_t>(xs) * sizeof(float), n, y, ldy);
    return;
  }
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) y[t * ldy + r] = f32.vec_dot(k, w + r * ws, x + t * xs);
  }
}

// dst[c * rows + r] = src[r * stride + c] for r < rows, c < cols.
void transpose(float* dst, const float* src, int64_t rows, int64_t cols, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * stride + c];
  }
}

// dst[t * stride + d] += src[t * cols + d]
void add_strided(float* dst, int64_t stride, const float* src, int64_t rows, int64_t cols) {
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t d = 0; d < cols; ++d) dst[t * stride + d] += src[t * cols + d];
  }
}

}  // namespace

size_t attention_scratch_floats(int64_t T, int64_t hd, int n_threads) {
  return static_cast<size_t>(2 * T * T + 3 * hd * T) * static_cast<size_t>(n_threads);
}

namespace {
// First key position query t attends to.
inline int64_t first_key(int64_t t, int64_t window) {
  return window > 0 && t >= window ? t - window + 1 : 0;
}
}  // namespace

void attention_forward(float* out, float* att, float* scratch, const float* q, const float* k,
                       const float* v, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                       ThreadPool& pool, int64_t window, int64_t hd_v) {
  if (hd_v <= 0) hd_v = hd;
  const int64_t q_dim = NH * hd;
  const int64_t kv_dim = NKV * hd;
  const int64_t o_dim = NH * hd_v;
  const int64_t v_dim = NKV * hd_v;
  const int64_t group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t per_thread = attention_scratch_floats(T, std::max(hd, hd_v), 1);
  pool.run(B * NH, [&](int64_t task, int thread) {
    const int64_t b = task / NH;
    const int64_t h = task % NH;
    const int64_t kh = h / group;
    const float* qh = q + b * T * q_dim + h * hd;    // [T, hd], row stride q_dim
    const float* kh_ = k + b * T * kv_dim + kh * hd;  // [T, hd], row stride kv_dim
    const float* vh = v + b * T * v_dim + kh * hd_v;  // [T, hd_v], row stride v_dim
    float* p = att + (b * NH + h) * T * T;  // [T, T]
    float* vt = scratch + static_cast<size_t>(thread) * per_thread;  // [hd_v, T]
    block_gemm(hd, kh_, kv_dim, T, qh, q_dim, T, p, T);  // p[t][u] = q_t . k_u
    for (int64_t t = 0; t < T; ++t) {
      float* a = p + t * T;
      const int64_t lo = first_key(t, window);
      float max = -INFINITY;
      for (int64_t u = lo; u <= t; ++u) {
        a[u] *= scale;
        max = a[u] > max ? a[u] : max;
      }
      double sum = 0.0;
      for (int64_t u = lo; u <= t; ++u) {
        a[u] = std::exp(a[u] - max);
        sum += a[u];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t u = 0; u < lo; ++u) a[u] = 0.0f;
      for (int64_t u = lo; u <= t; ++u) a[u] *= inv;
      for (int64_t u = t + 1; u < T; ++u) a[u] = 0.0f;
    }
    transpose(vt, vh, T, hd_v, v_dim);
    block_gemm(T, vt, T, hd_v, p, T, T, out + b * T * o_dim + h * hd_v, o_dim);  // O = P V
  });
}

void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                        const float* q, const float* k, const float* v, const float* att,
                        int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t hd,
                        ThreadPool& pool, int64_t window, int64_t hd_v) {
  if (hd_v <= 0) hd_v = hd;
  const int64_t q_dim = NH * hd;
  const int64_t kv_dim = NKV * hd;
  const int64_t o_dim = NH * hd_v;
  const int64_t v_dim = NKV * hd_v;
  const int64_t group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t hd_max = std::max(hd, hd_v);
  const size_t per_thread = attention_scratch_floats(T, hd_max, 1);
  // One task per (batch, KV head): the query heads of a group add into the
  // same dk/dv rows, in head order inside this task.
  pool.run(B * NKV, [&](int64_t task, int thread) {
    const int64_t b = task / NKV;
    const int64_t kh = task % NKV;
    float* ds = scratch + static_cast<size_t>(thread) * per_thread;  // [T, T]
    float* tt = ds + T * T;                                          // [T, T] transposes
    float* kt = tt + T * T;                                          // [hd, T]
    float* xt = kt + hd_max * T;                                     // [hd or hd_v, T]
    float* tmp = xt + hd_max * T;                                    // [T, hd or hd_v]
    const float* kb = k + b * T * kv_dim + kh * hd;
    const float* vb = v + b * T * v_dim + kh * hd_v;
    float* dkb = dk + b * T * kv_dim + kh * hd;
    float* dvb = dv + b * T * v_dim + kh * hd_v;
    transpose(kt, kb, T, hd, kv_dim);  // K^T, shared by the group
    for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
      const float* p = att + (b * NH + h) * T * T;
      const float* go = dout + b * T * o_dim + h * hd_v;
      const float* qb = q + b * T * q_dim + h * hd;
      block_gemm(hd_v, vb, v_dim, T, go, o_dim, T, ds, T);  // dP[t][u] = dO_t . v_u
      for (int64_t t = 0; t < T; ++t) {
        const float* pr = p + t * T;
        float* dr = ds + t * T;
        const int64_t lo = first_key(t, window);
        double weighted = 0.0;
        for (int64_t u = lo; u <= t; ++u) weighted += static_cast<double>(pr[u]) * dr[u];
        const float w = static_cast<float>(weighted);
        for (int64_t u = 0; u < lo; ++u) dr[u] = 0.0f;
        for (int64_t u = lo; u <= t; ++u) dr[u] = pr[u] * (dr[u] - w) * scale;
        for (int64_t u = t + 1; u < T; ++u) dr[u] = 0.0f;
      }
      // dQ += dS K
      block_gemm(T, kt, T, hd, ds, T, T, tmp, hd);
      add_strided(dq + b * T * q_dim + h * hd, q_dim, tmp, T, hd);
      // dK += dS^T Q
      transpose(tt, ds, T, T, T);
      transpose(xt, qb, T, hd, q_dim);
      block_gemm(T, xt, T, hd, tt, T, T, tmp, hd);
      add_strided(dkb, kv_dim, tmp, T, hd);
      // dV += P^T dO
      transpose(tt, p, T, T, T);
      transpose(xt, go, T, hd_v, o_dim);
      block_gemm(T, xt, T, hd_v, tt, T, T, tmp, hd_v);
      add_strided(dvb, v_dim, tmp, T, hd_v);
    }
  });
}

}  // namespace ef::train
