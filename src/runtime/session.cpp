// Session: one sequence's KV cache, scratch and thread pool; eval() runs a
// token list through the model in micro-batches of n_ubatch.
#include "edgeformer/session.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/checked.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "model/deepseek2_cache.h"
#include "model/deepseek2_forward.h"
#include "model/llama_forward.h"
#include "model/llama_weights.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_offload.h"
#include "runtime/memory_plan.h"
#include "runtime/session_rows.h"
#include "runtime/session_state.h"

namespace ef {


namespace {
Status ensure_logits(SessionState& s, int64_t rows) {
  const int64_t n_vocab = s.model->config().n_vocab;
  auto elems = checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(n_vocab));
  auto bytes = elems ? checked_mul(*elems, sizeof(float)) : std::nullopt;
  if (!bytes) {
    return make_error(Errc::out_of_range, "logits buffer size overflows", "Session::eval",
                      "request all logits for fewer tokens at a time");
  }
  if (s.logits.size_bytes() >= *bytes) return Status::success();
  EF_ASSIGN_OR_RETURN(s.logits, Buffer::allocate(static_cast<size_t>(*bytes)));
  return Status::success();
}
}  // namespace

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const Model& model, SessionOptions options) {
  const ModelConfig& c = model.config();
  // The plan resolves defaults and, under a budget, picks n_ubatch and the
  // KV offload; the allocations below follow it exactly.
  EF_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(model, options));
  EF_ASSIGN_OR_RETURN(options, resolve_session_options(c, options));
  options.n_ubatch = plan.n_ubatch;
  if (plan.offload) options.flash_attn = true;

  // K and V types: the single kv_type unless set apart.
  if (!options.type_k) options.type_k = options.kv_type;
  if (!options.type_v) options.type_v = options.kv_type;
  for (KvType t : {*options.type_k, *options.type_v}) {
    if (c.architecture != "deepseek2" && kv_row_bytes(t, c.head_dim) == 0) {
      return make_error(Errc::invalid_argument,
                        std::string("KV cache type ") + kv_type_name(t) +
                            " stores blocks of 32 elements per head, but head_dim is " +
                            std::to_string(c.head_dim),
                        "SessionOptions::type_k/type_v",
                        "use f16, bf16 or f32 for this model's cache");
    }
  }
  if (options.kv_hadamard &&
      (c.head_dim <= 0 || (c.head_dim & (c.head_dim - 1)) != 0)) {
    return make_error(Errc::invalid_argument,
                      "the Hadamard rotation needs head_dim to be a power of two, not " +
                          std::to_string(c.head_dim),
                      "SessionOptions::kv_hadamard", "drop --kv-hadamard for this model");
  }

  auto state = std::make_unique<SessionState>();
  state->model = &model;
  state->options = options;
  state->plan = plan;
  state->mla = c.architecture == "deepseek2";
  if (state->mla) {
    if (*options.type_k != *options.type_v || options.kv_hadamard) {
      return make_error(Errc::unsupported,
                        "the MLA cache (deepseek2) has one type for its latent rows and no "
                        "Hadamard rotation",
                        "SessionOptions", "use --cache-type alone, without --kv-hadamard");
    }
    const KvType t = *options.type_k;
    if (!options.flash_attn && t != KvType::f16 && t != KvType::f32) {
      return make_error(Errc::invalid_argument,
                        std::string("a ") + kv_type_name(t) +
                            " MLA cache needs flash attention (the score-matrix path reads f16 "
                            "or f32 latent rows)",
                        "SessionOptions::flash_attn", "use --flash-attn on, or --cache-type f16");
    }
    // With offload every layer is a ring of the resident rows.
    const int64_t resident = plan.offload ? plan.kv_resident_positions : 0;
    const std::vector<int64_t> ring = kv_ring_caps(c, options, resident);
    EF_ASSIGN_OR_RETURN(state->mla_cache, MlaCache::create(c.n_layer, options.n_ctx,
                                                           c.kv_lora_rank, c.n_rot, t, ring));
    EF_ASSIGN_OR_RETURN(state->mla_scratch, Deepseek2Scratch::create(c, options.n_ubatch,
                                                                     options.n_ctx,
                                                                     options.n_threads));
    if (plan.offload) {
      EF_ASSIGN_OR_RETURN(state->offload,
                          KvOffload::create(state->mla_cache.kv(),
                                            std::vector<bool>(static_cast<size_t>(c.n_layer), true),
                                            resident, options.offload_dir));
    }
  } else {
    // Sliding-window layers keep a ring of window + n_ubatch - 1 rows under
    // flash attention (see kv_cache.h); the score-matrix path keeps them
    // linear. With offload, global layers are rings of the resident rows.
    const int64_t resident = plan.offload ? plan.kv_resident_positions : 0;
    const std::vector<int64_t> ring = kv_ring_caps(c, options, resident);
    EF_ASSIGN_OR_RETURN(state->cache,
                        KvCache::create(c.n_layer, options.n_ctx, c.n_head_kv * c.head_dim,
                                        *options.type_k, *options.type_v, !options.flash_attn,
                                        ring, options.kv_hadamard));
    EF_ASSIGN_OR_RETURN(state->scratch, ForwardScratch::create(c, options.n_ubatch, options.n_ctx,
                                                               options.n_threads));
    if (plan.offload) {
      std::vector<bool> offloaded(static_cast<size_t>(c.n_layer));
      for (int64_t il = 0; il < c.n_layer; ++il) {
        // Global layers (sliding-window rings are never offloaded).
        offloaded[static_cast<size_t>(il)] = !(options.flash_attn && c.is_swa(il));
      }
      EF_ASSIGN_OR_RETURN(state->offload, KvOffload::create(state->cache, std::move(offloaded),
                                                            resident, options.offload_dir));
    }
  }
  EF_TRY(ensure_logits(*state, options.logits_rows));
  state->tokens.reserve(static_cast<size_t>(options.n_ctx));
  state->pool = std::make_unique<ThreadPool>(options.n_threads);

  std::unique_ptr<Session> session(new Session());
  session->state_ = std::move(state);
  return session;
}

