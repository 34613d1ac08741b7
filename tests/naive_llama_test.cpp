// Self-checks of the naive reference (tests/naive_llama.h) on in-memory
// weights, so a wrong reference cannot silently "confirm" a wrong engine:
// closed forms for degenerate models, causality, and GQA == MHA with
// duplicated kv heads.
#include "naive_llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/dtype.h"
#include "io/gguf.h"

namespace ef::naive {
namespace {

naive::Matrix random_matrix(int64_t rows, int64_t cols, std::mt19937& g, double scale) {
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  std::uniform_int_distribution<int> d(-1000, 1000);  // only used to fill test data
  for (int64_t i = 0; i < rows * cols; ++i) m.data.push_back(d(g) * scale / 1000.0);
  return m;
}

std::vector<double> random_vector(int64_t n, std::mt19937& g, double lo, double hi) {
  std::uniform_int_distribution<int> d(0, 1000);
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(lo + (hi - lo) * d(g) / 1000.0);
  return v;
}

Weights random_weights(int64_t n_head, int64_t n_head_kv, int64_t n_layer, uint32_t seed) {
  std::mt19937 g(seed);
  Weights w;
  w.n_vocab = 11;
  w.head_dim = 4;
  w.n_head = n_head;
  w.n_head_kv = n_head_kv;
  w.n_embd = 8;
  w.n_ff = 12;
  w.n_rot = 4;
  w.rms_eps = 1e-5;
  w.rope_freq_base = 10000.0;
  w.token_embd = random_matrix(w.n_vocab, w.n_embd, g, 1.0);
  for (int64_t l = 0; l < n_layer; ++l) {
    Layer L;
    L.attn_norm = random_vector(w.n_embd, g, 0.5, 1.5);
    L.wq = random_matrix(n_head * w.head_dim, w.n_embd, g, 0.5);
    L.wk = random_matrix(n_head_kv * w.head_dim, w.n_embd, g, 0.5);
    L.wv = random_matrix(n_head_kv * w.head_dim, w.n_embd, g, 0.5);
    L.wo = random_matrix(w.n_embd, n_head * w.head_dim, g, 0.5);
    L.ffn_norm = random_vector(w.n_embd, g, 0.5, 1.5);
    L.w_gate = random_matrix(w.n_ff, w.n_embd, g, 0.5);
    L.w_up = random_matrix(w.n_ff, w.n_embd, g, 0.5);
    L.w_down = random_matrix(w.n_embd, w.n_ff, g, 0.5);
    w.layers.push_back(std::move(L));
  }
  w.output_norm = random_vector(w.n_embd, g, 0.5, 1.5);
  w.output = random_matrix(w.n_vocab, w.n_embd, g, 1.0);
  return w;
}

void zero(Matrix& m) { std::fill(m.data.begin(), m.data.end(), 0.0); }

TEST(NaiveLlama, ZeroBlocksGiveNormalisedEmbeddingTimesOutput) {
  Weights w = random_weights(2, 2, 2, 1);
  for (Layer& L : w.layers) {
    zero(L.wo);      // attention adds nothing
    zero(L.w_down);  // FFN adds nothing
  }
  const std::vector<int32_t> tokens = {3, 7, 3};
  const auto logits = forward(w, tokens);
  ASSERT_EQ(logits.size(), 3u);
  for (size_t t = 0; t < tokens.size(); ++t) {
    // logits = W_out (x / rms(x) * g), x = embedding row.
    const double* x = &w.token_embd.data[static_cast<size_t>(tokens[t] * w.n_embd)];
    double ss = 0;
    for (int64_t i = 0; i < w.n_embd; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(w.n_embd) + w.rms_eps);
    for (int64_t r = 0; r < w.n_vocab; ++r) {
      double want = 0;
      for (int64_t i = 0; i < w.n_embd; ++i) {
        want += w.output.at(r, i) * x[i] * inv * w.output_norm[static_cast<size_t>(i)];
      }
      EXPECT_NEAR(logits[t][static_cast<size_t>(r)], want, 1e-12) << t << "," << r;
    }
  }
  // Tied output: the embedding matrix doubles as the output projection.
  Weights tied = w;
  tied.tied_output = true;
  tied.output = {};
  const auto lt = forward(tied, tokens);
  const double* x = &w.token_embd.data[static_cast<size_t>(3 * w.n_embd)];
  double ss = 0;
  for (int64_t i = 0; i < w.n_embd; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(w.n_embd) + w.rms_eps);
  double want = 0;
  for (int64_t i = 0; i < w.n_embd; ++i) {
    want += w.token_embd.at(5, i) * x[i] * inv * w.output_norm[static_cast<size_t>(i)];
  }
  EXPECT_NEAR(lt[0][5], want, 1e-12);
}

TEST(NaiveLlama, FirstPositionAttendsOnlyToItself) {
  // At position 0 the softmax has one entry and rope is the identity, so the
  // attention output is exactly Wo Wv h, whatever Wq and Wk are.
  Weights a = random_weights(2, 1, 1, 2);
  Weights b = a;
  std::mt19937 g(99);
  b.layers[0].wq = random_matrix(a.layers[0].wq.rows, a.layers[0].wq.cols, g, 3.0);
  b.layers[0].wk = random_matrix(a.layers[0].wk.rows, a.layers[0].wk.cols, g, 3.0);
  const std::vector<int32_t> tokens = {4};
  const auto la = forward(a, tokens), lb = forward(b, tokens);
  for (int64_t r = 0; r < a.n_vocab; ++r) EXPECT_NEAR(la[0][static_cast<size_t>(r)], lb[0][static_cast<size_t>(r)], 1e-12);
  // ...but the second position does depend on them (the test can fail).
  const std::vector<int32_t> two = {4, 9};
  EXPECT_GT(std::fabs(forward(a, two)[1][0] - forward(b, two)[1][0]), 1e-6);
}

TEST(NaiveLlama, IsCausal) {
  const Weights w = random_weights(4, 2, 2, 3);
  const std::vector<int32_t> full = {1, 5, 2, 9, 0, 7};
  const auto lf = forward(w, full);
  for (size_t t = 1; t <= full.size(); ++t) {
    const std::vector<int32_t> prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(t));
    const auto lp = forward(w, prefix);
    for (size_t s = 0; s < t; ++s) {
      for (size_t r = 0; r < lf[s].size(); ++r) EXPECT_NEAR(lp[s][r], lf[s][r], 1e-12);
    }
  }
}

TEST(NaiveLlama, GqaEqualsMhaWithRepeatedKvHeads) {
  // 4 query heads sharing 2 kv heads: heads {0,1} use kv 0, {2,3} use kv 1
  // (ggml broadcasts kv head h / (n_head / n_head_kv)).
  const Weights gqa = random_weights(4, 2, 2, 4);
  Weights mha = gqa;
  mha.n_head_kv = 4;
  for (Layer& L : mha.layers) {
    for (Matrix* m : {&L.wk, &L.wv}) {
      Matrix rep;
      rep.rows = 4 * gqa.head_dim;
      rep.cols = m->cols;
      for (int64_t h = 0; h < 4; ++h) {
        const int64_t src = h / 2;
        for (int64_t i = 0; i < gqa.head_dim * m->cols; ++i) {
          rep.data.push_back(m->data[static_cast<size_t>(src * gqa.head_dim * m->cols + i)]);
        }
      }
      *m = rep;
    }
  }
  const std::vector<int32_t> tokens = {2, 8, 8, 1, 10};
  const auto lg = forward(gqa, tokens), lm = forward(mha, tokens);
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (size_t r = 0; r < lg[t].size(); ++r) EXPECT_NEAR(lg[t][r], lm[t][r], 1e-12);
  }
  // A different grouping (h % n_head_kv) would differ: the test can fail.
  Weights wrong = mha;
  for (size_t l = 0; l < wrong.layers.size(); ++l) {
    for (int which = 0; which < 2; ++which) {
      const Matrix& src = which == 0 ? gqa.layers[l].wk : gqa.layers[l].wv;
      Matrix& dst = which == 0 ? wrong.layers[l].wk : wrong.layers[l].wv;
      dst.data.clear();
      for (int64_t h = 0; h < 4; ++h) {
        for (int64_t i = 0; i < gqa.head_dim * src.cols; ++i) {
          dst.data.push_back(src.data[static_cast<size_t>((h % 2) * gqa.head_dim * src.cols + i)]);
        }
      }
    }
  }
  const auto lw = forward(wrong, tokens);
  double diff = 0;
  for (size_t r = 0; r < lw.back().size(); ++r) diff = std::max(diff, std::fabs(lw.back()[r] - lg.back()[r]));
  EXPECT_GT(diff, 1e-6);
}

