// Self-checks of the naive reference (tests/naive_llama.h) on in-memory
// weights, so a wrong reference cannot silently "confirm" a wrong engine:
// closed forms for degenerate models, causality, and GQA == MHA with
// duplicated kv heads.
#include "naive_llama.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

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

}  // namespace
}  // namespace ef::naive
