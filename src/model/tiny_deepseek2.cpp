// Random tiny deepseek2 models (see tiny_deepseek2.h).
#include "model/tiny_deepseek2.h"

#include <cstring>
#include <span>
#include <vector>

#include "edgeformer/model.h"
#include "io/gguf.h"
#include "kernels/kernels.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

uint32_t file_type_of(DType t) {
  switch (t) {  // llama.cpp's llama_ftype
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
  }
  return 0;
}

// A random matrix of ne = {n_in, rows...}: ~ N(0, 1/n_in), in `type` when
// n_in is a whole number of its blocks, else F32.
Status add_matrix(gguf::Writer& w, Gaussian& g, const std::string& name, DType type,
                  std::vector<int64_t> ne) {
  const int64_t n_in = ne[0];
  int64_t n_rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) n_rows *= ne[i];
  const float stddev = 1.0f / std::sqrt(static_cast<float>(n_in));
  std::vector<float> values(static_cast<size_t>(n_in * n_rows));
  for (float& x : values) x = g.next() * stddev;
  const auto row = row_size_bytes(type, static_cast<uint64_t>(n_in));
  if (type == DType::F32 || !row) type = DType::F32;
  std::vector<uint8_t> bytes;
  if (type == DType::F32) {
    bytes.resize(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
  } else {
    bytes.resize(static_cast<size_t>(*row * static_cast<uint64_t>(n_rows)));
    const kernels::FromFloatFn from_float = kernels::active().for_type(type).from_float;
    for (int64_t r = 0; r < n_rows; ++r) {
      from_float(values.data() + r * n_in, bytes.data() + static_cast<size_t>(*row) * r, n_in);
    }
  }
  return w.add_tensor(name, type, std::move(ne), bytes);
}

Status add_norm(gguf::Writer& w, Gaussian& g, const std::string& name, int64_t n) {
  std::vector<float> values(static_cast<size_t>(n));
  for (float& x : values) x = 1.0f + 0.1f * g.next();
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(values.data()),
                                 values.size() * sizeof(float));
  return w.add_tensor(name, DType::F32, {n}, bytes);
}

Result<int64_t> add_vocab(gguf::Writer& w, const TinyDeepseek2Spec& spec) {
  if (!spec.vocab_path.empty()) {
    EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> vocab, gguf::File::open(spec.vocab_path));
    const gguf::KeyValue* tokens = vocab->find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->value.type != gguf::ValueType::array) {
      return make_error(Errc::format, "no tokenizer.ggml.tokens array", spec.vocab_path,
                        "pass a GGUF file that contains a vocabulary");
    }
    w.copy_metadata(*vocab, [](std::string_view key) { return key.substr(0, 10) != "tokenizer."; });
    return static_cast<int64_t>(tokens->value.array_count);
  }
  EF_ASSIGN_OR_RETURN(SyntheticVocab v, make_synthetic_vocab(spec.n_vocab_synthetic));
  const int64_t n_vocab = static_cast<int64_t>(v.tokens.size());
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
  w.set_f32_array("tokenizer.ggml.scores", std::move(v.scores));
  w.set_i32_array("tokenizer.ggml.token_type", std::move(v.token_types));
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
  return n_vocab;
}

}  // namespace

