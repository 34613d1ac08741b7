// The byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"), identical to
// llama.cpp's: special-token split, pre-tokenizer of the vocabulary's `pre`
// family, GPT-2 byte encoding of each word, BPE merges by rank.
#pragma once

#include <memory>

#include "edgeformer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace ef::tok {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Vocab vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_bos,
                              bool parse_special) const override;
  using Tokenizer::token_to_piece;
  std::string token_to_piece(int32_t id, bool special) const override;

  int32_t n_vocab() const override { return vocab_.size(); }
  int32_t bos_id() const override { return vocab_.bos; }
  int32_t eos_id() const override { return vocab_.eos; }
  int32_t unk_id() const override { return vocab_.unk; }
  bool add_bos_default() const override { return vocab_.add_bos; }
  bool add_eos_default() const override { return vocab_.add_eos; }
  bool add_space_prefix() const override { return false; }
  bool is_end_of_generation(int32_t id) const override;
  const std::string& token_text(int32_t id) const override;

  const Vocab& vocab() const { return vocab_; }
  // Raw text of one fragment (no special tokens) -> ids, appended to `out`.
  void encode_raw(std::string_view text, std::vector<int32_t>& out) const;

 private:
  Vocab vocab_;
  uint64_t instance_;  // unique per tokenizer: keys the per-thread word cache
};

// Validates `spec` (model "gpt2") and builds a tokenizer.
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(VocabSpec spec);
// Either kind, by spec.model.
Result<std::unique_ptr<Tokenizer>> make_tokenizer(VocabSpec spec);

}  // namespace ef::tok
