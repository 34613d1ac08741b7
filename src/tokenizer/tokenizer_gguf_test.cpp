// Tokenizer::from_gguf on small in-memory GGUF images: the happy path and
// every kind of malformed tokenizer metadata (missing keys, wrong types,
// inconsistent arrays, bad ids), each a clear error naming the key.
#include <gtest/gtest.h>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"

namespace ef {
namespace {

const std::vector<std::string> kTokens = {"<unk>",
                                          "<s>",
                                          "</s>",
                                          "<0x0A>",
                                          "\xE2\x96\x81"
                                          "a",
                                          "a"};

// A valid 6-token SPM vocabulary; `edit` may change or add keys.
Result<std::unique_ptr<Tokenizer>> load(void (*edit)(gguf::Writer&) = nullptr) {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", kTokens);
  w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, 0, -1, -2});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 6, 1, 1});
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  if (edit) edit(w);
  auto file = gguf::File::from_bytes(w.to_bytes());
  if (!file.ok()) return file.take_error();
  return Tokenizer::from_gguf(*file.value());
}

void expect_error(void (*edit)(gguf::Writer&), Errc code, const std::string& key) {
  auto r = load(edit);
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << key;
  EXPECT_EQ(r.error().code, code) << r.error().message();
  EXPECT_NE(r.error().message().find(key), std::string::npos) << r.error().message();
}

TEST(TokGguf, LoadsValidVocabulary) {
  auto r = load();
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Tokenizer& t = *r.value();
  EXPECT_EQ(t.n_vocab(), 6);
  EXPECT_EQ(t.encode("a", true), (std::vector<int32_t>{1, 4}));
  EXPECT_EQ(t.encode("a\n", false), (std::vector<int32_t>{4, 3}));
  EXPECT_EQ(t.decode({1, 4, 3}), "a\n");
}

TEST(TokGguf, AcceptsIntegerScoresAndFlags) {
  auto r = load([](gguf::Writer& w) {
    w.set_i32_array("tokenizer.ggml.scores", {0, 0, 0, 0, 5, 1});
    w.set_bool("tokenizer.ggml.add_space_prefix", false);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
  });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(r.value()->add_bos_default());
  EXPECT_FALSE(r.value()->add_space_prefix());
  // No prefix ("a", not " a"), and no BOS although asked: the vocabulary
  // says add_bos_token = false (llama.cpp's add_special semantics).
  EXPECT_EQ(r.value()->encode("a", true), (std::vector<int32_t>{5}));
}

TEST(TokGguf, RejectsMissingOrMistypedKeys) {
  // No tokenizer at all.
  {
    gguf::Writer w;
    w.set_string("general.architecture", "llama");
    auto file = gguf::File::from_bytes(w.to_bytes());
    ASSERT_TRUE(file.ok());
    auto r = Tokenizer::from_gguf(*file.value());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::format);
    EXPECT_NE(r.error().message().find("tokenizer.ggml.model"), std::string::npos);
  }
  expect_error([](gguf::Writer& w) { w.set_u32("tokenizer.ggml.model", 1); }, Errc::format,
               "tokenizer.ggml.model");
  expect_error(
      [](gguf::Writer& w) {
        w.set_i32_array("tokenizer.ggml.tokens", {1, 2});
      },
      Errc::format, "tokenizer.ggml.tokens");
  expect_error([](gguf::Writer& w) { w.set_string_array("tokenizer.ggml.scores", {"x"}); },
               Errc::format, "tokenizer.ggml.scores");
  expect_error(
      [](gguf::Writer& w) {
        w.set_f32_array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1});
      },
      Errc::format, "tokenizer.ggml.token_type");
  expect_error([](gguf::Writer& w) { w.set_string("tokenizer.ggml.bos_token_id", "1"); },
               Errc::format, "tokenizer.ggml.bos_token_id");
  expect_error([](gguf::Writer& w) { w.set_u32("tokenizer.ggml.add_bos_token", 1); }, Errc::format,
               "tokenizer.ggml.add_bos_token");
}

TEST(TokGguf, RejectsInconsistentMetadata) {
  expect_error(
      [](gguf::Writer& w) {
        w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0});
      },
      Errc::format, "tokenizer.ggml.scores");
  expect_error(
      [](gguf::Writer& w) {
        w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1, 1});
      },
      Errc::format, "tokenizer.ggml.token_type");
  expect_error(
      [](gguf::Writer& w) {
        w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 6, 1, 9});
      },
      Errc::format, "tokenizer.ggml.token_type");
  expect_error([](gguf::Writer& w) { w.set_u32("tokenizer.ggml.eos_token_id", 6); }, Errc::format,
               "tokenizer.ggml.eos_token_id");
  expect_error([](gguf::Writer& w) { w.set_i32("tokenizer.ggml.unknown_token_id", -3); },
               Errc::format, "tokenizer.ggml.unknown_token_id");
  expect_error(
      [](gguf::Writer& w) {
        w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0x0A>", "a", "a"});
      },
      Errc::format, "tokenizer.ggml.tokens");
  expect_error([](gguf::Writer& w) { w.set_string_array("tokenizer.ggml.tokens", {}); },
               Errc::format, "tokenizer.ggml.tokens");
}

TEST(TokGguf, OtherModelsAreUnsupported) {
  // gpt2 is supported but needs merges.
  expect_error([](gguf::Writer& w) { w.set_string("tokenizer.ggml.model", "gpt2"); },
               Errc::format, "tokenizer.ggml.merges");
  expect_error([](gguf::Writer& w) { w.set_string("tokenizer.ggml.model", "bert"); },
               Errc::unsupported, "bert");
}

}  // namespace
}  // namespace ef
