// Binding and checking deepseek2 tensors (see deepseek2_weights.h).
#include "model/deepseek2_weights.h"

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

// Binds `name` with exactly the shape {ne0, ne1, ne2}; matrices must be
// valid matmul weights (per 2-D slice: ne[0] a whole number of blocks).
Result<Tensor> bind_tensor(const gguf::File& file, const std::string& name, Kind kind,
                           int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
  const gguf::TensorInfo* info = file.find_tensor(name);
  const int n_expect = kind == Kind::norm ? 1 : (ne2 > 1 ? 3 : 2);
  const int64_t expect[4] = {ne0, ne1, ne2, 1};
  if (info == nullptr) {
    return make_error(Errc::format,
                      "tensor '" + name + "' is missing (expected shape " +
                          shape_string(expect, n_expect) + ")",
                      file.path(), "not a complete deepseek2 model file");
  }
  for (int i = 0; i < 4; ++i) {
    if (info->ne[i] != expect[i]) {
      return make_error(Errc::format,
                        "tensor '" + name + "' has shape " +
                            shape_string(info->ne, info->n_dims > 0 ? info->n_dims : 1) +
                            ", expected " + shape_string(expect, n_expect),
                        file.path(), "the tensor does not match the deepseek2.* hyper-parameters");
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
    Status ok = kernels::validate_matmul_weight(t);
    if (!ok.ok()) {
      Error e = ok.take_error();
      e.what = "tensor '" + name + "': " + e.what;
      return e;
    }
  }
  return t;
}

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
Status split_kv_b(const Tensor& kv_b, const ModelConfig& c, Deepseek2Weights& w,
                  Deepseek2Layer& l, const std::string& prefix) {
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
  EF_ASSIGN_OR_RETURN(w.token_embd,
                      bind_tensor(file, "token_embd.weight", Kind::matrix, c.n_embd, c.n_vocab));
  EF_ASSIGN_OR_RETURN(w.output_norm, bind_tensor(file, "output_norm.weight", Kind::norm, c.n_embd));
  if (file.find_tensor("output.weight") != nullptr) {
    EF_ASSIGN_OR_RETURN(w.output,
                        bind_tensor(file, "output.weight", Kind::matrix, c.n_embd, c.n_vocab));
  } else {
    w.output = w.token_embd;
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    Deepseek2Layer& l = w.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_ASSIGN_OR_RETURN(l.attn_norm, bind_tensor(file, p + "attn_norm.weight", Kind::norm, c.n_embd));
    if (c.q_lora_rank > 0) {
      EF_ASSIGN_OR_RETURN(l.attn_q_a, bind_tensor(file, p + "attn_q_a.weight", Kind::matrix,
                                                  c.n_embd, c.q_lora_rank));
      EF_ASSIGN_OR_RETURN(l.attn_q_a_norm,
                          bind_tensor(file, p + "attn_q_a_norm.weight", Kind::norm, c.q_lora_rank));
      EF_ASSIGN_OR_RETURN(l.attn_q_b, bind_tensor(file, p + "attn_q_b.weight", Kind::matrix,
                                                  c.q_lora_rank, c.n_head * hk));
    } else {
      EF_ASSIGN_OR_RETURN(l.attn_q, bind_tensor(file, p + "attn_q.weight", Kind::matrix, c.n_embd,
                                                c.n_head * hk));
    }
    EF_ASSIGN_OR_RETURN(l.attn_kv_a_mqa, bind_tensor(file, p + "attn_kv_a_mqa.weight",
                                                     Kind::matrix, c.n_embd, r + c.n_rot));
    EF_ASSIGN_OR_RETURN(l.attn_kv_a_norm,
                        bind_tensor(file, p + "attn_kv_a_norm.weight", Kind::norm, r));
    if (c.mla_legacy_kv_b) {
      EF_ASSIGN_OR_RETURN(Tensor kv_b, bind_tensor(file, p + "attn_kv_b.weight", Kind::matrix, r,
                                                   c.n_head * (nope + hv)));
      EF_TRY(split_kv_b(kv_b, c, w, l, p));
    } else {
      EF_ASSIGN_OR_RETURN(l.attn_k_b, bind_tensor(file, p + "attn_k_b.weight", Kind::matrix,
                                                  nope, r, c.n_head));
      EF_ASSIGN_OR_RETURN(l.attn_v_b, bind_tensor(file, p + "attn_v_b.weight", Kind::matrix, r,
                                                  hv, c.n_head));
    }
    EF_ASSIGN_OR_RETURN(l.attn_output, bind_tensor(file, p + "attn_output.weight", Kind::matrix,
                                                   c.n_head * hv, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.ffn_norm, bind_tensor(file, p + "ffn_norm.weight", Kind::norm, c.n_embd));
    EF_ASSIGN_OR_RETURN(l.ffn_gate, bind_tensor(file, p + "ffn_gate.weight", Kind::matrix, c.n_embd, c.n_ff));
    EF_ASSIGN_OR_RETURN(l.ffn_up, bind_tensor(file, p + "ffn_up.weight", Kind::matrix, c.n_embd, c.n_ff));
    EF_ASSIGN_OR_RETURN(l.ffn_down, bind_tensor(file, p + "ffn_down.weight", Kind::matrix, c.n_ff, c.n_embd));
  }
  return w;
}

}  // namespace ef
