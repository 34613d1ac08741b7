// Causal attention of one layer, per query head, as llama.cpp computes it
// without flash attention:
//   kq  = mul_mat(K, q)        q is first converted to the cache type (F16
//                              for an F16 cache), then one dot per position
//   kq  = soft_max_ext(kq, mask, scale)   scores * scale, masked, softmax
//   kqv = mul_mat(V^T, kq)     probabilities converted to the cache type,
//                              then one dot over positions per output dim
// The dots use the kernels table's vec_dot of the cache type, the same
// function family ggml's mul_mat uses, so rounding follows ggml's.
#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/flash_attention.h"
#include "model/llama_forward.h"
#include "runtime/kv_cache.h"

namespace ef {

namespace {

// Rows of one flash task: on the stack unless the GQA group is very wide.
constexpr int64_t kStackRows = kFlashQueryBlock * 16;
FlashRow* row_storage(FlashRow* stack, std::vector<FlashRow>& big, int64_t need) {
  if (need <= kStackRows) return stack;
  big.resize(static_cast<size_t>(need));
  return big.data();
}

// Flash attention of one layer. Every row's visible range is cut at multiples
// of kFlashKvChunk; each piece is attended with its log-sum-exp and the
// pieces are merged in position order (flash_merge). Prefill: one task per
// (KV head, block of kFlashQueryBlock tokens), whose rows are the group's
// query heads of those tokens (each KV row widened once per task), running
// its pieces in sequence. Decode (n == 1): one task per (KV head, piece), so
// that a few KV heads still keep every thread busy at depth, then the merge.
// Same pieces, same merge order either way: results do not depend on the
// micro-batch split or the thread count.
void flash_layer_attention(const ModelConfig& c, const KvCache& cache, int64_t il, const float* q,
                           float* out, int64_t n, int64_t n_past, ForwardScratch& scratch,
                           ThreadPool& pool, const kernels::KernelTable& table) {
  const int64_t hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Bytes of one head's K / V row segment in the cache's types (block types:
  // whole 32-element blocks, head_dim being a multiple of 32).
  const size_t kh_bytes = static_cast<size_t>(kv_row_bytes(cache.type_k(), hd));
  const size_t vh_bytes = static_cast<size_t>(kv_row_bytes(cache.type_v(), hd));
  const int64_t window = c.is_swa(il) ? c.n_swa : 0;
  auto first_visible = [&](int64_t pos) {
    return window > 0 ? std::max<int64_t>(0, pos + 1 - window) : int64_t{0};
  };
  auto kv_head = [&](int64_t kvh) {
    FlashKv kv;
    kv.k = static_cast<const char*>(cache.k_row(il, 0)) + kvh * kh_bytes;
    kv.v = static_cast<const char*>(cache.v_pos(il, 0)) + kvh * vh_bytes;
    kv.k_stride = cache.k_row_bytes();
    kv.v_stride = cache.v_row_bytes();
    kv.type = kv_dtype(cache.type_k());
    kv.v_type = kv_dtype(cache.type_v());
    kv.dk = kv.dv = hd;
    kv.ring = cache.ring(il);
    return kv;
  };
  constexpr int64_t CH = kFlashKvChunk;

  if (n == 1) {
    // Pieces [c0, c0 + CH) of the one token's range [lo, hi).
    const int64_t hi = n_past + 1, lo = first_visible(n_past);
    const int64_t first = lo / CH, n_pieces = (hi - 1) / CH - first + 1;
    float* parts = scratch.flash_parts.as<float>();  // [n_head][n_pieces][hd + 1]
    pool.run(c.n_head_kv * n_pieces, [&](int64_t task, int thread) {
      const int64_t kvh = task / n_pieces, piece = task % n_pieces;
      const int64_t c0 = (first + piece) * CH;
      FlashRow stack_rows[kStackRows];
      std::vector<FlashRow> big;  // only for GQA groups wider than kStackRows
      FlashRow* rows = row_storage(stack_rows, big, group);
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = kvh * group + g;
        float* part = parts + (h * n_pieces + piece) * (hd + 1);
        rows[g] = FlashRow{q + h * hd, part, std::max(lo, c0), std::min(hi, c0 + CH), part + hd};
      }
      float* fs = scratch.flash.as<float>() + static_cast<size_t>(thread) * scratch.flash_floats;
      flash_attend(kv_head(kvh), rows, group, scale, fs, table);
    });
    for (int64_t h = 0; h < c.n_head; ++h) {
      float* oh = out + h * hd;
      std::fill(oh, oh + hd, 0.0f);
      float lse = -INFINITY;
      for (int64_t piece = 0; piece < n_pieces; ++piece) {
        const float* part = parts + (h * n_pieces + piece) * (hd + 1);
        flash_merge(oh, &lse, part, part[hd], hd);
      }
    }
    return;
  }

  const int64_t n_blocks = (n + kFlashQueryBlock - 1) / kFlashQueryBlock;
  pool.run(c.n_head_kv * n_blocks, [&](int64_t task, int thread) {
    const int64_t kvh = task / n_blocks;
    const int64_t t0 = (task % n_blocks) * kFlashQueryBlock;
    const int64_t t1 = std::min(n, t0 + kFlashQueryBlock);
    // Per-thread scratch: flash_attend's, then the rows' pieces [nr][hd + 1]
    // (output | lse) and their merged lse [nr].
    float* fs = scratch.flash.as<float>() + static_cast<size_t>(thread) * scratch.flash_floats;
    float* parts = fs + flash_scratch_floats(hd, hd, kFlashQueryBlock * group);
    float* lses = parts + kFlashQueryBlock * group * (hd + 1);
    FlashRow stack_rows[kStackRows];
    std::vector<FlashRow> big;  // only for blocks of more than kStackRows rows
    FlashRow* rows = row_storage(stack_rows, big, (t1 - t0) * group);
    int64_t lo_all = INT64_MAX, hi_all = 0, nr = 0;
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        float* part = parts + nr * (hd + 1);
        rows[nr] = FlashRow{q + t * q_dim + h * hd, part, 0, 0, part + hd};
        lses[nr] = -INFINITY;
        std::fill(out + t * q_dim + h * hd, out + t * q_dim + (h + 1) * hd, 0.0f);
        ++nr;
      }
      lo_all = std::min(lo_all, first_visible(n_past + t));
      hi_all = std::max(hi_all, n_past + t + 1);
    }
    const FlashKv kv = kv_head(kvh);
    for (int64_t c0 = lo_all / CH * CH; c0 < hi_all; c0 += CH) {
      int64_t i = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t g = 0; g < group; ++g, ++i) {
          rows[i].lo = std::max(first_visible(n_past + t), c0);
          rows[i].hi = std::min(n_past + t + 1, c0 + CH);
        }
      }
      flash_attend(kv, rows, nr, scale, fs, table);
      i = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h, ++i) {
          flash_merge(out + t * q_dim + h * hd, &lses[i], rows[i].out, *rows[i].lse, hd);
        }
      }
    }
  });
}

}  // namespace

