// ModelConfig: llama hyper-parameters from GGUF keys, and their validation.
//
// Everything here runs before any tensor or cache is allocated, so a file
// with absurd values (n_embd = 2^40, head counts that do not divide, ...)
// is rejected with an error naming the GGUF key instead of exhausting memory.
#include <cmath>
#include <string>

#include "edgeformer/model.h"
#include "io/gguf.h"
#include "model/deepseek2_config.h"

namespace ef {
namespace {

// Upper bounds far above any model we run, low enough that products of them
// (cache sizes, scratch) stay well inside 64-bit arithmetic.
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxCtx = int64_t{1} << 24;
constexpr int64_t kMaxEmbd = 65536;
constexpr int64_t kMaxLayer = 1024;
constexpr int64_t kMaxFf = int64_t{1} << 20;
constexpr int64_t kMaxHead = 4096;

Status check_range(const char* key, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    return make_error(Errc::out_of_range,
                      std::string(key) + " = " + std::to_string(value) + " is outside [1, " +
                          std::to_string(max) + "]",
                      key, "the file's hyper-parameters are corrupt or not a llama model");
  }
  return Status::success();
}

std::string arch_key(const std::string& arch, const char* suffix) { return arch + "." + suffix; }

}  // namespace

Status ModelConfig::validate() const {
  if (architecture == "deepseek2") return validate_deepseek2_config(*this);
  if (architecture != "llama") {
    return make_error(Errc::unsupported, "architecture '" + architecture + "' is not supported",
                      "general.architecture", "only 'llama' and 'deepseek2' models are supported");
  }
  EF_TRY(check_range("tokenizer.ggml.tokens (n_vocab)", n_vocab, kMaxVocab));
  EF_TRY(check_range("llama.context_length", n_ctx_train, kMaxCtx));
  EF_TRY(check_range("llama.embedding_length", n_embd, kMaxEmbd));
  EF_TRY(check_range("llama.block_count", n_layer, kMaxLayer));
  EF_TRY(check_range("llama.feed_forward_length", n_ff, kMaxFf));
  EF_TRY(check_range("llama.attention.head_count", n_head, kMaxHead));
  EF_TRY(check_range("llama.attention.head_count_kv", n_head_kv, kMaxHead));
  EF_TRY(check_range("llama.attention.key_length (head_dim)", head_dim, kMaxEmbd));
  if (n_embd % n_head != 0) {
    return make_error(Errc::format,
                      "llama.embedding_length (" + std::to_string(n_embd) +
                          ") is not a multiple of llama.attention.head_count (" +
                          std::to_string(n_head) + ")",
                      "llama.attention.head_count");
  }
  if (head_dim != n_embd / n_head) {
    return make_error(Errc::unsupported,
                      "head_dim " + std::to_string(head_dim) + " != embedding_length / head_count (" +
                          std::to_string(n_embd / n_head) + ")",
                      "llama.attention.key_length",
                      "models with a custom attention key/value length are not supported yet");
  }
  if (n_head % n_head_kv != 0) {
    return make_error(Errc::format,
                      "llama.attention.head_count (" + std::to_string(n_head) +
                          ") is not a multiple of llama.attention.head_count_kv (" +
                          std::to_string(n_head_kv) + ")",
                      "llama.attention.head_count_kv");
  }
  if (n_rot <= 0 || n_rot % 2 != 0 || n_rot > head_dim) {
    return make_error(Errc::format,
                      "llama.rope.dimension_count = " + std::to_string(n_rot) +
                          " must be even and in [2, head_dim = " + std::to_string(head_dim) + "]",
                      "llama.rope.dimension_count");
  }
  if (!(rms_eps > 0.0f && rms_eps < 1.0f)) {
    return make_error(Errc::out_of_range,
                      "llama.attention.layer_norm_rms_epsilon = " + std::to_string(rms_eps) +
                          " is outside (0, 1)",
                      "llama.attention.layer_norm_rms_epsilon");
  }
  if (!(rope_freq_base > 0.0f) || !std::isfinite(rope_freq_base)) {
    return make_error(Errc::out_of_range,
                      "llama.rope.freq_base = " + std::to_string(rope_freq_base) +
                          " must be a positive finite number",
                      "llama.rope.freq_base");
  }
  return Status::success();
}

