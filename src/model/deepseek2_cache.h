// The MLA cache of one sequence: per layer and position only the compressed
// latent (kv_lora_rank floats, after attn_kv_a_norm) and the shared rotated
// RoPE key (rope dims), in F32 or F16. There is no value buffer: values (and
// the non-RoPE part of keys) are decompressed from the latent on the fly, or
// never, in the absorbed form.
//
// Layout per layer: [n_ctx][kv_lora_rank + n_rope]; row p = latent | k_pe of
// position p. Bytes = n_layer * n_ctx * (kv_lora_rank + n_rope) * elem size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/session.h"

namespace ef {

class MlaCache {
 public:
  MlaCache() = default;
  static Result<MlaCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_lora_rank,
                                 int64_t n_rope, KvType type);

  KvType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_lora_rank() const { return rank_; }
  int64_t n_rope() const { return n_rope_; }
  int64_t row_elems() const { return rank_ + n_rope_; }
  size_t elem_bytes() const { return type_ == KvType::f16 ? 2 : 4; }
  uint64_t bytes() const { return data_.size_bytes(); }

  // Row of position `pos` in layer `il`: row_elems() elements of type().
  const void* row(int64_t il, int64_t pos) const;
  // Stores latent [kv_lora_rank] and k_pe [n_rope] for (il, pos).
  void store(int64_t il, int64_t pos, const float* latent, const float* k_pe);
  // Row of (il, pos) converted to float: out[row_elems()].
  void load_f32(int64_t il, int64_t pos, float* out) const;
  void clear();

 private:
  char* row_ptr(int64_t il, int64_t pos) const;

  KvType type_ = KvType::f16;
  int64_t n_layer_ = 0, n_ctx_ = 0, rank_ = 0, n_rope_ = 0;
  Buffer data_;
};

}  // namespace ef
