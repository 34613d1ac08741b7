#include "tokenizer/spm_tokenizer.h"

#include <algorithm>

#include "tokenizer/special_split.h"
#include "tokenizer/spm.h"

namespace ef::tok {
namespace {

// SentencePiece's whitespace marker U+2581 LOWER ONE EIGHTH BLOCK.
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

void append_escaped(std::string& out, std::string_view raw) {
  for (char c : raw) {
    if (c == ' ') {
      out += kSpaceMarker;
    } else {
      out += c;
    }
  }
}

}  // namespace

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);

  // The first raw fragment, and every raw fragment that follows a special
  // token, gets a leading space when add_space_prefix is set (llama.cpp).
  bool prev_special = true;
  std::string escaped;
  for (const Fragment& f : split_special(vocab_, text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    escaped.clear();
    if (vocab_.add_space_prefix && prev_special) escaped += kSpaceMarker;
    append_escaped(escaped, text.substr(f.offset, f.length));
    spm_encode_fragment(vocab_, escaped, out);
    prev_special = false;
  }
  return out;
}

std::string SpmTokenizer::token_to_piece(int32_t id, bool special) const {
  if (!vocab_.valid(id)) return {};
  const auto i = static_cast<size_t>(id);
  if (!special && (vocab_.attr[i] & (kAttrControl | kAttrUnknown))) return {};
  return vocab_.piece[i];
}

bool SpmTokenizer::is_end_of_generation(int32_t id) const {
  return std::binary_search(vocab_.eog.begin(), vocab_.eog.end(), id);
}

const std::string& SpmTokenizer::token_text(int32_t id) const {
  static const std::string kEmpty;
  return vocab_.valid(id) ? vocab_.text[static_cast<size_t>(id)] : kEmpty;
}

Result<std::unique_ptr<Tokenizer>> make_spm_tokenizer(VocabSpec spec) {
  EF_ASSIGN_OR_RETURN(Vocab vocab, build_spm_vocab(std::move(spec)));
  return std::unique_ptr<Tokenizer>(std::make_unique<SpmTokenizer>(std::move(vocab)));
}

}  // namespace ef::tok
