// decode(encode(s)) == s on the real llama SPM vocabulary for random valid
// UTF-8 text, and the streaming detokenizer's guarantees.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/spm.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

const Tokenizer* llama_spm() {
  static std::unique_ptr<Tokenizer> tok = [] {
    std::string error;
    auto t = testing::load_vocab("llama-spm", &error);
    if (!t) ADD_FAILURE() << error;
    return t;
  }();
  return tok.get();
}

// Random text mixing ASCII, whitespace runs, Latin-1, CJK, emoji and any
// other scalar value. U+2581 is excluded: SentencePiece uses it as the space
// marker, so a literal one decodes as a space (same in llama.cpp).
std::string random_text(std::mt19937& rng) {
  auto pick = [&](uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  };
  std::string s;
  const uint32_t n = pick(0, 40);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t cp = 0;
    switch (pick(0, 7)) {
      case 0:
      case 1:
        cp = pick(0x20, 0x7E);
        break;
      case 2:
        cp = " \n\t"[pick(0, 2)];
        break;
      case 3:
        cp = pick(0xA0, 0xFF);
        break;
      case 4:
        cp = pick(0x4E00, 0x9FFF);
        break;
      case 5:
        cp = pick(0x1F300, 0x1FAFF);
        break;
      case 6:
        cp = pick(0x00, 0x1F);
        break;
      default:
        cp = pick(0x80, 0x10FFFF);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;  // no surrogates
    }
    if (cp == 0x2581) cp = 0x2580;
    append_utf8(s, cp);
  }
  return s;
}

TEST(TokRoundTrip, RandomValidUtf8) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(1234);
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

TEST(TokRoundTrip, WhitespaceEdgeCases) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  for (const std::string s :
       {"", " ", "  ", "\n", " \n ", "\t\t", "a ", " a", "  a  b  ", "\r\n", "x\n\n\ny"}) {
    EXPECT_EQ(tok->decode(tok->encode(s, false)), s);
    EXPECT_EQ(tok->decode(tok->encode(s, true)), s);
  }
  // Without stripping, the space prefix shows.
  EXPECT_EQ(tok->decode(tok->encode("a", false), false), " a");
}

// Feeds ids one at a time; checks every push() is valid UTF-8 and that the
// pieces add up to decode(). Returns how many pushes were held back (empty
// output although the token had bytes), i.e. split characters.
int check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool strip) {
  StreamingDetokenizer stream(tok, strip);
  std::string all;
  int held = 0;
  for (int32_t id : ids) {
    const std::string out = stream.push(id);
    EXPECT_TRUE(is_valid_utf8(out)) << "push(" << id << ") gave invalid UTF-8";
    if (out.empty() && !tok.token_to_piece(id).empty()) ++held;
    all += out;
  }
  all += stream.flush();
  EXPECT_EQ(all, tok.decode(ids, strip));
  return held;
}

TEST(TokStreaming, MultiByteCharactersSplitAcrossByteTokens) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  // These characters have no token of their own in the llama vocabulary, so
  // they become 3-4 byte tokens (e.g. the llama emoji is 243 162 169 156).
  for (const std::string s :
       {" this is \xF0\x9F\xA6\x99.cpp", "\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F",
        "\xE1\x9E\x80\xE1\x9E\xB6\xE1\x9E\x93\xE1\x9F\x8B", "Hello, y'all! \xF0\x9F\x98\x81 ?"}) {
    const auto ids = tok->encode(s, true);
    EXPECT_GT(check_stream(*tok, ids, true), 0) << "expected some split characters in: " << s;
    check_stream(*tok, ids, false);
  }
}

TEST(TokStreaming, RandomText) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(99);
  int held = 0;
  for (int i = 0; i < 200; ++i)
    held += check_stream(*tok, tok->encode(random_text(rng), true), i % 2 == 0);
  EXPECT_GT(held, 0);
}

TEST(TokStreaming, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  const int32_t b0 = 3;  // <0x00> .. <0xFF> are ids 3..258 in this vocabulary
  ASSERT_EQ(tok->token_text(b0 + 0xE4), "<0xE4>");
  const std::string fffd = "\xEF\xBF\xBD";
  {
    StreamingDetokenizer s(*tok);
    EXPECT_EQ(s.push(b0 + 0xFF), fffd);  // never valid
    EXPECT_EQ(s.push(b0 + 0xE4), "");    // held: could still complete
    EXPECT_EQ(s.push(b0 + 0xB8), "");
    EXPECT_EQ(s.push(b0 + 'a'), fffd + "a");  // E4 B8 'a': one U+FFFD, then 'a'
    EXPECT_EQ(s.push(b0 + 0xE4), "");
    EXPECT_EQ(s.flush(), fffd);  // truncated at the end
    EXPECT_EQ(s.flush(), "");
  }
  {
    StreamingDetokenizer s(*tok);
    EXPECT_EQ(s.push(b0 + 0xED), "");
    EXPECT_EQ(s.push(b0 + 0xA0), fffd + fffd);  // surrogate lead: ED, then stray A0
    EXPECT_EQ(s.push(b0 + 0xE4), "");
    EXPECT_EQ(s.push(b0 + 0xB8), "");
    EXPECT_EQ(s.push(b0 + 0xAD), "\xE4\xB8\xAD");  // completes U+4E2D
    EXPECT_EQ(s.push(1), "");                      // BOS renders as nothing
  }
}

TEST(TokStreaming, StripsOnlyWhenAsked) {
  const Tokenizer* tok = llama_spm();
  ASSERT_NE(tok, nullptr);
  StreamingDetokenizer strip(*tok, true), keep(*tok);
  EXPECT_EQ(strip.push(1), "");
  EXPECT_EQ(strip.push(15043), "Hello");  // " Hello" -> first piece, space dropped
  EXPECT_EQ(strip.push(15043), " Hello");
  EXPECT_EQ(keep.push(15043), " Hello");  // continuing a prompt: keep it
}

// Word-by-word merging (the fast path) must equal merging the whole fragment
// at once, as llama.cpp does, on text with many spaces, space runs, invalid
// bytes and truncated sequences next to spaces.
TEST(TokSpmSplit, WordSplitEqualsWholeFragment) {
  const auto* spm = dynamic_cast<const SpmTokenizer*>(llama_spm());
  ASSERT_NE(spm, nullptr);
  ASSERT_TRUE(spm->vocab().words_are_independent);
  std::mt19937 rng(7);
  const std::string marker = "\xE2\x96\x81";
  const std::vector<std::string> atoms = {" ",
                                          "  ",
                                          marker,
                                          "a",
                                          "the",
                                          "\xF0",
                                          "\xE2",
                                          "\xE2\x96",
                                          "\x81",
                                          "\xC3\xA9",
                                          "\xE4\xB8\xAD",
                                          "\n",
                                          "333",
                                          "\xF0\x9F\xA6\x99"};
  for (int i = 0; i < 500; ++i) {
    std::string raw;
    const int n = std::uniform_int_distribution<int>(1, 30)(rng);
    for (int k = 0; k < n; ++k)
      raw += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
    std::string escaped;
    for (char c : raw) {
      if (c == ' ') {
        escaped += marker;
      } else {
        escaped += c;
      }
    }
    std::vector<int32_t> split, whole;
    spm_encode_fragment(spm->vocab(), escaped, split, true);
    spm_encode_fragment(spm->vocab(), escaped, whole, false);
    ASSERT_EQ(split, whole) << "case " << i;
  }
}

}  // namespace
}  // namespace ef::tok
