// Naive llama reference: GGUF -> doubles -> explicit loops. See naive_llama.h.
// Shares nothing with the engine but the GGUF reader (src/io/gguf.h); the
// element decoders below are written from the ggml block definitions.
#include "naive_llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "io/gguf.h"

namespace ef::naive {
namespace {

// IEEE binary16 -> double, written out from the format definition.
double half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);  // subnormal
  } else if (exp == 31) {
    v = mant == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(static_cast<double>(1024 + mant), exp - 25);
  }
  return sign ? -v : v;
}

double bf16_to_double(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Decodes `n` consecutive elements of a ggml type starting at `p`.
// Block layouts (ggml):
//   Q8_0: { f16 d; int8 q[32]; }       x_j = d * q_j
//   Q4_0: { f16 d; u8 qs[16]; }        x_j = d * ((qs[j] & 15) - 8),
//                                      x_{j+16} = d * ((qs[j] >> 4) - 8)
Status decode(uint32_t ggml_type, const uint8_t* p, int64_t n, double* out,
              const std::string& name) {
  switch (ggml_type) {
    case 0:  // F32
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = f;
      }
      return {};
    case 1:  // F16
      for (int64_t i = 0; i < n; ++i) out[i] = half_to_double(load_u16(p + 2 * i));
      return {};
    case 30:  // BF16
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_double(load_u16(p + 2 * i));
      return {};
    case 8:  // Q8_0: 34-byte blocks of 32
      if (n % 32 != 0) break;
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + 34 * b;
        const double d = half_to_double(load_u16(blk));
        for (int j = 0; j < 32; ++j) {
          out[b * 32 + j] = d * static_cast<double>(static_cast<int8_t>(blk[2 + j]));
        }
      }
      return {};
    case 2:  // Q4_0: 18-byte blocks of 32
      if (n % 32 != 0) break;
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + 18 * b;
        const double d = half_to_double(load_u16(blk));
        for (int j = 0; j < 16; ++j) {
          out[b * 32 + j] = d * ((blk[2 + j] & 0x0f) - 8);
          out[b * 32 + j + 16] = d * ((blk[2 + j] >> 4) - 8);
        }
      }
      return {};
    default:
      return make_error(Errc::unsupported, "naive reference cannot decode this tensor type",
                        name + " (ggml type " + std::to_string(ggml_type) + ")");
  }
  return make_error(Errc::format, "row length not a multiple of 32", name);
}

// Bytes of n elements of a ggml type (the types decode() knows).
int64_t bytes_of(uint32_t ggml_type, int64_t n) {
  switch (ggml_type) {
    case 0: return 4 * n;
    case 1: case 30: return 2 * n;
    case 8: return n / 32 * 34;
    case 2: return n / 32 * 18;
    default: return -1;
  }
}

// Reads a tensor of shape ne = {cols, rows} (rows = 1 for a vector) into a
// row-major double matrix, checking the shape.
Result<Matrix> read_matrix(const gguf::File& f, const std::string& name, int64_t cols,
                           int64_t rows) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return make_error(Errc::format, "missing tensor", name);
  if (t->ne[0] != cols || t->ne[1] * t->ne[2] * t->ne[3] != rows || (rows > 1 && t->ne[1] != rows)) {
    return make_error(Errc::format, "unexpected shape", name,
                      "want {" + std::to_string(cols) + ", " + std::to_string(rows) + "}, got {" +
                          std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) + "}");
  }
  const int64_t row_bytes = bytes_of(t->ggml_type, cols);
  if (row_bytes < 0) return make_error(Errc::unsupported, "unsupported tensor type", name);
  if (static_cast<uint64_t>(row_bytes * rows) > t->size_bytes) {
    return make_error(Errc::format, "tensor data too small", name);
  }
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.file_type = t->ggml_type;
  m.data.resize(static_cast<size_t>(rows * cols));
  const auto* base = static_cast<const uint8_t*>(t->data);
  for (int64_t r = 0; r < rows; ++r) {
    EF_TRY(decode(t->ggml_type, base + r * row_bytes, cols, m.data.data() + r * cols, name));
  }
  return m;
}

