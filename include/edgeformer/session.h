// An inference session: KV cache + scratch for one sequence.
//
// Numerics follow llama.cpp's CPU backend without flash attention (F16 K/V
// cache by default, query and attention weights rounded to the cache type
// before their dot products, as ggml's mul_mat does). Logits are
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
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "edgeformer/error.h"

namespace ef {
class Model;
class ThreadPool;
struct SessionState;

// KV cache element types. The block types store rows in ggml's block
// layout (32 elements per block: Q8_0 34 bytes, Q4_0 18 bytes) and need
// head_dim to be a multiple of 32; BF16 and the block types for V need flash
// attention (the score-matrix path keeps V transposed, position-major).
enum class KvType { f32, f16, bf16, q8_0, q4_0 };

// "f32", "f16", "bf16", "q8_0", "q4_0" (llama.cpp's --cache-type spelling).
const char* kv_type_name(KvType type);
// Case-insensitive inverse of kv_type_name; nullopt for anything else.
std::optional<KvType> kv_type_from_name(std::string_view name);
// "f32, f16, bf16, q8_0, q4_0" (for error messages).
const char* kv_type_names();
// Bytes of one cached row of n elements (n a multiple of the block size for
// the block types; 0 otherwise).
uint64_t kv_row_bytes(KvType type, int64_t n);

struct SessionOptions {
  int64_t n_ctx = 0;      // 0 = min(model's training context, 4096); may exceed it
  int64_t n_ubatch = 512; // micro-batch for prefill (>= 1; clamped to n_ctx)
  int n_threads = 0;      // 0 = std::thread::hardware_concurrency()
  KvType kv_type = KvType::f16;  // K and V, unless type_k / type_v are set
  std::optional<KvType> type_k;   // overrides kv_type for the keys
  std::optional<KvType> type_v;   // overrides kv_type for the values
  // Rotate keys and values per head by a normalised Walsh-Hadamard transform
  // before they are stored (queries and the attention output are rotated to
  // match, so results are unchanged in exact arithmetic): spreads outliers
  // across the head so block quantization loses less. Needs head_dim a power
  // of two.
  bool kv_hadamard = false;
  // Flash attention (tiled, online softmax; llama.cpp's default on CPU).
  // Off: the score-matrix path of llama.cpp's -fa off (V cache transposed).
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
  // With defaults resolved: type_k and type_v are always set.
  const SessionOptions& options() const;
  uint64_t kv_cache_bytes() const;
  // Cache bytes one more position costs (K and V rows of every layer).
  uint64_t kv_bytes_per_token() const;
  uint64_t scratch_bytes() const;

 private:
  Session() = default;
  std::unique_ptr<SessionState> state_;
};

}  // namespace ef
