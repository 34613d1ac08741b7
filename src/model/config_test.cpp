// ModelConfig: reading llama.* keys and rejecting bad hyper-parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "edgeformer/model.h"
#include "io/gguf.h"

namespace ef {
namespace {

ModelConfig good_config() {
  ModelConfig c;
  c.n_vocab = 1000;
  c.n_ctx_train = 2048;
  c.n_embd = 576;
  c.n_layer = 30;
  c.n_ff = 1536;
  c.n_head = 9;
  c.n_head_kv = 3;
  c.head_dim = 64;
  c.n_rot = 64;
  c.rms_eps = 1e-5f;
  c.rope_freq_base = 10000.0f;
  return c;
}

// Expects validate() to fail and the error to name `key`.
void expect_invalid(const ModelConfig& c, const std::string& key) {
  Status s = c.validate();
  ASSERT_FALSE(s.ok()) << "expected failure naming " << key;
  EXPECT_NE(s.error().message().find(key), std::string::npos) << s.error().message();
}

TEST(ModelConfigTest, GoodConfigValidates) { EXPECT_TRUE(good_config().validate().ok()); }

TEST(ModelConfigTest, RejectsBadValuesNamingTheKey) {
  {
    auto c = good_config();
    c.architecture = "gpt2";
    expect_invalid(c, "general.architecture");
    EXPECT_EQ(c.validate().error().code, Errc::unsupported);
  }
  {
    auto c = good_config();
    c.n_layer = 0;
    expect_invalid(c, "llama.block_count");
  }
  {
    auto c = good_config();
    c.n_embd = 1 << 20;
    expect_invalid(c, "llama.embedding_length");
  }
  {
    auto c = good_config();
    c.n_ctx_train = int64_t{1} << 30;
    expect_invalid(c, "llama.context_length");
  }
  {
    auto c = good_config();
    c.n_ff = -5;
    expect_invalid(c, "llama.feed_forward_length");
  }
  {
    auto c = good_config();
    c.n_head = 7;  // 576 % 7 != 0
    expect_invalid(c, "llama.attention.head_count");
  }
  {
    auto c = good_config();
    c.n_head_kv = 2;  // 9 % 2 != 0
    expect_invalid(c, "llama.attention.head_count_kv");
  }
  {
    auto c = good_config();
    c.n_head_kv = 0;
    expect_invalid(c, "llama.attention.head_count_kv");
  }
  {
    auto c = good_config();
    c.n_rot = 63;
    expect_invalid(c, "llama.rope.dimension_count");
  }
  {
    auto c = good_config();
    c.n_rot = 128;
    expect_invalid(c, "llama.rope.dimension_count");
  }
  for (float eps : {0.0f, -1e-5f, 1.0f, NAN}) {
    auto c = good_config();
    c.rms_eps = eps;
    expect_invalid(c, "llama.attention.layer_norm_rms_epsilon");
  }
  for (float base : {0.0f, -1.0f, INFINITY, NAN}) {
    auto c = good_config();
    c.rope_freq_base = base;
    expect_invalid(c, "llama.rope.freq_base");
  }
  {
    auto c = good_config();
    c.n_vocab = 0;
    expect_invalid(c, "n_vocab");
  }
}

// A minimal llama GGUF image: hyper-parameters plus a token_embd tensor.
struct FileBuilder {
  gguf::Writer w;
  int64_t n_embd = 64, n_vocab = 40;
  FileBuilder() {
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.context_length", 512);
    w.set_u32("llama.embedding_length", static_cast<uint32_t>(n_embd));
    w.set_u32("llama.block_count", 2);
    w.set_u32("llama.feed_forward_length", 96);
    w.set_u32("llama.attention.head_count", 4);
    w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  }
  void add_embd(int64_t rows) {
    std::vector<uint8_t> data(static_cast<size_t>(n_embd * rows * 4), 0);
    ASSERT_TRUE(w.add_tensor("token_embd.weight", DType::F32, {n_embd, rows}, data).ok());
  }
  Result<ModelConfig> parse() {
    auto bytes = w.to_bytes();
    auto file = gguf::File::from_bytes(bytes);
    if (!file.ok()) return file.take_error();
    return ModelConfig::from_gguf(*file.value());
  }
};

TEST(ModelConfigTest, FromGgufReadsKeysAndDefaults) {
  FileBuilder b;
  b.add_embd(b.n_vocab);
  auto c = b.parse();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->n_vocab, 40);
  EXPECT_EQ(c->n_ctx_train, 512);
  EXPECT_EQ(c->n_embd, 64);
  EXPECT_EQ(c->n_layer, 2);
  EXPECT_EQ(c->n_ff, 96);
  EXPECT_EQ(c->n_head, 4);
  EXPECT_EQ(c->n_head_kv, 4);     // default: head_count
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->n_rot, 16);        // default: head_dim
  EXPECT_EQ(c->rope_freq_base, 10000.0f);
  EXPECT_EQ(c->rms_eps, 1e-6f);
  EXPECT_TRUE(c->tied_output);   // no output.weight
}

