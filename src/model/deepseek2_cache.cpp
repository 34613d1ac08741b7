// MLA latent cache storage (see deepseek2_cache.h).
#include "model/deepseek2_cache.h"

#include <cstring>
#include <string>

#include "kernels/kernels.h"

namespace ef {

Result<MlaCache> MlaCache::create(int64_t n_layer, int64_t n_ctx, int64_t kv_lora_rank,
                                  int64_t n_rope, KvType type,
                                  const std::vector<int64_t>& ring_cap) {
  if (n_layer <= 0 || n_ctx <= 0 || kv_lora_rank <= 0 || n_rope < 0) {
    return make_error(Errc::invalid_argument, "MLA cache dimensions must be positive",
                      "MlaCache::create");
  }
  if (kv_row_bytes(type, kv_lora_rank + n_rope) == 0 || kv_row_bytes(type, kv_lora_rank) == 0) {
    return make_error(Errc::invalid_argument,
                      std::string("MLA cache type ") + kv_type_name(type) +
                          " stores blocks of 32 elements, but kv_lora_rank (" +
                          std::to_string(kv_lora_rank) + ") and kv_lora_rank + rope dims (" +
                          std::to_string(kv_lora_rank + n_rope) + ") are not multiples of 32",
                      "MlaCache::create", "use --cache-type f16, bf16 or f32 for this model");
  }
  MlaCache c;
  c.rank_ = kv_lora_rank;
  c.n_rope_ = n_rope;
  EF_ASSIGN_OR_RETURN(c.kv_, KvCache::create_keys_only(n_layer, n_ctx, kv_lora_rank + n_rope,
                                                       type, ring_cap));
  return c;
}

void MlaCache::store(int64_t il, int64_t pos, const float* latent, const float* k_pe) {
  if (k_pe == latent + rank_) {  // the forward pass keeps them adjacent: [r | rope]
    kv_.store(il, pos, latent, nullptr);
    return;
  }
  std::vector<float> row(static_cast<size_t>(row_elems()));
  std::memcpy(row.data(), latent, static_cast<size_t>(rank_) * sizeof(float));
  std::memcpy(row.data() + rank_, k_pe, static_cast<size_t>(n_rope_) * sizeof(float));
  kv_.store(il, pos, row.data(), nullptr);
}

void MlaCache::load_f32(int64_t il, int64_t pos, float* out) const {
  kernels::active().for_type(kv_dtype(type())).to_float(row(il, pos), out, row_elems());
}

}  // namespace ef
