// SPM algorithm on small hand-made vocabularies: every expected id list below
// is worked out by hand from the vocabulary in the test.
#include <gtest/gtest.h>

#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/vocab.h"

namespace ef::tok {
namespace {

constexpr int kByte0 = 3;  // <0x00> .. <0xFF> occupy ids 3..258
constexpr int kFirstNormal = 259;

// <unk> <s> </s>, then 256 byte tokens, then `normal` (text, score) pairs.
VocabSpec base_spec(const std::vector<std::pair<std::string, float>>& normal,
                    bool with_bytes = true) {
  VocabSpec s;
  s.tokens = {"<unk>", "<s>", "</s>"};
  s.types = {2, 3, 3};
  s.scores = {0, 0, 0};
  if (with_bytes) {
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      s.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
      s.types.push_back(6);
      s.scores.push_back(0);
    }
  }
  for (const auto& [text, score] : normal) {
    s.tokens.push_back(text);
    s.types.push_back(1);
    s.scores.push_back(score);
  }
  return s;
}

std::unique_ptr<Tokenizer> make(VocabSpec spec) {
  auto r = make_spm_tokenizer(std::move(spec));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : nullptr;
}

using Ids = std::vector<int32_t>;
const std::string kSp = "\xE2\x96\x81";  // U+2581

TEST(TokSpm, HigherScoreMergesFirst) {
  // a b c ab(-5) bc(-1): "bc" wins, "ab" is then impossible.
  auto spec = base_spec({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -5}, {"bc", -1}});
  spec.add_space_prefix = false;
  auto t = make(std::move(spec));
  const int a = kFirstNormal, bc = kFirstNormal + 4;
  EXPECT_EQ(t->encode("abc", false), (Ids{a, bc}));
}

TEST(TokSpm, MergesContinueAfterFirstMerge) {
  auto spec = base_spec({{"a", -10}, {"b", -10}, {"c", -10}, {"bc", -1}, {"abc", -3}});
  spec.add_space_prefix = false;
  auto t = make(std::move(spec));
  EXPECT_EQ(t->encode("abc", false), (Ids{kFirstNormal + 4}));
}

TEST(TokSpm, EqualScoresMergeLeftmostFirst) {
  auto spec = base_spec({{"a", -10}, {"aa", -1}});
  spec.add_space_prefix = false;
  auto t = make(std::move(spec));
  const int a = kFirstNormal, aa = kFirstNormal + 1;
  EXPECT_EQ(t->encode("aaa", false), (Ids{aa, a}));
  EXPECT_EQ(t->encode("aaaa", false), (Ids{aa, aa}));
}

TEST(TokSpm, SpacePrefixAndEscaping) {
  auto t = make(base_spec({{kSp + "a", -1}, {kSp + "b", -1}, {kSp, -5}}));
  const int sa = kFirstNormal, sb = kFirstNormal + 1, sp = kFirstNormal + 2;
  EXPECT_EQ(t->encode("a b", false), (Ids{sa, sb}));
  EXPECT_EQ(t->encode(" a", false), (Ids{sp, sa}));
  EXPECT_EQ(t->encode("a", true), (Ids{1, sa}));  // BOS first
  EXPECT_EQ(t->encode("", false), Ids{});
  EXPECT_EQ(t->encode("", true), Ids{1});
}

TEST(TokSpm, NoSpacePrefixWhenDisabled) {
  auto spec = base_spec({{kSp + "a", -1}, {"a", -2}});
  spec.add_space_prefix = false;
  auto t = make(std::move(spec));
  EXPECT_EQ(t->encode("a", false), (Ids{kFirstNormal + 1}));
}

TEST(TokSpm, TokensSpanningWordStartsDisableWordSplitting) {
  // "a\u2581" and "a\u2581b" contain a space marker after another character,
  // so words are not independent: "a b" must still merge into one token.
  auto spec = base_spec({{"a", -9}, {"b", -9}, {"a" + kSp, -2}, {"a" + kSp + "b", -1}, {kSp, -5}});
  spec.add_space_prefix = false;
  auto r = build_spm_vocab(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value().words_are_independent);
  auto t = make(std::move(spec));
  EXPECT_EQ(t->encode("a b", false), (Ids{kFirstNormal + 3}));

  auto plain = build_spm_vocab(base_spec({{kSp + kSp, -1}, {kSp + "a", -1}}));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain.value().words_are_independent);
}

