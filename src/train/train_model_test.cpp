// Whole-model checks of TrainModel: central finite differences of the loss
// against backward() for a sample of every tensor's elements (MHA, GQA, MQA,
// tied and untied heads, partial RoPE), bitwise thread-count independence,
// gradient accumulation, memory planning and GGUF round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "io/gguf.h"
#include "model/tiny_model.h"
#include "train/train_model.h"

namespace ef::train {
namespace {

ModelConfig tiny_config(int64_t n_head, int64_t n_head_kv, bool tied, int64_t n_rot = 0) {
  ModelConfig c;
  c.n_vocab = 19;
  c.n_ctx_train = 8;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_ff = 10;
  c.n_head = n_head;
  c.n_head_kv = n_head_kv;
  c.head_dim = c.n_embd / n_head;
  c.n_rot = n_rot > 0 ? n_rot : c.head_dim;
  c.tied_output = tied;
  return c;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t& t : v) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return v;
}

// Larger-than-default weights so every path carries signal.
void scale_init(TrainModel& m, uint64_t seed) {
  m.init_random(seed);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> d(0.0f, 0.1f);
  for (const ParamInfo& p : m.layout()) {
    float* w = m.params() + p.offset;
    for (int64_t i = 0; i < p.count; ++i) w[i] = p.is_norm ? 1.0f + d(rng) : w[i] * 25.0f;
  }
}

void whole_model_fd(const ModelConfig& c) {
  const int64_t B = 2, T = 5;
  auto m_or = TrainModel::create(c, B, T, 1);
  ASSERT_TRUE(m_or.ok()) << m_or.error().message();
  TrainModel& m = **m_or;
  scale_init(m, 7);
  const auto ids = random_tokens(B * T, c.n_vocab, 1), tg = random_tokens(B * T, c.n_vocab, 2);
  m.zero_grad();
  m.forward(ids.data(), tg.data());
  m.backward(1.0f);
  std::vector<float> grads(m.grads(), m.grads() + m.n_params());
  double gmax = 0.0;
  for (float g : grads) gmax = std::max(gmax, static_cast<double>(std::fabs(g)));
  double worst = 0.0;
  std::mt19937 rng(3);
  for (const ParamInfo& p : m.layout()) {
    for (int k = 0; k < 6; ++k) {
      const int64_t i = p.offset + static_cast<int64_t>(rng() % static_cast<uint32_t>(p.count));
      float* w = m.params() + i;
      const float saved = *w;
      auto central = [&](float h) {
        *w = saved + h;
        const double up = static_cast<double>(*w) - saved;
        const double lp = m.forward(ids.data(), tg.data());
        *w = saved - h;
        const double down = saved - static_cast<double>(*w);
        const double lm = m.forward(ids.data(), tg.data());
        *w = saved;
        return (lp - lm) / (up + down);
      };
      const double fd = (4.0 * central(5e-3f) - central(1e-2f)) / 3.0;
      const double an = grads[static_cast<size_t>(i)];
      const double err = std::fabs(fd - an) / (std::fabs(fd) + std::fabs(an) + 1e-2 * gmax);
      EXPECT_LT(err, 1e-2) << p.name << " [" << i - p.offset << "]: fd " << fd << " analytic " << an;
      worst = std::max(worst, err);
    }
  }
  std::printf("    whole model fd: max rel err %.2e (6 samples per tensor, max |grad| %.3f)\n",
              worst, gmax);
}

TEST(TrainModelFd, MhaUntied) { whole_model_fd(tiny_config(2, 2, false)); }
TEST(TrainModelFd, GqaTied) { whole_model_fd(tiny_config(4, 2, true)); }
TEST(TrainModelFd, MqaPartialRope) { whole_model_fd(tiny_config(2, 1, false, 4)); }
TEST(TrainModelFd, SlidingWindowPattern) {
  // Window 2 < T = 5 on layer 0, layer 1 global (pattern 2).
  ModelConfig c = tiny_config(4, 2, false);
  c.n_swa = 2;
  c.swa_pattern = 2;
  whole_model_fd(c);
}

TEST(TrainModel, GradientsBitIdenticalAcrossThreadCounts) {
  ModelConfig swa = tiny_config(4, 2, false);
  swa.n_swa = 3;  // layer 0 windowed, layer 1 global
  swa.swa_pattern = 2;
  for (const ModelConfig& c : {tiny_config(4, 2, false), swa}) {
    const int64_t B = 3, T = 7;
    const auto ids = random_tokens(B * T, c.n_vocab, 4), tg = random_tokens(B * T, c.n_vocab, 5);
    std::vector<std::vector<float>> grads;
    std::vector<float> losses;
    for (int threads : {1, 2, 4}) {
      auto m = TrainModel::create(c, B, T, threads);
      ASSERT_TRUE(m.ok());
      (*m)->init_random(9);
      (*m)->zero_grad();
      losses.push_back((*m)->forward(ids.data(), tg.data()));
      (*m)->backward(1.0f);
      grads.emplace_back((*m)->grads(), (*m)->grads() + (*m)->n_params());
    }
    EXPECT_EQ(losses[0], losses[1]);
    EXPECT_EQ(losses[0], losses[2]);
    EXPECT_EQ(grads[0], grads[1]);
    EXPECT_EQ(grads[0], grads[2]);
    // Not trivially zero.
    double norm = 0.0;
    for (float g : grads[0]) norm += static_cast<double>(g) * g;
    EXPECT_GT(norm, 0.0);
  }
}

TEST(TrainModel, LossScaleScalesGradients) {
  const ModelConfig c = tiny_config(2, 2, true);
  auto m = TrainModel::create(c, 2, 4, 1);
  ASSERT_TRUE(m.ok());
  (*m)->init_random(1);
  const auto ids = random_tokens(8, c.n_vocab, 6), tg = random_tokens(8, c.n_vocab, 7);
  (*m)->zero_grad();
  (*m)->forward(ids.data(), tg.data());
  (*m)->backward(1.0f);
  std::vector<float> once((*m)->grads(), (*m)->grads() + (*m)->n_params());
  // Two accumulated backward passes at scale 0.5 give the same gradient
  // (0.5 is exact in binary, so up to one rounding per add).
  (*m)->zero_grad();
  for (int k = 0; k < 2; ++k) {
    (*m)->forward(ids.data(), tg.data());
    (*m)->backward(0.5f);
  }
  for (int64_t i = 0; i < (*m)->n_params(); ++i) {
    ASSERT_NEAR((*m)->grads()[i], once[static_cast<size_t>(i)], 1e-6f + 1e-5f * std::fabs(once[static_cast<size_t>(i)]));
  }
}

TEST(TrainModel, RejectsBadShapesAndHugeConfigs) {
  ModelConfig c = tiny_config(2, 2, false);
  EXPECT_FALSE(TrainModel::create(c, 2, 9, 1).ok());   // T > context
  EXPECT_FALSE(TrainModel::create(c, 0, 4, 1).ok());   // no batch
  c.n_head_kv = 3;                                     // does not divide
  EXPECT_FALSE(TrainModel::create(c, 2, 4, 1).ok());
  ModelConfig huge = tiny_config(2, 2, false);
  huge.n_vocab = 1 << 24;
  huge.n_embd = 65536;
  huge.head_dim = 65536 / 2;
  huge.n_rot = huge.head_dim;
  huge.n_ctx_train = 1 << 20;
  auto plan = plan_memory(huge, 65536, 1 << 20, 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code, Errc::out_of_memory);
}

// A model saved by TrainModel runs in Model/Session with the same logits
// (all positions of one prefill), for every session variant given; then
// loads back into a TrainModel bit for bit. Returns the loaded config.
ModelConfig saved_gguf_matches_inference(const ModelConfig& c, const std::string& name,
                                         const std::vector<SessionOptions>& variants) {
  const std::string dir = ::testing::TempDir();
  const std::string vocab_path = dir + "/train_vocab.gguf";
  TinyModelSpec spec;
  spec.n_embd = 32;
  spec.n_ff = 64;
  spec.n_vocab_synthetic = static_cast<int>(c.n_vocab);
  EXPECT_TRUE(write_tiny_llama(vocab_path, spec).ok());
  auto vocab = gguf::File::open(vocab_path);
  EXPECT_TRUE(vocab.ok());
  if (!vocab.ok()) return {};
  const int64_t T = c.n_ctx_train;
  auto m = TrainModel::create(c, 1, T, 2);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  if (!m.ok()) return {};
  scale_init(**m, 3);
  const std::string out = dir + "/" + name + ".gguf";
  EXPECT_TRUE((*m)->save_gguf(out, **vocab, 5).ok());
  const auto ids = random_tokens(T, c.n_vocab, 8);
  (*m)->forward(ids.data(), nullptr);

  auto model = Model::load(out);
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message());
  if (!model.ok()) return {};
  for (const SessionOptions& so : variants) {
    auto session = Session::create(**model, so);
    EXPECT_TRUE(session.ok()) << (session.ok() ? "" : session.error().message());
    if (!session.ok()) continue;
    auto logits = (*session)->eval(ids, true);
    EXPECT_TRUE(logits.ok());
    if (!logits.ok()) continue;
    EXPECT_EQ(static_cast<int64_t>(logits->size()), T * c.n_vocab);
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < logits->size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs((*logits)[i] - (*m)->logits()[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::fabs((*logits)[i])));
    }
    std::printf("    %s (flash_attn %d, n_ubatch %lld): logits max rel diff %.2e vs Session\n",
                name.c_str(), so.flash_attn ? 1 : 0, static_cast<long long>(so.n_ubatch),
                max_diff / max_ref);
    // Same F32 arithmetic up to summation order (observed <= 1e-6).
    EXPECT_LT(max_diff / max_ref, 2e-5)
        << name << " flash_attn " << so.flash_attn << " n_ubatch " << so.n_ubatch << ": "
        << max_diff << " / " << max_ref;
  }

  // And loads back into a TrainModel bit for bit.
  auto file = gguf::File::open(out);
  EXPECT_TRUE(file.ok());
  if (!file.ok()) return {};
  auto loaded = ModelConfig::from_gguf(**file);
  EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().message());
  if (!loaded.ok()) return {};
  auto m2 = TrainModel::create(*loaded, 1, T, 1);
  EXPECT_TRUE(m2.ok());
  if (!m2.ok()) return {};
  EXPECT_TRUE((*m2)->load_gguf(**file).ok());
  EXPECT_EQ((*m2)->n_params(), (*m)->n_params());
  EXPECT_EQ(0, std::memcmp((*m2)->params(), (*m)->params(), (*m)->n_params() * sizeof(float)));
  return *loaded;
}

