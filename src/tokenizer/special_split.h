// Splits text around special-token texts before SPM tokenization (llama.cpp's
// tokenizer_st_partition). Special tokens are tried longest text first; each
// one splits every remaining raw-text fragment at all its non-overlapping
// occurrences, left to right. CONTROL and UNKNOWN tokens take part only when
// parse_special is set; USER_DEFINED tokens always do. A token with the
// LSTRIP / RSTRIP attribute also swallows ASCII whitespace on that side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ef::tok {

struct Fragment {
  int32_t token;  // special token id, or -1 for raw text
  size_t offset;  // raw text: text[offset, offset + length), length > 0
  size_t length;
};

std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace ef::tok
