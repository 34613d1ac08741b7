// TrainModel weights: seeded initialisation, loading from and saving to a
// llama GGUF.
#include <cmath>
#include <cstring>
#include <random>
#include <span>

#include "io/gguf.h"
#include "kernels/kernels.h"
#include "train/train_model.h"

namespace ef::train {

// Architecture keys of save_gguf (defined at the end of this file).
void set_llama_keys(gguf::Writer& w, const ModelConfig& c);
void set_deepseek2_keys(gguf::Writer& w, const ModelConfig& c);

namespace {

// Standard normals via Box-Muller on mt19937_64 (std::normal_distribution's
// algorithm differs between standard libraries; this does not).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(6.283185307179586 * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(6.283185307179586 * u2));
  }

 private:
  std::mt19937_64 rng_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

void TrainModel::init_random(uint64_t seed) {
  Gaussian g(seed);
  const float std_resid = 0.02f / std::sqrt(2.0f * static_cast<float>(c_.n_layer));
  for (const ParamInfo& p : layout_) {
    float* w = params() + p.offset;
    if (p.is_norm) {
      for (int64_t i = 0; i < p.count; ++i) w[i] = 1.0f;
      continue;
    }
    const bool resid = ends_with(p.name, "attn_output.weight") || ends_with(p.name, "ffn_down.weight");
    const float stddev = resid ? std_resid : 0.02f;
    for (int64_t i = 0; i < p.count; ++i) w[i] = g.next() * stddev;
  }
}

Status TrainModel::load_gguf(const gguf::File& file) {
  for (const ParamInfo& p : layout_) {
    const gguf::TensorInfo* t = file.find_tensor(p.name);
    if (t == nullptr) {
      return make_error(Errc::format, "tensor '" + p.name + "' is missing", file.path(),
                        "the model's shape does not match the training configuration");
    }
    bool same = t->n_dims == static_cast<int>(p.ne.size());
    for (size_t d = 0; same && d < p.ne.size(); ++d) same = t->ne[d] == p.ne[d];
    if (!same) {
      return make_error(Errc::format, "tensor '" + p.name + "' has a different shape", file.path(),
                        "the model's shape does not match the training configuration");
    }
    const int64_t row = p.ne[0];
    const kernels::ToFloatFn to_float = kernels::active().for_type(t->type).to_float;
    const Tensor view = t->view();
    for (int64_t r = 0; r < p.count / row; ++r) {
      to_float(view.row<const uint8_t>(r), params() + p.offset + r * row, row);
    }
  }
  return Status::success();
}

Status TrainModel::save_gguf(const std::string& path, const gguf::File& vocab,
                             int64_t train_step) const {
  gguf::Writer w;
  w.copy_metadata(vocab, [](std::string_view key) { return key.substr(0, 10) != "tokenizer."; });
  const ModelConfig& c = c_;
  if (c.architecture == "deepseek2") {
    set_deepseek2_keys(w, c);
  } else {
    set_llama_keys(w, c);
  }
  w.set_u64("edgeformer.train.step", static_cast<uint64_t>(train_step));
  for (const ParamInfo& p : layout_) {
    // Views: the params Buffer outlives write().
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(params() + p.offset),
                                         static_cast<size_t>(p.count) * sizeof(float));
    EF_TRY(w.add_tensor_view(p.name, DType::F32, p.ne, bytes));
  }
  return w.write(path);
}

void set_llama_keys(gguf::Writer& w, const ModelConfig& c) {
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "edgeformer-trained");
  w.set_u32("general.file_type", 0);  // all F32
  w.set_u32("llama.context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.n_rot));
  w.set_f32("llama.rope.freq_base", c.rope_freq_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(c.n_vocab));
  if (c.n_swa > 0) {
    // Read back by ModelConfig::from_gguf; the engine then keeps a ring cache
    // of the window on the windowed layers.
    w.set_u32("llama.attention.sliding_window", static_cast<uint32_t>(c.n_swa));
    w.set_u32("llama.attention.sliding_window_pattern", static_cast<uint32_t>(c.swa_pattern));
  }
}

// llama.cpp's MLA layout keys (as src/model/tiny_deepseek2.cpp writes them):
// key/value_length describe the absorbed single-KV-head view, the *_mla keys
// the per-head sizes; every block has a dense FFN.
void set_deepseek2_keys(gguf::Writer& w, const ModelConfig& c) {
  const std::string a = "deepseek2.";
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.set_string("general.architecture", "deepseek2");
  w.set_string("general.name", "edgeformer-trained");
  w.set_u32("general.file_type", 0);  // all F32
  w.set_u32(a + "context_length", u32(c.n_ctx_train));
  w.set_u32(a + "embedding_length", u32(c.n_embd));
  w.set_u32(a + "block_count", u32(c.n_layer));
  w.set_u32(a + "feed_forward_length", u32(c.n_ff));
  w.set_u32(a + "attention.head_count", u32(c.n_head));
  w.set_u32(a + "attention.head_count_kv", 1);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_f32(a + "rope.freq_base", c.rope_freq_base);
  w.set_u32(a + "rope.dimension_count", u32(c.n_rot));
  w.set_u32(a + "attention.q_lora_rank", u32(c.q_lora_rank));
  w.set_u32(a + "attention.kv_lora_rank", u32(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length", u32(c.kv_lora_rank + c.n_rot));
  w.set_u32(a + "attention.value_length", u32(c.kv_lora_rank));
  w.set_u32(a + "attention.key_length_mla", u32(c.head_dim));
  w.set_u32(a + "attention.value_length_mla", u32(c.head_dim_v));
  w.set_u32(a + "leading_dense_block_count", u32(c.n_layer));
  w.set_u32(a + "expert_feed_forward_length", u32(c.n_ff));
  w.set_u32(a + "expert_shared_count", 0);
  w.set_u32(a + "vocab_size", u32(c.n_vocab));
}

}  // namespace ef::train
