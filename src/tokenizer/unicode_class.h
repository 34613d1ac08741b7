// Unicode facts the byte-level BPE tokenizer needs, computed the way
// llama.cpp computes them so that pre-tokenization splits identically:
//  - per-codepoint class flags (general category from utf8proc, plus the
//    Unicode White_Space property), used for \p{L}, \p{N}, \p{P}, \s;
//  - llama.cpp's lenient UTF-8 decoding of arbitrary bytes (invalid bytes
//    become U+FFFD, one per byte);
//  - the GPT-2 byte <-> printable-codepoint mapping ("byte encoding").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ef::tok {

// Class bits of one codepoint. Exactly one of the category bits is set
// (unassigned codepoints count as control, as in llama.cpp's tables);
// kWhitespace is independent of the category.
enum CpFlags : uint8_t {
  kCpLetter = 1u << 0,       // \p{L}
  kCpNumber = 1u << 1,       // \p{N}
  kCpPunct = 1u << 2,        // \p{P}
  kCpSymbol = 1u << 3,       // \p{S}
  kCpMark = 1u << 4,         // \p{M}
  kCpSeparator = 1u << 5,    // \p{Z}
  kCpControl = 1u << 6,      // \p{C} (Cc Cf Cs Co Cn)
  kCpWhitespace = 1u << 7,   // White_Space property (what \s matches)
};

// Class bits of `cp` (0 for values above U+10FFFF).
uint8_t cp_flags(uint32_t cp);

// Text decoded into codepoints, with every input byte accounted for.
// `utf8` is the re-encoding of `cps` (equal to the input when the input is
// valid UTF-8); offs[i] is the byte offset of cps[i] in `utf8`, offs[n] == utf8.size().
struct CpText {
  std::string utf8;
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;  // cp_flags(cps[i])
  std::vector<uint32_t> offs;
};

// Decodes like llama.cpp's unicode_cpts_from_utf8: a lead byte followed by
// the right number of continuation bytes is accepted as is (overlong forms
// and surrogates included, then re-encoded canonically); any other byte
// becomes U+FFFD and decoding resumes at the next byte. Sequences above
// U+10FFFF (which llama.cpp cannot re-encode) are treated like invalid bytes.
void decode_lenient(std::string_view text, CpText& out);

// GPT-2 byte encoding: byte b -> the UTF-8 text of the codepoint standing
// for it (printable bytes stand for themselves, the 68 others for U+0100..).
const std::array<std::string, 256>& byte_to_unicode();
// Inverse: codepoint -> byte, or -1 when `cp` stands for no byte.
int unicode_to_byte(uint32_t cp);

// Appends the byte encoding of `bytes` to `out`.
void append_byte_encoded(std::string& out, std::string_view bytes);

}  // namespace ef::tok