SessionOptions session_options(bool flash_attn, int64_t n_ubatch) {
  SessionOptions so;
  so.kv_type = KvType::f32;
  so.n_threads = 2;
  so.flash_attn = flash_attn;
  so.n_ubatch = n_ubatch;
  return so;
}

ModelConfig inference_config() {
  ModelConfig c = tiny_config(4, 2, false);
  c.n_vocab = 400;
  c.n_embd = 32;
  c.head_dim = 8;
  c.n_rot = 8;
  c.n_ff = 64;
  c.n_ctx_train = 16;
  return c;
}

TEST(TrainModel, SavedGgufLoadsAndMatchesInference) {
  saved_gguf_matches_inference(inference_config(), "trained", {session_options(true, 512)});
}

TEST(TrainModel, SlidingWindowGgufMatchesInference) {
  // 3 layers, window 5 < T = 16, pattern 3: layers 0 and 1 windowed, layer 2
  // global. The engine runs windowed layers on a ring cache of W + n_ubatch
  // - 1 rows under flash attention (micro-batches of 4 wrap it), and on the
  // masked score matrix without.
  ModelConfig c = inference_config();
  c.n_layer = 3;
  c.n_swa = 5;
  c.swa_pattern = 3;
  const ModelConfig loaded = saved_gguf_matches_inference(
      c, "trained_swa",
      {session_options(true, 512), session_options(true, 4), session_options(false, 3)});
  EXPECT_EQ(loaded.n_swa, 5);
  EXPECT_EQ(loaded.swa_pattern, 3);
  EXPECT_TRUE(loaded.is_swa(0));
  EXPECT_TRUE(loaded.is_swa(1));
  EXPECT_FALSE(loaded.is_swa(2));
  // The window matters: the same weights with full attention give other logits.
  ModelConfig full = c;
  full.n_swa = 0;
  auto a = TrainModel::create(c, 1, c.n_ctx_train, 1);
  auto b = TrainModel::create(full, 1, c.n_ctx_train, 1);
  ASSERT_TRUE(a.ok() && b.ok());
  scale_init(**a, 3);
  scale_init(**b, 3);
  const auto ids = random_tokens(c.n_ctx_train, c.n_vocab, 8);
  (*a)->forward(ids.data(), nullptr);
  (*b)->forward(ids.data(), nullptr);
  const int64_t V = c.n_vocab;
  // Positions < W see the same keys either way; later ones differ.
  EXPECT_EQ(0, std::memcmp((*a)->logits(), (*b)->logits(), 5 * V * sizeof(float)));
  EXPECT_NE(0, std::memcmp((*a)->logits() + 5 * V, (*b)->logits() + 5 * V, V * sizeof(float)));
}

