// Naive deepseek2 reference (see naive_deepseek2.h).
#include "naive_deepseek2.h"

#include <cmath>
#include <cstring>

#include "io/gguf.h"

namespace ef::naive {
namespace {

using Vec = std::vector<double>;

// All elements of an F32 tensor, in file order.
Result<Vec> read_f32(const gguf::File& f, const std::string& name, int64_t expect_elems) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return make_error(Errc::format, "missing tensor", name);
  if (t->ggml_type != 0) return make_error(Errc::unsupported, "reference reads F32 only", name);
  const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
  if (n != expect_elems) return make_error(Errc::format, "unexpected element count", name);
  Vec out(static_cast<size_t>(n));
  const float* src = static_cast<const float*>(t->data);
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = src[i];
  return out;
}

// y = W x for W stored row-major [rows][cols].
Vec matvec(const Vec& w, int64_t rows, int64_t cols, const double* x) {
  Vec y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += w[static_cast<size_t>(r * cols + c)] * x[c];
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

Vec rmsnorm(const double* x, const Vec& weight, double eps) {
  const int64_t n = static_cast<int64_t>(weight.size());
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  Vec out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = x[i] * scale * weight[static_cast<size_t>(i)];
  return out;
}

void rope(double* x, int64_t dims, int64_t pos, double base) {
  for (int64_t i = 0; i < dims; i += 2) {
    const double theta = static_cast<double>(pos) * std::pow(base, -static_cast<double>(i) / static_cast<double>(dims));
    const double c = std::cos(theta), s = std::sin(theta);
    const double x0 = x[i], x1 = x[i + 1];
    x[i] = x0 * c - x1 * s;
    x[i + 1] = x0 * s + x1 * c;
  }
}

}  // namespace

Result<std::vector<double>> deepseek2_logits(const std::string& path,
                                             std::span<const int32_t> tokens) {
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> f, gguf::File::open(path));
  const std::string a = "deepseek2.";
  EF_ASSIGN_OR_RETURN(const int64_t n_embd, f->get_int(a + "embedding_length"));
  EF_ASSIGN_OR_RETURN(const int64_t n_layer, f->get_int(a + "block_count"));
  EF_ASSIGN_OR_RETURN(const int64_t n_ff, f->get_int(a + "feed_forward_length"));
  EF_ASSIGN_OR_RETURN(const int64_t n_head, f->get_int(a + "attention.head_count"));
  EF_ASSIGN_OR_RETURN(const int64_t r, f->get_int(a + "attention.kv_lora_rank"));
  EF_ASSIGN_OR_RETURN(const int64_t ql, f->get_int_or(a + "attention.q_lora_rank", 0));
  EF_ASSIGN_OR_RETURN(const int64_t rope_dims, f->get_int(a + "rope.dimension_count"));
  EF_ASSIGN_OR_RETURN(const float eps_f, f->get_f32(a + "attention.layer_norm_rms_epsilon"));
  EF_ASSIGN_OR_RETURN(const float base_f, f->get_f32_or(a + "rope.freq_base", 10000.0f));
  const bool legacy = !f->has(a + "attention.key_length_mla");
  EF_ASSIGN_OR_RETURN(const int64_t hk, f->get_int(a + (legacy ? "attention.key_length" : "attention.key_length_mla")));
  EF_ASSIGN_OR_RETURN(const int64_t hv, f->get_int(a + (legacy ? "attention.value_length" : "attention.value_length_mla")));
  const int64_t nope = hk - rope_dims;
  const double eps = eps_f, base = base_f;
  const gguf::TensorInfo* embd_info = f->find_tensor("token_embd.weight");
  if (embd_info == nullptr) return make_error(Errc::format, "missing token_embd");
  const int64_t n_vocab = embd_info->ne[1];
  EF_ASSIGN_OR_RETURN(Vec embd, read_f32(*f, "token_embd.weight", n_vocab * n_embd));
  const int64_t T = static_cast<int64_t>(tokens.size());

