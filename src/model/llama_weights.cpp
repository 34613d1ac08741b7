// Binding and checking llama tensors (see llama_weights.h).
#include "model/llama_weights.h"

#include <string>

#include "io/gguf.h"
#include "kernels/kernels.h"
#include "model/bind_tensor.h"

namespace ef {
namespace {

constexpr const char* kArch = "llama";

}  // namespace

Result<LlamaWeights> LlamaWeights::bind(const gguf::File& file, const ModelConfig& c) {
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  LlamaWeights w;
  EF_ASSIGN_OR_RETURN(w.token_embd, bind_tensor(file, kArch, "token_embd.weight",
                                                TensorKind::matrix, c.n_embd, c.n_vocab));
  EF_ASSIGN_OR_RETURN(w.output_norm,
                      bind_tensor(file, kArch, "output_norm.weight", TensorKind::norm, c.n_embd));
  if (file.find_tensor("output.weight") != nullptr) {
    EF_ASSIGN_OR_RETURN(w.output, bind_tensor(file, kArch, "output.weight", TensorKind::matrix,
                                              c.n_embd, c.n_vocab));
  } else {
    w.output = w.token_embd;  // tied embeddings
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    LlamaLayer& l = w.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_ASSIGN_OR_RETURN(
        l.attn_norm, bind_tensor(file, kArch, p + "attn_norm.weight", TensorKind::norm, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.attn_q, bind_tensor(file, kArch, p + "attn_q.weight", TensorKind::matrix,
                                              c.n_embd, q_dim));
    EF_ASSIGN_OR_RETURN(l.attn_k, bind_tensor(file, kArch, p + "attn_k.weight", TensorKind::matrix,
                                              c.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(l.attn_v, bind_tensor(file, kArch, p + "attn_v.weight", TensorKind::matrix,
                                              c.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(l.attn_output, bind_tensor(file, kArch, p + "attn_output.weight",
                                                   TensorKind::matrix, q_dim, c.n_embd));
    EF_TRY(bind_ffn(file, kArch, p, c.n_embd, c.n_ff, l));
  }
  return w;
}

Status LlamaWeights::pack(const kernels::KernelTable& table, bool release_source) {
  std::vector<Tensor*> mats = {&output};
  for (LlamaLayer& l : layers) {
    for (Tensor* t :
         {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      mats.push_back(t);
    }
  }
  EF_ASSIGN_OR_RETURN(pack_report,
                      pack_matmul_weights(mats, table, packed_storage, release_source));
  return Status::success();
}

}  // namespace ef