void attention(const ModelConfig& c, const KvCache& cache, int64_t il, const float* q, float* out,
               int64_t n, int64_t n_past, ForwardScratch& scratch, ThreadPool& pool,
               const kernels::KernelTable& table) {
  // Sliding-window layers (position i sees [i + 1 - n_swa, i]) keep the
  // per-row path.
  const int64_t window = c.is_swa(il) ? c.n_swa : 0;

  if (!cache.v_transposed()) {
    flash_layer_attention(c, cache, il, q, out, n, n_past, scratch, pool, table);
    return;
  }

  // Full-context layers with one float cache type: the group's queries
  // share each K/V row (batched). Block-quantized K keeps the per-row path.
  const KvType tk = cache.type_k();
  const bool float_cache = tk == cache.type_v() && (tk == KvType::f16 || tk == KvType::f32);
  const kernels::TypeKernels& tkk = tk == KvType::f16 ? table.f16 : table.f32;
  if (window == 0 && cache.ring(il) == 0 && float_cache && tkk.gemm != nullptr) {
    attention_batched(c, cache, il, q, out, n, n_past, pool, table);
    return;
  }
  attention_per_row(c, cache, il, q, out, n, n_past, scratch, pool, table);
}

void attention_per_row(const ModelConfig& c, const KvCache& cache, int64_t il, const float* q,
                       float* out, int64_t n, int64_t n_past, ForwardScratch& scratch,
                       ThreadPool& pool, const kernels::KernelTable& table) {
  const int64_t hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // K: the cache type's dot against the query converted to its vec_dot type
  // (F16 -> F16, BF16 -> BF16, Q8_0/Q4_0 -> Q8_0 with ggml-cpu's activation
  // quantizer), as ggml's mul_mat(K, q) does. V (transposed, F32 or F16):
  // probabilities converted to V's type, one dot per output dimension.
  const kernels::TypeKernels& tk = table.for_type(kv_dtype(cache.type_k()));
  const kernels::VecDotFn dot = tk.vec_dot;
  const bool q_converted = tk.vec_dot_type != DType::F32;
  const kernels::FromFloatFn q_convert = table.for_type(tk.vec_dot_type).from_float_act;
  const bool v16 = cache.type_v() == KvType::f16;
  const kernels::TypeKernels& tv = v16 ? table.f16 : table.f32;
  // float -> F16 rounding to nearest even (what ggml's conversion does),
  // vectorised by the kernels.
  const kernels::FromFloatFn to_f16 = table.f16.from_float;
  const size_t kh_bytes = static_cast<size_t>(kv_row_bytes(cache.type_k(), hd));  // one K head
  const size_t veb = KvCache::elem_bytes_of(cache.type_v());  // transposed V element
  // The dots run as one gemm call per (token, head) over all positions (or
  // dims): the kernels guarantee gemm elements are bit-identical to vec_dot
  // (the 1x1 tile), so this only removes per-dot call overhead.
  const auto rows_of = [&](const void* first, const void* second) {
    return static_cast<size_t>(static_cast<const char*>(second) - static_cast<const char*>(first));
  };
  const int64_t window = c.is_swa(il) ? c.n_swa : 0;
  auto first_visible = [&](int64_t pos) {
    return window > 0 ? std::max<int64_t>(0, pos + 1 - window) : int64_t{0};
  };
  pool.run(n * c.n_head, [&](int64_t task, int thread) {
    const int64_t t = task / c.n_head;    // token within the micro-batch
    const int64_t h = task % c.n_head;    // query head
    const int64_t kvh = h / group;        // shared KV head
    const int64_t n_kv = n_past + t + 1;  // causal: positions [lo, pos]
    const int64_t lo = first_visible(n_past + t);
    const int64_t n_vis = n_kv - lo;
    const float* qh = q + t * q_dim + h * hd;  // [hd]
    float* oh = out + t * q_dim + h * hd;      // [hd]

    // Per-thread scratch: scores [n_ctx] in F32; probabilities [n_ctx] in F16
    // and the query [hd] in K's vec_dot type (at most 2 bytes per element).
    float* scores = scratch.att_f32.as<float>() + static_cast<int64_t>(thread) * scratch.n_ctx;
    uint16_t* half =
        scratch.att_f16.as<uint16_t>() + static_cast<int64_t>(thread) * (scratch.n_ctx + hd);
    uint16_t* probs16 = half;
    uint16_t* q16 = half + scratch.n_ctx;

    // scores[p] = (k_p . q) * scale   for p in [0, n_kv)
    const void* qv = qh;
    if (q_converted) {
      q_convert(qh, q16, hd);
      qv = q16;
    }
    // (window: scores[p - lo] for p in [lo, n_kv))
    const char* k0 = static_cast<const char*>(cache.k_row(il, lo)) + kvh * kh_bytes;
    if (tk.gemm != nullptr && n_vis > 1) {
      const size_t k_stride = rows_of(cache.k_row(il, 0), cache.k_row(il, 1));
      tk.gemm(hd, k0, k_stride, 0, n_vis, qv, 0, 1, scores, n_vis);
      for (int64_t p = 0; p < n_vis; ++p) scores[p] *= scale;
    } else {
      for (int64_t p = lo; p < n_kv; ++p) {
        const char* k = static_cast<const char*>(cache.k_row(il, p)) + kvh * kh_bytes;
        scores[p - lo] = dot(hd, k, qv) * scale;
      }
    }
    ops::softmax(scores, n_vis);

    // out[d] = sum_p probs[p] * v_p[d]  as one dot over positions per dim.
    const void* pv = scores;
    if (v16) {
      to_f16(scores, probs16, n_vis);
      pv = probs16;
    }
    if (tv.gemm != nullptr && hd > 1) {
      const size_t v_stride = rows_of(cache.v_row(il, 0), cache.v_row(il, 1));
      const char* v0 = static_cast<const char*>(cache.v_row(il, kvh * hd)) + lo * veb;
      tv.gemm(n_vis, v0, v_stride, 0, hd, pv, 0, 1, oh, hd);
    } else {
      for (int64_t d = 0; d < hd; ++d) {
        const char* vrow = static_cast<const char*>(cache.v_row(il, kvh * hd + d));
        oh[d] = tv.vec_dot(n_vis, vrow + lo * veb, pv);
      }
    }
  });
}

}  // namespace ef
