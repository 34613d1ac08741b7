#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include "edgeformer/tokenizer.h"

namespace ef {
namespace {

size_t bad_at(std::string_view s) {
  size_t off = 12345;
  EXPECT_FALSE(is_valid_utf8(s, &off)) << "expected invalid";
  return off;
}

TEST(TokUtf8, AcceptsWellFormedText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii\t\n"));
  EXPECT_TRUE(is_valid_utf8("\xC3\xA9"));          // U+00E9
  EXPECT_TRUE(is_valid_utf8("\xE4\xB8\xAD"));      // U+4E2D
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\xA6\x99"));  // U+1F999
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last scalar value
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));      // U+E000, just above
  EXPECT_TRUE(is_valid_utf8(std::string_view("\0", 1)));
}

TEST(TokUtf8, RejectsOverlongs) {
  EXPECT_EQ(bad_at("\xC0\xAF"), 0u);  // '/' in 2 bytes
  EXPECT_EQ(bad_at("ab\xC1\xBF"), 2u);
  EXPECT_EQ(bad_at("\xE0\x80\xAF"), 0u);      // 3-byte overlong
  EXPECT_EQ(bad_at("\xE0\x9F\xBF"), 0u);      // U+07FF in 3 bytes
  EXPECT_EQ(bad_at("\xF0\x8F\xBF\xBF"), 0u);  // U+FFFF in 4 bytes
}

TEST(TokUtf8, RejectsSurrogatesAndTooLarge) {
  EXPECT_EQ(bad_at("x\xED\xA0\x80"), 1u);     // U+D800
  EXPECT_EQ(bad_at("\xED\xBF\xBF"), 0u);      // U+DFFF
  EXPECT_EQ(bad_at("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(bad_at("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(bad_at("\xFF"), 0u);
}

TEST(TokUtf8, RejectsTruncatedAndStrayBytes) {
  EXPECT_EQ(bad_at("abc\xE4\xB8"), 3u);
  EXPECT_EQ(bad_at("\xF0\x9F\xA6"), 0u);
  EXPECT_EQ(bad_at("\xC3"), 0u);
  EXPECT_EQ(bad_at("a\x80"), 1u);
  EXPECT_EQ(bad_at("\xC3\xA9\xC3"
                   "a"),
            2u);  // continuation replaced by ASCII
}

TEST(TokUtf8, StepReportsMaximalSubparts) {
  using tok::Utf8Status;
  auto step = tok::utf8_step(
      "\xE4\xB8"
      "a",
      0);
  EXPECT_EQ(step.status, Utf8Status::invalid);
  EXPECT_EQ(step.len, 2u);
  step = tok::utf8_step("\xE4\xB8", 0);
  EXPECT_EQ(step.status, Utf8Status::incomplete);
  EXPECT_EQ(step.len, 2u);
  step = tok::utf8_step("\xED\xA0\x80", 0);
  EXPECT_EQ(step.status, Utf8Status::invalid);
  EXPECT_EQ(step.len, 1u);
}

}  // namespace
}  // namespace ef
