// The key/value cache of one sequence: for every layer, the rotated keys and
// the values of the positions attention can still see. K and V each have
// their own element type (KvType): F32, F16 (llama.cpp's default), BF16, or
// ggml's Q8_0 / Q4_0 blocks of 32 elements. Values are converted on store
// with the kernels' from_float of the type (round to nearest even for
// F16/BF16; Q8_0 uses the activation quantizer, which is what ggml-cpu's
// set_rows runs for a Q8_0 cache; Q4_0 the reference quantizer).
//
// Layout per layer (kv_dim = n_head_kv * head_dim, cap = the layer's rows):
//   K: [cap][k_row_bytes]  row slot(p) = key of position p (heads side by
//                          side; for block types head h starts at block
//                          h * head_dim / 32)
//   V: [kv_dim][cap]  stored transposed (F32/F16 only), as llama.cpp does
//                     without flash attention, so that the attention-
//                     weighted sum of V for one output dimension is a
//                     single dot product over positions (and rounds like
//                     ggml's);
//   or, for flash attention (v_transposed = false):
//   V: [cap][v_row_bytes]  row slot(p) = value of position p, like K.
// A linear layer has cap = n_ctx and slot(p) = p. A ring layer (sliding-
// window attention, flash only) has cap = window + n_ubatch - 1 < n_ctx and
// slot(p) = p % cap: a micro-batch's earliest query still sees its whole
// window after the batch's keys are stored, and memory does not grow with
// the context.
// With `hadamard` set, the rows hold H k and H v per head (H the normalised
// Walsh-Hadamard matrix); the cache only records the flag, the forward pass
// applies the rotations.
// A keys-only cache (create_keys_only: the MLA latent cache of deepseek2,
// row = latent | k_pe) has no V buffer at all: v_row_bytes() == 0, and the
// row-granular copies (get_rows / put_rows, session files, disk offload)
// move the key row alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/session.h"

