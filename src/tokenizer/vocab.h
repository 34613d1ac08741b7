// The vocabulary behind both tokenizers: SentencePiece-style ("llama") and
// byte-level BPE ("gpt2").
//
// VocabSpec is the raw metadata exactly as a GGUF file states it
// (tokenizer.ggml.*); build_vocab validates it and derives everything the
// tokenizer needs (per-token attributes, text -> id map, byte fallback table,
// special-token list, end-of-generation set), applying llama.cpp's defaults
// and fix-ups so that encoding is token-for-token identical to llama.cpp.
// Tests build VocabSpecs by hand; Tokenizer::from_gguf fills one from a file.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeformer/error.h"
#include "tokenizer/bpe_merges.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/token_index.h"

namespace ef::tok {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

// Per-token attribute bits (llama.cpp's llama_token_attr). A token can gain
// bits beyond its type, e.g. a "<|im_end|>"-looking token is forced CONTROL.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,  // eat whitespace left of this special token
  kAttrRstrip = 1u << 8,  // eat whitespace right of this special token
};

// Raw metadata. Absent optional keys are std::nullopt / empty vectors.
struct VocabSpec {
  std::string model = "llama";      // tokenizer.ggml.model
  std::string name;                 // general.name (phi-3 special-token fix-up)
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores (empty: all 0)
  std::vector<int32_t> types;       // tokenizer.ggml.token_type (empty: all NORMAL)
  std::optional<int64_t> bos_id, eos_id, unk_id, pad_id, eot_id, eom_id;
  // tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id (FIM markers).
  std::array<std::optional<int64_t>, 6> fim_ids;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  // Byte-level BPE only: tokenizer.ggml.merges ("left right", rank = index)
  // and tokenizer.ggml.pre (nullopt when absent: llama.cpp's "default").
  std::vector<std::string> merges;
  std::optional<std::string> pre;
};

enum class VocabKind { spm, bpe };

class Vocab {
 public:
  Vocab() = default;
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;
  // Not copyable: `index` points at `text` (a move keeps the vector buffer).
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  VocabKind kind = VocabKind::spm;

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < size(); }
  // Exact text -> id, or -1.
  int32_t find(std::string_view s) const { return s.size() > max_token_len ? -1 : index.find(s); }

  std::vector<std::string> text;   // [n] vocabulary entries (SPM: U+2581 marks a space;
                                   //      BPE: bytes in GPT-2 byte encoding)
  std::vector<float> score;        // [n] merge priority, higher merges first
  std::vector<uint32_t> attr;      // [n] TokenAttr bits
  std::vector<std::string> piece;  // [n] bytes each token stands for (special tokens verbatim)
  TokenIndex index;                // text -> id
  size_t max_token_len = 0;

  int32_t bos = -1, eos = -1, unk = -1, pad = -1, eot = -1, eom = -1;
  bool add_bos = true, add_eos = false, add_space_prefix = true;

  // byte_token[b]: token for raw byte b, -1 if none. SPM: "<0xXX>", else
  // the 1-byte text. BPE: the 1-byte text, which is what llama.cpp falls
  // back to for a symbol that is not a token (rarely present: BPE token
  // texts are byte-encoded).
  std::array<int32_t, 256> byte_token{};
  // CONTROL / USER_DEFINED / UNKNOWN tokens, longest text first (ties: lower id first).
  std::vector<int32_t> special_tokens;
  // Sorted ids that end generation.
  std::vector<int32_t> eog;
  // True if no entry has a U+2581 (or a truncated prefix of one) that is not
  // preceded by another U+2581 inside the entry: then no token can span the
  // start of a word ("x|\u2581y"), and SPM may encode words independently
  // with the same result (see spm.cpp).
  bool words_are_independent = false;

  // Byte-level BPE only.
  PreInfo pre{PreType::kDefault, false, false};
  BpeMerges merges;
};

// Validates `spec` and builds the vocabulary. Errors are Errc::format naming
// the offending tokenizer.ggml.* key, or Errc::unsupported for other models
// and unknown pre-tokenizers.
Result<Vocab> build_vocab(VocabSpec spec);
// Same, but only accepts SentencePiece-style ("llama") vocabularies.
Result<Vocab> build_spm_vocab(VocabSpec spec);

}  // namespace ef::tok