TEST(ModelConfigTest, FromGgufReadsOptionalKeys) {
  FileBuilder b;
  b.w.set_u32("llama.attention.head_count_kv", 2);
  b.w.set_u32("llama.rope.dimension_count", 8);
  b.w.set_f32("llama.rope.freq_base", 500000.0f);
  b.w.set_u32("llama.attention.key_length", 16);
  b.add_embd(b.n_vocab);
  std::vector<uint8_t> out(static_cast<size_t>(64 * 40 * 4));
  ASSERT_TRUE(b.w.add_tensor("output.weight", DType::F32, {64, 40}, out).ok());
  auto c = b.parse();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->n_head_kv, 2);
  EXPECT_EQ(c->n_rot, 8);
  EXPECT_EQ(c->rope_freq_base, 500000.0f);
  EXPECT_FALSE(c->tied_output);
}

TEST(ModelConfigTest, FromGgufErrors) {
  {
    FileBuilder b;
    b.w.set_string("general.architecture", "gpt2");
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, Errc::unsupported);
    EXPECT_NE(c.error().message().find("gpt2"), std::string::npos);
  }
  {
    FileBuilder b;  // no token_embd.weight
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("token_embd.weight"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_u32("llama.attention.value_length", 32);  // != head_dim 16
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("llama.attention.value_length"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_u32("llama.attention.head_count", 0);  // would divide by zero
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("llama.attention.head_count"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_u32("llama.attention.head_count_kv", 3);  // 4 % 3 != 0
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("head_count_kv"), std::string::npos);
  }
  {
    FileBuilder b;
    std::vector<std::string> tokens(39, "x");  // embedding has 40 rows
    b.w.set_string_array("tokenizer.ggml.tokens", tokens);
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("tokenizer.ggml.tokens"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_u32("llama.expert_count", 8);
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, Errc::unsupported);
    EXPECT_NE(c.error().message().find("llama.expert_count"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_string("llama.rope.scaling.type", "linear");
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("llama.rope.scaling.type"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_f32("llama.rope.scaling.factor", 4.0f);
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("llama.rope.scaling.factor"), std::string::npos);
  }
  {
    FileBuilder b;  // explicit "none" and factor 1 are plain RoPE
    b.w.set_string("llama.rope.scaling.type", "none");
    b.w.set_f32("llama.rope.scaling.factor", 1.0f);
    b.add_embd(b.n_vocab);
    EXPECT_TRUE(b.parse().ok());
  }
  {
    FileBuilder b;
    b.add_embd(b.n_vocab);
    std::vector<uint8_t> ff(8 * 4);
    ASSERT_TRUE(b.w.add_tensor("rope_freqs.weight", DType::F32, {8}, ff).ok());
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("rope_freqs.weight"), std::string::npos);
  }
  {
    FileBuilder b;
    b.w.set_string("llama.block_count", "two");  // wrong type
    b.add_embd(b.n_vocab);
    auto c = b.parse();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find("llama.block_count"), std::string::npos);
  }
}

}  // namespace
}  // namespace ef
