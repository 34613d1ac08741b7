// Tokenizers built from GGUF metadata (tokenizer.ggml.*).
#pragma once

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
  // Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,...}.
  // Supported models: "llama" (SentencePiece-style).
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // Text -> token ids. Never fails: bytes with no token use byte fallback.
  // parse_special: recognise control/user-defined token texts like "<s>".
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;
  // The bytes one token stands for (byte tokens <0xNN> give that byte; the
  // whitespace marker U+2581 becomes a space). Control tokens give "".
  virtual std::string token_to_piece(int32_t id) const = 0;
  // Concatenation of pieces; strips the leading space added by
  // add_space_prefix when `strip_leading_space`.
  std::string decode(const std::vector<int32_t>& ids, bool strip_leading_space = true) const;

  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos_id() const = 0;   // -1 if none
  virtual int32_t eos_id() const = 0;   // -1 if none
  virtual bool add_bos_default() const = 0;  // tokenizer.ggml.add_bos_token
  virtual bool is_end_of_generation(int32_t id) const = 0;
  virtual const std::string& token_text(int32_t id) const = 0;  // raw vocab entry
};

// Turns a token stream into text without ever emitting part of a UTF-8
// character: bytes of an incomplete sequence are held until it completes.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // Text that became complete with this token (may be empty).
  std::string push(int32_t id);
  // Remaining held bytes, invalid ones replaced by U+FFFD.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
  bool first_ = true;
};

// True if `text` is valid UTF-8 (no overlongs, surrogates or > U+10FFFF).
// On failure, *bad_offset is the first bad byte.
bool is_valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace ef
