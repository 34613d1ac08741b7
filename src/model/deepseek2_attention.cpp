// Multi-head Latent Attention of one layer over the latent cache.
//
// Per query head h (hk = nope + rope, r = kv_lora_rank, scale = 1/sqrt(hk)),
// with cached c_p [r] and k_pe_p [rope] for positions p <= pos:
//   k_p = [W_kb[h]^T c_p | k_pe_p]       v_p = W_vb[h] c_p
//   out = sum_p softmax_p((q_nope . k_nope_p + q_pe . k_pe_p) * scale) v_p
// Absorbed form (what runs by default; DeepSeek-V2 section 2.1.2):
//   q_nope . (W_kb[h]^T c_p) = (W_kb[h] q_nope) . c_p, so with
//   q_abs = [W_kb[h] q_nope | q_pe]  (r + rope) and cache row [c_p | k_pe_p]
//   the scores are one dot per position, and
//   out = W_vb[h] (sum_p prob_p c_p)
// so attention reads only the latent cache, as MQA with head size r + rope.
// Decompressed form: k_p and v_p rebuilt for every cached position, then
// plain attention (kept to verify the absorbed form).
// Flash form: the absorbed form with flash_attend over the latent cache
// (MQA: one KV head of dk = r + rope, dv = r, the values being the first r
// elements of each key row), tasks of kMlaFlashTokens tokens x all heads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp16.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/deepseek2_cache.h"
#include "model/deepseek2_config.h"
#include "model/deepseek2_forward.h"
#include "model/deepseek2_weights.h"
#include "model/flash_attention.h"
#include "runtime/kv_offload.h"

namespace ef {
namespace {

// lat[h][t] = softmax(scale q_abs[t][h] . [c_p | k_pe_p]) c_p over p <= pos,
// by flash attention. q_abs: [n][n_head][r + rope]; lat: [n_head][n][r].
// Like the llama flash path, every row's range is cut into pieces of
// kFlashKvChunk positions (pieces outermost: one piece of an offloaded
// layer is staged at a time), attended by one task per block of
// kMlaFlashTokens tokens x all heads, and merged into lat by log-sum-exp in
// position order (lse per row in s.lat_lse). A context of at most one piece
// gives exactly the unpieced result; an offloaded layer gives exactly the
// resident result (same pieces, same rows per call, same merge order).
void flash_latent(const ModelConfig& c, const MlaCache& cache, int64_t il, const float* q_abs,
                  float* lat, int64_t n, int64_t n_past, float scale, Deepseek2Scratch& s,
                  ThreadPool& pool, const kernels::KernelTable& kt, KvOffload* offload) {
  constexpr int64_t CH = kFlashKvChunk;
  const int64_t r = c.kv_lora_rank, qa_dim = r + c.n_rot;
  const int64_t n_blocks = (n + kMlaFlashTokens - 1) / kMlaFlashTokens;
  float* lse = s.lat_lse.as<float>();  // [n][n_head]
  std::fill(lat, lat + c.n_head * n * r, 0.0f);
  std::fill(lse, lse + n * c.n_head, -INFINITY);
  const bool offloaded = offload != nullptr && offload->offloaded(il);
  const int64_t hi_all = n_past + n;
  for (int64_t c0 = 0; c0 < hi_all; c0 += CH) {
    const int64_t c1 = std::min(hi_all, c0 + CH);
    const KvRows src = offloaded ? offload->chunk(cache.kv(), il, c0, c1)
                                 : KvRows{static_cast<const char*>(cache.row(il, 0)), nullptr,
                                          cache.ring(il)};
    pool.run(n_blocks, [&](int64_t block, int thread) {
      const int64_t t0 = block * kMlaFlashTokens;
      const int64_t t1 = std::min(n, t0 + kMlaFlashTokens);
      if (n_past + t1 <= c0) return;  // no row of the block sees this piece
      FlashRow stack_rows[kMlaFlashTokens * 128];  // (t1 - t0) * n_head rows
      std::vector<FlashRow> big;                   // only for more than 128 heads
      FlashRow* rows = stack_rows;
      if (c.n_head > 128) {
        big.resize(static_cast<size_t>((t1 - t0) * c.n_head));
        rows = big.data();
      }
      float* fs = s.flash.as<float>() + static_cast<size_t>(thread) * s.flash_floats;
      float* parts = fs + flash_scratch_floats(qa_dim, r, c.n_head * kMlaFlashTokens);
      int64_t nr = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t h = 0; h < c.n_head; ++h, ++nr) {
          float* part = parts + nr * (r + 1);  // [r] output | lse
          rows[nr] = FlashRow{q_abs + (t * c.n_head + h) * qa_dim, part, c0,
                              std::min(n_past + t + 1, c1), part + r};
        }
      }
      FlashKv kv;
      kv.k = kv.v = src.k;
      kv.k_stride = kv.v_stride = cache.row_bytes();
      kv.type = kv_dtype(cache.type());
      kv.dk = qa_dim;
      kv.dv = r;
      kv.ring = src.ring;
      flash_attend(kv, rows, nr, scale, fs, kt);
      nr = 0;
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t h = 0; h < c.n_head; ++h, ++nr) {
          flash_merge(lat + (h * n + t) * r, &lse[t * c.n_head + h], rows[nr].out, *rows[nr].lse,
                      r);
        }
      }
    });
  }
}

