// Internal side of the memory planner (public: ef::plan_memory in
// edgeformer/session.h): option defaults and the KV ring layout, shared with
// Session::create so the plan and the allocations cannot drift apart.
#pragma once

#include <cstdint>
#include <vector>

#include "edgeformer/error.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"

namespace ef {

// Range checks and defaults (n_ctx, n_ubatch clamp, n_threads); no budget.
Result<SessionOptions> resolve_session_options(const ModelConfig& config, SessionOptions options);

// Per-layer ring capacity for KvCache::create (0 = linear): sliding-window
// layers under flash keep window + n_ubatch - 1 rows; with offload
// (resident > 0) global layers keep the newest `resident` positions.
std::vector<int64_t> kv_ring_caps(const ModelConfig& config, const SessionOptions& options,
                                  int64_t resident);

// Bytes of the KV cache (any K/V types; deepseek2: the latent cache) that
// KvCache::create / MlaCache::create allocate for these caps.
uint64_t kv_cache_plan_bytes(const ModelConfig& config, int64_t n_ctx, const SessionOptions& options,
                             const std::vector<int64_t>& caps);

// Bytes of ForwardScratch::create (deepseek2: Deepseek2Scratch::create)
// with these arguments plus the logits buffer of logits_rows rows;
// *matmul_part (optional) = its matmul scratch.
uint64_t forward_scratch_plan_bytes(const ModelConfig& config, int64_t n_ubatch, int64_t n_ctx,
                                    int n_threads, uint64_t* matmul_part = nullptr,
                                    int64_t logits_rows = 1);

}  // namespace ef
