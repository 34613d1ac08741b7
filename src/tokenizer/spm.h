// SentencePiece-style BPE over one text fragment (llama.cpp's
// llm_tokenizer_spm_session): split into UTF-8 symbols, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring vocabulary entry,
// then emit each final symbol's id, or byte tokens for symbols that are not in
// the vocabulary.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace ef::tok {

// Appends the tokens of `text` to `out`. `text` is already whitespace-escaped
// (spaces replaced by U+2581) and may be any bytes, including invalid UTF-8.
// split_words: when the vocabulary allows it (Vocab::words_are_independent),
// merge each word separately; the result is identical, only faster (small
// queues instead of one queue over the whole fragment). Tests pass false to
// check that equivalence.
void spm_encode_fragment(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out,
                         bool split_words = true);

}  // namespace ef::tok