TEST(TokSpm, ByteFallbackForUnknownCharacters) {
  auto t = make(base_spec({{kSp, -1}}));
  // "é" = C3 A9 is not in the vocabulary.
  EXPECT_EQ(t->encode("\xC3\xA9", false), (Ids{kFirstNormal, kByte0 + 0xC3, kByte0 + 0xA9}));
}

TEST(TokSpm, InvalidUtf8IsGroupedByLeadByteLength) {
  auto spec = base_spec({{"a", -1}});
  spec.add_space_prefix = false;
  auto t = make(std::move(spec));
  // E4 announces 3 bytes; only "E4 61" remain, forming one symbol, so even
  // the 'a' inside it falls back to a byte token instead of token "a".
  EXPECT_EQ(t->encode("\xE4"
                      "a",
                      false),
            (Ids{kByte0 + 0xE4, kByte0 + 'a'}));
  // A stray continuation byte is a 1-byte symbol; the following 'a' is free.
  EXPECT_EQ(t->encode("\x80"
                      "a",
                      false),
            (Ids{kByte0 + 0x80, kFirstNormal}));
  // F0 at the very end: clamped to 1 byte, no over-read.
  EXPECT_EQ(t->encode("a\xF0", false), (Ids{kFirstNormal, kByte0 + 0xF0}));
}

TEST(TokSpm, UnknownTokenWhenVocabularyHasNoByteTokens) {
  auto spec = base_spec({{kSp, -1}, {"a", -2}}, /*with_bytes=*/false);
  auto t = make(std::move(spec));
  const int sp = 3, a = 4;
  // One <unk> per unmatched character, not per byte.
  EXPECT_EQ(t->encode("\xC3\xA9"
                      "a",
                      false),
            (Ids{sp, 0, a}));
}

TEST(TokSpm, ControlTokensOnlyWithParseSpecial) {
  auto t = make(base_spec({{kSp + "x", -1}, {kSp + "y", -1}, {"y", -1}, {kSp, -3}}));
  const int sx = kFirstNormal, sy = kFirstNormal + 1, y = kFirstNormal + 2;
  // The text after a special token gets the space prefix too.
  EXPECT_EQ(t->encode("x<s>y", false, true), (Ids{sx, 1, sy}));
  // Without parse_special "<s>" is plain text: bytes (no tokens for < s >).
  EXPECT_EQ(t->encode("x<s>y", false, false),
            (Ids{sx, kByte0 + '<', kByte0 + 's', kByte0 + '>', y}));
  // Unknown-type tokens also need parse_special.
  EXPECT_EQ(t->encode("<unk>", false, true), (Ids{0}));
  EXPECT_EQ(t->encode("<unk>", false, false).size(), 6u);  // "\u2581" "<" "u" "n" "k" ">"
}

TEST(TokSpm, UserDefinedTokensAlwaysMatchLongestFirst) {
  auto spec = base_spec({{kSp + "a", -1}, {kSp + "b", -1}, {kSp, -3}});
  spec.tokens.push_back("<t>");
  spec.types.push_back(4);
  spec.scores.push_back(0);
  spec.tokens.push_back("<t>>");
  spec.types.push_back(4);
  spec.scores.push_back(0);
  auto t = make(std::move(spec));
  const int sa = kFirstNormal, sb = kFirstNormal + 1, sp = kFirstNormal + 2, ut = kFirstNormal + 3,
            ut2 = kFirstNormal + 4;
  EXPECT_EQ(t->encode("a<t>b", false, false), (Ids{sa, ut, sb}));
  EXPECT_EQ(t->encode("<t>><t>", false, false), (Ids{ut2, ut}));
  // Leading special: the text before it is empty, so no prefix-only fragment.
  EXPECT_EQ(t->encode("<t>", false, false), (Ids{ut}));
  EXPECT_EQ(t->encode("<t> a", false, false), (Ids{ut, sp, sa}));
}

