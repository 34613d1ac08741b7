// Pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre): split
// text into words before BPE merging, exactly as llama.cpp does for each
// `pre` type. llama.cpp applies a list of regexes one after the other; each
// regex splits every piece of the previous step into its matches and the
// unmatched text between them. We keep that pipeline but implement each
// regex as a hand-written matcher over codepoints (pretokenize_match.cpp),
// with classes from unicode_class.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/unicode_class.h"

namespace ef::tok {

// Regex families (several `pre` names share one).
enum class PreType {
  kDefault,        // no/unknown-era "default": punctuation runs, gpt2, digits
  kGpt2,           // gpt-2, mpt, olmo, jais, phi-2, ...
  kLlama3,         // llama3, llama-bpe, dbrx, smaug-bpe, ...
  kQwen2,          // qwen2, stablelm2, megrez, deepseek-r1-qwen: llama3 with 1-digit numbers
  kDeepseekLlm,    // deepseek-llm
  kDeepseekCoder,  // deepseek-coder
  kFalcon,         // falcon
  kStarcoder,      // starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
};

struct PreInfo {
  PreType type;
  bool ignore_merges;  // a word that is itself a token is emitted whole (llama3)
  bool add_bos;        // default for tokenizer.ggml.add_bos_token
};

// Maps a tokenizer.ggml.pre value ("" when absent) to its family, or nullopt
// for names llama.cpp does not know either.
std::optional<PreInfo> pre_info_from_name(std::string_view name);
const char* pre_type_name(PreType type);

// Splits `text` (decoded with decode_lenient) into words; appends the length
// of each word in codepoints to `out` (the lengths sum to text.cps.size()).
void pretokenize(PreType type, const CpText& text, std::vector<uint32_t>& out);

// Convenience for tests and the trainer: the words as UTF-8 strings (not
// byte-encoded).
std::vector<std::string> pretokenize_words(PreType type, std::string_view text);

// --- individual stages (pretokenize_match.cpp), exposed for tests ---------
// A stage refines a split: `in` holds piece lengths (codepoints) covering
// text.cps; the refined lengths are appended to `out`.
void split_gpt2(const CpText& text, const std::vector<uint32_t>& in, std::vector<uint32_t>& out);
// llama3's regex; max_digits 3 (llama3) or 1 (qwen2's \p{N}).
void split_llama3(const CpText& text, const std::vector<uint32_t>& in, std::vector<uint32_t>& out,
                  int max_digits);

}  // namespace ef::tok
