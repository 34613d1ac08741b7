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
#include <optional>
#include <span>
#include <string>
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

// What a session file holds, read from its header only (Session::peek).
struct SessionFileInfo {
  KvType kv_type = KvType::f16;  // K rows (MLA: latent rows)
  KvType type_v = KvType::f16;   // V rows (== kv_type for MLA and version 1 files)
  bool hadamard = false;         // rows are Hadamard-rotated (--kv-hadamard)
  bool mla = false;              // deepseek2 latent cache (keys only)
  int64_t n_ctx = 0;   // context of the session that saved it
  int64_t n_past = 0;  // tokens stored
  bool has_logits = false;
};

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
  // Flash attention (tiled online softmax in F32, no T x T buffers; faster
  // at prefill and at depth). Off: the score-matrix path of llama.cpp's
  // -fa off, with its numerics (V cache transposed).
  bool flash_attn = true;
  // Memory budget in bytes for weights + KV cache + scratch + runtime
  // (0 = none). create() plans within it (plan_memory): the largest
  // micro-batch <= n_ubatch that fits, else KV offload to disk (oldest
  // positions in an unlinked temp file, flash attention forced on), else it
  // fails with out_of_memory saying what would fit.
  uint64_t mem_budget = 0;
  std::string offload_dir;  // directory of the KV offload file ("" = $TMPDIR or /tmp)
  // Most logits rows one eval() call will return (all_logits requests of
  // that many tokens): the logits buffer is allocated and planned for them
  // up front (>= 1). Larger requests still work, growing the buffer
  // outside the plan.
  int64_t logits_rows = 1;
};

// Where a session's memory goes (bytes). weights + kv_resident + kv_staging
// + scratch + runtime is what the process holds; kv_offloaded lives in a
// file (page cache, not counted in our RSS).
struct MemoryPlan {
  uint64_t budget = 0;        // 0 = none
  uint64_t weights = 0;       // mapped model file: every page is touched per token
  uint64_t kv_resident = 0;   // KV cache buffers
  uint64_t kv_offloaded = 0;  // KV rows kept on disk at a full context
  uint64_t kv_staging = 0;    // offload: one flash piece (1024 positions) of K/V rows read back
  uint64_t scratch = 0;       // activations, attention, matmul scratch, logits
  uint64_t matmul_scratch = 0;  // part of scratch held in a std::vector (not a Buffer)
  uint64_t runtime = 0;       // estimate: tokenizer tables, token history, stacks
  int64_t n_ctx = 0;
  int64_t n_ubatch = 0;
  int n_threads = 0;
  // Positions of each global-attention layer kept in memory (n_ctx without
  // offload); older ones are on disk.
  int64_t kv_resident_positions = 0;
  bool offload = false;
  bool flash_forced = false;  // offload needs the flash (row-major V) layout
  uint64_t total() const { return weights + kv_resident + kv_staging + scratch + runtime; }
};

// The memory plan Session::create would use for these options (defaults
// resolved). Without a budget it just describes the options. With one, it
// fails (out_of_memory) if nothing fits, naming the budget that would and
// the largest context that fits without offload.
Result<MemoryPlan> plan_memory(const Model& model, const SessionOptions& options);

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

  // Session files (format: src/runtime/session_file.h). save() writes the
  // token ids, the KV rows of positions [0, n_past) (sliding-window layers:
  // only the rows a later query can see) and the last logits to `path`
  // atomically (temp file, fsync, rename).
  Status save(const std::string& path) const;
  // Replaces this session's contents with a saved state. Everything is
  // validated before the cache is touched: magic, version, the model
  // (n_layer, n_vocab, KV row size, hyper-parameter and weight hashes), the
  // cache type, n_past <= n_ctx, the exact file size (checked arithmetic);
  // then rows are read and the checksum verified. Errors name the field and
  // byte offset. On failure the session is left empty (reset). Returns the
  // stored logits after the last token (empty if the file has none).
  Result<std::span<const float>> load(const std::string& path);
  Result<std::span<const float>> load_from_bytes(std::span<const uint8_t> bytes);
  // Header of a session file, validated on its own (magic, version, ranges).
  static Result<SessionFileInfo> peek(const std::string& path);

  void reset();                     // clear the cache, position 0
  std::span<const int32_t> tokens() const;  // ids at positions [0, n_past)
  int64_t n_past() const;           // tokens in the cache
  int64_t n_ctx() const;
  // With defaults resolved: type_k and type_v are always set.
  const SessionOptions& options() const;
  uint64_t kv_cache_bytes() const;
  // Cache bytes one more position costs (K and V rows of every layer).
  uint64_t kv_bytes_per_token() const;
  uint64_t scratch_bytes() const;
  const MemoryPlan& memory_plan() const;

 private:
  Session() = default;
  std::unique_ptr<SessionState> state_;
};

}  // namespace ef
