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

namespace ef {

struct SessionState {
  const Model* model = nullptr;
  SessionOptions options;  // effective values (defaults resolved)
  std::unique_ptr<ThreadPool> pool;
  KvCache cache;
  ForwardScratch scratch;
  // deepseek2 (MLA) models use these instead of cache/scratch.
  bool mla = false;
  MlaCache mla_cache;
  Deepseek2Scratch mla_scratch;
  Buffer logits;  // grows to the largest request; [rows][n_vocab]
  int64_t n_past = 0;
};

namespace {
constexpr int64_t kDefaultMaxCtx = 4096;
constexpr int64_t kMaxCtx = int64_t{1} << 24;
constexpr int kMaxThreads = 1024;

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
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    return make_error(Errc::invalid_argument,
                      "thread count " + std::to_string(options.n_threads) + " is outside [0, " +
                          std::to_string(kMaxThreads) + "]",
                      "SessionOptions::n_threads", "0 means one thread per hardware thread");
  }
  if (options.n_threads == 0) {
    options.n_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }

  auto state = std::make_unique<SessionState>();
  state->model = &model;
  state->options = options;
  state->mla = c.architecture == "deepseek2";
  if (state->mla) {
    EF_ASSIGN_OR_RETURN(state->mla_cache, MlaCache::create(c.n_layer, options.n_ctx, c.kv_lora_rank,
                                                           c.n_rot, options.kv_type));
    EF_ASSIGN_OR_RETURN(state->mla_scratch, Deepseek2Scratch::create(c, options.n_ubatch,
                                                                     options.n_ctx,
                                                                     options.n_threads));
  } else {
    // Sliding-window layers keep a ring of window + n_ubatch - 1 rows under
    // flash attention (see kv_cache.h); the score-matrix path keeps them linear.
    std::vector<int64_t> ring(static_cast<size_t>(c.n_layer), 0);
    for (int64_t il = 0; il < c.n_layer; ++il) {
      if (options.flash_attn && c.is_swa(il)) {
        ring[static_cast<size_t>(il)] = c.n_swa + options.n_ubatch - 1;
      }
    }
    EF_ASSIGN_OR_RETURN(state->cache, KvCache::create(c.n_layer, options.n_ctx,
                                                      c.n_head_kv * c.head_dim, options.kv_type,
                                                      !options.flash_attn, ring));
    EF_ASSIGN_OR_RETURN(state->scratch, ForwardScratch::create(c, options.n_ubatch, options.n_ctx,
                                                               options.n_threads));
  }
  EF_TRY(ensure_logits(*state, 1));
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
    if (s.mla) {
      deepseek2_forward(c, *s.model->deepseek2_weights(), s.mla_cache, s.mla_scratch, *s.pool,
                        tokens.data() + begin, len, s.n_past, out_begin, dst,
                        s.options.flash_attn ? MlaMode::flash : MlaMode::absorbed);
    } else {
      llama_forward(c, s.model->weights(), s.cache, s.scratch, *s.pool, tokens.data() + begin,
                    len, s.n_past, out_begin, dst);
    }
    s.n_past += len;
  }
  const size_t count = static_cast<size_t>((all_logits ? n : 1) * c.n_vocab);
  return std::span<const float>(out, count);
}

void Session::reset() { state_->n_past = 0; }
int64_t Session::n_past() const { return state_->n_past; }
int64_t Session::n_ctx() const { return state_->options.n_ctx; }
const SessionOptions& Session::options() const { return state_->options; }
uint64_t Session::kv_cache_bytes() const {
  return state_->cache.bytes() + state_->mla_cache.bytes();
}
uint64_t Session::scratch_bytes() const {
  return state_->scratch.bytes() + state_->mla_scratch.bytes() + state_->logits.size_bytes();
}

}  // namespace ef
