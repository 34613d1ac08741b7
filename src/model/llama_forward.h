// The llama forward pass over one micro-batch, computed as llama.cpp's CPU
// backend computes it (see llama_forward.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"

namespace ef {
class KvCache;
class KvOffload;
class ThreadPool;
struct LlamaWeights;

// Activations of one micro-batch plus per-thread attention scratch.
// Allocated once per session (sized by n_ubatch, n_ctx and the thread count)
// so the forward pass itself never allocates.
struct ForwardScratch {
  int64_t n_ubatch = 0;
  int64_t n_ctx = 0;
  int n_threads = 0;
  Buffer x;        // [n_ubatch][n_embd]  residual stream
  Buffer xb;       // [n_ubatch][n_embd]  normed input of a sub-block
  Buffer q;        // [n_ubatch][n_head * head_dim]
  Buffer k;        // [n_ubatch][n_head_kv * head_dim]
  Buffer v;        // [n_ubatch][n_head_kv * head_dim]
  Buffer att;      // [n_ubatch][n_head * head_dim]  attention output
  Buffer proj;     // [n_ubatch][n_embd]  attn_output / ffn_down result
  Buffer gate;     // [n_ubatch][n_ff]
  Buffer up;       // [n_ubatch][n_ff]
  Buffer rope_cs;  // [n_ubatch][2 * n_rot]  cos/sin of each token's position (ops::rope_cache)
  Buffer att_f32;  // [n_threads][n_ctx]  scores / probabilities of one query
  Buffer att_f16;  // [n_threads][n_ctx + head_dim]  probabilities and query in F16
  Buffer flash;    // [n_threads][flash_floats]  flash-attention tiles, accumulators,
                   // and the pieces (output | lse) of one task's rows
  size_t flash_floats = 0;
  Buffer flash_parts;  // [n_head][n_ctx / kFlashKvChunk + 2][head_dim + 1]  decode pieces
  Buffer flash_lse;    // [n_ubatch][n_head]  merged lse per row (offloaded layers)
  Buffer xq;  // normed rows quantized straight to q8_0 (rmsnorm fused with the
              // quantizer): [n_ubatch][n_embd / 32] BlockQ8_0, 8-byte aligned,
              // then [n_ubatch][n_embd / 32] kernels::ActBlockInfo
  std::vector<uint8_t> matmul_scratch;  // activations converted to vec_dot types

  static Result<ForwardScratch> create(const ModelConfig& config, int64_t n_ubatch,
                                       int64_t n_ctx, int n_threads);
  uint64_t bytes() const;
  // What create() with these arguments allocates, without allocating;
  // matmul_part (optional) receives the matmul conversion scratch alone.
  static uint64_t planned_bytes(const ModelConfig& config, int64_t n_ubatch, int64_t n_ctx,
                                int n_threads, uint64_t* matmul_part = nullptr);
};

// Whether llama_forward fuses each rmsnorm with the q8_0 quantization of its
// matmuls' input (when all of them take q8_0 activations: q8_0/q4_0
// weights), skipping the float xb round trip. Same logits bit for bit either
// way; EDGEFORMER_FUSE_NORM=0 turns it off (A/B runs, tests).
bool norm_quant_fusion_enabled();

// Runs tokens[0, n) at positions n_past .. n_past + n - 1 (n <= n_ubatch,
// n_past + n <= cache n_ctx; token ids already validated), appending their
// keys and values to `cache`. Logits of tokens [out_begin, n) are written to
// `logits` as (n - out_begin) rows of n_vocab floats; out_begin == n computes
// none (the final norm and output projection are skipped).
//
// Deterministic: every output element is computed by one thread in a fixed
// order, and each token's computation does not depend on which other tokens
// share its micro-batch, so logits are bit-identical for any thread count and
// any split of a prompt into micro-batches.
// `offload` (optional): layers it offloads attend piece by piece over rows
// from disk + ring (attention_offloaded; the caller ran
// offload->before_store for this batch first).
void llama_forward(const ModelConfig& config, const LlamaWeights& weights, KvCache& cache,
                   ForwardScratch& scratch, ThreadPool& pool, const int32_t* tokens, int64_t n,
                   int64_t n_past, int64_t out_begin, float* logits,
                   KvOffload* offload = nullptr);

}  // namespace ef