Result<std::vector<double>> read_vector(const gguf::File& f, const std::string& name,
                                        int64_t n) {
  EF_ASSIGN_OR_RETURN(Matrix m, read_matrix(f, name, n, 1));
  return std::move(m.data);
}

double round_half(double x) {
  return fp16_to_fp32(fp32_to_fp16(static_cast<float>(x)));
}

// x rounded to the vec_dot type of a weight decoded from `file_type` (see
// Options::round_activations). The float conversion first mirrors an engine
// that keeps activations in float.
std::vector<double> round_for(uint32_t file_type, const std::vector<double>& x) {
  std::vector<double> y(x.size());
  switch (file_type) {
    case 1:  // F16
      for (size_t i = 0; i < x.size(); ++i) y[i] = round_half(x[i]);
      return y;
    case 30:  // BF16
      for (size_t i = 0; i < x.size(); ++i) y[i] = bf16_to_fp32(fp32_to_bf16(static_cast<float>(x[i])));
      return y;
    case 8:
    case 2:  // Q8_0 / Q4_0: activations as Q8_0 blocks of 32
      for (size_t b = 0; b + 32 <= x.size(); b += 32) {
        float amax = 0.0f;
        for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<float>(x[b + j])));
        // ggml-cpu's x86 activation quantizer (which the engine follows):
        // id = 127/amax and round half to even (nearbyint in the default
        // rounding mode), unlike the weight quantizer's 1/(amax/127) + roundf.
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const double d_stored = round_half(d);
        for (size_t j = 0; j < 32; ++j) {
          y[b + j] = d_stored * std::nearbyint(static_cast<float>(x[b + j]) * id);
        }
      }
      return y;
    default:
      return x;
  }
}

// y = W x, W: rows x cols; x optionally rounded to W's vec_dot type first.
std::vector<double> matvec(const Matrix& w, const std::vector<double>& x_in, bool round = false) {
  const std::vector<double> x = round ? round_for(w.file_type, x_in) : x_in;
  std::vector<double> y(static_cast<size_t>(w.rows), 0.0);
  for (int64_t r = 0; r < w.rows; ++r) {
    double s = 0.0;
    for (int64_t c = 0; c < w.cols; ++c) s += w.at(r, c) * x[static_cast<size_t>(c)];
    y[static_cast<size_t>(r)] = s;
  }
  return y;
}

// x / sqrt(mean(x^2) + eps) * g
std::vector<double> rmsnorm(const std::vector<double>& x, const std::vector<double>& g,
                            double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * g[i];
  return y;
}

// ggml's NORM rope on one head of `head_dim` values at `offset` in v:
// pair (2i, 2i+1), 2i < n_rot, rotated by theta = pos * base^(-2i / n_rot).
void rope(std::vector<double>& v, int64_t offset, int64_t n_rot, int64_t pos, double base,
          bool float_angles) {
  // ggml's float angle recurrence: theta_0 = pos, theta_{i+1} = theta_i * base^(-2/n_rot).
  const float theta_scale = std::pow(static_cast<float>(base), -2.0f / static_cast<float>(n_rot));
  float theta_f = static_cast<float>(pos);
  for (int64_t i = 0; 2 * i < n_rot; ++i) {
    double theta =
        static_cast<double>(pos) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
    double c = std::cos(theta), s = std::sin(theta);
    if (float_angles) {
      c = std::cos(theta_f);
      s = std::sin(theta_f);
      theta_f *= theta_scale;
    }
    double& a = v[static_cast<size_t>(offset + 2 * i)];
    double& b = v[static_cast<size_t>(offset + 2 * i + 1)];
    const double a0 = a, b0 = b;
    a = a0 * c - b0 * s;
    b = a0 * s + b0 * c;
  }
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

}  // namespace

