// deepseek2 keys -> ModelConfig, and their validation (see deepseek2_config.h).
#include "model/deepseek2_config.h"

#include <cmath>
#include <string>

#include "io/gguf.h"

namespace ef {
namespace {

constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxCtx = int64_t{1} << 24;
constexpr int64_t kMaxEmbd = 65536;
constexpr int64_t kMaxLayer = 1024;
constexpr int64_t kMaxFf = int64_t{1} << 20;
constexpr int64_t kMaxHead = 4096;

Status check_range(const std::string& key, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return make_error(Errc::out_of_range,
                      key + " = " + std::to_string(value) + " is outside [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "]",
                      key, "the file's hyper-parameters are corrupt or not a deepseek2 model");
  }
  return Status::success();
}

std::string key(const char* suffix) { return std::string("deepseek2.") + suffix; }

Error unsupported(const std::string& what, const std::string& where, const std::string& hint) {
  return make_error(Errc::unsupported, what, where, hint);
}

}  // namespace

Status validate_deepseek2_config(const ModelConfig& c) {
  EF_TRY(check_range("tokenizer.ggml.tokens (n_vocab)", c.n_vocab, 1, kMaxVocab));
  EF_TRY(check_range(key("context_length"), c.n_ctx_train, 1, kMaxCtx));
  EF_TRY(check_range(key("embedding_length"), c.n_embd, 1, kMaxEmbd));
  EF_TRY(check_range(key("block_count"), c.n_layer, 1, kMaxLayer));
  EF_TRY(check_range(key("feed_forward_length"), c.n_ff, 1, kMaxFf));
  EF_TRY(check_range(key("attention.head_count"), c.n_head, 1, kMaxHead));
  EF_TRY(check_range(key("attention.kv_lora_rank"), c.kv_lora_rank, 1, kMaxEmbd));
  EF_TRY(check_range(key("attention.q_lora_rank"), c.q_lora_rank, 0, kMaxEmbd));
  EF_TRY(check_range(key("rope.dimension_count"), c.n_rot, 2, kMaxEmbd));
  EF_TRY(check_range(key("attention.key_length_mla (head_dim)"), c.head_dim, 1, kMaxEmbd));
  EF_TRY(check_range(key("attention.value_length_mla"), c.head_dim_v, 1, kMaxEmbd));
  EF_TRY(check_range(key("leading_dense_block_count"), c.n_layer_dense_lead, 0, c.n_layer));
  if (c.n_rot % 2 != 0 || c.n_rot >= c.head_dim) {
    return make_error(Errc::format,
                      key("rope.dimension_count") + " = " + std::to_string(c.n_rot) +
                          " must be even and below the key head size " +
                          std::to_string(c.head_dim) + " (nope dims must be >= 1)",
                      key("rope.dimension_count"));
  }
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f)) {
    return make_error(Errc::out_of_range,
                      key("attention.layer_norm_rms_epsilon") + " = " + std::to_string(c.rms_eps) +
                          " is outside (0, 1)",
                      key("attention.layer_norm_rms_epsilon"));
  }
  if (!(c.rope_freq_base > 0.0f) || !std::isfinite(c.rope_freq_base)) {
    return make_error(Errc::out_of_range,
                      key("rope.freq_base") + " = " + std::to_string(c.rope_freq_base) +
                          " must be a positive finite number",
                      key("rope.freq_base"));
  }
  if (c.n_layer_dense_lead != c.n_layer) {
    return unsupported("mixture-of-experts not supported yet: layers " +
                           std::to_string(c.n_layer_dense_lead) + ".." +
                           std::to_string(c.n_layer - 1) + " are MoE layers",
                       key("leading_dense_block_count"),
                       "only deepseek2 files whose every block has a dense FFN can run");
  }
  return Status::success();
}

float deepseek2_kq_scale(const ModelConfig& c) {
  return 1.0f / std::sqrt(static_cast<float>(c.head_dim));
}