// --- loading from GGUF ------------------------------------------------------

std::vector<uint8_t> f32_bytes(const std::vector<double>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) {
    const float f = static_cast<float>(v[i]);
    std::memcpy(&b[i * 4], &f, 4);
  }
  return b;
}

// Writes `w` (values must be float-exact) as an F32 llama GGUF; `embd_type`
// and `embd_bytes` optionally replace token_embd with hand-encoded data.
std::string write_gguf(const Weights& w, const std::string& name, DType embd_type = DType::F32,
                       std::vector<uint8_t> embd_bytes = {}) {
  gguf::Writer wr;
  wr.set_string("general.architecture", "llama");
  wr.set_u32("llama.embedding_length", static_cast<uint32_t>(w.n_embd));
  wr.set_u32("llama.block_count", static_cast<uint32_t>(w.layers.size()));
  wr.set_u32("llama.feed_forward_length", static_cast<uint32_t>(w.n_ff));
  wr.set_u32("llama.attention.head_count", static_cast<uint32_t>(w.n_head));
  wr.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(w.n_head_kv));
  wr.set_u32("llama.attention.key_length", static_cast<uint32_t>(w.head_dim));
  wr.set_u32("llama.attention.value_length", static_cast<uint32_t>(w.head_dim));
  wr.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(w.n_rot));
  wr.set_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(w.rms_eps));
  wr.set_f32("llama.rope.freq_base", static_cast<float>(w.rope_freq_base));
  auto add = [&](const std::string& n, const std::vector<double>& v, int64_t cols, int64_t rows) {
    std::vector<int64_t> ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    const auto st = wr.add_tensor(n, DType::F32, ne, f32_bytes(v));
    EXPECT_TRUE(st.ok()) << n;
  };
  auto addm = [&](const std::string& n, const Matrix& m) { add(n, m.data, m.cols, m.rows); };
  if (embd_bytes.empty()) {
    addm("token_embd.weight", w.token_embd);
  } else {
    EXPECT_TRUE(wr.add_tensor("token_embd.weight", embd_type, {w.n_embd, w.n_vocab}, embd_bytes).ok());
  }
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const Layer& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", L.attn_norm, w.n_embd, 1);
    addm(p + "attn_q.weight", L.wq);
    addm(p + "attn_k.weight", L.wk);
    addm(p + "attn_v.weight", L.wv);
    addm(p + "attn_output.weight", L.wo);
    add(p + "ffn_norm.weight", L.ffn_norm, w.n_embd, 1);
    addm(p + "ffn_gate.weight", L.w_gate);
    addm(p + "ffn_up.weight", L.w_up);
    addm(p + "ffn_down.weight", L.w_down);
  }
  add("output_norm.weight", w.output_norm, w.n_embd, 1);
  if (!w.tied_output) addm("output.weight", w.output);
  const std::string path = ::testing::TempDir() + "/" + name + ".gguf";
  EXPECT_TRUE(wr.write(path).ok());
  return path;
}