Result<Weights> load(const std::string& path) {
  EF_ASSIGN_OR_RETURN(auto file, gguf::File::open(path));
  const gguf::File& f = *file;
  EF_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch != "llama") return make_error(Errc::unsupported, "not a llama model", arch);
  auto key = [&](const char* k) { return arch + "." + k; };

  Weights w;
  EF_ASSIGN_OR_RETURN(w.n_embd, f.get_int(key("embedding_length")));
  EF_ASSIGN_OR_RETURN(int64_t n_layer, f.get_int(key("block_count")));
  EF_ASSIGN_OR_RETURN(w.n_ff, f.get_int(key("feed_forward_length")));
  EF_ASSIGN_OR_RETURN(w.n_head, f.get_int(key("attention.head_count")));
  EF_ASSIGN_OR_RETURN(w.n_head_kv, f.get_int_or(key("attention.head_count_kv"), w.n_head));
  if (w.n_head <= 0 || w.n_head_kv <= 0 || w.n_head % w.n_head_kv != 0) {
    return make_error(Errc::format, "bad head counts", path);
  }
  EF_ASSIGN_OR_RETURN(w.head_dim, f.get_int_or(key("attention.key_length"), w.n_embd / w.n_head));
  EF_ASSIGN_OR_RETURN(int64_t v_dim, f.get_int_or(key("attention.value_length"), w.head_dim));
  if (v_dim != w.head_dim) return make_error(Errc::unsupported, "value_length != key_length", path);
  EF_ASSIGN_OR_RETURN(w.n_rot, f.get_int_or(key("rope.dimension_count"), w.head_dim));
  EF_ASSIGN_OR_RETURN(float eps, f.get_f32_or(key("attention.layer_norm_rms_epsilon"), 1e-5f));
  EF_ASSIGN_OR_RETURN(float base, f.get_f32_or(key("rope.freq_base"), 10000.0f));
  w.rms_eps = eps;
  w.rope_freq_base = base;

  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (emb == nullptr) return make_error(Errc::format, "missing tensor", "token_embd.weight");
  w.n_vocab = emb->ne[1];
  EF_ASSIGN_OR_RETURN(w.token_embd, read_matrix(f, "token_embd.weight", w.n_embd, w.n_vocab));

  const int64_t q_dim = w.n_head * w.head_dim;
  const int64_t kv_dim = w.n_head_kv * w.head_dim;
  for (int64_t il = 0; il < n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    Layer L;
    EF_ASSIGN_OR_RETURN(L.attn_norm, read_vector(f, p + "attn_norm.weight", w.n_embd));
    EF_ASSIGN_OR_RETURN(L.wq, read_matrix(f, p + "attn_q.weight", w.n_embd, q_dim));
    EF_ASSIGN_OR_RETURN(L.wk, read_matrix(f, p + "attn_k.weight", w.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(L.wv, read_matrix(f, p + "attn_v.weight", w.n_embd, kv_dim));
    EF_ASSIGN_OR_RETURN(L.wo, read_matrix(f, p + "attn_output.weight", q_dim, w.n_embd));
    EF_ASSIGN_OR_RETURN(L.ffn_norm, read_vector(f, p + "ffn_norm.weight", w.n_embd));
    EF_ASSIGN_OR_RETURN(L.w_gate, read_matrix(f, p + "ffn_gate.weight", w.n_embd, w.n_ff));
    EF_ASSIGN_OR_RETURN(L.w_up, read_matrix(f, p + "ffn_up.weight", w.n_embd, w.n_ff));
    EF_ASSIGN_OR_RETURN(L.w_down, read_matrix(f, p + "ffn_down.weight", w.n_ff, w.n_embd));
    w.layers.push_back(std::move(L));
  }
  EF_ASSIGN_OR_RETURN(w.output_norm, read_vector(f, "output_norm.weight", w.n_embd));
  w.tied_output = f.find_tensor("output.weight") == nullptr;
  if (!w.tied_output) {
    EF_ASSIGN_OR_RETURN(w.output, read_matrix(f, "output.weight", w.n_embd, w.n_vocab));
  }
  return w;
}

std::vector<std::vector<double>> forward(const Weights& w, std::span<const int32_t> tokens,
                                         const Options& options) {
  const bool rnd = options.round_activations;
  const size_t n = tokens.size();
  const int64_t hd = w.head_dim;
  const int64_t group = w.n_head / w.n_head_kv;  // query heads per kv head
  const double kq_scale = 1.0 / std::sqrt(static_cast<double>(hd));

  // Residual stream, one row per position.
  std::vector<std::vector<double>> x(n);
  for (size_t t = 0; t < n; ++t) {
    const int64_t tok = tokens[t];
    x[t].assign(w.token_embd.data.begin() + tok * w.n_embd,
                w.token_embd.data.begin() + (tok + 1) * w.n_embd);
  }

  for (const Layer& L : w.layers) {
    // Projections for every position (no cache: all recomputed per layer).
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      const std::vector<double> h = rmsnorm(x[t], L.attn_norm, w.rms_eps);
      q[t] = matvec(L.wq, h, rnd);
      k[t] = matvec(L.wk, h, rnd);
      v[t] = matvec(L.wv, h, rnd);
      const auto pos = static_cast<int64_t>(t);
      for (int64_t hq = 0; hq < w.n_head; ++hq) rope(q[t], hq * hd, w.n_rot, pos, w.rope_freq_base, options.rope_float_angles);
      for (int64_t hk = 0; hk < w.n_head_kv; ++hk) rope(k[t], hk * hd, w.n_rot, pos, w.rope_freq_base, options.rope_float_angles);
      if (options.kv_f16) {
        for (double& e : k[t]) e = round_half(e);
        for (double& e : v[t]) e = round_half(e);
      }
    }
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> attn(static_cast<size_t>(w.n_head * hd), 0.0);
      for (int64_t hq = 0; hq < w.n_head; ++hq) {
        const int64_t hk = hq / group;
        // Causal: position t attends to s = 0..t.
        std::vector<double> score(t + 1);
        double max_score = -INFINITY;
        for (size_t s = 0; s <= t; ++s) {
          double dot = 0.0;
          for (int64_t i = 0; i < hd; ++i) {
            double qi = q[t][static_cast<size_t>(hq * hd + i)];
            if (options.attn_f16_operands) qi = round_half(qi);
            dot += qi * k[s][static_cast<size_t>(hk * hd + i)];
          }
          score[s] = dot * kq_scale;
          max_score = std::max(max_score, score[s]);
        }
        double sum = 0.0;
        for (double& sc : score) {
          sc = std::exp(sc - max_score);
          sum += sc;
        }
        for (size_t s = 0; s <= t; ++s) {
          double p = score[s] / sum;
          if (options.attn_f16_operands) p = round_half(p);
          for (int64_t i = 0; i < hd; ++i) {
            attn[static_cast<size_t>(hq * hd + i)] += p * v[s][static_cast<size_t>(hk * hd + i)];
          }
        }
      }
      const std::vector<double> o = matvec(L.wo, attn, rnd);
      for (int64_t i = 0; i < w.n_embd; ++i) x[t][static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
    }
    for (size_t t = 0; t < n; ++t) {
      const std::vector<double> h = rmsnorm(x[t], L.ffn_norm, w.rms_eps);
      const std::vector<double> g = matvec(L.w_gate, h, rnd);
      const std::vector<double> u = matvec(L.w_up, h, rnd);
      std::vector<double> a(g.size());
      for (size_t i = 0; i < g.size(); ++i) a[i] = silu(g[i]) * u[i];
      const std::vector<double> d = matvec(L.w_down, a, rnd);
      for (int64_t i = 0; i < w.n_embd; ++i) x[t][static_cast<size_t>(i)] += d[static_cast<size_t>(i)];
    }
  }

  const Matrix& out = w.tied_output ? w.token_embd : w.output;
  std::vector<std::vector<double>> logits(n);
  for (size_t t = 0; t < n; ++t) logits[t] = matvec(out, rmsnorm(x[t], w.output_norm, w.rms_eps), rnd);
  return logits;
}

}  // namespace ef::naive
