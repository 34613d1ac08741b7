// llama.cpp's own tokenizer test vectors for its SPM ("llama") vocabulary:
// encode with add_special = false, parse_special = false (as test-tokenizer-0
// does) must reproduce every expected id list exactly.
#include <gtest/gtest.h>

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

std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

TEST(TokLlamaVectors, EveryVectorMatchesLlamaCpp) {
  std::string error;
  auto tok = testing::load_vocab("llama-spm", &error);
  ASSERT_NE(tok, nullptr) << error;
  const auto vectors = testing::read_vectors(testing::vocab_path("llama-spm"), &error);
  ASSERT_FALSE(vectors.empty()) << error;
  EXPECT_EQ(vectors.size(), 46u);  // the number of inputs in the shared .inp file

  size_t passed = 0;
  for (const auto& v : vectors) {
    const std::vector<int32_t> got =
        tok->encode(v.input, /*add_bos=*/false, /*parse_special=*/false);
    if (got == v.expected) {
      ++passed;
    } else {
      ADD_FAILURE() << "input:    '" << escape(v.input) << "'\n"
                    << "expected: " << ids_to_string(v.expected) << "\n"
                    << "got:      " << ids_to_string(got);
    }
  }
  EXPECT_EQ(passed, vectors.size());
  std::printf("llama-spm vectors: %zu/%zu passed\n", passed, vectors.size());
}

TEST(TokLlamaVectors, VocabularyMetadata) {
  std::string error;
  auto tok = testing::load_vocab("llama-spm", &error);
  ASSERT_NE(tok, nullptr) << error;
  EXPECT_EQ(tok->n_vocab(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->unk_id(), 0);
  EXPECT_TRUE(tok->add_bos_default());
  EXPECT_FALSE(tok->add_eos_default());
  EXPECT_TRUE(tok->add_space_prefix());
  EXPECT_TRUE(tok->is_end_of_generation(2));
  EXPECT_FALSE(tok->is_end_of_generation(1));
  EXPECT_EQ(tok->token_text(1), "<s>");
  // "Hello world" (ids from the shared vectors) with BOS.
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tok->decode({1, 15043, 3186}), "Hello world");
  EXPECT_EQ(tok->token_to_piece(13), "\n");  // <0x0A>
  EXPECT_EQ(tok->token_to_piece(15043), " Hello");
}

TEST(TokLlamaVectors, SpecialTokensInText) {
  std::string error;
  auto tok = testing::load_vocab("llama-spm", &error);
  ASSERT_NE(tok, nullptr) << error;
  // With parse_special, "<s>" and "</s>" become control tokens and the text
  // after each gets the space prefix again: " world" -> "\u2581\u2581world"
  // -> "\u2581" (29871) + "\u2581world" (3186), as the shared vector
  // " Hello world" -> 29871 15043 3186 shows for the same prefix rule.
  const auto ids = tok->encode("<s>Hello</s> world", false, true);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 15043, 2, 29871, 3186}));
  // Without it they are ordinary text and never produce ids 1 / 2.
  for (int32_t id : tok->encode("<s>Hello</s> world", false, false)) {
    EXPECT_NE(id, 1);
    EXPECT_NE(id, 2);
  }
}

}  // namespace
}  // namespace ef::tok
