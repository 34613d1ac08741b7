// The key/value cache of one sequence: for every layer, the rotated keys and
// the values of every position seen so far, in F32 or F16 (llama.cpp's
// default is F16; values are rounded to nearest even on store).
//
// Layout per layer (kv_dim = n_head_kv * head_dim):
//   K: [n_ctx][kv_dim]  row p = key of position p (heads side by side)
//   V: [kv_dim][n_ctx]  stored transposed, as llama.cpp does without flash
//                       attention, so that the attention-weighted sum of V
//                       for one output dimension is a single dot product
//                       over positions (and rounds like ggml's).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/session.h"

namespace ef {

class KvCache {
 public:
  KvCache() = default;
  // Fails with out_of_memory / out_of_range if the sizes overflow or the
  // allocation is refused.
  static Result<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type);

  KvType type() const { return type_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  size_t elem_bytes() const { return type_ == KvType::f16 ? 2 : 4; }
  uint64_t bytes() const { return k_.size_bytes() + v_.size_bytes(); }

  // Key of position `pos` in layer `il`: kv_dim elements. (Inline: the
  // attention inner loop calls it once per position.)
  const void* k_row(int64_t il, int64_t pos) const {
    return k_base(il) + static_cast<size_t>(pos * kv_dim_) * elem_bytes();
  }
  // Dimension `d` of the values of every position in layer `il`: n_ctx
  // elements, of which [0, n_past) are valid.
  const void* v_row(int64_t il, int64_t d) const {
    return v_base(il) + static_cast<size_t>(d * n_ctx_) * elem_bytes();
  }

  // Writes k and v (kv_dim floats each) for position `pos` of layer `il`.
  void store(int64_t il, int64_t pos, const float* k, const float* v);

  // Zeroes the cache (positions are overwritten anyway; this keeps stale
  // data of a previous sequence from ever being read by a bug).
  void clear();

 private:
  char* k_base(int64_t il) const {
    return k_.as<char>() + static_cast<size_t>(il * n_ctx_ * kv_dim_) * elem_bytes();
  }
  char* v_base(int64_t il) const {
    return v_.as<char>() + static_cast<size_t>(il * n_ctx_ * kv_dim_) * elem_bytes();
  }

  KvType type_ = KvType::f16;
  int64_t n_layer_ = 0;
  int64_t n_ctx_ = 0;
  int64_t kv_dim_ = 0;
  Buffer k_;
  Buffer v_;
};

}  // namespace ef