// ---- deepseek2 (MLA) -------------------------------------------------------

ModelConfig mla_config(int64_t q_lora_rank, bool tied) {
  ModelConfig c;
  c.architecture = "deepseek2";
  c.n_vocab = 19;
  c.n_ctx_train = 8;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_ff = 10;
  c.n_head = 2;
  c.n_head_kv = 2;
  c.kv_lora_rank = 6;
  c.n_rot = 4;         // decoupled RoPE dims
  c.head_dim = 3 + 4;  // nope 3 + rope 4
  c.head_dim_v = 5;
  c.q_lora_rank = q_lora_rank;
  c.n_layer_dense_lead = c.n_layer;
  c.tied_output = tied;
  return c;
}

TEST(TrainModelFd, MlaPlainQuery) { whole_model_fd(mla_config(0, false)); }
TEST(TrainModelFd, MlaLowRankQueryTied) { whole_model_fd(mla_config(5, true)); }

TEST(TrainModel, MlaLayoutIsLlamaCppDeepseek2) {
  const auto layout = param_layout(mla_config(0, false));
  const std::vector<std::string> blk0 = {
      "blk.0.attn_norm.weight",    "blk.0.attn_q.weight",         "blk.0.attn_kv_a_mqa.weight",
      "blk.0.attn_kv_a_norm.weight", "blk.0.attn_k_b.weight",     "blk.0.attn_v_b.weight",
      "blk.0.attn_output.weight",  "blk.0.ffn_norm.weight",       "blk.0.ffn_gate.weight",
      "blk.0.ffn_up.weight",       "blk.0.ffn_down.weight"};
  for (size_t i = 0; i < blk0.size(); ++i) EXPECT_EQ(layout[1 + i].name, blk0[i]);
  EXPECT_EQ(layout[3].ne, (std::vector<int64_t>{16, 6 + 4}));  // kv_a_mqa {C, r + rope}
  EXPECT_EQ(layout[5].ne, (std::vector<int64_t>{3, 6, 2}));    // k_b {nope, r, NH}
  EXPECT_EQ(layout[6].ne, (std::vector<int64_t>{6, 5, 2}));    // v_b {r, hv, NH}
  EXPECT_EQ(layout[7].ne, (std::vector<int64_t>{10, 16}));     // attn_output {NH*hv, C}
  const auto lora = param_layout(mla_config(5, false));
  EXPECT_EQ(lora[2].name, "blk.0.attn_q_a.weight");
  EXPECT_EQ(lora[3].name, "blk.0.attn_q_a_norm.weight");
  EXPECT_TRUE(lora[3].is_norm);
  EXPECT_EQ(lora[4].ne, (std::vector<int64_t>{5, 14}));  // q_b {ql, NH*hk}
}

