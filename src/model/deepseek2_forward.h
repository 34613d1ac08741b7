// The deepseek2 forward pass (Multi-head Latent Attention + dense SwiGLU FFN)
// over one micro-batch; see deepseek2_forward.cpp for the math.
#pragma once

#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"

namespace ef {
class KvOffload;
class MlaCache;
class ThreadPool;
struct Deepseek2Weights;

// How attention reads the latent cache.
enum class MlaMode {
  absorbed,      // q_nope folded through W_k_b into latent space; attention over
                 // the latent cache (an MQA with head size r + rope); W_v_b after
  decompressed,  // explicit per-head keys/values rebuilt from every cached
                 // latent (the textbook form; used to verify the absorbed one)
  flash,         // absorbed, with flash attention over the latent cache:
                 // keys = rows [c_p | k_pe_p] (dk = r + rope), values = their
                 // first r elements (dv = r); all heads share the one KV head
};

// Tokens per flash task in MlaMode::flash (rows = these x n_head).
constexpr int64_t kMlaFlashTokens = 4;

// Activations of one micro-batch plus per-thread attention scratch.
// n = n_ubatch, r = kv_lora_rank, hk = nope + rope, hv = value head size.
struct Deepseek2Scratch {
  int64_t n_ubatch = 0, n_ctx = 0;
  int n_threads = 1;
  Buffer x, xb;    // [n][n_embd]
  Buffer qa;       // [n][q_lora_rank] (low-rank query, if any)
  Buffer q;        // [n][n_head * hk]
  Buffer kva;      // [n][r + rope]  latent (normed in place) | k_pe
  Buffer qn;       // [n][nope]  one head's q_nope, contiguous for matmul
  Buffer q_abs;    // [n][n_head][r + rope]  absorbed query | q_pe
  Buffer lat;      // [n_head][n][r]  attention output in latent space
  Buffer lat_lse;  // [n][n_head]  log-sum-exp of lat's rows (flash pieces merged)
  Buffer att;      // [n][n_head * hv]
  Buffer proj;     // [n][n_embd]
  Buffer gate, up; // [n][n_ff]
  Buffer att_f32;  // [n_threads][n_ctx + r]  scores | latent accumulator
  Buffer att_f16;  // [n_threads][n_ctx + r + rope]  query / probabilities in F16
  Buffer flash;    // [n_threads][flash_floats]  MlaMode::flash tiles and row state,
                   // then one task's pieces [n_head * kMlaFlashTokens][r + 1]
  size_t flash_floats = 0;
  // MlaMode::decompressed only (empty otherwise):
  Buffer dec_c;    // [n_ctx][r]  cached latents as F32
  Buffer dec_k;    // [n_ctx][n_head * hk]
  Buffer dec_v;    // [n_ctx][n_head * hv]
  std::vector<uint8_t> matmul_scratch;

  static Result<Deepseek2Scratch> create(const ModelConfig& config, int64_t n_ubatch,
                                         int64_t n_ctx, int n_threads, bool decompressed = false);
  uint64_t bytes() const;
  // What create() (decompressed = false) allocates, without allocating;
  // matmul_part (optional) receives the matmul conversion scratch alone.
  static uint64_t planned_bytes(const ModelConfig& config, int64_t n_ubatch, int64_t n_ctx,
                                int n_threads, uint64_t* matmul_part = nullptr);
};

// Runs tokens[0, n) at positions n_past .. n_past + n - 1, appending their
// latents to `cache`; logits of rows [out_begin, n) go to `logits` (same
// contract as llama_forward). Deterministic for any thread count and split.
// `offload` (MlaMode::flash only): the cache's older rows are on disk and
// attention reads them piece by piece (see runtime/kv_offload.h); the
// caller ran offload->before_store(cache.kv(), n_past, n) first.
void deepseek2_forward(const ModelConfig& config, const Deepseek2Weights& weights,
                       MlaCache& cache, Deepseek2Scratch& scratch, ThreadPool& pool,
                       const int32_t* tokens, int64_t n, int64_t n_past, int64_t out_begin,
                       float* logits, MlaMode mode = MlaMode::absorbed,
                       KvOffload* offload = nullptr);

// Attention of layer `il` for the micro-batch (deepseek2_attention.cpp).
// q:   [n][n_head * hk] (q_pe already rotated); out: [n][n_head * hv].
void mla_attention(const ModelConfig& config, const Deepseek2Weights& weights,
                   const MlaCache& cache, int64_t il, const float* q, float* out, int64_t n,
                   int64_t n_past, Deepseek2Scratch& scratch, ThreadPool& pool, MlaMode mode,
                   KvOffload* offload = nullptr);

}  // namespace ef