  std::vector<Vec> x(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    x[static_cast<size_t>(t)].assign(embd.begin() + tokens[static_cast<size_t>(t)] * n_embd,
                                     embd.begin() + (tokens[static_cast<size_t>(t)] + 1) * n_embd);
  }
  for (int64_t il = 0; il < n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_ASSIGN_OR_RETURN(Vec attn_norm, read_f32(*f, p + "attn_norm.weight", n_embd));
    Vec wq, wq_a, q_a_norm, wq_b;
    if (ql > 0) {
      EF_ASSIGN_OR_RETURN(wq_a, read_f32(*f, p + "attn_q_a.weight", ql * n_embd));
      EF_ASSIGN_OR_RETURN(q_a_norm, read_f32(*f, p + "attn_q_a_norm.weight", ql));
      EF_ASSIGN_OR_RETURN(wq_b, read_f32(*f, p + "attn_q_b.weight", n_head * hk * ql));
    } else {
      EF_ASSIGN_OR_RETURN(wq, read_f32(*f, p + "attn_q.weight", n_head * hk * n_embd));
    }
    EF_ASSIGN_OR_RETURN(Vec wkv_a, read_f32(*f, p + "attn_kv_a_mqa.weight", (r + rope_dims) * n_embd));
    EF_ASSIGN_OR_RETURN(Vec kv_a_norm, read_f32(*f, p + "attn_kv_a_norm.weight", r));
    // kb[h] as [nope][r], vb[h] as [hv][r] row-major.
    Vec kb(static_cast<size_t>(n_head * nope * r)), vb(static_cast<size_t>(n_head * hv * r));
    if (legacy) {
      EF_ASSIGN_OR_RETURN(Vec kv_b, read_f32(*f, p + "attn_kv_b.weight", n_head * (nope + hv) * r));
      for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t i = 0; i < nope + hv; ++i) {
          for (int64_t j = 0; j < r; ++j) {
            const double val = kv_b[static_cast<size_t>((h * (nope + hv) + i) * r + j)];
            if (i < nope) kb[static_cast<size_t>((h * nope + i) * r + j)] = val;
            else vb[static_cast<size_t>((h * hv + i - nope) * r + j)] = val;
          }
        }
      }
    } else {
      EF_ASSIGN_OR_RETURN(Vec k_b, read_f32(*f, p + "attn_k_b.weight", n_head * r * nope));
      EF_ASSIGN_OR_RETURN(vb, read_f32(*f, p + "attn_v_b.weight", n_head * hv * r));
      for (int64_t h = 0; h < n_head; ++h)  // attn_k_b[h][j][i] -> kb[h][i][j]
        for (int64_t j = 0; j < r; ++j)
          for (int64_t i = 0; i < nope; ++i)
            kb[static_cast<size_t>((h * nope + i) * r + j)] = k_b[static_cast<size_t>((h * r + j) * nope + i)];
    }
    EF_ASSIGN_OR_RETURN(Vec wo, read_f32(*f, p + "attn_output.weight", n_embd * n_head * hv));
    EF_ASSIGN_OR_RETURN(Vec ffn_norm, read_f32(*f, p + "ffn_norm.weight", n_embd));
    EF_ASSIGN_OR_RETURN(Vec w_gate, read_f32(*f, p + "ffn_gate.weight", n_ff * n_embd));
    EF_ASSIGN_OR_RETURN(Vec w_up, read_f32(*f, p + "ffn_up.weight", n_ff * n_embd));
    EF_ASSIGN_OR_RETURN(Vec w_down, read_f32(*f, p + "ffn_down.weight", n_embd * n_ff));

    // Queries, explicit keys and values of every position.
    std::vector<Vec> q(static_cast<size_t>(T)), k(static_cast<size_t>(T)), v(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      const Vec h = rmsnorm(x[static_cast<size_t>(t)].data(), attn_norm, eps);
      Vec qt;
      if (ql > 0) {
        const Vec qa = matvec(wq_a, ql, n_embd, h.data());
        const Vec qan = rmsnorm(qa.data(), q_a_norm, eps);
        qt = matvec(wq_b, n_head * hk, ql, qan.data());
      } else {
        qt = matvec(wq, n_head * hk, n_embd, h.data());
      }
      for (int64_t hh = 0; hh < n_head; ++hh) rope(qt.data() + hh * hk + nope, rope_dims, t, base);
      Vec kv = matvec(wkv_a, r + rope_dims, n_embd, h.data());
      const Vec c = rmsnorm(kv.data(), kv_a_norm, eps);
      rope(kv.data() + r, rope_dims, t, base);
      Vec kt(static_cast<size_t>(n_head * hk)), vt(static_cast<size_t>(n_head * hv));
      for (int64_t hh = 0; hh < n_head; ++hh) {
        for (int64_t i = 0; i < nope; ++i) {
          double s = 0.0;
          for (int64_t j = 0; j < r; ++j) s += kb[static_cast<size_t>((hh * nope + i) * r + j)] * c[static_cast<size_t>(j)];
          kt[static_cast<size_t>(hh * hk + i)] = s;
        }
        for (int64_t i = 0; i < rope_dims; ++i) kt[static_cast<size_t>(hh * hk + nope + i)] = kv[static_cast<size_t>(r + i)];
        for (int64_t d = 0; d < hv; ++d) {
          double s = 0.0;
          for (int64_t j = 0; j < r; ++j) s += vb[static_cast<size_t>((hh * hv + d) * r + j)] * c[static_cast<size_t>(j)];
          vt[static_cast<size_t>(hh * hv + d)] = s;
        }
      }
      q[static_cast<size_t>(t)] = std::move(qt);
      k[static_cast<size_t>(t)] = std::move(kt);
      v[static_cast<size_t>(t)] = std::move(vt);
    }
    for (int64_t t = 0; t < T; ++t) {
      Vec o(static_cast<size_t>(n_head * hv), 0.0);
      for (int64_t hh = 0; hh < n_head; ++hh) {
        Vec sc(static_cast<size_t>(t + 1));
        double mx = -1e300;
        for (int64_t s = 0; s <= t; ++s) {
          double d = 0.0;
          for (int64_t i = 0; i < hk; ++i) d += q[static_cast<size_t>(t)][static_cast<size_t>(hh * hk + i)] * k[static_cast<size_t>(s)][static_cast<size_t>(hh * hk + i)];
          sc[static_cast<size_t>(s)] = d / std::sqrt(static_cast<double>(hk));
          mx = std::max(mx, sc[static_cast<size_t>(s)]);
        }
        double sum = 0.0;
        for (double& e : sc) sum += (e = std::exp(e - mx));
        for (int64_t s = 0; s <= t; ++s)
          for (int64_t d = 0; d < hv; ++d)
            o[static_cast<size_t>(hh * hv + d)] += sc[static_cast<size_t>(s)] / sum * v[static_cast<size_t>(s)][static_cast<size_t>(hh * hv + d)];
      }
      Vec& xt = x[static_cast<size_t>(t)];
      const Vec ao = matvec(wo, n_embd, n_head * hv, o.data());
      for (int64_t i = 0; i < n_embd; ++i) xt[static_cast<size_t>(i)] += ao[static_cast<size_t>(i)];
      const Vec h2 = rmsnorm(xt.data(), ffn_norm, eps);
      Vec g = matvec(w_gate, n_ff, n_embd, h2.data());
      const Vec u = matvec(w_up, n_ff, n_embd, h2.data());
      for (int64_t i = 0; i < n_ff; ++i) {
        const double gi = g[static_cast<size_t>(i)];
        g[static_cast<size_t>(i)] = gi / (1.0 + std::exp(-gi)) * u[static_cast<size_t>(i)];
      }
      const Vec dn = matvec(w_down, n_embd, n_ff, g.data());
      for (int64_t i = 0; i < n_embd; ++i) xt[static_cast<size_t>(i)] += dn[static_cast<size_t>(i)];
    }
  }
  EF_ASSIGN_OR_RETURN(Vec out_norm, read_f32(*f, "output_norm.weight", n_embd));
  Vec wout;
  if (f->find_tensor("output.weight") != nullptr) {
    EF_ASSIGN_OR_RETURN(wout, read_f32(*f, "output.weight", n_vocab * n_embd));
  } else {
    wout = embd;
  }
  std::vector<double> logits;
  logits.reserve(static_cast<size_t>(T * n_vocab));
  for (int64_t t = 0; t < T; ++t) {
    const Vec h = rmsnorm(x[static_cast<size_t>(t)].data(), out_norm, eps);
    const Vec l = matvec(wout, n_vocab, n_embd, h.data());
    logits.insert(logits.end(), l.begin(), l.end());
  }
  return logits;
}

}  // namespace ef::naive