void absorbed(const ModelConfig& c, const Deepseek2Weights& w, const MlaCache& cache, int64_t il,
              const float* q, float* out, int64_t n, int64_t n_past, Deepseek2Scratch& s,
              ThreadPool& pool, const kernels::KernelTable& kt, bool flash, KvOffload* offload) {
  const Deepseek2Layer& L = w.layers[static_cast<size_t>(il)];
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, hv = c.head_dim_v;
  const int64_t nope = hk - rope, qa_dim = r + rope;
  const int64_t q_dim = c.n_head * hk;
  float* qn = s.qn.as<float>();        // [n][nope]
  float* q_abs = s.q_abs.as<float>();  // [n][n_head][r + rope]
  float* lat = s.lat.as<float>();      // [n_head][n][r]
  auto& mm = s.matmul_scratch;

  // q_abs[t][h] = [W_kb[h] q_nope[t][h] | q_pe[t][h]]
  for (int64_t h = 0; h < c.n_head; ++h) {
    for (int64_t t = 0; t < n; ++t) {
      std::memcpy(qn + t * nope, q + t * q_dim + h * hk, static_cast<size_t>(nope) * sizeof(float));
      std::memcpy(q_abs + (t * c.n_head + h) * qa_dim + r, q + t * q_dim + h * hk + nope,
                  static_cast<size_t>(rope) * sizeof(float));
    }
    kernels::matmul(L.k_b_head(h), qn, n, q_abs + h * qa_dim, c.n_head * qa_dim, mm, pool, kt);
  }

  const float scale = deepseek2_kq_scale(c);
  const bool f16 = cache.type() == KvType::f16;
  const kernels::VecDotFn dot = f16 ? kt.f16.vec_dot : kt.f32.vec_dot;
  if (flash) {
    flash_latent(c, cache, il, q_abs, lat, n, n_past, scale, s, pool, kt, offload);
  } else {
    pool.run(n * c.n_head, [&](int64_t task, int thread) {
      const int64_t t = task / c.n_head, h = task % c.n_head;
      const int64_t n_kv = n_past + t + 1;
      const float* qh = q_abs + (t * c.n_head + h) * qa_dim;                   // [r + rope]
      float* scores = s.att_f32.as<float>() + thread * (s.n_ctx + r);          // [n_kv]
      float* acc = scores + s.n_ctx;                                           // [r]
      uint16_t* q16 = s.att_f16.as<uint16_t>() + thread * (s.n_ctx + qa_dim);  // [r + rope]
      // scores[p] = ([c_p | k_pe_p] . q_abs) * scale; the query is rounded to
      // the cache type first (as ggml's mul_mat does for an F16 cache).
      const void* qv = qh;
      if (f16) {
        for (int64_t i = 0; i < qa_dim; ++i) q16[i] = fp32_to_fp16(qh[i]);
        qv = q16;
      }
      for (int64_t p = 0; p < n_kv; ++p) scores[p] = dot(qa_dim, cache.row(il, p), qv) * scale;
      ops::softmax(scores, n_kv);
      // acc = sum_p prob_p c_p   (latent-space attention output)
      std::memset(acc, 0, static_cast<size_t>(r) * sizeof(float));
      for (int64_t p = 0; p < n_kv; ++p) {
        const float pr = scores[p];
        if (f16) {
          const uint16_t* row = static_cast<const uint16_t*>(cache.row(il, p));
          for (int64_t i = 0; i < r; ++i) acc[i] += pr * fp16_to_fp32(row[i]);
        } else {
          const float* row = static_cast<const float*>(cache.row(il, p));
          for (int64_t i = 0; i < r; ++i) acc[i] += pr * row[i];
        }
      }
      std::memcpy(lat + (h * n + t) * r, acc, static_cast<size_t>(r) * sizeof(float));
    });
  }

  // out[t][h] = W_vb[h] lat[h][t]   [n][n_head * hv]
  for (int64_t h = 0; h < c.n_head; ++h) {
    kernels::matmul(L.v_b_head(h), lat + h * n * r, n, out + h * hv, c.n_head * hv, mm, pool, kt);
  }
}

