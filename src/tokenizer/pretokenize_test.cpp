// Pre-tokenizer families on hand-made strings. Every expected split is
// derived by hand from the family's regex list (see pretokenize.h and
// llama.cpp's llm_tokenizer_bpe), applying the regexes one after the other
// with leftmost, first-alternative matching.
#include <gtest/gtest.h>

#include "tokenizer/pretokenize.h"

namespace ef::tok {
namespace {

using Words = std::vector<std::string>;

Words split(PreType t, const std::string& s) { return pretokenize_words(t, s); }

TEST(TokPretokenize, Gpt2Basics) {
  EXPECT_EQ(split(PreType::kGpt2, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split(PreType::kGpt2, "hello!!! world"), (Words{"hello", "!!!", " world"}));
  EXPECT_EQ(split(PreType::kGpt2, "(hello)"), (Words{"(", "hello", ")"}));
  EXPECT_EQ(split(PreType::kGpt2, "abc 12345"), (Words{"abc", " 12345"}));
  EXPECT_EQ(split(PreType::kGpt2, "naïve café"), (Words{"naïve", " café"}));
  // Arabic-Indic digits are \p{N}; the space joins them like ASCII digits.
  EXPECT_EQ(split(PreType::kGpt2, "x \u0663\u0664"), (Words{"x", " \u0663\u0664"}));
  EXPECT_EQ(split(PreType::kGpt2, ""), (Words{}));
}

TEST(TokPretokenize, Gpt2Contractions) {
  EXPECT_EQ(split(PreType::kGpt2, "I'm you're we've they'll he'd it's don't"),
            (Words{"I", "'m", " you", "'re", " we", "'ve", " they", "'ll", " he", "'d", " it", "'s",
                   " don", "'t"}));
  // Case-sensitive: "'M" is punctuation then a letter.
  EXPECT_EQ(split(PreType::kGpt2, "I'M"), (Words{"I", "'", "M"}));
  // "'x" is no contraction; a lone quote at the end is punctuation.
  EXPECT_EQ(split(PreType::kGpt2, "'x'"), (Words{"'", "x", "'"}));
}

TEST(TokPretokenize, Gpt2Whitespace) {
  // \s+(?!\S): a run before a word leaves its last space to the word.
  EXPECT_EQ(split(PreType::kGpt2, "a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(split(PreType::kGpt2, "a \n b"), (Words{"a", " \n", " b"}));
  EXPECT_EQ(split(PreType::kGpt2, "a  "), (Words{"a", "  "}));
  EXPECT_EQ(split(PreType::kGpt2, "\n\nx"), (Words{"\n", "\n", "x"}));
  EXPECT_EQ(split(PreType::kGpt2, "   leading"), (Words{"  ", " leading"}));
  // Only U+0020 is the optional space; U+3000 is whitespace of its own.
  EXPECT_EQ(split(PreType::kGpt2, "a\u3000b"), (Words{"a", "\u3000", "b"}));
  EXPECT_EQ(split(PreType::kGpt2, "a\u00a0\u00a0b"), (Words{"a", "\u00a0", "\u00a0", "b"}));
}

TEST(TokPretokenize, Llama3) {
  EXPECT_EQ(split(PreType::kLlama3, "Hello world"), (Words{"Hello", " world"}));
  // Case-insensitive contractions.
  EXPECT_EQ(split(PreType::kLlama3, "I'M HE'LL"), (Words{"I", "'M", " HE", "'LL"}));
  // Digits in groups of 1-3 from the left; no space joins them.
  EXPECT_EQ(split(PreType::kLlama3, "12345"), (Words{"123", "45"}));
  EXPECT_EQ(split(PreType::kLlama3, "x 1234567"), (Words{"x", " ", "123", "456", "7"}));
  // Any non-letter, non-digit, non-newline character prefixes a word.
  EXPECT_EQ(split(PreType::kLlama3, "(hello)"), (Words{"(hello", ")"}));
  EXPECT_EQ(split(PreType::kLlama3, "\tfoo"), (Words{"\tfoo"}));
  // Punctuation takes following newlines; whitespace runs end at the last newline.
  EXPECT_EQ(split(PreType::kLlama3, "Hi!!\n\nyo"), (Words{"Hi", "!!\n\n", "yo"}));
  EXPECT_EQ(split(PreType::kLlama3, "a \n b"), (Words{"a", " \n", " b"}));
  EXPECT_EQ(split(PreType::kLlama3, "a\n\nb"), (Words{"a", "\n\n", "b"}));
  EXPECT_EQ(split(PreType::kLlama3, "a  b  "), (Words{"a", " ", " b", "  "}));
  EXPECT_EQ(split(PreType::kLlama3, "你好 world"), (Words{"你好", " world"}));
}

TEST(TokPretokenize, Qwen2SingleDigits) {
  EXPECT_EQ(split(PreType::kQwen2, "ab 123"), (Words{"ab", " ", "1", "2", "3"}));
  EXPECT_EQ(split(PreType::kQwen2, "你好，世界"), (Words{"你好", "，世界"}));
}

TEST(TokPretokenize, DeepseekCoder) {
  // [\r\n] | \s?\p{L}+ | \s?\p{P}+ | [一-龥ࠀ-一가-퟿]+ | \p{N}, applied in turn.
  EXPECT_EQ(split(PreType::kDeepseekCoder, "你好世界 abc"), (Words{"你好世界", " abc"}));
  // The CJK stage splits the space off a CJK word.
  EXPECT_EQ(split(PreType::kDeepseekCoder, "a 你好"), (Words{"a", " ", "你好"}));
  EXPECT_EQ(split(PreType::kDeepseekCoder, "abc123"), (Words{"abc", "1", "2", "3"}));
  EXPECT_EQ(split(PreType::kDeepseekCoder, "x\n\ny"), (Words{"x", "\n", "\n", "y"}));
  EXPECT_EQ(split(PreType::kDeepseekCoder, "f(x);"), (Words{"f", "(", "x", ");"}));
}

TEST(TokPretokenize, DeepseekLlm) {
  EXPECT_EQ(split(PreType::kDeepseekLlm, "Hello, 世界!\n"),
            (Words{"Hello", ",", " ", "世界", "!", "\n"}));
  // \s+$ takes trailing whitespace; numbers are whole runs.
  EXPECT_EQ(split(PreType::kDeepseekLlm, "ab 2024  "), (Words{"ab", " ", "2024", "  "}));
}

TEST(TokPretokenize, DefaultFamily) {
  // [\p{P}\$\+<=>\^~\|]+, then GPT-2, then \p{N}+, then [0-9]{3}.
  EXPECT_EQ(split(PreType::kDefault, "Hello, world! 123456"),
            (Words{"Hello", ",", " world", "!", " ", "123", "456"}));
  EXPECT_EQ(split(PreType::kDefault, "a+=b"), (Words{"a", "+=", "b"}));
}

TEST(TokPretokenize, FalconAndStarcoder) {
  EXPECT_EQ(split(PreType::kFalcon, "a+b`c"), (Words{"a", "+", "b", "`", "c"}));
  // GPT-2 gives " 12345"; then [0-9]{3} cuts "123" out of it.
  EXPECT_EQ(split(PreType::kFalcon, "x 12345"), (Words{"x", " ", "123", "45"}));
  EXPECT_EQ(split(PreType::kStarcoder, "x = 2024;"),
            (Words{"x", " =", " ", "2", "0", "2", "4", ";"}));
}

TEST(TokPretokenize, InvalidUtf8BecomesReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(split(PreType::kGpt2, "a\xff"
                                  "b"),
            (Words{"a", fffd, "b"}));
  // A truncated sequence: its lead and each stray continuation byte.
  EXPECT_EQ(split(PreType::kGpt2, "\xE2\x82"), (Words{fffd + fffd}));
}

TEST(TokPretokenize, NamesMapToFamilies) {
  EXPECT_EQ(pre_info_from_name("")->type, PreType::kDefault);
  EXPECT_EQ(pre_info_from_name("gpt-2")->type, PreType::kGpt2);
  EXPECT_EQ(pre_info_from_name("mpt")->type, PreType::kGpt2);
  EXPECT_EQ(pre_info_from_name("llama-bpe")->type, PreType::kLlama3);
  EXPECT_TRUE(pre_info_from_name("llama-bpe")->ignore_merges);
  EXPECT_EQ(pre_info_from_name("smollm")->type, PreType::kStarcoder);
  EXPECT_EQ(pre_info_from_name("refact")->type, PreType::kStarcoder);
  EXPECT_EQ(pre_info_from_name("qwen2")->type, PreType::kQwen2);
  EXPECT_FALSE(pre_info_from_name("nonsense").has_value());
}

}  // namespace
}  // namespace ef::tok
