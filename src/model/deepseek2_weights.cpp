// Binding and checking deepseek2 tensors (see deepseek2_weights.h).
#include "model/deepseek2_weights.h"

#include <string>

#include "io/gguf.h"
#include "kernels/kernels.h"
#include "model/bind_tensor.h"

namespace ef {
namespace {

constexpr const char* kArch = "deepseek2";

// A 2-D slice (rows [first, first + rows)) of a contiguous weight.
Tensor slice_rows(const Tensor& t, int64_t first, int64_t rows, const std::string& name) {
  const int64_t ne[2] = {t.ne[0], rows};
  return make_tensor(name, t.type, 2, ne, t.row<char>(first));
}

// Splits legacy attn_kv_b {r, n_head * (nope + hv)} (head h: nope k rows,
// then hv v rows, each over the r latent dims) into
//   k_b {nope, r, n_head}: k_b[h][j][i] = kv_b[h * (nope + hv) + i][j]
//   v_b {r, hv, n_head}:   v_b[h][d][j] = kv_b[h * (nope + hv) + nope + d][j]
// as F32 (k_b is transposed, so it cannot stay a view).
Status split_kv_b(const Tensor& kv_b, const ModelConfig& c, Deepseek2Weights& w, Deepseek2Layer& l,
                  const std::string& prefix) {
  const int64_t r = c.kv_lora_rank, nope = c.head_dim - c.n_rot, hv = c.head_dim_v;
  const kernels::ToFloatFn to_float = kernels::active().for_type(kv_b.type).to_float;
  std::vector<float> row(static_cast<size_t>(r));
  std::vector<float> k_b(static_cast<size_t>(nope * r * c.n_head));
  std::vector<float> v_b(static_cast<size_t>(r * hv * c.n_head));
  for (int64_t h = 0; h < c.n_head; ++h) {
    for (int64_t i = 0; i < nope + hv; ++i) {
      to_float(kv_b.row<const void>(h * (nope + hv) + i), row.data(), r);
      for (int64_t j = 0; j < r; ++j) {
        if (i < nope) {
          k_b[static_cast<size_t>((h * r + j) * nope + i)] = row[static_cast<size_t>(j)];
        } else {
          v_b[static_cast<size_t>((h * hv + (i - nope)) * r + j)] = row[static_cast<size_t>(j)];
        }
      }
    }
  }
  w.owned.push_back(std::move(k_b));
  const int64_t ne_k[3] = {nope, r, c.n_head};
  l.attn_k_b = make_tensor(prefix + "attn_k_b.weight", DType::F32, 3, ne_k, w.owned.back().data());
  w.owned.push_back(std::move(v_b));
  const int64_t ne_v[3] = {r, hv, c.n_head};
  l.attn_v_b = make_tensor(prefix + "attn_v_b.weight", DType::F32, 3, ne_v, w.owned.back().data());
  return Status::success();
}

}  // namespace

Tensor Deepseek2Layer::k_b_head(int64_t h) const {
  return slice_rows(attn_k_b, h * attn_k_b.ne[1], attn_k_b.ne[1], attn_k_b.name);
}
Tensor Deepseek2Layer::v_b_head(int64_t h) const {
  return slice_rows(attn_v_b, h * attn_v_b.ne[1], attn_v_b.ne[1], attn_v_b.name);
}

Result<Deepseek2Weights> Deepseek2Weights::bind(const gguf::File& file, const ModelConfig& c) {
  const int64_t hk = c.head_dim, hv = c.head_dim_v, r = c.kv_lora_rank;
  const int64_t nope = hk - c.n_rot;
  Deepseek2Weights w;
  // Two owned buffers per legacy layer; reserve so pointers stay put.
  w.owned.reserve(static_cast<size_t>(2 * c.n_layer));
  EF_ASSIGN_OR_RETURN(w.token_embd, bind_tensor(file, kArch, "token_embd.weight",
                                                TensorKind::matrix, c.n_embd, c.n_vocab));
  EF_ASSIGN_OR_RETURN(w.output_norm,
                      bind_tensor(file, kArch, "output_norm.weight", TensorKind::norm, c.n_embd));
  if (file.find_tensor("output.weight") != nullptr) {
    EF_ASSIGN_OR_RETURN(w.output, bind_tensor(file, kArch, "output.weight", TensorKind::matrix,
                                              c.n_embd, c.n_vocab));
  } else {
    w.output = w.token_embd;
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    Deepseek2Layer& l = w.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_ASSIGN_OR_RETURN(
        l.attn_norm, bind_tensor(file, kArch, p + "attn_norm.weight", TensorKind::norm, c.n_embd));
    if (c.q_lora_rank > 0) {
      EF_ASSIGN_OR_RETURN(l.attn_q_a, bind_tensor(file, kArch, p + "attn_q_a.weight",
                                                  TensorKind::matrix, c.n_embd, c.q_lora_rank));
      EF_ASSIGN_OR_RETURN(l.attn_q_a_norm, bind_tensor(file, kArch, p + "attn_q_a_norm.weight",
                                                       TensorKind::norm, c.q_lora_rank));
      EF_ASSIGN_OR_RETURN(l.attn_q_b,
                          bind_tensor(file, kArch, p + "attn_q_b.weight", TensorKind::matrix,
                                      c.q_lora_rank, c.n_head * hk));
    } else {
      EF_ASSIGN_OR_RETURN(l.attn_q, bind_tensor(file, kArch, p + "attn_q.weight",
                                                TensorKind::matrix, c.n_embd, c.n_head * hk));
    }
    EF_ASSIGN_OR_RETURN(l.attn_kv_a_mqa, bind_tensor(file, kArch, p + "attn_kv_a_mqa.weight",
                                                     TensorKind::matrix, c.n_embd, r + c.n_rot));
    EF_ASSIGN_OR_RETURN(l.attn_kv_a_norm,
                        bind_tensor(file, kArch, p + "attn_kv_a_norm.weight", TensorKind::norm, r));
    if (c.mla_legacy_kv_b) {
      EF_ASSIGN_OR_RETURN(Tensor kv_b, bind_tensor(file, kArch, p + "attn_kv_b.weight",
                                                   TensorKind::matrix, r, c.n_head * (nope + hv)));
      EF_TRY(split_kv_b(kv_b, c, w, l, p));
    } else {
      EF_ASSIGN_OR_RETURN(l.attn_k_b, bind_tensor(file, kArch, p + "attn_k_b.weight",
                                                  TensorKind::matrix, nope, r, c.n_head));
      EF_ASSIGN_OR_RETURN(l.attn_v_b, bind_tensor(file, kArch, p + "attn_v_b.weight",
                                                  TensorKind::matrix, r, hv, c.n_head));
    }
    EF_ASSIGN_OR_RETURN(l.attn_output, bind_tensor(file, kArch, p + "attn_output.weight",
                                                   TensorKind::matrix, c.n_head * hv, c.n_embd));
    EF_TRY(bind_ffn(file, kArch, p, c.n_embd, c.n_ff, l));
  }
  return w;
}

}  // namespace ef
