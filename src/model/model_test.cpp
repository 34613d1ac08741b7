// Model::load on files written by the tiny-model factory, and the factory
// itself (synthetic vocabulary, determinism, shape checks of the loader).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "edgeformer/model.h"
#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "model/llama_weights.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_model_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(SyntheticVocabTest, LayoutAndUniqueness) {
  auto v = make_synthetic_vocab(600);
  ASSERT_TRUE(v.ok()) << v.error().message();
  ASSERT_EQ(v->tokens.size(), 600u);
  ASSERT_EQ(v->scores.size(), 600u);
  ASSERT_EQ(v->token_types.size(), 600u);
  EXPECT_EQ(v->tokens[0], "<unk>");
  EXPECT_EQ(v->token_types[0], 2);
  EXPECT_EQ(v->tokens[1], "<s>");
  EXPECT_EQ(v->tokens[2], "</s>");
  EXPECT_EQ(v->token_types[1], 3);
  EXPECT_EQ(v->token_types[2], 3);
  EXPECT_EQ(v->tokens[3], "<0x00>");
  EXPECT_EQ(v->tokens[3 + 0x41], "<0x41>");
  EXPECT_EQ(v->tokens[258], "<0xFF>");
  for (int i = 3; i < 259; ++i) EXPECT_EQ(v->token_types[i], 6) << i;
  std::set<std::string> unique(v->tokens.begin(), v->tokens.end());
  EXPECT_EQ(unique.size(), v->tokens.size());
  // Normal pieces with strictly descending scores; "▁the" and its prefix.
  for (int i = 260; i < 600; ++i) {
    EXPECT_EQ(v->token_types[i], 1);
    EXPECT_LT(v->scores[i], v->scores[i - 1]);
  }
  EXPECT_TRUE(unique.count("\xe2\x96\x81the"));
  EXPECT_TRUE(unique.count("\xe2\x96\x81th"));
  EXPECT_TRUE(unique.count("e"));
}

TEST(SyntheticVocabTest, RejectsBadSizes) {
  EXPECT_FALSE(make_synthetic_vocab(100).ok());
  EXPECT_FALSE(make_synthetic_vocab(10000000).ok());
  EXPECT_TRUE(make_synthetic_vocab(32000).ok());
}

TEST(TinyModelTest, LoadsWithSpecShape) {
  TinyModelSpec spec;
  spec.n_embd = 64;
  spec.n_layer = 3;
  spec.n_head = 8;
  spec.n_head_kv = 2;
  spec.n_ff = 96;
  spec.n_ctx = 300;
  spec.rope_freq_base = 50000.0f;
  spec.rms_eps = 1e-6f;
  spec.n_vocab_synthetic = 400;
  const std::string path = temp_path("shape.gguf");
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.n_vocab, 400);
  EXPECT_EQ(c.n_ctx_train, 300);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.n_rot, 8);
  EXPECT_EQ(c.n_ff, 96);
  EXPECT_EQ(c.rope_freq_base, 50000.0f);
  EXPECT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FALSE(c.tied_output);
  EXPECT_EQ((*model)->tokenizer().n_vocab(), 400);
  // n_params from the shapes: embeddings + output + per layer (2 norms, q, k,
  // v, o, gate, up, down) + output norm.
  const uint64_t per_layer = 2 * 64 + 64 * 64 + 2 * 64 * 16 + 64 * 64 + 3 * 64 * 96;
  EXPECT_EQ((*model)->n_params(), 2u * 400 * 64 + 3 * per_layer + 64);
  EXPECT_EQ((*model)->weight_bytes(), (*model)->n_params() * 4);
  EXPECT_EQ((*model)->type_summary(), "F32");
  EXPECT_EQ((*model)->weights().layers.size(), 3u);
  std::filesystem::remove(path);
}

