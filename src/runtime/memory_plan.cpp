// The memory planner: what a session at given options holds, and the
// largest micro-batch (then KV offload) that fits a budget.
//
// Every number is computed with the same formulas the allocating code uses
// (ForwardScratch::create, KvCache::create, Session::create); the tests
// compare them with the bytes Buffer actually tracks.
#include "runtime/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "core/checked.h"
#include "io/gguf.h"
#include "model/deepseek2_forward.h"
#include "model/llama_forward.h"
#include "runtime/kv_offload.h"

namespace ef {
namespace {
constexpr int64_t kDefaultMaxCtx = 4096;
constexpr int64_t kMaxCtx = int64_t{1} << 24;
constexpr int kMaxThreads = 1024;
// Runtime estimate: code, libc/libstdc++ state, thread stacks in use, plus
// per vocabulary entry the tokenizer's strings, scores and hash maps.
constexpr uint64_t kRuntimeBase = uint64_t{8} << 20;
constexpr uint64_t kRuntimePerVocab = 192;

uint64_t fbytes(int64_t rows, int64_t cols) {
  return static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * sizeof(float);
}

// Bytes of one position's K row and V row in one layer's cache (KvCache's
// own row sizes, block types included). deepseek2 (MLA): the latent row
// [kv_lora_rank + rope] and no V.
void kv_row_sizes(const ModelConfig& c, const SessionOptions& o, uint64_t* k_row,
                  uint64_t* v_row) {
  const KvType tk = o.type_k.value_or(o.kv_type), tv = o.type_v.value_or(o.kv_type);
  if (c.architecture == "deepseek2") {
    *k_row = kv_row_bytes(tk, c.kv_lora_rank + c.n_rot);
    *v_row = 0;
    return;
  }
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  *k_row = kv_row_bytes(tk, kv_dim);
  *v_row = kv_row_bytes(tv, kv_dim);
}

uint64_t kv_pos_bytes(const ModelConfig& c, const SessionOptions& o) {
  uint64_t k = 0, v = 0;
  kv_row_sizes(c, o, &k, &v);
  return k + v;
}

std::string mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(b) / (1 << 20));
  return buf;
}
}  // namespace

Result<SessionOptions> resolve_session_options(const ModelConfig& c, SessionOptions options) {
  if (options.n_ctx < 0 || options.n_ctx > kMaxCtx) {
    return make_error(Errc::invalid_argument,
                      "context size " + std::to_string(options.n_ctx) + " is outside [0, " +
                          std::to_string(kMaxCtx) + "]",
                      "SessionOptions::n_ctx", "0 means the model's training context (max 4096)");
  }
  if (options.n_ctx == 0) options.n_ctx = std::min(c.n_ctx_train, kDefaultMaxCtx);
  if (options.n_ubatch <= 0) {
    return make_error(Errc::invalid_argument,
                      "micro-batch size " + std::to_string(options.n_ubatch) + " must be >= 1",
                      "SessionOptions::n_ubatch");
  }
  options.n_ubatch = std::min(options.n_ubatch, options.n_ctx);
  if (options.logits_rows < 1 || options.logits_rows > options.n_ctx) {
    return make_error(Errc::invalid_argument,
                      "logits rows " + std::to_string(options.logits_rows) +
                          " must be in [1, n_ctx]",
                      "SessionOptions::logits_rows");
  }
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    return make_error(Errc::invalid_argument,
                      "thread count " + std::to_string(options.n_threads) + " is outside [0, " +
                          std::to_string(kMaxThreads) + "]",
                      "SessionOptions::n_threads", "0 means one thread per hardware thread");
  }
  if (options.n_threads == 0) {
    options.n_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
  return options;
}

std::vector<int64_t> kv_ring_caps(const ModelConfig& c, const SessionOptions& o, int64_t resident) {
  std::vector<int64_t> ring(static_cast<size_t>(c.n_layer), 0);
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (o.flash_attn && c.is_swa(il)) {
      ring[static_cast<size_t>(il)] = c.n_swa + o.n_ubatch - 1;
    } else if (resident > 0) {
      ring[static_cast<size_t>(il)] = resident;
    }
  }
  return ring;
}

uint64_t kv_cache_plan_bytes(const ModelConfig& c, int64_t n_ctx, const SessionOptions& o,
                             const std::vector<int64_t>& caps) {
  const uint64_t row = kv_pos_bytes(c, o);
  uint64_t total = 0;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const int64_t r = caps.empty() ? 0 : caps[static_cast<size_t>(il)];
    const int64_t cap = r > 0 && r < n_ctx ? r : n_ctx;
    total += static_cast<uint64_t>(cap) * row;
  }
  return total;  // K and V
}

uint64_t forward_scratch_plan_bytes(const ModelConfig& c, int64_t ub, int64_t n_ctx, int n_threads,
                                    uint64_t* matmul_part, int64_t logits_rows) {
  const uint64_t scratch =
      c.architecture == "deepseek2"
          ? Deepseek2Scratch::planned_bytes(c, ub, n_ctx, n_threads, matmul_part)
          : ForwardScratch::planned_bytes(c, ub, n_ctx, n_threads, matmul_part);
  return scratch + fbytes(std::max<int64_t>(1, logits_rows), c.n_vocab);  // + the logits
}

