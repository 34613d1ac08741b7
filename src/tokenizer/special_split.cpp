#include "tokenizer/special_split.h"

namespace ef::tok {
namespace {

// C-locale isspace, safe for bytes >= 0x80.
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Splits raw fragment [offset, offset + length) of `text` at every occurrence
// of special token `id`, appending the pieces to `out`.
void split_fragment(const Vocab& vocab, std::string_view text, int32_t id, size_t offset,
                    size_t length, std::vector<Fragment>& out) {
  const std::string& special = vocab.text[static_cast<size_t>(id)];
  const uint32_t attr = vocab.attr[static_cast<size_t>(id)];
  while (length > 0) {
    const size_t end = offset + length;
    const size_t match = text.substr(0, end).find(special, offset);
    if (match == std::string_view::npos) {
      out.push_back({-1, offset, length});
      return;
    }
    size_t left_len = match - offset;
    if (attr & kAttrLstrip)
      while (left_len > 0 && is_ascii_space(text[offset + left_len - 1])) --left_len;
    if (left_len > 0) out.push_back({-1, offset, left_len});
    out.push_back({id, 0, 0});

    offset = match + special.size();
    length = end - offset;
    if (attr & kAttrRstrip) {
      while (length > 0 && is_ascii_space(text[offset])) {
        ++offset;
        --length;
      }
    }
  }
}

}  // namespace

std::vector<Fragment> split_special(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});

  std::vector<Fragment> next;
  for (const int32_t id : vocab.special_tokens) {
    if (!parse_special && (vocab.attr[static_cast<size_t>(id)] & (kAttrControl | kAttrUnknown)))
      continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
      } else {
        split_fragment(vocab, text, id, f.offset, f.length, next);
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace ef::tok
