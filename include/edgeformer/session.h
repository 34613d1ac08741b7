// An inference session: KV cache + scratch for one sequence.
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
  int64_t n_ctx = 0;      // 0 = model's training context (capped at 4096)
  int64_t n_ubatch = 512; // micro-batch for prefill
  int n_threads = 0;      // 0 = hardware concurrency
  KvType kv_type = KvType::f16;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(const Model& model, SessionOptions options);
  ~Session();

  // Appends tokens at the current position, in micro-batches of n_ubatch.
  // Returns logits: the last token's (n_vocab floats) or, if all_logits,
  // every token's (tokens.size() x n_vocab). Fails if the context would
  // overflow or a token id is out of range. The span is valid until the next call.
  Result<std::span<const float>> eval(std::span<const int32_t> tokens, bool all_logits = false);

  void reset();                     // clear the cache, position 0
  int64_t n_past() const;           // tokens in the cache
  int64_t n_ctx() const;
  const SessionOptions& options() const;
  uint64_t kv_cache_bytes() const;
  uint64_t scratch_bytes() const;

 private:
  Session() = default;
  std::unique_ptr<SessionState> state_;
};

}  // namespace ef