namespace {

// The plan at fixed (n_ubatch, n_ctx, resident positions; 0 = no offload).
MemoryPlan plan_at(const Model& model, SessionOptions o, int64_t ub, int64_t n_ctx,
                   int64_t resident) {
  const ModelConfig& c = model.config();
  o.n_ubatch = std::min(ub, n_ctx);
  o.n_ctx = n_ctx;
  MemoryPlan p;
  p.budget = o.mem_budget;
  p.n_ctx = n_ctx;
  p.n_ubatch = o.n_ubatch;
  p.n_threads = o.n_threads;
  p.weights = model.file().file_size();
  p.runtime = kRuntimeBase + static_cast<uint64_t>(c.n_vocab) * kRuntimePerVocab +
              static_cast<uint64_t>(n_ctx) * sizeof(int32_t);
  p.scratch = forward_scratch_plan_bytes(c, o.n_ubatch, n_ctx, o.n_threads, &p.matmul_scratch,
                                        o.logits_rows);
  const std::vector<int64_t> caps = kv_ring_caps(c, o, resident);
  p.kv_resident = kv_cache_plan_bytes(c, n_ctx, o, caps);
  p.kv_resident_positions = n_ctx;
  if (resident > 0 && resident < n_ctx) {
    p.offload = true;
    p.kv_resident_positions = resident;
    const uint64_t full = kv_cache_plan_bytes(c, n_ctx, o, kv_ring_caps(c, o, 0));
    p.kv_offloaded = full - p.kv_resident;
    // One flash piece of K and V rows (KvOffload::chunk), whatever n_ctx.
    uint64_t k_row = 0, v_row = 0;
    kv_row_sizes(c, o, &k_row, &v_row);
    p.kv_staging = KvOffload::staging_bytes_for(n_ctx, k_row, v_row);
  }
  return p;
}

int64_t n_global_layers(const ModelConfig& c) {
  int64_t n = 0;
  for (int64_t il = 0; il < c.n_layer; ++il) n += c.is_swa(il) ? 0 : 1;
  return n;
}

}  // namespace

Result<MemoryPlan> plan_memory(const Model& model, const SessionOptions& options) {
  const ModelConfig& c = model.config();
  EF_ASSIGN_OR_RETURN(SessionOptions o, resolve_session_options(c, options));
  if (o.mem_budget == 0) return plan_at(model, o, o.n_ubatch, o.n_ctx, 0);
  const uint64_t budget = o.mem_budget;
  // 1. Everything resident: the largest power-of-two fraction of n_ubatch.
  for (int64_t ub = o.n_ubatch; ub >= 1; ub /= 2) {
    MemoryPlan p = plan_at(model, o, ub, o.n_ctx, 0);
    if (p.total() <= budget) return p;
  }
  // 2. KV offload: global layers keep the newest R >= ub positions.
  SessionOptions fo = o;
  fo.flash_attn = true;
  const int64_t n_global = n_global_layers(c);
  const uint64_t row2 = kv_pos_bytes(c, o);
  for (int64_t ub = o.n_ubatch; ub >= 1 && n_global > 0; ub /= 2) {
    MemoryPlan p = plan_at(model, fo, ub, o.n_ctx, ub);  // R = ub: the least resident KV
    if (p.total() > budget) continue;
    const uint64_t spare = budget - p.total();
    const int64_t extra = static_cast<int64_t>(std::min<uint64_t>(
        spare / (row2 * static_cast<uint64_t>(n_global)), static_cast<uint64_t>(o.n_ctx)));
    const int64_t resident = std::min(o.n_ctx - 1, ub + extra);
    if (resident < ub) continue;
    p = plan_at(model, fo, ub, o.n_ctx, resident);
    p.flash_forced = !o.flash_attn;
    return p;
  }
  // 3. Nothing fits: say what would.
  const MemoryPlan least = n_global > 0 && o.n_ctx > 1 ? plan_at(model, fo, 1, o.n_ctx, 1)
                                                       : plan_at(model, o, 1, o.n_ctx, 0);
  int64_t lo = 0, hi = o.n_ctx;  // largest n_ctx in [1, n_ctx] fitting without offload
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (plan_at(model, o, std::min<int64_t>(o.n_ubatch, mid), mid, 0).total() <= budget) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  std::string hint = "raise --mem-budget to at least " + mib(least.total());
  if (lo > 0) hint += ", or use --ctx " + std::to_string(lo) + " (fits without offload)";
  return make_error(Errc::out_of_memory,
                    "memory budget " + mib(budget) + " is too small at context " +
                        std::to_string(o.n_ctx) + ": weights " + mib(least.weights) +
                        " + runtime " + mib(least.runtime) + " + smallest scratch " +
                        mib(least.scratch) + " + KV " + mib(least.kv_resident + least.kv_staging) +
                        " need " + mib(least.total()),
                    "--mem-budget", hint);
}

}  // namespace ef
