#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "tokenizer/unicode_class.h"

namespace ef::tok {
namespace {

constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTypesKey = "tokenizer.ggml.token_type";

Error format_error(std::string what, std::string where, std::string hint = {}) {
  return make_error(Errc::format, std::move(what), std::move(where), std::move(hint));
}

// Printable, bounded rendering of a token for error messages.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 40) out += "...";
  return out + "'";
}

uint32_t attr_from_type(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::normal:
      return kAttrNormal;
    case TokenType::unknown:
      return kAttrUnknown;
    case TokenType::control:
      return kAttrControl;
    case TokenType::user_defined:
      return kAttrUserDefined;
    case TokenType::unused:
      return kAttrUnused;
    case TokenType::byte:
      return kAttrByte;
    case TokenType::undefined:
      break;
  }
  return kAttrUndefined;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses "<0xXX>" (either hex case); -1 if `s` has another shape.
int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  const int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Resolves one special-token id. Absent: `fallback` (llama.cpp's SPM default,
// disabled when outside the vocabulary). -1 means "none". Other out-of-range
// values are an error when `strict`, else ignored (the id stays at fallback).
Result<int32_t> resolve_id(const std::optional<int64_t>& given, int32_t fallback, int32_t n,
                           const char* key, bool strict) {
  if (fallback >= n) fallback = -1;
  if (!given) return fallback;
  if (*given == -1) return -1;
  if (*given < 0 || *given >= n) {
    if (!strict) return fallback;
    return format_error("special token id " + std::to_string(*given) +
                            " is outside the vocabulary of " + std::to_string(n) + " tokens",
                        key, "fix the id in the model's tokenizer metadata");
  }
  return static_cast<int32_t>(*given);
}

std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Texts llama.cpp recognises as end-of-turn markers when no id is given
// (first match in id order wins), and texts that always end generation.
// Tokens found this way are forced to CONTROL, which matters for encoding:
// control tokens are only matched in text when parse_special is set.
const std::vector<std::string_view> kEotTexts = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>"};
const std::vector<std::string_view> kEomTexts = {"<|eom_id|>"};
const std::vector<std::string_view> kEogTexts = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};

// FIM markers, only used to mirror llama.cpp's CONTROL forcing.
const std::vector<std::vector<std::string_view>> kFimTexts = {
    {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xE2\x96\x81<PRE>",
     "<|code_prefix|>", "<|prefix|>"},
    {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\xE2\x96\x81<SUF>",
     "<|code_suffix|>", "<|suffix|>"},
    {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\xE2\x96\x81<MID>",
     "<|code_middle|>", "<|middle|>"},
    {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
    {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
    {"<|file_sep|>"},
};

bool contains(const std::vector<std::string_view>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// Finds the first token (in id order) whose text is in `texts` and forces it
// CONTROL; returns its id or -1.
int32_t detect_control(Vocab& v, const std::vector<std::string_view>& texts) {
  for (int32_t id = 0; id < v.size(); ++id) {
    if (contains(texts, v.text[id])) {
      v.attr[id] |= kAttrControl;
      return id;
    }
  }
  return -1;
}

Status load_tokens(const VocabSpec& spec, Vocab& v) {
  const size_t n = spec.tokens.size();
  if (n == 0) return format_error("vocabulary is empty", kTokensKey);
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    return format_error("too many tokens (" + std::to_string(n) + ")", kTokensKey);
  if (!spec.scores.empty() && spec.scores.size() != n)
    return format_error("has " + std::to_string(spec.scores.size()) + " entries but " + kTokensKey +
                            " has " + std::to_string(n),
                        kScoresKey, "the arrays must have one entry per token");
  if (!spec.types.empty() && spec.types.size() != n)
    return format_error("has " + std::to_string(spec.types.size()) + " entries but " + kTokensKey +
                            " has " + std::to_string(n),
                        kTypesKey, "the arrays must have one entry per token");

  v.text.resize(n);
  v.score.assign(n, 0.0f);
  v.attr.assign(n, kAttrNormal);
  for (size_t i = 0; i < n; ++i) {
    // Empty entries would match everywhere; llama.cpp renames them the same way.
    v.text[i] = spec.tokens[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : spec.tokens[i];
    if (!spec.scores.empty()) {
      if (std::isnan(spec.scores[i]))
        return format_error("score of token " + std::to_string(i) + " is NaN", kScoresKey);
      v.score[i] = spec.scores[i];
    }
    if (!spec.types.empty()) {
      const int32_t t = spec.types[i];
      if (t < 0 || t > static_cast<int32_t>(TokenType::byte))
        return format_error("token " + std::to_string(i) + " has unknown type " + std::to_string(t),
                            kTypesKey,
                            "valid types are 0..6 (undefined, normal, unknown, control, "
                            "user-defined, unused, byte)");
      v.attr[i] = attr_from_type(t);
    }
    v.max_token_len = std::max(v.max_token_len, v.text[i].size());
  }
  // The index refers to v.text, which is never resized after this point.
  int32_t dup_id, dup_of;
  v.index.build(v.text, &dup_id, &dup_of);
  if (dup_id >= 0)
    return format_error("duplicate token " + quoted(v.text[static_cast<size_t>(dup_id)]) +
                            " has ids " + std::to_string(dup_of) + " and " + std::to_string(dup_id),
                        kTokensKey, "every vocabulary entry must be unique");
  return Status::success();
}

Status resolve_specials(const VocabSpec& spec, Vocab& v) {
  const int32_t n = v.size();
  // llama.cpp's defaults when the ids are absent: SPM <unk>=0 <s>=1 </s>=2;
  // BPE ("gpt2") 11 for both BOS and EOS and no unknown token.
  const bool bpe = v.kind == VocabKind::bpe;
  EF_ASSIGN_OR_RETURN(v.bos, resolve_id(spec.bos_id, bpe ? 11 : 1, n,
                                        "tokenizer.ggml.bos_token_id", true));
  EF_ASSIGN_OR_RETURN(v.eos, resolve_id(spec.eos_id, bpe ? 11 : 2, n,
                                        "tokenizer.ggml.eos_token_id", true));
  EF_ASSIGN_OR_RETURN(v.unk, resolve_id(spec.unk_id, bpe ? -1 : 0, n,
                                        "tokenizer.ggml.unknown_token_id", true));
  EF_ASSIGN_OR_RETURN(v.eot, resolve_id(spec.eot_id, -1, n, "tokenizer.ggml.eot_token_id", true));
  EF_ASSIGN_OR_RETURN(v.eom, resolve_id(spec.eom_id, -1, n, "tokenizer.ggml.eom_token_id", true));
  // Padding is never used for encoding; like llama.cpp, a bad id is ignored.
  EF_ASSIGN_OR_RETURN(v.pad,
                      resolve_id(spec.pad_id, -1, n, "tokenizer.ggml.padding_token_id", false));

  v.add_bos = spec.add_bos.value_or(bpe ? v.pre.add_bos : true);
  v.add_eos = spec.add_eos.value_or(false);
  // BPE encoding never adds a space prefix (llama.cpp only reads the key for
  // SPM), so decoding must not strip one either.
  v.add_space_prefix = bpe ? false : spec.add_space_prefix.value_or(true);
  if (v.add_bos && v.bos < 0)
    return format_error("is true but there is no BOS token", "tokenizer.ggml.add_bos_token",
                        "set tokenizer.ggml.bos_token_id or add_bos_token = false");
  if (v.add_eos && v.eos < 0)
    return format_error("is true but there is no EOS token", "tokenizer.ggml.add_eos_token",
                        "set tokenizer.ggml.eos_token_id or add_eos_token = false");
  return Status::success();
}

Status build_byte_table(Vocab& v) {
  for (int32_t id = 0; id < v.size(); ++id) {
    if ((v.attr[id] & kAttrByte) && parse_byte_token(v.text[id]) < 0)
      return format_error(
          "byte token " + std::to_string(id) + " is " + quoted(v.text[id]) + ", not <0xXX>",
          kTokensKey);
  }
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    if (v.kind == VocabKind::bpe) {
      const char raw = static_cast<char>(b);
      v.byte_token[b] = v.find(std::string_view(&raw, 1));
      continue;
    }
    const char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    int32_t id = v.find(std::string_view(name, 6));
    if (id < 0) {
      const char raw = static_cast<char>(b);
      id = v.find(std::string_view(&raw, 1));
    }
    v.byte_token[b] = id;
  }
  return Status::success();
}

bool words_are_independent(const Vocab& v) {
  static constexpr std::string_view kMarker = "\xE2\x96\x81";
  for (const std::string& t : v.text) {
    for (size_t k = 1; k < t.size(); ++k) {
      if (static_cast<uint8_t>(t[k]) != 0xE2) continue;
      const std::string_view rest = std::string_view(t).substr(k, kMarker.size());
      if (kMarker.substr(0, rest.size()) != rest) continue;  // another character, e.g. U+2014
      if (k < kMarker.size() ||
          std::string_view(t).substr(k - kMarker.size(), kMarker.size()) != kMarker)
        return false;
    }
  }
  return true;
}

// What a normal BPE token stands for: each codepoint of its text maps back
// to one byte (GPT-2 byte encoding). llama.cpp renders codepoints outside the
// mapping as "[UNK_BYTE_0x<utf8 hex><text>]"; so do we.
std::string decode_bpe_text(const std::string& text) {
  static const char* hex = "0123456789abcdef";
  CpText t;
  decode_lenient(text, t);
  std::string out;
  for (size_t i = 0; i < t.cps.size(); ++i) {
    const int b = unicode_to_byte(t.cps[i]);
    if (b >= 0) {
      out += static_cast<char>(b);
      continue;
    }
    out += "[UNK_BYTE_0x";
    for (uint32_t k = t.offs[i]; k < t.offs[i + 1]; ++k) {
      const auto c = static_cast<uint8_t>(t.utf8[k]);
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    out += text + "]";
  }
  return out;
}

Status load_merges(const VocabSpec& spec, Vocab& v) {
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const std::string& m = spec.merges[i];
    // llama.cpp splits at the first space after the first byte, so a merge
    // may start with a space ("  x" = " " + " x" is impossible, but " x y"
    // splits as " x" + "y").
    const size_t pos = m.find(' ', 1);
    if (pos == std::string::npos) continue;  // can never apply (empty half)
    const std::string_view left = std::string_view(m).substr(0, pos);
    const std::string_view right = std::string_view(m).substr(pos + 1);
    if (right.empty()) continue;
    v.merges.add(static_cast<int32_t>(i), v.find(left), v.find(right), left, right);
  }
  return Status::success();
}

void build_pieces(Vocab& v) {
  static constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";
  v.piece.resize(v.text.size());
  if (v.kind == VocabKind::bpe) {
    for (int32_t id = 0; id < v.size(); ++id) {
      const uint32_t a = v.attr[id];
      if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
        v.piece[id] = v.text[id];
      } else if (a & kAttrNormal) {
        v.piece[id] = decode_bpe_text(v.text[id]);
      } else if (a & kAttrByte) {
        v.piece[id] = std::string(1, static_cast<char>(parse_byte_token(v.text[id])));
      }
    }
    return;
  }
  for (int32_t id = 0; id < v.size(); ++id) {
    const uint32_t a = v.attr[id];
    const std::string& t = v.text[id];
    std::string& p = v.piece[id];
    if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
      p = t;
    } else if (a & kAttrNormal) {
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
          p += ' ';
          i += kSpaceMarker.size();
        } else {
          p += t[i++];
        }
      }
    } else if (a & kAttrByte) {
      p = std::string(1, static_cast<char>(parse_byte_token(t)));
    }
    // UNUSED / UNDEFINED tokens render as nothing, as in llama.cpp.
  }
}

}  // namespace