Result<ModelConfig> ModelConfig::from_gguf(const gguf::File& file) {
  ModelConfig c;
  EF_ASSIGN_OR_RETURN(c.architecture, file.get_string("general.architecture"));
  if (c.architecture == "deepseek2") return deepseek2_config_from_gguf(file);
  if (c.architecture != "llama") {
    return make_error(Errc::unsupported,
                      "architecture '" + c.architecture + "' is not supported",
                      "general.architecture in " + file.path(),
                      "only 'llama' (Llama, SmolLM, TinyLlama, ...) and 'deepseek2' (MLA) models are supported");
  }
  const std::string& a = c.architecture;
  EF_ASSIGN_OR_RETURN(c.n_ctx_train, file.get_int(arch_key(a, "context_length")));
  EF_ASSIGN_OR_RETURN(c.n_embd, file.get_int(arch_key(a, "embedding_length")));
  EF_ASSIGN_OR_RETURN(c.n_layer, file.get_int(arch_key(a, "block_count")));
  EF_ASSIGN_OR_RETURN(c.n_ff, file.get_int(arch_key(a, "feed_forward_length")));
  EF_ASSIGN_OR_RETURN(c.n_head, file.get_int(arch_key(a, "attention.head_count")));
  EF_ASSIGN_OR_RETURN(c.n_head_kv, file.get_int_or(arch_key(a, "attention.head_count_kv"),
                                                   c.n_head));
  EF_ASSIGN_OR_RETURN(c.rms_eps, file.get_f32(arch_key(a, "attention.layer_norm_rms_epsilon")));
  EF_ASSIGN_OR_RETURN(c.rope_freq_base, file.get_f32_or(arch_key(a, "rope.freq_base"), 10000.0f));

  // head_dim needs a valid head count; check the two inputs first so the
  // division below is safe and the error names the right key.
  EF_TRY(check_range("llama.embedding_length", c.n_embd, kMaxEmbd));
  EF_TRY(check_range("llama.attention.head_count", c.n_head, kMaxHead));
  c.head_dim = c.n_embd / c.n_head;
  // key_length / value_length, when present, must equal n_embd / n_head.
  for (const char* key : {"attention.key_length", "attention.value_length"}) {
    EF_ASSIGN_OR_RETURN(int64_t len, file.get_int_or(arch_key(a, key), c.head_dim));
    if (len != c.head_dim) {
      return make_error(Errc::unsupported,
                        arch_key(a, key) + " = " + std::to_string(len) +
                            " differs from embedding_length / head_count = " +
                            std::to_string(c.head_dim),
                        arch_key(a, key),
                        "models with a custom attention key/value length are not supported yet");
    }
  }
  EF_ASSIGN_OR_RETURN(c.n_rot, file.get_int_or(arch_key(a, "rope.dimension_count"), c.head_dim));
  EF_ASSIGN_OR_RETURN(c.n_swa, file.get_int_or(arch_key(a, "attention.sliding_window"), 0));
  EF_ASSIGN_OR_RETURN(c.swa_pattern,
                      file.get_int_or(arch_key(a, "attention.sliding_window_pattern"), 0));
  if (c.n_swa < 0 || c.n_swa > (int64_t{1} << 30) || c.swa_pattern < 0 ||
      c.swa_pattern > (int64_t{1} << 20)) {
    return make_error(Errc::format,
                      "sliding window " + std::to_string(c.n_swa) + " / pattern " +
                          std::to_string(c.swa_pattern) + " out of range",
                      arch_key(a, "attention.sliding_window"),
                      "window must be in [0, 2^30], pattern in [0, 2^20]");
  }

  // Variants of the llama architecture we do not implement yet: refuse them
  // rather than compute something else silently.
  EF_ASSIGN_OR_RETURN(int64_t n_expert, file.get_int_or(arch_key(a, "expert_count"), 0));
  if (n_expert > 0) {
    return make_error(Errc::unsupported,
                      "mixture-of-experts llama models (" + std::to_string(n_expert) +
                          " experts) are not supported",
                      arch_key(a, "expert_count"));
  }
  if (file.has(arch_key(a, "rope.scaling.type"))) {
    EF_ASSIGN_OR_RETURN(std::string scaling, file.get_string(arch_key(a, "rope.scaling.type")));
    if (scaling != "none") {
      return make_error(Errc::unsupported, "RoPE scaling '" + scaling + "' is not supported",
                        arch_key(a, "rope.scaling.type"));
    }
  }
  EF_ASSIGN_OR_RETURN(float rope_factor, file.get_f32_or(arch_key(a, "rope.scaling.factor"), 1.0f));
  if (rope_factor != 0.0f && rope_factor != 1.0f) {
    return make_error(Errc::unsupported,
                      "RoPE scaling factor " + std::to_string(rope_factor) + " is not supported",
                      arch_key(a, "rope.scaling.factor"));
  }
  if (file.find_tensor("rope_freqs.weight") != nullptr) {
    return make_error(Errc::unsupported,
                      "per-dimension RoPE frequency factors (rope_freqs.weight, Llama 3.1 style) "
                      "are not supported",
                      file.path());
  }

  // The vocabulary size is the embedding matrix's row count.
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) {
    return make_error(Errc::format, "tensor 'token_embd.weight' is missing", file.path(),
                      "not a complete llama model file");
  }
  c.n_vocab = embd->ne[1];
  if (const gguf::KeyValue* tokens = file.find("tokenizer.ggml.tokens")) {
    if (tokens->value.type != gguf::ValueType::array ||
        static_cast<int64_t>(tokens->value.array_count) != c.n_vocab) {
      return make_error(Errc::format,
                        "token_embd.weight has " + std::to_string(c.n_vocab) +
                            " rows but tokenizer.ggml.tokens has " +
                            std::to_string(tokens->value.array_count) + " entries",
                        "tokenizer.ggml.tokens", "the vocabulary and the model do not belong together");
    }
  }
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  EF_TRY(c.validate());
  return c;
}

}  // namespace ef
