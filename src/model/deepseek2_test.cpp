// deepseek2 / Multi-head Latent Attention: the engine against the naive
// double-precision reference, absorbed vs decompressed attention, the latent
// cache's size, and config/file validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "io/gguf.h"
#include "model/deepseek2_cache.h"
#include "model/deepseek2_forward.h"
#include "model/tiny_deepseek2.h"
#include "naive_deepseek2.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("ds2_" + name)).string();
}

std::vector<int32_t> test_tokens(int n, int n_vocab) {
  std::vector<int32_t> t;
  uint32_t s = 12345;
  for (int i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    t.push_back(static_cast<int32_t>(s % static_cast<uint32_t>(n_vocab)));
  }
  return t;
}

std::unique_ptr<Model> write_and_load(const std::string& name, const TinyDeepseek2Spec& spec) {
  const std::string path = temp_path(name);
  Status st = write_tiny_deepseek2(path, spec);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return m.ok() ? std::move(m).value() : nullptr;
}

struct Variant {
  const char* name;
  int64_t q_lora_rank;
  bool legacy_kv_b;
};

class Deepseek2Variants : public ::testing::TestWithParam<Variant> {};

// Every position's logits equal the naive double-precision reference (F32
// weights, F32 cache), for prompts split into micro-batches of 5.
TEST_P(Deepseek2Variants, MatchesNaiveReferenceEveryPosition) {
  const Variant v = GetParam();
  TinyDeepseek2Spec spec;
  spec.q_lora_rank = v.q_lora_rank;
  spec.legacy_kv_b = v.legacy_kv_b;
  spec.seed = 7;
  const std::string path = temp_path(std::string(v.name) + ".gguf");
  ASSERT_TRUE(write_tiny_deepseek2(path, spec).ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.architecture, "deepseek2");
  EXPECT_EQ(c.mla_legacy_kv_b, v.legacy_kv_b);
  EXPECT_EQ(c.q_lora_rank, v.q_lora_rank);

  const auto tokens = test_tokens(23, static_cast<int>(c.n_vocab));
  auto ref = naive::deepseek2_logits(path, tokens);
  ASSERT_TRUE(ref.ok()) << ref.error().message();

  SessionOptions o;
  o.kv_type = KvType::f32;
  o.n_ubatch = 5;
  o.n_threads = 2;
  auto session = Session::create(**model, o);
  ASSERT_TRUE(session.ok()) << session.error().message();
  auto logits = (*session)->eval(tokens, /*all_logits=*/true);
  ASSERT_TRUE(logits.ok()) << logits.error().message();
  ASSERT_EQ(logits->size(), ref->size());
  double max_err = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < ref->size(); ++i) {
    max_err = std::max(max_err, std::abs((*logits)[i] - (*ref)[i]));
    max_ref = std::max(max_ref, std::abs((*ref)[i]));
  }
  EXPECT_GT(max_ref, 0.1);  // the comparison is not trivially between zeros
  EXPECT_LT(max_err, 2e-4 * std::max(1.0, max_ref)) << "max |engine - reference|";
}

