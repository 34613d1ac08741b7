// Tokenizers built from GGUF metadata (tokenizer.ggml.*).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeformer/error.h"

namespace ef {
namespace gguf {
class File;
}

class Tokenizer {
 public:
  // Reads tokenizer.ggml.{model,tokens,scores,token_type,merges,pre,bos_token_id,...}.
  // Supported models: "llama" (SentencePiece-style) and "gpt2" (byte-level
  // BPE with the pre-tokenizer named by tokenizer.ggml.pre). Other models and
  // unknown pre-tokenizers fail with Errc::unsupported; malformed metadata
  // with Errc::format naming the key.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // Text -> token ids, identical to llama.cpp's llama_tokenize(text,
  // add_special = add_bos, parse_special). Never fails: bytes with no token
  // use byte fallback (SPM) or become U+FFFD (BPE, invalid UTF-8). add_bos
  // prepends BOS when the vocabulary asks for it (add_bos_default(), e.g.
  // true for llama SPM, false for GPT-2 BPE) and has one; EOS is never
  // appended here (see add_eos_default()).
  // parse_special: also recognise CONTROL token texts like "<s>";
  // USER_DEFINED token texts are always recognised.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;
  // The bytes one token stands for (byte tokens <0xNN> give that byte; SPM's
  // whitespace marker U+2581 becomes a space; BPE texts are GPT-2
  // byte-decoded). Control and unknown tokens give
  // "" unless `special`, then their text. Invalid ids give "".
  std::string token_to_piece(int32_t id) const { return token_to_piece(id, false); }
  virtual std::string token_to_piece(int32_t id, bool special) const = 0;
  // Concatenation of pieces; when `strip_leading_space` and the vocabulary
  // adds a space prefix, removes one leading space from the first non-empty
  // piece (so decode(encode(s, add_bos)) == s for any s, with or without BOS;
  // llama.cpp only strips it from token 0).
  std::string decode(const std::vector<int32_t>& ids, bool strip_leading_space = true) const;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos_id() const = 0;         // -1 if none
  virtual int32_t eos_id() const = 0;         // -1 if none
  virtual int32_t unk_id() const = 0;         // -1 if none
  virtual bool add_bos_default() const = 0;   // tokenizer.ggml.add_bos_token
  virtual bool add_eos_default() const = 0;   // tokenizer.ggml.add_eos_token
  virtual bool add_space_prefix() const = 0;  // tokenizer.ggml.add_space_prefix
  virtual bool is_end_of_generation(int32_t id) const = 0;
  virtual const std::string& token_text(int32_t id) const = 0;  // raw vocab entry ("" if invalid)
};

// Turns a token stream into text without ever emitting part of a UTF-8
// character: bytes of an incomplete sequence are held until it completes;
// bytes that can never form a valid character are replaced by U+FFFD (one per
// maximal ill-formed subsequence). For valid UTF-8 output the concatenation of
// push() results and flush() equals decode(ids, strip_leading_space).
// strip_leading_space: drop the space prefix of the first non-empty piece, as
// decode() does. Leave it false when streaming tokens that continue a prompt
// (generation), where that space separates the first new word from the prompt.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool strip_leading_space = false)
      : tokenizer_(tokenizer), first_(strip_leading_space) {}
  // Text that became complete with this token (may be empty).
  std::string push(int32_t id);
  // Remaining held bytes, replaced by U+FFFD. The stream may continue after.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool first_;  // still waiting for the first non-empty piece whose space to strip
};

// True if `text` is valid UTF-8 (no overlongs, surrogates or > U+10FFFF).
// On failure, *bad_offset is the offset of the first byte of the first
// ill-formed (or truncated) sequence.
bool is_valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace ef
