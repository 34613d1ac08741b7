// KV cache storage (see kv_cache.h for the layout).
#include "runtime/kv_cache.h"

#include <cctype>
#include <cstring>
#include <string>

#include "core/checked.h"
#include "core/fp16.h"
#include "kernels/kernels.h"

namespace ef {

namespace {
constexpr KvType kAllKvTypes[] = {KvType::f32, KvType::f16, KvType::bf16, KvType::q8_0,
                                  KvType::q4_0};

// float -> cache type for one row. Q8_0 uses the activation quantizer: that
// is the from_float ggml-cpu's set_rows runs when llama.cpp stores into a
// Q8_0 cache on x86 (127/amax, round half to even).
kernels::FromFloatFn store_fn(KvType t, const kernels::KernelTable& table) {
  const kernels::TypeKernels& tk = table.for_type(kv_dtype(t));
  return t == KvType::q8_0 ? tk.from_float_act : tk.from_float;
}
}  // namespace

DType kv_dtype(KvType type) {
  switch (type) {
    case KvType::f32: return DType::F32;
    case KvType::f16: return DType::F16;
    case KvType::bf16: return DType::BF16;
    case KvType::q8_0: return DType::Q8_0;
    case KvType::q4_0: return DType::Q4_0;
  }
  return DType::F32;
}

const char* kv_type_name(KvType type) { return dtype_name(kv_dtype(type)); }

std::optional<KvType> kv_type_from_name(std::string_view name) {
  for (KvType t : kAllKvTypes) {
    const std::string_view n = kv_type_name(t);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(name[i])) == n[i];
    }
    if (same) return t;
  }
  return std::nullopt;
}

const char* kv_type_names() { return "f32, f16, bf16, q8_0, q4_0"; }

uint64_t kv_row_bytes(KvType type, int64_t n) {
  if (n < 0) return 0;
  return row_size_bytes(kv_dtype(type), static_cast<uint64_t>(n)).value_or(0);
}

Status KvCache::init(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type_k,
                     KvType type_v, bool v_transposed, const std::vector<int64_t>& ring_cap,
                     bool hadamard) {
  KvCache& c = *this;
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
  for (KvType t : {type_k, type_v}) {
    if (kv_row_bytes(t, kv_dim) == 0) {
      return make_error(Errc::invalid_argument,
                        std::string("KV cache type ") + kv_type_name(t) +
                            " stores blocks of 32 elements, but the KV row has " +
                            std::to_string(kv_dim) + " (n_head_kv * head_dim)",
                        "KvCache::create", "use --cache-type f16, bf16 or f32 for this model");
    }
  }
  if (v_transposed && type_v != KvType::f32 && type_v != KvType::f16) {
    return make_error(Errc::invalid_argument,
                      std::string("a ") + kv_type_name(type_v) +
                          " V cache needs flash attention (the score-matrix path keeps V "
                          "transposed, which only f32 and f16 support)",
                      "KvCache::create",
                      "use --flash-attn on, or --cache-type-v f16 (llama.cpp has the same rule)");
  }
  c.type_k_ = type_k;
  c.type_v_ = type_v;
  c.hadamard_ = hadamard;
  c.n_layer_ = n_layer;
  c.n_ctx_ = n_ctx;
  c.kv_dim_ = kv_dim;
  c.k_row_ = static_cast<size_t>(kv_row_bytes(type_k, kv_dim));
  c.v_row_ = c.keys_only_ ? 0 : static_cast<size_t>(kv_row_bytes(type_v, kv_dim));
  c.v_trans_ = v_transposed;
  uint64_t k_total = 0, v_total = 0;
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
    c.k_off_.push_back(static_cast<size_t>(k_total));
    c.v_off_.push_back(static_cast<size_t>(v_total));
    for (auto [total, row] : {std::pair{&k_total, c.k_row_}, std::pair{&v_total, c.v_row_}}) {
      auto bytes = checked_mul(static_cast<uint64_t>(cap), static_cast<uint64_t>(row));
      auto sum = bytes ? checked_add(*total, *bytes) : std::nullopt;
      if (!sum || *sum > (uint64_t{1} << 46)) {
        return make_error(Errc::out_of_range, "KV cache size overflows", "n_ctx",
                          "use a smaller context (--ctx-size)");
      }
      *total = *sum;
    }
  }
  EF_ASSIGN_OR_RETURN(c.k_, Buffer::allocate(static_cast<size_t>(k_total)));
  EF_ASSIGN_OR_RETURN(c.v_, Buffer::allocate(static_cast<size_t>(v_total)));
  return Status::success();
}

Result<KvCache> KvCache::create_keys_only(int64_t n_layer, int64_t n_ctx, int64_t dim,
                                          KvType type, const std::vector<int64_t>& ring_cap) {
  // One allocation path: create K and V of the same shape, then drop V
  // (the V buffer of a keys-only cache is never allocated: see v_total).
  KvCache c;
  c.keys_only_ = true;
  EF_TRY(c.init(n_layer, n_ctx, dim, type, type, false, ring_cap, false));
  return c;
}

Result<KvCache> KvCache::create(int64_t n_layer, int64_t n_ctx, int64_t kv_dim, KvType type_k,
                                KvType type_v, bool v_transposed,
                                const std::vector<int64_t>& ring_cap, bool hadamard) {
  KvCache c;
  EF_TRY(c.init(n_layer, n_ctx, kv_dim, type_k, type_v, v_transposed, ring_cap, hadamard));
  return c;
}

void KvCache::store(int64_t il, int64_t pos, const float* k, const float* v) {
  const kernels::KernelTable& table = kernels::active();
  const int64_t s = slot(il, pos);
  store_fn(type_k_, table)(k, k_base(il) + static_cast<size_t>(s) * k_row_, kv_dim_);
  if (keys_only_) return;
  if (!v_trans_) {
    store_fn(type_v_, table)(v, v_base(il) + static_cast<size_t>(s) * v_row_, kv_dim_);
    return;
  }
  // Transposed V (F32 or F16): element d of position s at [d][s].
  const int64_t cap = capacity(il);
  if (type_v_ == KvType::f32) {
    float* vf = reinterpret_cast<float*>(v_base(il));
    for (int64_t d = 0; d < kv_dim_; ++d) vf[d * cap + s] = v[d];
  } else {
    uint16_t* vh = reinterpret_cast<uint16_t*>(v_base(il));
    for (int64_t d = 0; d < kv_dim_; ++d) vh[d * cap + s] = fp32_to_fp16(v[d]);
  }
}

void KvCache::clear() {
  if (k_.data()) std::memset(k_.data(), 0, k_.size_bytes());
  if (v_.data()) std::memset(v_.data(), 0, v_.size_bytes());
}

}  // namespace ef