Result<std::span<const float>> Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  SessionState& s = *state_;
  const ModelConfig& c = s.model->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) {
    return make_error(Errc::invalid_argument, "no tokens to evaluate", "Session::eval",
                      "pass at least one token");
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = tokens[static_cast<size_t>(i)];
    if (id < 0 || id >= c.n_vocab) {
      return make_error(Errc::out_of_range,
                        "token id " + std::to_string(id) + " is out of range [0, " +
                            std::to_string(c.n_vocab) + ")",
                        "Session::eval, token index " + std::to_string(i),
                        "token ids must come from this model's tokenizer");
    }
  }
  if (n > s.options.n_ctx - s.n_past) {
    return make_error(Errc::out_of_range,
                      "context overflow: " + std::to_string(s.n_past) + " tokens in the cache + " +
                          std::to_string(n) + " new > n_ctx " + std::to_string(s.options.n_ctx),
                      "Session::eval",
                      "reset() the session or create it with a larger n_ctx (--ctx-size)");
  }
  EF_TRY(ensure_logits(s, all_logits ? n : 1));

  float* out = s.logits.as<float>();
  for (int64_t begin = 0; begin < n; begin += s.options.n_ubatch) {
    const int64_t len = std::min(s.options.n_ubatch, n - begin);
    const bool last_batch = begin + len == n;
    // Rows of this micro-batch that need logits: all of them, only the very
    // last token, or none.
    const int64_t out_begin = all_logits ? 0 : (last_batch ? len - 1 : len);
    float* dst = all_logits ? out + begin * c.n_vocab : out;
    if (s.offload) {
      Status spilled = s.offload->before_store(s.kv(), s.n_past, len);
      if (!spilled.ok()) {
        session_clear(s);  // the cache may have lost rows
        return spilled.take_error();
      }
    }
    if (s.mla) {
      deepseek2_forward(c, *s.model->deepseek2_weights(), s.mla_cache, s.mla_scratch, *s.pool,
                        tokens.data() + begin, len, s.n_past, out_begin, dst,
                        s.options.flash_attn ? MlaMode::flash : MlaMode::absorbed,
                        s.offload.get());
    } else {
      llama_forward(c, s.model->weights(), s.cache, s.scratch, *s.pool, tokens.data() + begin,
                    len, s.n_past, out_begin, dst, s.offload.get());
    }
    if (s.offload && !s.offload->error().ok()) {
      Error e = s.offload->error().error();
      session_clear(s);
      return e;
    }
    s.n_past += len;
  }
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  s.last_logits_row = all_logits ? n - 1 : 0;
  const size_t count = static_cast<size_t>((all_logits ? n : 1) * c.n_vocab);
  return std::span<const float>(out, count);
}

void Session::reset() { session_clear(*state_); }
std::span<const int32_t> Session::tokens() const { return state_->tokens; }
int64_t Session::n_past() const { return state_->n_past; }
int64_t Session::n_ctx() const { return state_->options.n_ctx; }
const SessionOptions& Session::options() const { return state_->options; }
uint64_t Session::kv_cache_bytes() const {
  return state_->cache.bytes() + state_->mla_cache.bytes();
}
const MemoryPlan& Session::memory_plan() const { return state_->plan; }

uint64_t Session::kv_bytes_per_token() const {
  return state_->kv().bytes_per_token();
}
uint64_t Session::scratch_bytes() const {
  return state_->scratch.bytes() + state_->mla_scratch.bytes() + state_->logits.size_bytes();
}

}  // namespace ef
