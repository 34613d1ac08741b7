// KV cache storage (see kv_cache.h for the layout).
#include "runtime/kv_cache.h"

#include <cstring>
#include <string>

#include "core/checked.h"
#include "core/fp16.h"

namespace ef {

Result<KvCache> KvCache::create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type,
                                bool v_transposed, const std::vector<int64_t>& ring_cap) {
  if (n_layer <= 0 || n_ctx <= 0 || kv_dim <= 0) {
    return make_error(Errc::invalid_argument,
                      "KV cache dimensions must be positive (n_layer " + std::to_string(n_layer) +
                          ", n_ctx " + std::to_string(n_ctx) + ", kv_dim " +
                          std::to_string(kv_dim) + ")",
                      "KvCache::create");
  }
  if (!ring_cap.empty() && static_cast<int64_t>(ring_cap.size()) != n_layer) {
    return make_error(Errc::invalid_argument, "ring capacities must have one entry per layer",
                      "KvCache::create");
  }
  KvCache c;
  c.type_ = type;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.kv_dim_ = kv_dim;
  c.v_trans_ = v_transposed;
  uint64_t total = 0;
  for (int64_t il = 0; il < n_layer; ++il) {
    int64_t ring = ring_cap.empty() ? 0 : ring_cap[static_cast<size_t>(il)];
    if (ring < 0 || (ring > 0 && v_transposed)) {
      return make_error(Errc::invalid_argument,
                        "bad ring capacity " + std::to_string(ring) + " for layer " +
                            std::to_string(il),
                        "KvCache::create", "ring layers need the flash (row-major V) layout");
    }
    if (ring >= n_ctx) ring = 0;  // a window as large as the context is linear
    const int64_t cap = ring > 0 ? ring : n_ctx;
    c.cap_.push_back(cap);
    c.ring_.push_back(ring);
    c.offset_.push_back(static_cast<size_t>(total));
    auto elems = checked_mul(static_cast<uint64_t>(cap), static_cast<uint64_t>(kv_dim));
    auto bytes = elems ? checked_mul(*elems, c.elem_bytes()) : std::nullopt;
    auto sum = bytes ? checked_add(total, *bytes) : std::nullopt;
    if (!sum || *sum > (uint64_t{1} << 46)) {
      return make_error(Errc::out_of_range, "KV cache size overflows", "n_ctx",
                        "use a smaller context (--ctx-size)");
    }
    total = *sum;
  }
  EF_ASSIGN_OR_RETURN(c.k_, Buffer::allocate(static_cast<size_t>(total)));
  EF_ASSIGN_OR_RETURN(c.v_, Buffer::allocate(static_cast<size_t>(total)));
  return c;
}

void KvCache::store(int64_t il, int64_t pos, const float* k, const float* v) {
  const int64_t s = slot(il, pos);
  const int64_t cap = capacity(il);
  char* kd = k_base(il) + static_cast<size_t>(s * kv_dim_) * elem_bytes();
  char* vd = v_base(il);
  if (type_ == KvType::f32) {
    std::memcpy(kd, k, static_cast<size_t>(kv_dim_) * sizeof(float));
    float* vf = reinterpret_cast<float*>(vd);
    if (!v_trans_) {
      std::memcpy(vf + s * kv_dim_, v, static_cast<size_t>(kv_dim_) * sizeof(float));
      return;
    }
    for (int64_t d = 0; d < kv_dim_; ++d) vf[d * cap + s] = v[d];
  } else {
    uint16_t* kh = reinterpret_cast<uint16_t*>(kd);
    for (int64_t d = 0; d < kv_dim_; ++d) kh[d] = fp32_to_fp16(k[d]);
    uint16_t* vh = reinterpret_cast<uint16_t*>(vd);
    if (!v_trans_) {
      for (int64_t d = 0; d < kv_dim_; ++d) vh[s * kv_dim_ + d] = fp32_to_fp16(v[d]);
      return;
    }
    for (int64_t d = 0; d < kv_dim_; ++d) vh[d * cap + s] = fp32_to_fp16(v[d]);
  }
}

void KvCache::clear() {
  if (k_.data()) std::memset(k_.data(), 0, k_.size_bytes());
  if (v_.data()) std::memset(v_.data(), 0, v_.size_bytes());
}

}  // namespace ef
