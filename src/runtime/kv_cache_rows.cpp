// Row-granular byte access to the KV cache (see kv_cache.h): the session
// file format and the disk offload store positions as (K row, V row) pairs
// of k_row_bytes() and v_row_bytes() bytes (the V row is empty for a
// keys-only cache), independent of whether V is kept transposed.
#include <cstring>

#include "runtime/kv_cache.h"

namespace ef {

void KvCache::get_rows(int64_t il, int64_t pos, void* k, void* v) const {
  std::memcpy(k, k_row(il, pos), k_row_);
  if (keys_only_) return;
  if (!v_trans_) {
    std::memcpy(v, v_pos(il, pos), v_row_);
    return;
  }
  // Transposed V (F32/F16): element d of position pos sits at [d][slot].
  const size_t eb = elem_bytes_of(type_v_);
  const size_t cap = static_cast<size_t>(capacity(il));
  const char* base = v_base(il) + static_cast<size_t>(slot(il, pos)) * eb;
  char* out = static_cast<char*>(v);
  for (int64_t d = 0; d < kv_dim_; ++d) {
    std::memcpy(out + static_cast<size_t>(d) * eb, base + static_cast<size_t>(d) * cap * eb, eb);
  }
}

void KvCache::put_rows(int64_t il, int64_t pos, const void* k, const void* v) {
  const size_t s = static_cast<size_t>(slot(il, pos));
  std::memcpy(k_base(il) + s * k_row_, k, k_row_);
  if (keys_only_) return;
  if (!v_trans_) {
    std::memcpy(v_base(il) + s * v_row_, v, v_row_);
    return;
  }
  const size_t eb = elem_bytes_of(type_v_);
  const size_t cap = static_cast<size_t>(capacity(il));
  char* base = v_base(il) + s * eb;
  const char* in = static_cast<const char*>(v);
  for (int64_t d = 0; d < kv_dim_; ++d) {
    std::memcpy(base + static_cast<size_t>(d) * cap * eb, in + static_cast<size_t>(d) * eb, eb);
  }
}

}  // namespace ef
