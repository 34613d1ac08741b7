// KV cache storage (see kv_cache.h for the layout).
#include "runtime/kv_cache.h"

#include <cstring>
#include <string>

#include "core/checked.h"
#include "core/fp16.h"

namespace ef {

Result<KvCache> KvCache::create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type) {
  if (n_layer <= 0 || n_ctx <= 0 || kv_dim <= 0) {
    return make_error(Errc::invalid_argument,
                      "KV cache dimensions must be positive (n_layer " + std::to_string(n_layer) +
                          ", n_ctx " + std::to_string(n_ctx) + ", kv_dim " +
                          std::to_string(kv_dim) + ")",
                      "KvCache::create");
  }
  KvCache c;
  c.type_ = type;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.kv_dim_ = kv_dim;
  auto per_layer = checked_mul(static_cast<uint64_t>(n_ctx), static_cast<uint64_t>(kv_dim));
  auto elems = per_layer ? checked_mul(*per_layer, static_cast<uint64_t>(n_layer)) : std::nullopt;
  auto bytes = elems ? checked_mul(*elems, c.elem_bytes()) : std::nullopt;
  if (!bytes || *bytes > (uint64_t{1} << 46)) {
    return make_error(Errc::out_of_range, "KV cache size overflows", "n_ctx",
                      "use a smaller context (--ctx-size)");
  }
  EF_ASSIGN_OR_RETURN(c.k_, Buffer::allocate(static_cast<size_t>(*bytes)));
  EF_ASSIGN_OR_RETURN(c.v_, Buffer::allocate(static_cast<size_t>(*bytes)));
  return c;
}

void KvCache::store(int64_t il, int64_t pos, const float* k, const float* v) {
  char* kd = k_base(il) + static_cast<size_t>(pos * kv_dim_) * elem_bytes();
  char* vd = v_base(il);
  if (type_ == KvType::f32) {
    std::memcpy(kd, k, static_cast<size_t>(kv_dim_) * sizeof(float));
    float* vf = reinterpret_cast<float*>(vd);
    for (int64_t d = 0; d < kv_dim_; ++d) vf[d * n_ctx_ + pos] = v[d];
  } else {
    uint16_t* kh = reinterpret_cast<uint16_t*>(kd);
    for (int64_t d = 0; d < kv_dim_; ++d) kh[d] = fp32_to_fp16(k[d]);
    uint16_t* vh = reinterpret_cast<uint16_t*>(vd);
    for (int64_t d = 0; d < kv_dim_; ++d) vh[d * n_ctx_ + pos] = fp32_to_fp16(v[d]);
  }
}

void KvCache::clear() {
  if (k_.data()) std::memset(k_.data(), 0, k_.size_bytes());
  if (v_.data()) std::memset(v_.data(), 0, v_.size_bytes());
}

}  // namespace ef