INSTANTIATE_TEST_SUITE_P(Layouts, Deepseek2Variants,
                         ::testing::Values(Variant{"plain_q_split", 0, false},
                                           Variant{"plain_q_legacy", 0, true},
                                           Variant{"lora_q_split", 32, false},
                                           Variant{"lora_q_legacy", 32, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// The absorbed form (decode path) equals explicit decompression at every
// position with an F32 cache, fed one token at a time.
TEST(Deepseek2Mla, AbsorbedEqualsDecompressedEveryPosition) {
  TinyDeepseek2Spec spec;
  spec.q_lora_rank = 32;
  auto model = write_and_load("absorb.gguf", spec);
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config();
  const auto tokens = test_tokens(40, static_cast<int>(c.n_vocab));
  const int64_t n_ctx = 64;
  ThreadPool pool(2);
  std::vector<float> logits[2];
  for (int mode = 0; mode < 2; ++mode) {
    auto cache = MlaCache::create(c.n_layer, n_ctx, c.kv_lora_rank, c.n_rot, KvType::f32);
    ASSERT_TRUE(cache.ok());
    auto scratch = Deepseek2Scratch::create(c, 1, n_ctx, 2, /*decompressed=*/mode == 1);
    ASSERT_TRUE(scratch.ok());
    logits[mode].resize(tokens.size() * static_cast<size_t>(c.n_vocab));
    for (size_t t = 0; t < tokens.size(); ++t) {
      deepseek2_forward(c, *model->deepseek2_weights(), *cache, *scratch, pool, &tokens[t], 1,
                        static_cast<int64_t>(t), 0, logits[mode].data() + t * c.n_vocab,
                        mode == 0 ? MlaMode::absorbed : MlaMode::decompressed);
    }
  }
  double max_err = 0.0, max_abs = 0.0;
  for (size_t i = 0; i < logits[0].size(); ++i) {
    max_err = std::max(max_err, static_cast<double>(std::abs(logits[0][i] - logits[1][i])));
    max_abs = std::max(max_abs, static_cast<double>(std::abs(logits[1][i])));
  }
  EXPECT_GT(max_abs, 0.1);
  EXPECT_LT(max_err, 1e-5 * std::max(1.0, max_abs));
}

// Flash attention over the latent cache (dk = r + rope, dv = r), run in
// micro-batches of 5 across the 64-position tiles, equals explicit
// decompression fed one token at a time (F32 and F16 caches; the F16 cache
// rounds latents, which both forms read).
TEST(Deepseek2Mla, FlashEqualsDecompressed) {
  TinyDeepseek2Spec spec;
  spec.q_lora_rank = 32;
  auto model = write_and_load("flash.gguf", spec);
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config();
  const auto tokens = test_tokens(70, static_cast<int>(c.n_vocab));
  const int64_t n_ctx = 80, ub = 5;
  ThreadPool pool(2);
  for (KvType kv : {KvType::f32, KvType::f16}) {
    std::vector<float> logits[2];
    for (int mode = 0; mode < 2; ++mode) {
      auto cache = MlaCache::create(c.n_layer, n_ctx, c.kv_lora_rank, c.n_rot, kv);
      ASSERT_TRUE(cache.ok());
      const int64_t step = mode == 0 ? ub : 1;
      auto scratch = Deepseek2Scratch::create(c, step, n_ctx, 2, /*decompressed=*/mode == 1);
      ASSERT_TRUE(scratch.ok());
      logits[mode].resize(tokens.size() * static_cast<size_t>(c.n_vocab));
      for (size_t t = 0; t < tokens.size(); t += static_cast<size_t>(step)) {
        const int64_t len = std::min<int64_t>(step, static_cast<int64_t>(tokens.size() - t));
        deepseek2_forward(c, *model->deepseek2_weights(), *cache, *scratch, pool, &tokens[t], len,
                          static_cast<int64_t>(t), 0, logits[mode].data() + t * c.n_vocab,
                          mode == 0 ? MlaMode::flash : MlaMode::decompressed);
      }
    }
    double max_err = 0.0, max_abs = 0.0;
    for (size_t i = 0; i < logits[0].size(); ++i) {
      max_err = std::max(max_err, static_cast<double>(std::abs(logits[0][i] - logits[1][i])));
      max_abs = std::max(max_abs, static_cast<double>(std::abs(logits[1][i])));
    }
    EXPECT_GT(max_abs, 0.1);
    EXPECT_LT(max_err, 1e-4 * std::max(1.0, max_abs)) << (kv == KvType::f16 ? "f16" : "f32");
  }
}

// The cache holds only latent + shared RoPE key per token and layer.
TEST(Deepseek2Mla, CacheBytesPerTokenAreLatentPlusRope) {
  TinyDeepseek2Spec spec;
  auto model = write_and_load("bytes.gguf", spec);
  ASSERT_NE(model, nullptr);
  const ModelConfig& c = model->config();
  for (KvType type : {KvType::f16, KvType::f32}) {
    SessionOptions o;
    o.n_ctx = 100;
    o.kv_type = type;
    auto s = Session::create(*model, o);
    ASSERT_TRUE(s.ok());
    const uint64_t elem = type == KvType::f16 ? 2 : 4;
    EXPECT_EQ((*s)->kv_cache_bytes(),
              100u * static_cast<uint64_t>(spec.n_layer * (spec.kv_lora_rank + spec.rope_dim)) * elem);
    // Far smaller than an MHA cache of the decompressed keys and values.
    EXPECT_LT((*s)->kv_cache_bytes(),
              100u * static_cast<uint64_t>(c.n_layer * c.n_head * (c.head_dim + c.head_dim_v)) * elem);
  }
}

// Session: any micro-batch split gives identical logits (F16 cache).
TEST(Deepseek2Mla, SessionSplitsAgree) {
  TinyDeepseek2Spec spec;
  auto model = write_and_load("split.gguf", spec);
  ASSERT_NE(model, nullptr);
  const auto tokens = test_tokens(30, static_cast<int>(model->config().n_vocab));
  std::vector<float> first;
  for (int64_t ub : {1, 7, 64}) {
    SessionOptions o;
    o.n_ubatch = ub;
    o.n_threads = ub == 7 ? 1 : 2;
    auto s = Session::create(*model, o);
    ASSERT_TRUE(s.ok());
    auto l = (*s)->eval(tokens, true);
    ASSERT_TRUE(l.ok());
    std::vector<float> got(l->begin(), l->end());
    if (first.empty()) first = got;
    else EXPECT_EQ(got, first) << "n_ubatch " << ub;
  }
}

TEST(Deepseek2Config, MixtureOfExpertsIsUnsupported) {
  TinyDeepseek2Spec spec;
  spec.n_expert = 4;
  const std::string path = temp_path("moe.gguf");
  ASSERT_TRUE(write_tiny_deepseek2(path, spec).ok());
  auto m = Model::load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::unsupported);
  EXPECT_NE(m.error().what.find("mixture-of-experts not supported yet"), std::string::npos)
      << m.error().message();
}

TEST(Deepseek2Config, ValidationErrorsNameTheKey) {
  TinyDeepseek2Spec spec;
  auto model = write_and_load("valid.gguf", spec);
  ASSERT_NE(model, nullptr);
  const ModelConfig good = model->config();
  ASSERT_TRUE(good.validate().ok());
  struct Case {
    void (*mutate)(ModelConfig&);
    const char* key;
  };
  const Case cases[] = {
      {[](ModelConfig& c) { c.kv_lora_rank = 0; }, "kv_lora_rank"},
      {[](ModelConfig& c) { c.q_lora_rank = -1; }, "q_lora_rank"},
      {[](ModelConfig& c) { c.n_rot = 3; }, "rope.dimension_count"},
      {[](ModelConfig& c) { c.n_rot = c.head_dim; }, "rope.dimension_count"},
      {[](ModelConfig& c) { c.head_dim_v = 0; }, "value_length_mla"},
      {[](ModelConfig& c) { c.n_layer_dense_lead = 1; }, "leading_dense_block_count"},
      {[](ModelConfig& c) { c.rms_eps = 0.0f; }, "layer_norm_rms_epsilon"},
      {[](ModelConfig& c) { c.n_head = 0; }, "head_count"},
  };
  for (const Case& k : cases) {
    ModelConfig c = good;
    k.mutate(c);
    Status st = c.validate();
    ASSERT_FALSE(st.ok()) << k.key;
    EXPECT_NE(st.error().where.find(k.key), std::string::npos)
        << k.key << ": " << st.error().message();
  }
}

TEST(Deepseek2Config, MissingAndMisshapenTensorsAreClearErrors) {
  // A legacy file whose kv_b has the wrong width for its head sizes.
  TinyDeepseek2Spec spec;
  spec.legacy_kv_b = true;
  const std::string path = temp_path("bad_shape.gguf");
  ASSERT_TRUE(write_tiny_deepseek2(path, spec).ok());
  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.ok());
  gguf::Writer w;
  w.copy_metadata(**file, [](std::string_view key) { return key == "deepseek2.attention.value_length"; });
  w.set_u32("deepseek2.attention.value_length", static_cast<uint32_t>(spec.v_dim + 2));
  for (const auto& t : (*file)->tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + std::max(t.n_dims, 1));
    ASSERT_TRUE(w.add_tensor_view(t.name, t.type, ne,
                                  std::span<const uint8_t>(static_cast<const uint8_t*>(t.data),
                                                           t.size_bytes)).ok());
  }
  const std::string bad = temp_path("bad_shape2.gguf");
  ASSERT_TRUE(w.write(bad).ok());
  auto m = Model::load(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::format);
  EXPECT_NE(m.error().what.find("attn_kv_b"), std::string::npos) << m.error().message();
}

}  // namespace
}  // namespace ef
