// The key/value cache of one sequence: for every layer, the rotated keys and
// the values of the positions attention can still see, in F32 or F16
// (llama.cpp's default is F16; values are rounded to nearest even on store).
//
// Layout per layer (kv_dim = n_head_kv * head_dim, cap = the layer's rows):
//   K: [cap][kv_dim]  row slot(p) = key of position p (heads side by side)
//   V: [kv_dim][cap]  stored transposed, as llama.cpp does without flash
//                     attention, so that the attention-weighted sum of V for
//                     one output dimension is a single dot product over
//                     positions (and rounds like ggml's);
//   or, for flash attention (v_transposed = false):
//   V: [cap][kv_dim]  row slot(p) = value of position p, like K.
// A linear layer has cap = n_ctx and slot(p) = p. A ring layer (sliding-
// window attention, flash only) has cap = window + n_ubatch - 1 < n_ctx and
// slot(p) = p % cap: a micro-batch's earliest query still sees its whole
// window after the batch's keys are stored, and memory does not grow with
// the context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/session.h"

namespace ef {

class KvCache {
 public:
  KvCache() = default;
  // Fails with out_of_memory / out_of_range if the sizes overflow or the
  // allocation is refused. ring_cap (optional, n_layer entries): > 0 makes
  // that layer a ring of that many rows (requires !v_transposed).
  static Result<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type,
                                bool v_transposed = true,
                                const std::vector<int64_t>& ring_cap = {});

  KvType type() const { return type_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  size_t elem_bytes() const { return type_ == KvType::f16 ? 2 : 4; }
  uint64_t bytes() const { return k_.size_bytes() + v_.size_bytes(); }
  bool v_transposed() const { return v_trans_; }
  size_t row_bytes() const { return static_cast<size_t>(kv_dim_) * elem_bytes(); }
  // Rows of layer il, and 0 (linear) or the ring capacity.
  int64_t capacity(int64_t il) const { return cap_[static_cast<size_t>(il)]; }
  int64_t ring(int64_t il) const { return ring_[static_cast<size_t>(il)]; }

  // Key of position `pos` in layer `il`: kv_dim elements.
  // (Inline: the attention inner loop calls it once per position.)
  const void* k_row(int64_t il, int64_t pos) const {
    return k_base(il) + static_cast<size_t>(slot(il, pos) * kv_dim_) * elem_bytes();
  }
  // Dimension `d` of the values of every position in layer `il`: capacity
  // elements, of which [0, n_past) are valid (transposed layout only).
  const void* v_row(int64_t il, int64_t d) const {
    return v_base(il) + static_cast<size_t>(d * capacity(il)) * elem_bytes();
  }
  // Value of position `pos` in layer `il` (kv_dim elements); only when
  // !v_transposed().
  const void* v_pos(int64_t il, int64_t pos) const {
    return v_base(il) + static_cast<size_t>(slot(il, pos) * kv_dim_) * elem_bytes();
  }

  // Writes k and v (kv_dim floats each) for position `pos` of layer `il`.
  void store(int64_t il, int64_t pos, const float* k, const float* v);

  // Zeroes the cache (positions are overwritten anyway; this keeps stale
  // data of a previous sequence from ever being read by a bug).
  void clear();

  // Raw storage (session save/restore).
  void* k_data() const { return k_.data(); }
  void* v_data() const { return v_.data(); }

  // Byte copies of one position's key and value rows (row_bytes() each, in
  // the cache's element type), whatever the V layout: session files and the
  // disk offload move rows with these, so new element types only need
  // row_bytes() to be right (kv_cache_rows.cpp).
  void get_rows(int64_t il, int64_t pos, void* k, void* v) const;
  void put_rows(int64_t il, int64_t pos, const void* k, const void* v);

 private:
  char* k_base(int64_t il) const { return k_.as<char>() + offset_[static_cast<size_t>(il)]; }
  char* v_base(int64_t il) const { return v_.as<char>() + offset_[static_cast<size_t>(il)]; }
  int64_t slot(int64_t il, int64_t pos) const {
    const int64_t r = ring_[static_cast<size_t>(il)];
    return r > 0 ? pos % r : pos;
  }

  KvType type_ = KvType::f16;
  int64_t n_layer_ = 0;
  int64_t n_ctx_ = 0;
  int64_t kv_dim_ = 0;
  bool v_trans_ = true;
  std::vector<int64_t> cap_;     // [n_layer] rows
  std::vector<int64_t> ring_;    // [n_layer] 0 or ring capacity
  std::vector<size_t> offset_;   // [n_layer] byte offset of the layer
  Buffer k_;
  Buffer v_;
};

}  // namespace ef
