// Metadata validation in build_spm_vocab: every malformed input gives a clear
// error naming the tokenizer.ggml.* key.
#include "tokenizer/vocab.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ef::tok {
namespace {

VocabSpec small_spec() {
  VocabSpec s;
  s.tokens = {"<unk>", "<s>", "</s>", "<0x41>",
              "\xE2\x96\x81"
              "a"};
  s.scores = {0, 0, 0, 0, -1};
  s.types = {2, 3, 3, 6, 1};
  return s;
}

void expect_error(VocabSpec spec, Errc code, const std::string& where,
                  const std::string& what_part) {
  auto r = build_vocab(std::move(spec));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code) << r.error().message();
  EXPECT_EQ(r.error().where, where) << r.error().message();
  EXPECT_NE(r.error().message().find(what_part), std::string::npos) << r.error().message();
}

TEST(TokVocab, BuildsSmallVocabulary) {
  auto r = build_spm_vocab(small_spec());
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Vocab& v = r.value();
  EXPECT_EQ(v.size(), 5);
  EXPECT_EQ(v.find("<s>"), 1);
  EXPECT_EQ(v.find("nope"), -1);
  EXPECT_EQ(v.byte_token[0x41], 3);
  EXPECT_EQ(v.byte_token[0x42], -1);
  EXPECT_EQ(v.piece[3], "A");
  EXPECT_EQ(v.piece[4], " a");
  // Specials, longest first: "<unk>" (5) then "</s>" (4) then "<s>" (3).
  EXPECT_EQ(v.special_tokens, (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(v.attr[0], kAttrUnknown);
  EXPECT_EQ(v.attr[1], kAttrControl);
}

TEST(TokVocab, DefaultsWithoutOptionalArrays) {
  VocabSpec s;
  s.tokens = {"a", "b", "c"};
  auto r = build_spm_vocab(s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value().score, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(r.value().attr[2], kAttrNormal);
  EXPECT_EQ(r.value().bos, 1);  // llama.cpp's SPM defaults
  EXPECT_EQ(r.value().eos, 2);
  EXPECT_EQ(r.value().unk, 0);
}

TEST(TokVocab, DefaultIdsOutsideTinyVocabularyAreDisabled) {
  VocabSpec s;
  s.tokens = {"a", "b"};
  s.add_bos = false;
  auto r = build_spm_vocab(s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value().bos, 1);
  EXPECT_EQ(r.value().eos, -1);
}

TEST(TokVocab, EmptyTokenIsRenamedLikeLlamaCpp) {
  VocabSpec s = small_spec();
  s.tokens[4] = "";
  auto r = build_spm_vocab(s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value().text[4], "[EMPTY_4]");
}

TEST(TokVocab, RejectsBadMetadata) {
  VocabSpec s = small_spec();
  s.tokens.clear();
  s.scores.clear();
  s.types.clear();
  expect_error(s, Errc::format, "tokenizer.ggml.tokens", "empty");

  s = small_spec();
  s.scores.pop_back();
  expect_error(s, Errc::format, "tokenizer.ggml.scores", "4 entries");

  s = small_spec();
  s.types.push_back(1);
  expect_error(s, Errc::format, "tokenizer.ggml.token_type", "6 entries");

  s = small_spec();
  s.types[4] = 7;
  expect_error(s, Errc::format, "tokenizer.ggml.token_type", "unknown type 7");

  s = small_spec();
  s.types[4] = -1;
  expect_error(s, Errc::format, "tokenizer.ggml.token_type", "unknown type -1");

  s = small_spec();
  s.tokens[4] = "<s>";
  expect_error(s, Errc::format, "tokenizer.ggml.tokens", "duplicate token '<s>' has ids 1 and 4");

  s = small_spec();
  s.scores[2] = std::nanf("");
  expect_error(s, Errc::format, "tokenizer.ggml.scores", "NaN");

  s = small_spec();
  s.tokens[3] = "<0xZZ>";
  expect_error(s, Errc::format, "tokenizer.ggml.tokens", "byte token 3");

  s = small_spec();
  s.bos_id = 5;
  expect_error(s, Errc::format, "tokenizer.ggml.bos_token_id", "outside the vocabulary");

  s = small_spec();
  s.eos_id = -7;
  expect_error(s, Errc::format, "tokenizer.ggml.eos_token_id", "outside the vocabulary");

  s = small_spec();
  s.unk_id = 1LL << 40;
  expect_error(s, Errc::format, "tokenizer.ggml.unknown_token_id", "outside the vocabulary");

  s = small_spec();
  s.bos_id = -1;  // no BOS, but add_bos defaults to true
  expect_error(s, Errc::format, "tokenizer.ggml.add_bos_token", "no BOS");

  s = small_spec();
  s.eos_id = -1;
  s.add_eos = true;
  expect_error(s, Errc::format, "tokenizer.ggml.add_eos_token", "no EOS");

  s = small_spec();
  s.model = "bert";
  expect_error(s, Errc::unsupported, "tokenizer.ggml.model", "tokenizer model 'bert'");

  s = small_spec();
  s.model = "gpt2";  // byte-level BPE needs merges
  expect_error(s, Errc::format, "tokenizer.ggml.merges", "missing");

  s = small_spec();
  s.model = "gpt2";
  s.merges = {"a b"};
  s.pre = "no-such-pre";
  expect_error(s, Errc::unsupported, "tokenizer.ggml.pre", "no-such-pre");
}

TEST(TokVocab, BadPaddingIdIsIgnored) {
  VocabSpec s = small_spec();
  s.pad_id = 99;
  auto r = build_spm_vocab(s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r.value().pad, -1);
}

}  // namespace
}  // namespace ef::tok