void decompressed(const ModelConfig& c, const Deepseek2Weights& w, const MlaCache& cache,
                  int64_t il, const float* q, float* out, int64_t n, int64_t n_past,
                  Deepseek2Scratch& s, ThreadPool& pool, const kernels::KernelTable& kt) {
  const Deepseek2Layer& L = w.layers[static_cast<size_t>(il)];
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, hv = c.head_dim_v;
  const int64_t nope = hk - rope;
  const int64_t n_all = n_past + n;
  float* cl = s.dec_c.as<float>();  // [n_all][r]
  float* k = s.dec_k.as<float>();   // [n_all][n_head][hk]
  float* v = s.dec_v.as<float>();   // [n_all][n_head][hv]
  auto& mm = s.matmul_scratch;

  // Latents and k_pe of every cached position; k_pe is shared by all heads.
  pool.run(n_all, [&](int64_t p, int thread) {
    float* row = s.att_f32.as<float>() + thread * (s.n_ctx + r);  // [r + rope] <= n_ctx + r
    cache.load_f32(il, p, row);
    std::memcpy(cl + p * r, row, static_cast<size_t>(r) * sizeof(float));
    for (int64_t h = 0; h < c.n_head; ++h) {
      std::memcpy(k + (p * c.n_head + h) * hk + nope, row + r,
                  static_cast<size_t>(rope) * sizeof(float));
    }
  });
  // k_nope[p][h][i] = sum_j W_kb[h][j][i] c_p[j]   (W_kb[h] rows are [nope])
  const kernels::ToFloatFn kb_to_float = kt.for_type(L.attn_k_b.type).to_float;
  pool.run(c.n_head, [&](int64_t h, int) {
    const Tensor kb = L.k_b_head(h);
    for (int64_t p = 0; p < n_all; ++p) {
      float* kn = k + (p * c.n_head + h) * hk;
      for (int64_t i = 0; i < nope; ++i) kn[i] = 0.0f;
    }
    std::vector<float> row(static_cast<size_t>(nope));
    for (int64_t j = 0; j < r; ++j) {
      kb_to_float(kb.row<const void>(j), row.data(), nope);
      for (int64_t p = 0; p < n_all; ++p) {
        const float cj = cl[p * r + j];
        float* kn = k + (p * c.n_head + h) * hk;
        for (int64_t i = 0; i < nope; ++i) kn[i] += row[static_cast<size_t>(i)] * cj;
      }
    }
  });
  // v[p][h] = W_vb[h] c_p
  for (int64_t h = 0; h < c.n_head; ++h) {
    kernels::matmul(L.v_b_head(h), cl, n_all, v + h * hv, c.n_head * hv, mm, pool, kt);
  }
  // Plain causal attention per (token, head) in F32.
  const float scale = deepseek2_kq_scale(c);
  pool.run(n * c.n_head, [&](int64_t task, int thread) {
    const int64_t t = task / c.n_head, h = task % c.n_head;
    const int64_t n_kv = n_past + t + 1;
    const float* qh = q + t * c.n_head * hk + h * hk;
    float* scores = s.att_f32.as<float>() + thread * (s.n_ctx + r);
    for (int64_t p = 0; p < n_kv; ++p) {
      const float* kp = k + (p * c.n_head + h) * hk;
      float d = 0.0f;
      for (int64_t i = 0; i < hk; ++i) d += qh[i] * kp[i];
      scores[p] = d * scale;
    }
    ops::softmax(scores, n_kv);
    float* oh = out + t * c.n_head * hv + h * hv;
    for (int64_t d = 0; d < hv; ++d) oh[d] = 0.0f;
    for (int64_t p = 0; p < n_kv; ++p) {
      const float* vp = v + (p * c.n_head + h) * hv;
      for (int64_t d = 0; d < hv; ++d) oh[d] += scores[p] * vp[d];
    }
  });
}

}  // namespace

void mla_attention(const ModelConfig& c, const Deepseek2Weights& w, const MlaCache& cache,
                   int64_t il, const float* q, float* out, int64_t n, int64_t n_past,
                   Deepseek2Scratch& s, ThreadPool& pool, MlaMode mode, KvOffload* offload) {
  const kernels::KernelTable& kt = kernels::active();
  if (mode == MlaMode::decompressed && s.dec_c.size_bytes() > 0) {
    decompressed(c, w, cache, il, q, out, n, n_past, s, pool, kt);
  } else {
    absorbed(c, w, cache, il, q, out, n, n_past, s, pool, kt, mode == MlaMode::flash, offload);
  }
}

}  // namespace ef
