// Causal multi-head attention against the KV cache (GQA/MQA aware).
#pragma once

#include <cstdint>

namespace ef {
class KvCache;
class KvOffload;
class ThreadPool;
struct ForwardScratch;
struct ModelConfig;
namespace kernels {
struct KernelTable;
}

// q:   [n][n_head * head_dim] rotated queries of tokens at positions n_past + t
// out: [n][n_head * head_dim] softmax(q k^T / sqrt(head_dim)) v per head
// The keys/values of positions [0, n_past + n) of layer `il` must already be
// in the cache. Query head h reads KV head h / (n_head / n_head_kv).
// One task per (token, head); each output is written by exactly one task and
// depends only on its own query and the cache, never on the batch.
void attention(const ModelConfig& config, const KvCache& cache, int64_t il, const float* q,
               float* out, int64_t n, int64_t n_past, ForwardScratch& scratch, ThreadPool& pool,
               const kernels::KernelTable& table);

// Flash attention of a global layer whose older rows `offload` keeps on disk
// (attention_offload.cpp): the pieces of kFlashKvChunk positions the
// resident flash path cuts every row's range into are fetched one at a time
// (offload.chunk: from the ring, or staged from disk), each attended by all
// (KV head, token block) tasks, and merged into `out` by log-sum-exp in
// position order. Same pieces, same rows per flash_attend call, same merge
// order as the resident path: bit-identical results, with staging memory of
// one piece whatever the context.
void attention_offloaded(const ModelConfig& config, const KvCache& cache, KvOffload& offload,
                         int64_t il, const float* q, float* out, int64_t n, int64_t n_past,
                         ForwardScratch& scratch, ThreadPool& pool,
                         const kernels::KernelTable& table);

// The non-flash path of attention() one (token, head) per task: used for
// sliding-window layers; the reference attention_batched is tested against.
void attention_per_row(const ModelConfig& config, const KvCache& cache, int64_t il,
                       const float* q, float* out, int64_t n, int64_t n_past,
                       ForwardScratch& scratch, ThreadPool& pool,
                       const kernels::KernelTable& table);

// The non-flash path of attention() for layers without a sliding window
// (attention_batched.cpp): one task per (KV head, block of tokens), the
// group's queries batched into two gemm calls. Bit-identical to the
// per-(token, head) path (see the file comment); needs table gemm for the
// cache type and a transposed-V cache.
void attention_batched(const ModelConfig& config, const KvCache& cache, int64_t il,
                       const float* q, float* out, int64_t n, int64_t n_past, ThreadPool& pool,
                       const kernels::KernelTable& table);

}  // namespace ef