TEST(TinyModelTest, SyntheticVocabularyTokenizes) {
  TinyModelSpec spec;
  const std::string path = temp_path("tok.gguf");
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const Tokenizer& tok = (*model)->tokenizer();
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_TRUE(tok.add_bos_default());
  auto ids = tok.encode("the king", true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(tok.token_text(ids[1]), "\xe2\x96\x81the");  // a whole-word piece
  EXPECT_EQ(tok.decode(ids), "the king");
  // Bytes without a piece fall back to byte tokens and round-trip.
  const std::string odd = "\xc3\xa9\xe2\x82\xac";
  EXPECT_EQ(tok.decode(tok.encode(odd, false)), odd);
  std::filesystem::remove(path);
}

TEST(TinyModelTest, SameSeedSameFileDifferentSeedDifferentFile) {
  TinyModelSpec spec;
  const std::string a = temp_path("seed_a.gguf"), b = temp_path("seed_b.gguf"),
                    c = temp_path("seed_c.gguf");
  ASSERT_TRUE(write_tiny_llama(a, spec).ok());
  ASSERT_TRUE(write_tiny_llama(b, spec).ok());
  spec.seed += 1;
  ASSERT_TRUE(write_tiny_llama(c, spec).ok());
  EXPECT_EQ(read_all(a), read_all(b));
  EXPECT_NE(read_all(a), read_all(c));
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

TEST(TinyModelTest, WeightTypesAndTiedOutput) {
  for (DType type : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    TinyModelSpec spec;
    spec.weight_type = type;
    spec.tied_output = true;
    const std::string path = temp_path(std::string("type_") + dtype_name(type) + ".gguf");
    ASSERT_TRUE(write_tiny_llama(path, spec).ok()) << dtype_name(type);
    auto model = Model::load(path);
    ASSERT_TRUE(model.ok()) << model.error().message();
    std::string expect = dtype_name(type);
    for (char& ch : expect) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ((*model)->type_summary(), expect);
    EXPECT_TRUE((*model)->config().tied_output);
    const LlamaWeights& w = (*model)->weights();
    EXPECT_EQ(w.output.data, w.token_embd.data);
    EXPECT_EQ(w.layers[0].attn_q.type, type);
    EXPECT_EQ(w.layers[0].attn_norm.type, DType::F32);
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->find_tensor("output.weight"), nullptr);
    std::filesystem::remove(path);
  }
}

TEST(TinyModelTest, RejectsBadSpecs) {
  const std::string path = temp_path("bad.gguf");
  TinyModelSpec spec;
  spec.n_head = 3;  // 64 % 3 != 0
  EXPECT_FALSE(write_tiny_llama(path, spec).ok());
  spec = TinyModelSpec();
  spec.n_embd = 48;  // not a multiple of 32: cannot be Q8_0
  spec.n_head = 4;
  spec.weight_type = DType::Q8_0;
  EXPECT_FALSE(write_tiny_llama(path, spec).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TinyModelTest, CopiesVocabularyFromAnotherFile) {
  const std::string vocab = std::string(EF_SHARED_DATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  TinyModelSpec spec;
  spec.vocab_path = vocab;
  spec.tied_output = true;
  const std::string path = temp_path("vocab.gguf");
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());
  auto model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  EXPECT_EQ((*model)->config().n_vocab, 32000);
  EXPECT_EQ((*model)->tokenizer().n_vocab(), 32000);
  auto src = gguf::File::open(vocab);
  ASSERT_TRUE(src.ok());
  auto a = (*model)->file().get_string_array("tokenizer.ggml.tokens");
  auto b = (*src)->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  std::filesystem::remove(path);
}

// Rewrites a model file through `edit`, which may drop or change tensors.
template <class Edit>
std::string rewrite(const std::string& src_path, const std::string& name, Edit edit) {
  auto src = gguf::File::open(src_path);
  EXPECT_TRUE(src.ok());
  gguf::Writer w;
  w.copy_metadata(**src);
  for (const auto& t : (*src)->tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    DType type = t.type;
    std::vector<uint8_t> data(static_cast<const uint8_t*>(t.data),
                              static_cast<const uint8_t*>(t.data) + t.size_bytes);
    if (!edit(t.name, type, ne, data)) continue;
    EXPECT_TRUE(w.add_tensor(t.name, type, ne, data).ok()) << t.name;
  }
  const std::string out = temp_path(name);
  EXPECT_TRUE(w.write(out).ok());
  return out;
}

TEST(TinyModelTest, LoaderNamesMissingOrMisshapedTensors) {
  TinyModelSpec spec;  // n_embd 64, n_head 4, n_head_kv 2: attn_k is {64, 32}
  const std::string path = temp_path("good.gguf");
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());

  const std::string missing =
      rewrite(path, "missing.gguf", [](const std::string& n, DType&, auto&, auto&) {
        return n != "blk.1.ffn_up.weight";
      });
  auto m = Model::load(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::format);
  EXPECT_NE(m.error().message().find("blk.1.ffn_up.weight"), std::string::npos);
  EXPECT_NE(m.error().message().find("missing"), std::string::npos);

  const std::string misshaped =
      rewrite(path, "shape.gguf", [](const std::string& n, DType&, auto& ne, auto&) {
        if (n == "blk.0.attn_k.weight") std::swap(ne[0], ne[1]);  // {32, 64}
        return true;
      });
  m = Model::load(misshaped);
  ASSERT_FALSE(m.ok());
  const std::string msg = m.error().message();
  EXPECT_NE(msg.find("blk.0.attn_k.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("{32, 64}"), std::string::npos) << msg;
  EXPECT_NE(msg.find("{64, 32}"), std::string::npos) << msg;

  const std::string f16_norm =
      rewrite(path, "norm.gguf", [](const std::string& n, DType& type, auto&, auto& data) {
        if (n == "output_norm.weight") {
          type = DType::F16;
          data.resize(data.size() / 2);
        }
        return true;
      });
  m = Model::load(f16_norm);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("output_norm.weight"), std::string::npos);
  for (const auto& p : {path, missing, misshaped, f16_norm}) std::filesystem::remove(p);
}

TEST(TinyModelTest, LoadFailsCleanlyOnMissingFile) {
  auto m = Model::load(temp_path("does_not_exist.gguf"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::io);
}

}  // namespace
}  // namespace ef
