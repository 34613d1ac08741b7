// Binding and checking llama tensors (see llama_weights.h).
#include "model/llama_weights.h"

#include <string>

#include "io/gguf.h"
#include "kernels/kernels.h"

namespace ef {
namespace {

std::string shape_string(const int64_t* ne, int n) {
  std::string s = "{";
  for (int i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "}";
}

enum class Kind { norm, matrix };

Result<Tensor> bind_tensor(const gguf::File& file, const std::string& name, Kind kind,
                           int64_t ne0, int64_t ne1 = 1) {
  const gguf::TensorInfo* info = file.find_tensor(name);
  const int n_expect = kind == Kind::norm ? 1 : 2;
  const int64_t expect[4] = {ne0, ne1, 1, 1};
  if (info == nullptr) {
    return make_error(Errc::format,
                      "tensor '" + name + "' is missing (expected shape " +
                          shape_string(expect, n_expect) + ")",
                      file.path(), "not a complete llama model file");
  }
  for (int i = 0; i < 4; ++i) {
    if (info->ne[i] != expect[i]) {
      return make_error(Errc::format,
                        "tensor '" + name + "' has shape " +
                            shape_string(info->ne, info->n_dims > 0 ? info->n_dims : 1) +
                            ", expected " + shape_string(expect, n_expect),
                        file.path(), "the tensor does not match the llama.* hyper-parameters");
    }
  }
  if (!dtype_traits(info->ggml_type)) {
    return make_error(Errc::unsupported,
                      "tensor '" + name + "' has type " + ggml_type_name(info->ggml_type) +
                          ", which is not supported",
                      file.path(), "convert the model to F32, F16, BF16, Q8_0 or Q4_0");
  }
  if (kind == Kind::norm && info->type != DType::F32) {
    return make_error(Errc::unsupported,
                      "norm tensor '" + name + "' has type " + dtype_name(info->type) +
                          ", expected f32",
                      file.path());
  }
  Tensor t = info->view();
  if (kind == Kind::matrix) {
    // The kernels' own shape/type preconditions for a matmul weight.
    Status ok = kernels::validate_matmul_weight(t);
    if (!ok.ok()) {
      Error e = ok.take_error();
      e.what = "tensor '" + name + "': " + e.what;
      return e;
    }
  }
  return t;
}

}  // namespace

Result<LlamaWeights> LlamaWeights::bind(const gguf::File& file, const ModelConfig& c) {
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  LlamaWeights w;
  EF_ASSIGN_OR_RETURN(w.token_embd,
                      bind_tensor(file, "token_embd.weight", Kind::matrix, c.n_embd, c.n_vocab));
  EF_ASSIGN_OR_RETURN(w.output_norm,
                      bind_tensor(file, "output_norm.weight", Kind::norm, c.n_embd));
  if (file.find_tensor("output.weight") != nullptr) {
    EF_ASSIGN_OR_RETURN(w.output,
                        bind_tensor(file, "output.weight", Kind::matrix, c.n_embd, c.n_vocab));
  } else {
    w.output = w.token_embd;  // tied embeddings
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LlamaLayer& l = w.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_ASSIGN_OR_RETURN(l.attn_norm, bind_tensor(file, p + "attn_norm.weight", Kind::norm, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.attn_q, bind_tensor(file, p + "attn_q.weight", Kind::matrix, c.n_embd, q_dim));
    EF_ASSIGN_OR_RETURN(l.attn_k, bind_tensor(file, p + "attn_k.weight", Kind::matrix, c.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(l.attn_v, bind_tensor(file, p + "attn_v.weight", Kind::matrix, c.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(l.attn_output,
                        bind_tensor(file, p + "attn_output.weight", Kind::matrix, q_dim, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.ffn_norm, bind_tensor(file, p + "ffn_norm.weight", Kind::norm, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.ffn_gate, bind_tensor(file, p + "ffn_gate.weight", Kind::matrix, c.n_embd, c.n_ff));
    EF_ASSIGN_OR_RETURN(l.ffn_up, bind_tensor(file, p + "ffn_up.weight", Kind::matrix, c.n_embd, c.n_ff));
    EF_ASSIGN_OR_RETURN(l.ffn_down, bind_tensor(file, p + "ffn_down.weight", Kind::matrix, c.n_ff, c.n_embd));
  }
  return w;
}

Status LlamaWeights::pack(const kernels::KernelTable& table, bool release_source) {
  std::vector<Tensor*> mats = {&output};
  for (LlamaLayer& l : layers) {
    for (Tensor* t : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_gate, &l.ffn_up,
                      &l.ffn_down}) {
      mats.push_back(t);
    }
  }
  EF_ASSIGN_OR_RETURN(pack_report, pack_matmul_weights(mats, table, packed_storage, release_source));
  return Status::success();
}

}  // namespace ef