TEST(TrainModel, MlaGradientsBitIdenticalAcrossThreadCounts) {
  const ModelConfig c = mla_config(5, false);
  const int64_t B = 3, T = 7;
  const auto ids = random_tokens(B * T, c.n_vocab, 4), tg = random_tokens(B * T, c.n_vocab, 5);
  std::vector<std::vector<float>> grads;
  for (int threads : {1, 2, 3}) {
    auto m = TrainModel::create(c, B, T, threads);
    ASSERT_TRUE(m.ok()) << m.error().message();
    scale_init(**m, 9);
    (*m)->zero_grad();
    (*m)->forward(ids.data(), tg.data());
    (*m)->backward(1.0f);
    grads.emplace_back((*m)->grads(), (*m)->grads() + (*m)->n_params());
  }
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_EQ(grads[0], grads[2]);
  // Every tensor gets a gradient.
  for (const ParamInfo& p : param_layout(c)) {
    double norm = 0.0;
    for (int64_t i = 0; i < p.count; ++i) norm += std::fabs(grads[0][static_cast<size_t>(p.offset + i)]);
    EXPECT_GT(norm, 0.0) << p.name;
  }
}

ModelConfig mla_inference_config(int64_t q_lora_rank) {
  ModelConfig c = mla_config(q_lora_rank, false);
  c.n_vocab = 400;
  c.n_embd = 32;
  c.n_head = 4;
  c.n_head_kv = 4;
  c.kv_lora_rank = 16;
  c.n_rot = 4;
  c.head_dim = 8 + 4;
  c.head_dim_v = 6;
  c.n_ff = 64;
  c.n_ctx_train = 16;
  return c;
}

TEST(TrainModel, MlaGgufMatchesInference) {
  // Session runs the absorbed form over the latent cache (one micro-batch,
  // and micro-batches of 5 that attend to earlier ones).
  for (int64_t ql : {int64_t{0}, int64_t{12}}) {
    const ModelConfig c = mla_inference_config(ql);
    const ModelConfig loaded = saved_gguf_matches_inference(
        c, "trained_mla_" + std::to_string(ql),
        {session_options(true, 512), session_options(true, 5)});
    EXPECT_EQ(loaded.architecture, "deepseek2");
    EXPECT_EQ(loaded.kv_lora_rank, c.kv_lora_rank);
    EXPECT_EQ(loaded.q_lora_rank, ql);
    EXPECT_EQ(loaded.head_dim, c.head_dim);
    EXPECT_EQ(loaded.head_dim_v, c.head_dim_v);
    EXPECT_EQ(loaded.n_rot, c.n_rot);
    EXPECT_FALSE(loaded.mla_legacy_kv_b);
  }
}

}  // namespace
}  // namespace ef::train
