// Byte-level BPE on the real GPT-2 vocabulary: decode(encode(s)) == s for
// random valid UTF-8 from every codepoint class, invalid UTF-8 handling, the
// streaming detokenizer, and merge-order details on a hand-made vocabulary.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

const Tokenizer* gpt2() {
  static std::unique_ptr<Tokenizer> tok = [] {
    std::string error;
    auto t = testing::load_vocab("gpt-2", &error);
    if (!t) ADD_FAILURE() << error;
    return t;
  }();
  return tok.get();
}

// Random text: ASCII, whitespace runs (incl. Unicode spaces), Latin-1, CJK,
// Hangul, emoji, combining marks, digits of other scripts, controls, and
// any other scalar value.
std::string random_text(std::mt19937& rng) {
  auto pick = [&](uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  };
  static const uint32_t kSpaces[] = {' ', '\n', '\t', '\r', 0x85, 0xA0, 0x2028, 0x3000, 0x2009};
  std::string s;
  const uint32_t n = pick(0, 40);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t cp = 0;
    switch (pick(0, 9)) {
      case 0:
      case 1:
        cp = pick(0x20, 0x7E);
        break;
      case 2:
        cp = kSpaces[pick(0, 8)];
        break;
      case 3:
        cp = pick(0xA0, 0x24F);
        break;
      case 4:
        cp = pick(0x4E00, 0x9FFF);
        break;
      case 5:
        cp = pick(0xAC00, 0xD7A3);
        break;
      case 6:
        cp = pick(0x1F300, 0x1FAFF);
        break;
      case 7:
        cp = pick(0x300, 0x36F);  // combining marks
        break;
      case 8:
        cp = pick(0x00, 0x1F);
        break;
      default:
        cp = pick(0x80, 0x10FFFF);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;  // no surrogates
    }
    append_utf8(s, cp);
  }
  return s;
}

TEST(TokBpeRoundTrip, RandomValidUtf8) {
  const Tokenizer* tok = gpt2();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(4321);
  for (int i = 0; i < 400; ++i) {
    const std::string s = random_text(rng);
    ASSERT_TRUE(is_valid_utf8(s));
    for (bool bos : {false, true}) {
      const auto ids = tok->encode(s, bos);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
      ASSERT_EQ(tok->decode(ids), s) << "bos=" << bos << " case " << i;
    }
  }
}

TEST(TokBpeRoundTrip, InvalidUtf8MapsToReplacementCharacter) {
  const Tokenizer* tok = gpt2();
  ASSERT_NE(tok, nullptr);
  const std::string fffd = "\xEF\xBF\xBD";
  // As in llama.cpp: each byte that starts no well-formed sequence becomes U+FFFD.
  EXPECT_EQ(tok->decode(tok->encode("a\xff"
                                    "b",
                                    false)),
            "a" + fffd + "b");
  EXPECT_EQ(tok->decode(tok->encode("\xE2\x82", false)), fffd + fffd);
  EXPECT_EQ(tok->decode(tok->encode("\x80\x80 x", false)), fffd + fffd + " x");
  // Random bytes never crash and give valid ids.
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    for (int32_t id : tok->encode(s, false, true)) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
  }
}

TEST(TokBpeRoundTrip, StreamingNeverSplitsCharacters) {
  const Tokenizer* tok = gpt2();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(7);
  size_t held_back = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string s = random_text(rng);
    const auto ids = tok->encode(s, false);
    StreamingDetokenizer stream(*tok);
    std::string joined;
    for (int32_t id : ids) {
      const std::string part = stream.push(id);
      ASSERT_TRUE(is_valid_utf8(part)) << "case " << i;
      if (part.size() < tok->token_to_piece(id).size()) ++held_back;
      joined += part;
    }
    joined += stream.flush();
    ASSERT_EQ(joined, s) << "case " << i;
  }
  // GPT-2 splits many non-ASCII characters across tokens, so the stream must
  // have held bytes back at least once.
  EXPECT_GT(held_back, 0u);
}

// A tiny vocabulary: bytes "a" "b" "c", merges "a b" (rank 0), "b c" (rank 1),
// "ab c" (rank 2).
VocabSpec tiny_spec() {
  VocabSpec s;
  s.model = "gpt2";
  s.pre = "gpt-2";
  s.tokens = {"a", "b", "c", "ab", "bc", "abc", "<|endoftext|>"};
  s.types = {1, 1, 1, 1, 1, 1, 3};
  s.merges = {"a b", "b c", "ab c"};
  s.bos_id = 6;
  s.eos_id = 6;
  return s;
}

TEST(TokBpeMerges, LowestRankFirstThenLeftmost) {
  auto made = make_bpe_tokenizer(tiny_spec());
  ASSERT_TRUE(made.ok()) << made.error().message();
  const Tokenizer& tok = *made.value();
  // "abc": "a b" (rank 0) beats "b c" (rank 1); then "ab c" gives "abc".
  EXPECT_EQ(tok.encode("abc", false), (std::vector<int32_t>{5}));
  // "bcab": "b c" at 0 and "a b" at 2; rank decides, then nothing merges further.
  EXPECT_EQ(tok.encode("bcab", false), (std::vector<int32_t>{4, 3}));
  // "abab": two rank-0 pairs, leftmost first; both merge.
  EXPECT_EQ(tok.encode("abab", false), (std::vector<int32_t>{3, 3}));
  // Characters with no token are dropped (llama.cpp finds no 1-byte token for them).
  EXPECT_EQ(tok.encode("axb", false), (std::vector<int32_t>{0, 1}));
  // BPE vocabularies default to no BOS, so add_bos (llama.cpp's add_special) adds none.
  EXPECT_FALSE(tok.add_bos_default());
  EXPECT_EQ(tok.encode("a", true), (std::vector<int32_t>{0}));
  VocabSpec with_bos = tiny_spec();
  with_bos.add_bos = true;
  auto t2 = make_bpe_tokenizer(with_bos);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2.value()->encode("a", true), (std::vector<int32_t>{6, 0}));
  EXPECT_EQ(t2.value()->encode("a", false), (std::vector<int32_t>{0}));
}

TEST(TokBpeMerges, Llama3IgnoresMergesForWholeWords) {
  VocabSpec s = tiny_spec();
  s.tokens.push_back("ca");  // a token no merge produces
  s.types.push_back(1);
  s.pre = "llama3";
  auto made = make_bpe_tokenizer(s);
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(made.value()->encode("ca", false), (std::vector<int32_t>{7}));
  EXPECT_TRUE(made.value()->add_bos_default());  // llama3 family default
  s.pre = "gpt-2";
  auto plain = make_bpe_tokenizer(s);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.value()->encode("ca", false), (std::vector<int32_t>{2, 0}));
}

}  // namespace
}  // namespace ef::tok