Status write_tiny_deepseek2(const std::string& path, const TinyDeepseek2Spec& spec) {
  gguf::Writer w;
  EF_ASSIGN_OR_RETURN(int64_t n_vocab, add_vocab(w, spec));

  // Validate the shape as the loader will, before generating weights.
  ModelConfig c;
  c.architecture = "deepseek2";
  c.n_vocab = n_vocab;
  c.n_ctx_train = spec.n_ctx;
  c.n_embd = spec.n_embd;
  c.n_layer = spec.n_layer;
  c.n_ff = spec.n_ff;
  c.n_head = c.n_head_kv = spec.n_head;
  c.head_dim = spec.nope_dim + spec.rope_dim;
  c.head_dim_v = spec.v_dim;
  c.n_rot = spec.rope_dim;
  c.q_lora_rank = spec.q_lora_rank;
  c.kv_lora_rank = spec.kv_lora_rank;
  c.n_layer_dense_lead = spec.n_layer;
  c.rms_eps = spec.rms_eps;
  c.rope_freq_base = spec.rope_freq_base;
  if (spec.nope_dim <= 0) {
    return make_error(Errc::invalid_argument, "nope_dim must be >= 1", "TinyDeepseek2Spec");
  }
  EF_TRY(c.validate());

  const std::string a = "deepseek2.";
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.set_string("general.architecture", "deepseek2");
  w.set_string("general.name", "edgeformer-tiny-deepseek2");
  w.set_u32("general.file_type", file_type_of(spec.weight_type));
  w.set_u32(a + "context_length", u32(c.n_ctx_train));
  w.set_u32(a + "embedding_length", u32(c.n_embd));
  w.set_u32(a + "block_count", u32(c.n_layer));
  w.set_u32(a + "feed_forward_length", u32(c.n_ff));
  w.set_u32(a + "attention.head_count", u32(c.n_head));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_f32(a + "rope.freq_base", c.rope_freq_base);
  w.set_u32(a + "rope.dimension_count", u32(c.n_rot));
  // llama.cpp requires q_lora_rank for non-"lite" models (0 = plain attn_q).
  w.set_u32(a + "attention.q_lora_rank", u32(c.q_lora_rank));
  w.set_u32(a + "attention.kv_lora_rank", u32(c.kv_lora_rank));
  if (spec.legacy_kv_b) {
    w.set_u32(a + "attention.head_count_kv", u32(c.n_head));
    w.set_u32(a + "attention.key_length", u32(c.head_dim));
    w.set_u32(a + "attention.value_length", u32(c.head_dim_v));
  } else {
    w.set_u32(a + "attention.head_count_kv", 1);
    w.set_u32(a + "attention.key_length", u32(c.kv_lora_rank + c.n_rot));
    w.set_u32(a + "attention.value_length", u32(c.kv_lora_rank));
    w.set_u32(a + "attention.key_length_mla", u32(c.head_dim));
    w.set_u32(a + "attention.value_length_mla", u32(c.head_dim_v));
  }
  // llama.cpp reads these even for dense models.
  const bool moe = spec.n_expert > 0;
  w.set_u32(a + "leading_dense_block_count", u32(moe ? 1 : c.n_layer));
  w.set_u32(a + "expert_feed_forward_length", u32(c.n_ff));
  w.set_u32(a + "expert_shared_count", moe ? 1 : 0);
  if (moe) {
    w.set_u32(a + "expert_count", u32(spec.n_expert));
    w.set_u32(a + "expert_used_count", 1);
  }
  w.set_u32(a + "vocab_size", u32(n_vocab));

  Gaussian g(spec.seed);
  const DType wt = spec.weight_type;
  const int64_t hk = c.head_dim, hv = c.head_dim_v, r = c.kv_lora_rank, nope = spec.nope_dim;
  EF_TRY(add_matrix(w, g, "token_embd.weight", wt, {c.n_embd, n_vocab}));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_TRY(add_norm(w, g, p + "attn_norm.weight", c.n_embd));
    if (c.q_lora_rank > 0) {
      EF_TRY(add_matrix(w, g, p + "attn_q_a.weight", wt, {c.n_embd, c.q_lora_rank}));
      EF_TRY(add_norm(w, g, p + "attn_q_a_norm.weight", c.q_lora_rank));
      EF_TRY(add_matrix(w, g, p + "attn_q_b.weight", wt, {c.q_lora_rank, c.n_head * hk}));
    } else {
      EF_TRY(add_matrix(w, g, p + "attn_q.weight", wt, {c.n_embd, c.n_head * hk}));
    }
    EF_TRY(add_matrix(w, g, p + "attn_kv_a_mqa.weight", wt, {c.n_embd, r + c.n_rot}));
    EF_TRY(add_norm(w, g, p + "attn_kv_a_norm.weight", r));
    if (spec.legacy_kv_b) {
      EF_TRY(add_matrix(w, g, p + "attn_kv_b.weight", wt, {r, c.n_head * (nope + hv)}));
    } else {
      EF_TRY(add_matrix(w, g, p + "attn_k_b.weight", wt, {nope, r, c.n_head}));
      EF_TRY(add_matrix(w, g, p + "attn_v_b.weight", wt, {r, hv, c.n_head}));
    }
    EF_TRY(add_matrix(w, g, p + "attn_output.weight", wt, {c.n_head * hv, c.n_embd}));
    EF_TRY(add_norm(w, g, p + "ffn_norm.weight", c.n_embd));
    if (moe && il >= 1) {
      EF_TRY(add_matrix(w, g, p + "ffn_gate_inp.weight", DType::F32, {c.n_embd, spec.n_expert}));
      EF_TRY(add_matrix(w, g, p + "ffn_gate_exps.weight", wt, {c.n_embd, c.n_ff, spec.n_expert}));
      EF_TRY(add_matrix(w, g, p + "ffn_up_exps.weight", wt, {c.n_embd, c.n_ff, spec.n_expert}));
      EF_TRY(add_matrix(w, g, p + "ffn_down_exps.weight", wt, {c.n_ff, c.n_embd, spec.n_expert}));
    } else {
      EF_TRY(add_matrix(w, g, p + "ffn_gate.weight", wt, {c.n_embd, c.n_ff}));
      EF_TRY(add_matrix(w, g, p + "ffn_up.weight", wt, {c.n_embd, c.n_ff}));
      EF_TRY(add_matrix(w, g, p + "ffn_down.weight", wt, {c.n_ff, c.n_embd}));
    }
  }
  EF_TRY(add_norm(w, g, "output_norm.weight", c.n_embd));
  if (!spec.tied_output) {
    EF_TRY(add_matrix(w, g, "output.weight", wt, {c.n_embd, n_vocab}));
  }
  return w.write(path);
}

}  // namespace ef