Result<Vocab> build_spm_vocab(VocabSpec spec) {
  if (spec.model != "llama") {
    return make_error(Errc::unsupported, "tokenizer model '" + spec.model + "' is not 'llama'",
                      "tokenizer.ggml.model", "expected a SentencePiece-style vocabulary");
  }
  return build_vocab(std::move(spec));
}

Result<Vocab> build_vocab(VocabSpec spec) {
  Vocab v;
  if (spec.model == "gpt2") {
    v.kind = VocabKind::bpe;
    const std::string pre = spec.pre.value_or("");
    const std::optional<PreInfo> info = pre_info_from_name(pre);
    if (!info) {
      return make_error(Errc::unsupported, "unknown pre-tokenizer type '" + pre + "'",
                        "tokenizer.ggml.pre",
                        "supported: default, gpt-2, llama3/llama-bpe, qwen2, deepseek-llm, "
                        "deepseek-coder, falcon, starcoder/refact/smollm, mpt and their aliases");
    }
    v.pre = *info;
    if (spec.merges.empty())
      return format_error("is missing or empty", "tokenizer.ggml.merges",
                          "a byte-level BPE (gpt2) vocabulary needs its merges");
  } else if (spec.model != "llama") {
    return make_error(Errc::unsupported, "tokenizer model '" + spec.model + "' not supported",
                      "tokenizer.ggml.model",
                      "supported: 'llama' (SentencePiece-style) and 'gpt2' (byte-level BPE)");
  }
  EF_TRY(load_tokens(spec, v));
  EF_TRY(resolve_specials(spec, v));
  EF_TRY(build_byte_table(v));

  // End-of-turn / end-of-message markers named by text (llama.cpp's workaround
  // for converters that do not write their ids).
  if (v.eot < 0) v.eot = detect_control(v, kEotTexts);
  if (v.eom < 0) v.eom = detect_control(v, kEomTexts);
  std::vector<int32_t> eog;
  for (size_t k = 0; k < kFimTexts.size(); ++k) {
    // A valid id from the metadata wins; otherwise detect by text.
    const auto& given = spec.fim_ids[k];
    const int32_t id = given && *given >= 0 && *given < v.size() ? static_cast<int32_t>(*given)
                                                                 : detect_control(v, kFimTexts[k]);
    if (id >= 0 && k >= 3) eog.push_back(id);  // FIM pad / repo / file-sep end generation
  }
  for (int32_t id = 0; id < v.size(); ++id) {
    if (contains(kEogTexts, v.text[id])) {
      v.attr[id] |= kAttrControl;
      eog.push_back(id);
    }
  }
  for (int32_t id : {v.eos, v.eot, v.eom})
    if (id >= 0) eog.push_back(id);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  v.eog = std::move(eog);

  for (int32_t id = 0; id < v.size(); ++id)
    if (v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      v.special_tokens.push_back(id);
  // llama.cpp sorts by length only (std::sort); a stable sort keeps equal
  // lengths in id order so our result is deterministic.
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(),
                   [&](int32_t a, int32_t b) { return v.text[a].size() > v.text[b].size(); });

  // Phi-3 (an SPM model) strips whitespace after its special tokens; llama.cpp
  // keys this on the model name since GGUF has no per-token attributes.
  const std::string name = ascii_lower(spec.name);
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (int32_t id : v.special_tokens) v.attr[id] |= kAttrRstrip;
    if (int32_t id = v.find("</s>"); id >= 0) v.attr[id] |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"})
      if (int32_t id = v.find(t); id >= 0) v.attr[id] &= ~kAttrRstrip;
  }

  if (v.kind == VocabKind::bpe) EF_TRY(load_merges(spec, v));
  build_pieces(v);
  v.words_are_independent = v.kind == VocabKind::spm && words_are_independent(v);
  return v;
}

}  // namespace ef::tok
