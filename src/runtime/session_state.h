// The private state behind ef::Session, shared by session.cpp (create/eval)
// and session_io.cpp (save/load).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/memory.h"
#include "core/thread_pool.h"
#include "edgeformer/session.h"
#include "model/deepseek2_cache.h"
#include "model/deepseek2_forward.h"
#include "model/llama_forward.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_offload.h"

namespace ef {

struct SessionState {
  const Model* model = nullptr;
  SessionOptions options;  // effective values (defaults resolved)
  std::unique_ptr<ThreadPool> pool;
  MemoryPlan plan;
  KvCache cache;
  std::unique_ptr<KvOffload> offload;  // only when the plan offloads KV
  ForwardScratch scratch;
  // deepseek2 (MLA) models use these instead of cache/scratch.
  bool mla = false;
  MlaCache mla_cache;
  Deepseek2Scratch mla_scratch;
  Buffer logits;  // grows to the largest request; [rows][n_vocab]
  int64_t n_past = 0;
  // Token ids at positions [0, n_past) (capacity n_ctx, reserved up front).
  std::vector<int32_t> tokens;
  // Row of `logits` holding the logits after tokens.back(); -1 = none
  // (fresh session, or restored from a file without logits).
  int64_t last_logits_row = -1;

  // The cache whose rows session files and the offload move: the llama
  // K/V cache, or the MLA latent cache's keys-only KvCache.
  const KvCache& kv() const { return mla ? mla_cache.kv() : cache; }
  KvCache& kv() { return mla ? mla_cache.kv() : cache; }
};

}  // namespace ef