TEST(TokSpm, Phi3SpecialTokensSwallowFollowingWhitespace) {
  auto spec = base_spec({{kSp + "a", -1}, {"a", -2}, {kSp, -3}});
  spec.tokens.push_back("<|user|>");
  spec.types.push_back(4);
  spec.scores.push_back(0);
  auto plain = make(spec);
  spec.name = "Phi-3-mini";
  auto phi = make(std::move(spec));
  const int sa = kFirstNormal, user = kFirstNormal + 3;
  const int sp = kFirstNormal + 2;
  EXPECT_EQ(plain->encode("<|user|>\n a", false), (Ids{user, sp, kByte0 + '\n', sa}));
  EXPECT_EQ(phi->encode("<|user|>\n a", false), (Ids{user, sa}));
}

TEST(TokSpm, TokenToPiece) {
  auto spec = base_spec({{kSp + "a", -1}});
  spec.tokens.push_back("<t>");
  spec.types.push_back(4);
  spec.scores.push_back(0);
  spec.tokens.push_back("gone");
  spec.types.push_back(5);
  spec.scores.push_back(0);
  auto t = make(std::move(spec));
  EXPECT_EQ(t->token_to_piece(kFirstNormal), " a");
  EXPECT_EQ(t->token_to_piece(kByte0 + 0xFF), std::string(1, '\xFF'));
  EXPECT_EQ(t->token_to_piece(1), "");
  EXPECT_EQ(t->token_to_piece(1, true), "<s>");
  EXPECT_EQ(t->token_to_piece(0), "");
  EXPECT_EQ(t->token_to_piece(kFirstNormal + 1), "<t>");
  EXPECT_EQ(t->token_to_piece(kFirstNormal + 2), "");  // unused
  EXPECT_EQ(t->token_to_piece(-1), "");
  EXPECT_EQ(t->token_to_piece(1 << 30), "");
  EXPECT_EQ(t->token_text(1), "<s>");
  EXPECT_EQ(t->token_text(-5), "");
}

TEST(TokSpm, DecodeStripsOnlyTheSpacePrefix) {
  auto t = make(base_spec({{kSp + "a", -1}, {kSp, -3}}));
  const int sa = kFirstNormal, sp = kFirstNormal + 1;
  EXPECT_EQ(t->decode({sa, sa}), "a a");
  EXPECT_EQ(t->decode({1, sa}), "a");    // BOS renders as nothing
  EXPECT_EQ(t->decode({sp, sa}), " a");  // the text started with a space
  EXPECT_EQ(t->decode({sa}, false), " a");
  EXPECT_EQ(t->decode({kByte0 + 'x', sa}), "x a");  // first piece has no space: nothing stripped
}

TEST(TokSpm, SpecialIdsAndEndOfGeneration) {
  auto spec = base_spec({{"<|im_end|>", 0}});
  auto t = make(std::move(spec));
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->unk_id(), 0);
  EXPECT_TRUE(t->add_bos_default());
  EXPECT_FALSE(t->add_eos_default());
  EXPECT_TRUE(t->is_end_of_generation(2));
  // A NORMAL-typed "<|im_end|>" ends generation and becomes a control token,
  // so it is matched in text only with parse_special.
  const int im_end = kFirstNormal;
  EXPECT_TRUE(t->is_end_of_generation(im_end));
  EXPECT_FALSE(t->is_end_of_generation(1));
  EXPECT_EQ(t->encode("<|im_end|>", false, true), (Ids{im_end}));
  EXPECT_EQ(t->token_to_piece(im_end), "");
}

TEST(TokSpm, ExplicitSpecialIds) {
  auto spec = base_spec({{"x", -1}});
  spec.bos_id = 2;
  spec.eos_id = kFirstNormal;
  spec.unk_id = -1;
  spec.add_bos = false;
  auto t = make(std::move(spec));
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), kFirstNormal);
  EXPECT_EQ(t->unk_id(), -1);
  EXPECT_FALSE(t->add_bos_default());
  EXPECT_TRUE(t->is_end_of_generation(kFirstNormal));
}

}  // namespace
}  // namespace ef::tok
