// llama.cpp's own tokenizer test vectors for its GPT-2 byte-level BPE
// vocabulary: encode with add_special = false, parse_special = false (as
// test-tokenizer-0 does) must reproduce every expected id list exactly.
#include <gtest/gtest.h>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace ef::tok {
namespace {

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

TEST(TokGpt2Vectors, EveryVectorMatchesLlamaCpp) {
  std::string error;
  auto tok = testing::load_vocab("gpt-2", &error);
  ASSERT_NE(tok, nullptr) << error;
  const auto vectors = testing::read_vectors(testing::vocab_path("gpt-2"), &error);
  ASSERT_FALSE(vectors.empty()) << error;
  EXPECT_EQ(vectors.size(), 46u);  // the number of inputs in the shared .inp file

  size_t passed = 0;
  for (const auto& v : vectors) {
    const std::vector<int32_t> got = tok->encode(v.input, /*add_bos=*/false, false);
    if (got == v.expected) {
      ++passed;
    } else {
      ADD_FAILURE() << "input:    '" << v.input << "'\n"
                    << "expected: " << ids_to_string(v.expected) << "\n"
                    << "got:      " << ids_to_string(got);
    }
  }
  EXPECT_EQ(passed, vectors.size());
  std::printf("gpt-2 vectors: %zu/%zu passed\n", passed, vectors.size());
}

TEST(TokGpt2Vectors, VocabularyMetadata) {
  std::string error;
  auto tok = testing::load_vocab("gpt-2", &error);
  ASSERT_NE(tok, nullptr) << error;
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
  ASSERT_NE(bpe, nullptr);
  EXPECT_EQ(tok->n_vocab(), 50257);
  EXPECT_EQ(bpe->vocab().merges.size(), 50000u);
  EXPECT_EQ(bpe->vocab().pre.type, PreType::kGpt2);
  EXPECT_EQ(tok->token_text(50256), "<|endoftext|>");
  EXPECT_FALSE(tok->add_space_prefix());
  // "Hello world" -> "Hello" + " world" (ids from the shared vectors).
  const auto ids = tok->encode("Hello world", false);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(tok->token_to_piece(ids[0]), "Hello");
  EXPECT_EQ(tok->token_to_piece(ids[1]), " world");
  EXPECT_EQ(tok->decode(ids), "Hello world");
}

TEST(TokGpt2Vectors, SpecialTokensParsedOnlyWhenAsked) {
  std::string error;
  auto tok = testing::load_vocab("gpt-2", &error);
  ASSERT_NE(tok, nullptr) << error;
  const int32_t eot = 50256;
  const std::string text = "a<|endoftext|>b";
  const auto with = tok->encode(text, false, true);
  ASSERT_EQ(with.size(), 3u);
  EXPECT_EQ(with[1], eot);
  EXPECT_EQ(tok->decode(with), "ab");  // control tokens render as nothing
  const auto without = tok->encode(text, false, false);
  EXPECT_EQ(std::count(without.begin(), without.end(), eot), 0);
  EXPECT_EQ(tok->decode(without), text);
  EXPECT_TRUE(tok->is_end_of_generation(eot));
}

}  // namespace
}  // namespace ef::tok
