// The MLA cache of one sequence: per layer and position only the compressed
// latent (kv_lora_rank floats, after attn_kv_a_norm) and the shared rotated
// RoPE key (rope dims). There is no value buffer: values (and the non-RoPE
// part of keys) are decompressed from the latent on the fly, or never, in
// the absorbed form.
//
// Storage is a keys-only KvCache (runtime/kv_cache.h) of rows
// [kv_lora_rank + n_rope] in any KV type: F32, F16, BF16, or the block types
// Q8_0 / Q4_0 when kv_lora_rank + n_rope is a multiple of 32 (DeepSeek-V2:
// 512 + 64). So session files and the disk offload handle it like any
// other cache, and an optional ring (KV offload) keeps only the newest rows.
//
// Layout per layer: [cap][row_bytes]; row p = latent | k_pe of position p.
// Bytes = n_layer * n_ctx * row_bytes(kv_lora_rank + n_rope) (no ring).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgeformer/error.h"
#include "edgeformer/session.h"
#include "runtime/kv_cache.h"

namespace ef {

class MlaCache {
 public:
  MlaCache() = default;
  // ring_cap (optional, n_layer entries): > 0 keeps that many newest rows.
  static Result<MlaCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_lora_rank,
                                 int64_t n_rope, KvType type,
                                 const std::vector<int64_t>& ring_cap = {});

  KvType type() const { return kv_.type_k(); }
  int64_t n_ctx() const { return kv_.n_ctx(); }
  int64_t kv_lora_rank() const { return rank_; }
  int64_t n_rope() const { return n_rope_; }
  int64_t row_elems() const { return rank_ + n_rope_; }
  // Bytes of one position's row in its type (block types included).
  size_t row_bytes() const { return kv_.k_row_bytes(); }
  // Bytes per element of F32/F16/BF16; 0 for the block types.
  size_t elem_bytes() const { return KvCache::elem_bytes_of(type()); }
  uint64_t bytes() const { return kv_.bytes(); }
  int64_t ring(int64_t il) const { return kv_.ring(il); }

  // Row of position `pos` in layer `il`: row_elems() elements of type().
  const void* row(int64_t il, int64_t pos) const { return kv_.k_row(il, pos); }
  // Stores latent [kv_lora_rank] and k_pe [n_rope] for (il, pos).
  void store(int64_t il, int64_t pos, const float* latent, const float* k_pe);
  // Row of (il, pos) converted to float: out[row_elems()].
  void load_f32(int64_t il, int64_t pos, float* out) const;
  void clear() { kv_.clear(); }

  const KvCache& kv() const { return kv_; }
  KvCache& kv() { return kv_; }

 private:
  int64_t rank_ = 0, n_rope_ = 0;
  KvCache kv_;
};

}  // namespace ef
