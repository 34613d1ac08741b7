// An inference session: KV cache + scratch for one sequence.
//
// With flash_attn = false, numerics follow llama.cpp's CPU backend without
// flash attention (F16 K/V cache by default, query and attention weights
// rounded to the cache type before their dot products, as ggml's mul_mat
// does). The default, flash attention, keeps scores, softmax and the output
// accumulator in F32 (see src/model/flash_attention.h). Logits are
// bit-identical for any n_threads and any split of the tokens into eval()
// calls and micro-batches.
//
// Typical use:
//   auto session = Session::create(*model, {}).value();
//   auto logits = session->eval(prompt_ids);        // last token's logits
//   ... pick a token t ...
//   logits = session->eval(std::span(&t, 1));       // one more position
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "edgeformer/error.h"

namespace ef {
class Model;
class ThreadPool;
struct SessionState;

enum class KvType { f32, f16 };

struct SessionOptions {
  int64_t n_ctx = 0;      // 0 = min(model's training context, 4096); may exceed it
  int64_t n_ubatch = 512; // micro-batch for prefill (>= 1; clamped to n_ctx)
  int n_threads = 0;      // 0 = std::thread::hardware_concurrency()
  KvType kv_type = KvType::f16;
  // Flash attention (tiled online softmax in F32, no T x T buffers; faster
  // at prefill and at depth). Off: the score-matrix path of llama.cpp's
  // -fa off, with its numerics (V cache transposed).
  bool flash_attn = true;
};

class Session {
 public:
  // Allocates the KV cache (n_layer x n_ctx x n_head_kv*head_dim, K and V)
  // and all scratch up front; eval() never allocates except to grow the
  // logits buffer for a larger all_logits request. `model` must outlive the
  // session. Fails (invalid_argument) on negative or absurd options.
  static Result<std::unique_ptr<Session>> create(const Model& model, SessionOptions options);
  ~Session();

  // Appends tokens at the current position, in micro-batches of n_ubatch.
  // Returns logits: the last token's (n_vocab floats) or, if all_logits,
  // every token's (tokens.size() x n_vocab, row i = logits after tokens[i]).
  // Fails, leaving the session unchanged, if tokens is empty
  // (invalid_argument), a token id is outside [0, n_vocab) or the context
  // would overflow (out_of_range). The span is valid until the next call.
  Result<std::span<const float>> eval(std::span<const int32_t> tokens, bool all_logits = false);

  void reset();                     // clear the cache, position 0
  int64_t n_past() const;           // tokens in the cache
  int64_t n_ctx() const;
  const SessionOptions& options() const;  // with defaults resolved
  uint64_t kv_cache_bytes() const;
  uint64_t scratch_bytes() const;

 private:
  Session() = default;
  std::unique_ptr<SessionState> state_;
};

}  // namespace ef
