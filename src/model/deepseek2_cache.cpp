// MLA latent cache storage (see deepseek2_cache.h).
#include "model/deepseek2_cache.h"

#include <cstring>
#include <string>

#include "core/checked.h"
#include "core/fp16.h"

namespace ef {

Result<MlaCache> MlaCache::create(int64_t n_layer, int64_t n_ctx, int64_t kv_lora_rank,
                                  int64_t n_rope, KvType type) {
  if (n_layer <= 0 || n_ctx <= 0 || kv_lora_rank <= 0 || n_rope < 0) {
    return make_error(Errc::invalid_argument, "MLA cache dimensions must be positive",
                      "MlaCache::create");
  }
  if (type != KvType::f32 && type != KvType::f16) {
    return make_error(Errc::unsupported, "the MLA cache supports only f32 and f16",
                      "MlaCache::create", "use --cache-type f16 or f32 for deepseek2 models");
  }
  MlaCache c;
  c.type_ = type;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.rank_ = kv_lora_rank;
  c.n_rope_ = n_rope;
  auto elems = checked_mul(static_cast<uint64_t>(n_ctx), static_cast<uint64_t>(c.row_elems()));
  elems = elems ? checked_mul(*elems, static_cast<uint64_t>(n_layer)) : std::nullopt;
  auto bytes = elems ? checked_mul(*elems, c.elem_bytes()) : std::nullopt;
  if (!bytes || *bytes > (uint64_t{1} << 46)) {
    return make_error(Errc::out_of_range, "MLA cache size overflows", "n_ctx",
                      "use a smaller context (--ctx-size)");
  }
  EF_ASSIGN_OR_RETURN(c.data_, Buffer::allocate(static_cast<size_t>(*bytes)));
  return c;
}

char* MlaCache::row_ptr(int64_t il, int64_t pos) const {
  return data_.as<char>() + static_cast<size_t>((il * n_ctx_ + pos) * row_elems()) * elem_bytes();
}

const void* MlaCache::row(int64_t il, int64_t pos) const { return row_ptr(il, pos); }

void MlaCache::store(int64_t il, int64_t pos, const float* latent, const float* k_pe) {
  char* dst = row_ptr(il, pos);
  if (type_ == KvType::f32) {
    float* f = reinterpret_cast<float*>(dst);
    std::memcpy(f, latent, static_cast<size_t>(rank_) * sizeof(float));
    std::memcpy(f + rank_, k_pe, static_cast<size_t>(n_rope_) * sizeof(float));
  } else {
    uint16_t* h = reinterpret_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < rank_; ++i) h[i] = fp32_to_fp16(latent[i]);
    for (int64_t i = 0; i < n_rope_; ++i) h[rank_ + i] = fp32_to_fp16(k_pe[i]);
  }
}

void MlaCache::load_f32(int64_t il, int64_t pos, float* out) const {
  const char* src = row_ptr(il, pos);
  if (type_ == KvType::f32) {
    std::memcpy(out, src, static_cast<size_t>(row_elems()) * sizeof(float));
  } else {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < row_elems(); ++i) out[i] = fp16_to_fp32(h[i]);
  }
}

void MlaCache::clear() {
  if (data_.data()) std::memset(data_.data(), 0, data_.size_bytes());
}

}  // namespace ef