Result<ModelConfig> deepseek2_config_from_gguf(const gguf::File& file) {
  ModelConfig c;
  c.architecture = "deepseek2";
  EF_ASSIGN_OR_RETURN(c.n_ctx_train, file.get_int(key("context_length")));
  EF_ASSIGN_OR_RETURN(c.n_embd, file.get_int(key("embedding_length")));
  EF_ASSIGN_OR_RETURN(c.n_layer, file.get_int(key("block_count")));
  EF_ASSIGN_OR_RETURN(c.n_ff, file.get_int(key("feed_forward_length")));
  EF_ASSIGN_OR_RETURN(c.n_head, file.get_int(key("attention.head_count")));
  // MLA files say head_count_kv = 1 (the absorbed MQA view); the model itself
  // has one latent per token shared by all heads, so the key is not used.
  c.n_head_kv = c.n_head;
  EF_ASSIGN_OR_RETURN(c.rms_eps, file.get_f32(key("attention.layer_norm_rms_epsilon")));
  EF_ASSIGN_OR_RETURN(c.rope_freq_base, file.get_f32_or(key("rope.freq_base"), 10000.0f));
  EF_ASSIGN_OR_RETURN(c.kv_lora_rank, file.get_int(key("attention.kv_lora_rank")));
  EF_ASSIGN_OR_RETURN(c.q_lora_rank, file.get_int_or(key("attention.q_lora_rank"), 0));
  EF_ASSIGN_OR_RETURN(c.n_rot, file.get_int(key("rope.dimension_count")));
  EF_ASSIGN_OR_RETURN(c.n_layer_dense_lead,
                      file.get_int_or(key("leading_dense_block_count"), 0));

  // Head sizes: the *_mla keys (MLA layout) or key/value_length (legacy).
  const bool has_k_mla = file.has(key("attention.key_length_mla"));
  const bool has_v_mla = file.has(key("attention.value_length_mla"));
  if (has_k_mla != has_v_mla) {
    return make_error(Errc::format, "only one of attention.key_length_mla / value_length_mla is set",
                      file.path(), "both or neither must be present");
  }
  c.mla_legacy_kv_b = !has_k_mla;
  EF_ASSIGN_OR_RETURN(int64_t key_length, file.get_int_or(key("attention.key_length"), 0));
  EF_ASSIGN_OR_RETURN(int64_t value_length, file.get_int_or(key("attention.value_length"), 0));
  if (has_k_mla) {
    EF_ASSIGN_OR_RETURN(c.head_dim, file.get_int(key("attention.key_length_mla")));
    EF_ASSIGN_OR_RETURN(c.head_dim_v, file.get_int(key("attention.value_length_mla")));
    if ((key_length != 0 && key_length != c.kv_lora_rank + c.n_rot) ||
        (value_length != 0 && value_length != c.kv_lora_rank)) {
      return make_error(Errc::format,
                        "attention.key_length / value_length (" + std::to_string(key_length) +
                            " / " + std::to_string(value_length) +
                            ") do not equal kv_lora_rank + rope dims / kv_lora_rank (" +
                            std::to_string(c.kv_lora_rank + c.n_rot) + " / " +
                            std::to_string(c.kv_lora_rank) + ")",
                        key("attention.key_length"), "inconsistent MLA hyper-parameters");
    }
  } else {
    if (key_length == 0 || value_length == 0) {
      return make_error(Errc::format,
                        "neither attention.key_length_mla nor attention.key_length/value_length "
                        "is set",
                        key("attention.key_length"), "the head sizes of the model are unknown");
    }
    c.head_dim = key_length;
    c.head_dim_v = value_length;
  }

  // Mixture of experts: a clear refusal instead of a missing-tensor error.
  EF_ASSIGN_OR_RETURN(int64_t n_expert, file.get_int_or(key("expert_count"), 0));
  bool has_expert_tensors = false;
  for (const auto& t : file.tensors()) {
    if (t.name.find("_exps.") != std::string::npos || t.name.find("ffn_gate_inp") != std::string::npos) {
      has_expert_tensors = true;
    }
  }
  if (has_expert_tensors || (n_expert > 0 && c.n_layer_dense_lead < c.n_layer)) {
    return unsupported("mixture-of-experts not supported yet (" + std::to_string(n_expert) +
                           " experts, " + std::to_string(c.n_layer_dense_lead) + " of " +
                           std::to_string(c.n_layer) + " blocks dense)",
                       file.path(), "only deepseek2 models with dense FFN blocks can run");
  }
  // No experts: every block is dense (leading_dense_block_count may be 0 or
  // absent in such files).
  if (n_expert == 0) c.n_layer_dense_lead = c.n_layer;

  // RoPE scaling: only none (YaRN's frequency ramps and mscale are not
  // implemented).
  if (const gguf::KeyValue* kv = file.find(key("rope.scaling.type"))) {
    (void)kv;
    EF_ASSIGN_OR_RETURN(std::string type, file.get_string(key("rope.scaling.type")));
    EF_ASSIGN_OR_RETURN(float factor, file.get_f32_or(key("rope.scaling.factor"), 1.0f));
    if (type != "none" && factor != 1.0f) {
      return unsupported("RoPE scaling '" + type + "' (factor " + std::to_string(factor) +
                             ") is not supported yet",
                         key("rope.scaling.type"), "only unscaled RoPE is implemented");
    }
  }

  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) {
    return make_error(Errc::format, "tensor 'token_embd.weight' is missing", file.path(),
                      "not a complete deepseek2 model file");
  }
  c.n_vocab = embd->ne[1];
  if (const gguf::KeyValue* tokens = file.find("tokenizer.ggml.tokens")) {
    if (tokens->value.type != gguf::ValueType::array ||
        static_cast<int64_t>(tokens->value.array_count) != c.n_vocab) {
      return make_error(Errc::format,
                        "token_embd.weight has " + std::to_string(c.n_vocab) +
                            " rows but tokenizer.ggml.tokens has a different count",
                        "tokenizer.ggml.tokens", "the vocabulary and the model do not belong together");
    }
  }
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  EF_TRY(c.validate());
  return c;
}

}  // namespace ef