// Rounds every weight to float so the F32 file stores it exactly.
void round_to_float(Weights& w) {
  auto r = [](std::vector<double>& v) {
    for (double& x : v) x = static_cast<float>(x);
  };
  r(w.token_embd.data);
  r(w.output.data);
  r(w.output_norm);
  for (Layer& L : w.layers) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) r(m->data);
    r(L.attn_norm);
    r(L.ffn_norm);
  }
}

TEST(NaiveLlama, LoadsF32GgufExactly) {
  Weights w = random_weights(4, 2, 2, 5);
  round_to_float(w);
  w.rms_eps = static_cast<float>(1e-5);
  const std::string path = write_gguf(w, "naive_f32");
  auto loaded = load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const Weights& l = loaded.value();
  EXPECT_EQ(l.n_vocab, w.n_vocab);
  EXPECT_EQ(l.n_head_kv, 2);
  EXPECT_FALSE(l.tied_output);
  EXPECT_EQ(l.layers[1].w_down.data, w.layers[1].w_down.data);
  const std::vector<int32_t> tokens = {1, 2, 3, 10};
  const auto a = forward(w, tokens), b = forward(l, tokens);
  for (size_t t = 0; t < tokens.size(); ++t) EXPECT_EQ(a[t], b[t]);

  Weights tied = w;
  tied.tied_output = true;
  auto lt = load(write_gguf(tied, "naive_tied"));
  ASSERT_TRUE(lt.ok()) << lt.error().message();
  EXPECT_TRUE(lt.value().tied_output);
}

