// Byte-level BPE merging of one pre-tokenized word (llama.cpp's
// llm_tokenizer_bpe_session::tokenize for one word): split the byte-encoded
// word into characters, repeatedly merge the adjacent pair with the lowest
// merge rank (leftmost first on ties), then emit each final symbol's token,
// or for a symbol that is not a token, the tokens of its single bytes (if any).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ef::tok {

// Appends the tokens of `word` (already byte-encoded) to `out`.
void bpe_encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out);

}  // namespace ef::tok
