// Tokenizer::decode and StreamingDetokenizer: ids -> text.
#include "edgeformer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace ef {

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool strip_leading_space) const {
  std::string out;
  bool strip = strip_leading_space && add_space_prefix();
  for (const int32_t id : ids) {
    std::string piece = token_to_piece(id);
    if (piece.empty()) continue;  // BOS and other control tokens render as nothing
    if (strip && piece[0] == ' ') piece.erase(0, 1);
    strip = false;
    out += piece;
  }
  return out;
}

std::string StreamingDetokenizer::push(int32_t id) {
  std::string piece = tokenizer_.token_to_piece(id);
  if (piece.empty()) return {};
  if (first_) {
    if (tokenizer_.add_space_prefix() && piece[0] == ' ') piece.erase(0, 1);
    first_ = false;
  }
  pending_ += piece;

  // Emit every complete character; keep a trailing incomplete sequence.
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const tok::Utf8Step step = tok::utf8_step(pending_, i);
    if (step.status == tok::Utf8Status::incomplete) break;
    if (step.status == tok::Utf8Status::ok) {
      out.append(pending_, i, step.len);
    } else {
      out += tok::kReplacementChar;
    }
    i += step.len;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamingDetokenizer::flush() {
  // Anything still held is a truncated sequence: one replacement character.
  std::string out = pending_.empty() ? std::string() : std::string(tok::kReplacementChar);
  pending_.clear();
  return out;
}

}  // namespace ef
