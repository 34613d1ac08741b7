// Flash attention over a KV cache whose older rows are on disk (see
// attention.h, attention_offloaded). Loop order: pieces outermost (one
// piece of kFlashKvChunk positions staged at a time), then one task per
// (KV head, block of kFlashQueryBlock tokens), as the resident prefill path;
// each task attends its rows over the piece and merges the result into the
// output by log-sum-exp. The lse of every (token, head) row lives in
// scratch.flash_lse between pieces.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "model/attention.h"
#include "model/flash_attention.h"
#include "model/llama_forward.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_offload.h"

namespace ef {

void attention_offloaded(const ModelConfig& c, const KvCache& cache, KvOffload& offload,
                         int64_t il, const float* q, float* out, int64_t n, int64_t n_past,
                         ForwardScratch& scratch, ThreadPool& pool,
                         const kernels::KernelTable& table) {
  constexpr int64_t CH = kFlashKvChunk;
  const int64_t hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t kh_bytes = static_cast<size_t>(kv_row_bytes(cache.type_k(), hd));
  const size_t vh_bytes = static_cast<size_t>(kv_row_bytes(cache.type_v(), hd));
  float* lse = scratch.flash_lse.as<float>();  // [n][n_head]
  std::fill(out, out + n * q_dim, 0.0f);
  std::fill(lse, lse + n * c.n_head, -INFINITY);
  const int64_t n_blocks = (n + kFlashQueryBlock - 1) / kFlashQueryBlock;
  const int64_t hi_all = n_past + n;  // offloaded layers are global: lo = 0

  for (int64_t c0 = 0; c0 < hi_all; c0 += CH) {
    const int64_t c1 = std::min(hi_all, c0 + CH);
    const KvRows src = offload.chunk(cache, il, c0, c1);
    pool.run(c.n_head_kv * n_blocks, [&](int64_t task, int thread) {
      const int64_t kvh = task / n_blocks;
      const int64_t t0 = (task % n_blocks) * kFlashQueryBlock;
      const int64_t t1 = std::min(n, t0 + kFlashQueryBlock);
      if (n_past + t1 <= c0) return;  // no row of the block sees this piece
      // Per-thread scratch: flash_attend's, then the rows' pieces [nr][hd + 1].
      float* fs = scratch.flash.as<float>() + static_cast<size_t>(thread) * scratch.flash_floats;
      float* parts = fs + flash_scratch_floats(hd, hd, kFlashQueryBlock * group);
      FlashRow stack_rows[kFlashQueryBlock * 16];
      std::vector<FlashRow> big;  // only for GQA groups wider than 16
      FlashRow* rows = stack_rows;
      if ((t1 - t0) * group > kFlashQueryBlock * 16) {
        big.resize(static_cast<size_t>((t1 - t0) * group));
        rows = big.data();
      }
      int64_t nr = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h, ++nr) {
          float* part = parts + nr * (hd + 1);
          rows[nr] =
              FlashRow{q + t * q_dim + h * hd, part, c0, std::min(n_past + t + 1, c1), part + hd};
        }
      }
      FlashKv kv;
      kv.k = src.k + kvh * kh_bytes;
      kv.v = src.v + kvh * vh_bytes;
      kv.k_stride = cache.k_row_bytes();
      kv.v_stride = cache.v_row_bytes();
      kv.type = kv_dtype(cache.type_k());
      kv.v_type = kv_dtype(cache.type_v());
      kv.dk = kv.dv = hd;
      kv.ring = src.ring;
      flash_attend(kv, rows, nr, scale, fs, table);
      nr = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h, ++nr) {
          const FlashRow& r = rows[nr];
          flash_merge(out + t * q_dim + h * hd, &lse[t * c.n_head + h], r.out, *r.lse, hd);
        }
      }
    });
  }
}

}  // namespace ef