TEST(NaiveLlama, DecodesQuantizedAndHalfTypes) {
  // n_embd = 32 so one row is one block; vocab of 11 rows. Hand-encoded:
  // row r: Q8_0 with d = 0.5 (fp16 0x3800), q_j = j - 16 + r
  //        Q4_0 with d = 0.25 (fp16 0x3400), nibble j -> (j + r) & 15
  Weights w = random_weights(1, 1, 1, 6);
  w.n_embd = 32;
  w.head_dim = 32;
  w.n_rot = 32;
  std::mt19937 g(7);
  w.token_embd = random_matrix(w.n_vocab, 32, g, 1.0);
  w.layers[0].attn_norm.assign(32, 1.0);
  w.layers[0].ffn_norm.assign(32, 1.0);
  w.layers[0].wq = random_matrix(32, 32, g, 0.1);
  w.layers[0].wk = random_matrix(32, 32, g, 0.1);
  w.layers[0].wv = random_matrix(32, 32, g, 0.1);
  w.layers[0].wo = random_matrix(32, 32, g, 0.1);
  w.layers[0].w_gate = random_matrix(w.n_ff, 32, g, 0.1);
  w.layers[0].w_up = random_matrix(w.n_ff, 32, g, 0.1);
  w.layers[0].w_down = random_matrix(32, w.n_ff, g, 0.1);
  w.output_norm.assign(32, 1.0);
  w.output = random_matrix(w.n_vocab, 32, g, 0.1);
  round_to_float(w);

  std::vector<uint8_t> q8, q4, f16, bf16;
  for (int r = 0; r < w.n_vocab; ++r) {
    q8.push_back(0x00);
    q8.push_back(0x38);
    for (int j = 0; j < 32; ++j) q8.push_back(static_cast<uint8_t>(static_cast<int8_t>(j - 16 + r)));
    q4.push_back(0x00);
    q4.push_back(0x34);
    for (int j = 0; j < 16; ++j) {
      q4.push_back(static_cast<uint8_t>(((j + r) & 15) | (((j + 16 + r) & 15) << 4)));
    }
    for (int j = 0; j < 32; ++j) {
      // f16: 1.5 * 2^(j % 5 - 2), sign by row parity; bf16: -3.0 * 2^(j % 3).
      const uint16_t h = static_cast<uint16_t>(((r & 1) << 15) | ((15 + j % 5 - 2) << 10) | 0x200);
      f16.push_back(static_cast<uint8_t>(h & 0xff));
      f16.push_back(static_cast<uint8_t>(h >> 8));
      const uint16_t b = static_cast<uint16_t>(0xc000 | ((128 + j % 3) << 7) | 0x40);
      bf16.push_back(static_cast<uint8_t>(b & 0xff));
      bf16.push_back(static_cast<uint8_t>(b >> 8));
    }
  }
  struct Case {
    DType type;
    std::vector<uint8_t> bytes;
    double (*want)(int r, int j);
  };
  const Case cases[] = {
      {DType::Q8_0, q8, [](int r, int j) { return 0.5 * (j - 16 + r); }},
      {DType::Q4_0, q4, [](int r, int j) { return 0.25 * (((j + r) & 15) - 8); }},
      {DType::F16, f16, [](int r, int j) { return ((r & 1) ? -1.5 : 1.5) * std::ldexp(1.0, j % 5 - 2); }},
      {DType::BF16, bf16, [](int, int j) { return -3.0 * std::ldexp(1.0, j % 3); }},
  };
  for (const Case& c : cases) {
    auto l = load(write_gguf(w, std::string("naive_") + dtype_name(c.type), c.type, c.bytes));
    ASSERT_TRUE(l.ok()) << l.error().message();
    for (int r = 0; r < w.n_vocab; ++r) {
      for (int j = 0; j < 32; ++j) {
        ASSERT_EQ(l.value().token_embd.at(r, j), c.want(r, j)) << dtype_name(c.type) << " " << r << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace ef::naive
