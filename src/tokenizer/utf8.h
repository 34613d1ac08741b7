// UTF-8 helpers shared by the tokenizer, the detokenizer and their tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ef::tok {

// How many bytes llama.cpp's SPM tokenizer groups into one symbol, judged by
// the lead byte's high nibble alone (0x0-0xB -> 1, 0xC-0xD -> 2, 0xE -> 3,
// 0xF -> 4). Continuation and invalid bytes form 1-byte symbols; callers clamp
// the length to the bytes that remain, so truncated input is never over-read.
inline size_t spm_symbol_len(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

enum class Utf8Status {
  ok,          // `len` bytes form one valid scalar value
  incomplete,  // the text ends inside a sequence that is valid so far (`len` bytes present)
  invalid,     // `len` (>= 1) bytes form a maximal invalid subpart (replace by one U+FFFD)
};

struct Utf8Step {
  Utf8Status status;
  size_t len;
};

// Classifies the sequence that starts at s[i] (i < s.size()) following the
// Unicode "well-formed UTF-8" table: no overlongs, no surrogates, <= U+10FFFF.
Utf8Step utf8_step(std::string_view s, size_t i);

// Appends the UTF-8 encoding of `cp` (assumed a valid scalar value).
void append_utf8(std::string& out, uint32_t cp);

// U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

}  // namespace ef::tok
