// Non-flash causal attention for layers without a sliding window, batched
// over the queries that share a KV head (issue #4: at pp512 the per-(token,
// head) dots of attention.cpp were ~30% of prefill time, each query reading
// every K row and V^T row again).
//
// One task per (KV head, block of kTokenBlock tokens). Its queries are the
// group's heads of those tokens, n_q = tokens x group rows:
//   S = gemm(K[0, n_max), Q)            [n_q][n_max]  n_max = last token's n_kv
//   per query row i (token t): S[i][0, n_vis) * scale, softmax over n_vis =
//     n_past + t + 1, converted to the cache type; S[i][n_vis, n_max) = 0
//   O = gemm(V^T dims of the head, P)   [n_q][head_dim]
// The result is bit-identical to attention.cpp's per-row path:
//  - every gemm element is computed by the same instruction sequence whatever
//    the tiling or batch (kernels.h contract, tested by
//    MatmulElementsIndependentOfBatch), so S[i][p] equals the per-row dot;
//  - in O, positions past n_vis have probability exactly +0 and finite V, so
//    they add +-0 to lanes that the per-row path extends with 0 * 0 = +0: no
//    change unless a lane's sum is exactly -0 (all-zero products), where only
//    the sign of a zero could differ.
// (This is also what llama.cpp's non-flash path computes: masked positions
// enter kq * V with probability 0.)
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/attention.h"
#include "runtime/kv_cache.h"

namespace ef {
namespace {

constexpr int64_t kTokenBlock = 16;

// Per-thread buffers of one task (grow to the largest task seen).
struct BatchScratch {
  std::vector<float> s;          // [n_q][n_max] scores / probabilities (F32)
  std::vector<uint16_t> half;    // [n_q][n_max] probabilities (F16 cache)
  std::vector<uint16_t> q16;     // [n_q][head_dim] queries (F16 cache)
  std::vector<float> qf;         // [n_q][head_dim] queries (F32 cache)
  std::vector<float> o;          // [n_q][head_dim]
};

}  // namespace

void attention_batched(const ModelConfig& c, const KvCache& cache, int64_t il, const float* q,
                       float* out, int64_t n, int64_t n_past, ThreadPool& pool,
                       const kernels::KernelTable& table) {
  const int64_t hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool f16 = cache.type() == KvType::f16;
  const kernels::TypeKernels& tk = f16 ? table.f16 : table.f32;
  const kernels::FromFloatFn to_f16 = table.f16.from_float;
  const size_t eb = cache.elem_bytes();
  // Linear (non-ring) layer: position p's key at k_row(il, 0) + p * row_bytes,
  // V^T row of dim d at v_row(il, 0) + d * capacity elements.
  const size_t k_stride = cache.row_bytes();
  const size_t v_stride = static_cast<size_t>(cache.capacity(il)) * eb;
  const int64_t n_blocks = (n + kTokenBlock - 1) / kTokenBlock;

  pool.run(c.n_head_kv * n_blocks, [&](int64_t task, int) {
    thread_local BatchScratch bs;
    const int64_t kvh = task / n_blocks;
    const int64_t t0 = (task % n_blocks) * kTokenBlock;
    const int64_t t1 = std::min(n, t0 + kTokenBlock);
    const int64_t n_q = (t1 - t0) * group;
    const int64_t n_max = n_past + t1;  // positions the last token sees
    const auto nq = static_cast<size_t>(n_q);
    bs.s.resize(nq * static_cast<size_t>(n_max));
    bs.o.resize(nq * static_cast<size_t>(hd));

    // Q rows i = (t - t0) * group + j for query head h = kvh * group + j.
    const void* qx = nullptr;
    if (f16) {
      bs.q16.resize(nq * static_cast<size_t>(hd));
      for (int64_t i = 0; i < n_q; ++i) {
        const float* qh = q + (t0 + i / group) * q_dim + (kvh * group + i % group) * hd;
        to_f16(qh, bs.q16.data() + i * hd, hd);
      }
      qx = bs.q16.data();
    } else {
      bs.qf.resize(nq * static_cast<size_t>(hd));
      for (int64_t i = 0; i < n_q; ++i) {
        const float* qh = q + (t0 + i / group) * q_dim + (kvh * group + i % group) * hd;
        std::copy(qh, qh + hd, bs.qf.data() + i * hd);
      }
      qx = bs.qf.data();
    }

    // S[i][p] = k_p . q_i   for p in [0, n_max)
    const char* k0 = static_cast<const char*>(cache.k_row(il, 0)) + kvh * hd * eb;
    tk.gemm(hd, k0, k_stride, 0, n_max, qx, static_cast<size_t>(hd) * eb, n_q, bs.s.data(),
            n_max);

    // Row-wise scale, softmax over the visible positions, zeros after them.
    const void* px = bs.s.data();
    if (f16) bs.half.resize(nq * static_cast<size_t>(n_max));
    for (int64_t i = 0; i < n_q; ++i) {
      const int64_t n_vis = n_past + t0 + i / group + 1;
      float* srow = bs.s.data() + i * n_max;
      for (int64_t p = 0; p < n_vis; ++p) srow[p] *= scale;
      ops::softmax(srow, n_vis);
      if (f16) {
        uint16_t* hrow = bs.half.data() + i * n_max;
        to_f16(srow, hrow, n_vis);
        std::fill(hrow + n_vis, hrow + n_max, uint16_t{0});
      } else {
        std::fill(srow + n_vis, srow + n_max, 0.0f);
      }
    }
    if (f16) px = bs.half.data();

    // O[i][d] = sum_p P[i][p] v_p[d]   (V^T rows: one per dim of this head)
    const char* v0 = static_cast<const char*>(cache.v_row(il, kvh * hd));
    tk.gemm(n_max, v0, v_stride, 0, hd, px, static_cast<size_t>(n_max) * eb, n_q, bs.o.data(),
            hd);
    for (int64_t i = 0; i < n_q; ++i) {
      float* oh = out + (t0 + i / group) * q_dim + (kvh * group + i % group) * hd;
      std::copy(bs.o.data() + i * hd, bs.o.data() + (i + 1) * hd, oh);
    }
  });
}

}  // namespace ef
