// Hashes and small helpers of the session file format (see session_file.h).
#include "runtime/session_file.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "edgeformer/model.h"
#include "io/gguf.h"

namespace ef {

namespace {
constexpr uint64_t kP1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kP2 = 0xBF58476D1CE4E5B9ull;
constexpr uint64_t kP3 = 0x94D049BB133111EBull;

uint64_t load_le64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;  // the engine only targets little-endian CPUs (x86, ARM64)
}
}  // namespace

void Hash64::mix(uint64_t word) {
  h_ ^= word * kP1;
  h_ = std::rotl(h_, 29) * kP2;
}

void Hash64::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (n_carry_ > 0) {
    const size_t take = std::min(n, 8 - n_carry_);
    std::memcpy(carry_ + n_carry_, p, take);
    n_carry_ += take;
    p += take;
    n -= take;
    if (n_carry_ < 8) return;
    mix(load_le64(carry_));
    n_carry_ = 0;
  }
  for (; n >= 8; n -= 8, p += 8) mix(load_le64(p));
  std::memcpy(carry_, p, n);
  n_carry_ = n;
}

uint64_t Hash64::digest() const {
  uint64_t h = h_;
  if (n_carry_ > 0) {
    uint8_t last[8] = {};
    std::memcpy(last, carry_, n_carry_);
    h ^= load_le64(last) * kP1;
    h = std::rotl(h, 29) * kP2;
  }
  h ^= total_;
  h ^= h >> 31;
  h *= kP3;
  h ^= h >> 29;
  return h;
}

uint64_t session_config_hash(const ModelConfig& c) {
  Hash64 h;
  auto add_i = [&h](int64_t v) { h.update(&v, sizeof v); };
  auto add_f = [&h](float v) { h.update(&v, sizeof v); };
  h.update(c.architecture.data(), c.architecture.size());
  for (int64_t v :
       {c.n_vocab, c.n_embd, c.n_layer, c.n_ff, c.n_head, c.n_head_kv, c.head_dim, c.n_rot, c.n_swa,
        c.swa_pattern, c.q_lora_rank, c.kv_lora_rank, c.head_dim_v, c.n_layer_dense_lead}) {
    add_i(v);
  }
  add_f(c.rms_eps);
  add_f(c.rope_freq_base);
  add_i(c.tied_output ? 1 : 0);
  return h.digest();
}

uint64_t session_weights_hash(const Model& model) {
  Hash64 h;
  for (const gguf::TensorInfo& t : model.file().tensors()) {
    h.update(t.name.data(), t.name.size());
    h.update(&t.ggml_type, sizeof t.ggml_type);
    h.update(t.ne, sizeof t.ne);
    h.update(&t.size_bytes, sizeof t.size_bytes);
    if (t.data != nullptr && t.size_bytes > 0) {
      const auto* d = static_cast<const uint8_t*>(t.data);
      const size_t n = static_cast<size_t>(std::min<uint64_t>(32, t.size_bytes));
      h.update(d, n);
      h.update(d + t.size_bytes - n, n);
    }
  }
  return h.digest();
}

int64_t session_live_rows(const ModelConfig& c, int64_t il, int64_t n_past) {
  if (c.is_swa(il)) return std::min(n_past, std::max<int64_t>(0, c.n_swa - 1));
  return n_past;
}

std::string session_where(const std::string& field, uint64_t offset, const std::string& path) {
  std::string w = field + ", offset " + std::to_string(offset);
  if (!path.empty()) w += " in " + path;
  return w;
}

}  // namespace ef