namespace ef {

// The dtype whose block layout and kernels a KV type uses.
DType kv_dtype(KvType type);

class KvCache {
 public:
  KvCache() = default;
  // Fails with invalid_argument if a block type gets a kv_dim that is not a
  // multiple of 32, or a transposed V is not F32/F16; out_of_memory /
  // out_of_range if the sizes overflow or the allocation is refused.
  // ring_cap (optional, n_layer entries): > 0 makes that layer a ring of
  // that many rows (requires !v_transposed).
  static Result<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type_k,
                                KvType type_v, bool v_transposed,
                                const std::vector<int64_t>& ring_cap = {}, bool hadamard = false);
  // Rows of `dim` elements of `type`, no values (MLA latent cache): layout
  // and ring rules as K above.
  static Result<KvCache> create_keys_only(int64_t n_layer, int64_t n_ctx, int64_t dim,
                                          KvType type, const std::vector<int64_t>& ring_cap = {});
  // Same K and V type (the original signature).
  static Result<KvCache> create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type,
                                bool v_transposed = true,
                                const std::vector<int64_t>& ring_cap = {}) {
    return create(n_layer, n_ctx, kv_dim, type, type, v_transposed, ring_cap);
  }

  KvType type() const { return type_k_; }  // K's type (== V's unless set apart)
  KvType type_k() const { return type_k_; }
  KvType type_v() const { return type_v_; }
  bool hadamard() const { return hadamard_; }
  bool keys_only() const { return keys_only_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t kv_dim() const { return kv_dim_; }
  // Bytes per element of a float type (F32 4, F16/BF16 2); 0 for block types
  // (use k_row_bytes / v_row_bytes and the block layout).
  size_t elem_bytes() const { return elem_bytes_of(type_k_); }
  uint64_t bytes() const { return k_.size_bytes() + v_.size_bytes(); }
  uint64_t k_bytes() const { return k_.size_bytes(); }
  uint64_t v_bytes() const { return v_.size_bytes(); }
  bool v_transposed() const { return v_trans_; }
  // Bytes of one position's key row / value row (kv_dim elements in the
  // type's layout). row_bytes() is the key row (== value row when the types
  // are equal); session save/restore must use k_row_bytes / v_row_bytes.
  size_t k_row_bytes() const { return k_row_; }
  size_t v_row_bytes() const { return v_row_; }
  size_t row_bytes() const { return k_row_; }
  // Bytes one more position costs over all layers (K + V).
  uint64_t bytes_per_token() const {
    return static_cast<uint64_t>(n_layer_) * (k_row_ + v_row_);
  }
  // Rows of layer il, and 0 (linear) or the ring capacity.
  int64_t capacity(int64_t il) const { return cap_[static_cast<size_t>(il)]; }
  int64_t ring(int64_t il) const { return ring_[static_cast<size_t>(il)]; }

  // Key row of position `pos` in layer `il` (k_row_bytes bytes).
  // (Inline: the attention inner loop calls it once per position.)
  const void* k_row(int64_t il, int64_t pos) const {
    return k_base(il) + static_cast<size_t>(slot(il, pos)) * k_row_;
  }
  // Dimension `d` of the values of every position in layer `il`: capacity
  // elements, of which [0, n_past) are valid (transposed layout only).
  const void* v_row(int64_t il, int64_t d) const {
    return v_base(il) + static_cast<size_t>(d * capacity(il)) * elem_bytes_of(type_v_);
  }
  // Value row of position `pos` in layer `il` (v_row_bytes bytes); only when
  // !v_transposed().
  const void* v_pos(int64_t il, int64_t pos) const {
    return v_base(il) + static_cast<size_t>(slot(il, pos)) * v_row_;
  }

  // Writes k and v (kv_dim floats each) for position `pos` of layer `il`
  // (v is ignored by a keys-only cache).
  void store(int64_t il, int64_t pos, const float* k, const float* v);

  // Zeroes the cache (positions are overwritten anyway; this keeps stale
  // data of a previous sequence from ever being read by a bug).
  void clear();

  // Raw storage (session save/restore). Layer il's rows start at
  // k_layer_offset(il) / v_layer_offset(il) bytes.
  void* k_data() const { return k_.data(); }
  void* v_data() const { return v_.data(); }
  size_t k_layer_offset(int64_t il) const { return k_off_[static_cast<size_t>(il)]; }
  size_t v_layer_offset(int64_t il) const { return v_off_[static_cast<size_t>(il)]; }

  static size_t elem_bytes_of(KvType t) {
    return t == KvType::f32 ? 4 : (t == KvType::f16 || t == KvType::bf16) ? 2 : 0;
  }

  // Byte copies of one position's key row (k_row_bytes()) and value row
  // (v_row_bytes(); nothing for a keys-only cache), in the cache's element
  // types, whatever the V layout: session files and the disk offload move
  // rows with these, so new element types only need the row sizes to be
  // right (kv_cache_rows.cpp).
  void get_rows(int64_t il, int64_t pos, void* k, void* v) const;
  void put_rows(int64_t il, int64_t pos, const void* k, const void* v);

 private:
  Status init(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type_k, KvType type_v,
              bool v_transposed, const std::vector<int64_t>& ring_cap, bool hadamard);
  char* k_base(int64_t il) const { return k_.as<char>() + k_off_[static_cast<size_t>(il)]; }
  char* v_base(int64_t il) const { return v_.as<char>() + v_off_[static_cast<size_t>(il)]; }
  int64_t slot(int64_t il, int64_t pos) const {
    const int64_t r = ring_[static_cast<size_t>(il)];
    return r > 0 ? pos % r : pos;
  }

  KvType type_k_ = KvType::f16;
  KvType type_v_ = KvType::f16;
  bool hadamard_ = false;
  bool keys_only_ = false;
  int64_t n_layer_ = 0;
  int64_t n_ctx_ = 0;
  int64_t kv_dim_ = 0;
  size_t k_row_ = 0;  // bytes of one key row
  size_t v_row_ = 0;  // bytes of one value row (row-major layout)
  bool v_trans_ = true;
  std::vector<int64_t> cap_;     // [n_layer] rows
  std::vector<int64_t> ring_;    // [n_layer] 0 or ring capacity
  std::vector<size_t> k_off_;    // [n_layer] byte offset of the layer in k_
  std::vector<size_t> v_off_;    // [n_layer] byte offset of the layer in v_
  Buffer k_;
  Buffer v_;
};

}  // namespace ef
