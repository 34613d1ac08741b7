// The two hot pre-tokenizer regexes, as single-pass matchers over
// codepoints. Like llama.cpp's custom splitters they consume the text left to
// right, at each position taking the first alternative that matches (regex
// alternation is ordered, not longest-match).
//
// GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//         (plus \s+ for a lone whitespace before a non-space, which the regex
//         leaves unmatched and which then forms its own piece anyway)
// Llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//         (Qwen2 is the same with \p{N} instead of \p{N}{1,3})
#include "tokenizer/pretokenize.h"

namespace ef::tok {
namespace {

constexpr uint8_t kWLN = kCpWhitespace | kCpLetter | kCpNumber;

// View of one piece [b, e) of a CpText; positions outside read as class 0
// and codepoint kNone, so lookahead past the piece fails naturally.
struct Piece {
  static constexpr uint32_t kNone = 0xFFFFFFFF;
  const CpText& t;
  size_t b, e;
  uint8_t fl(size_t p) const { return p < e ? t.flags[p] : 0; }
  uint32_t cp(size_t p) const { return p < e ? t.cps[p] : kNone; }
};

uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of a contraction ('s 't 're 've 'm 'll 'd) at p, or 0.
size_t contraction_len(const Piece& x, size_t p, bool any_case) {
  if (x.cp(p) != '\'' || p + 1 >= x.e) return 0;
  auto lower = [&](uint32_t c) { return any_case ? ascii_lower(c) : c; };
  const uint32_t n1 = lower(x.cp(p + 1));
  if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
  if (p + 2 >= x.e) return 0;
  const uint32_t n2 = lower(x.cp(p + 2));
  if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
  return 0;
}

size_t whitespace_run(const Piece& x, size_t p) {
  size_t n = 0;
  while (x.fl(p + n) & kCpWhitespace) ++n;
  return n;
}

// One piece, GPT-2 regex. Returns word lengths through `emit`.
template <class Emit>
void gpt2_piece(const Piece& x, Emit&& emit) {
  for (size_t pos = x.b; pos < x.e;) {
    if (const size_t n = contraction_len(x, pos, false)) {
      emit(n);
      pos += n;
      continue;
    }
    const uint32_t c = x.cp(pos);
    const size_t skip = c == ' ' ? 1 : 0;  // the optional leading space
    const uint8_t f = x.fl(pos + skip);
    size_t end = pos + skip;
    if (f & kCpLetter) {  // ' ?\p{L}+'
      while (x.fl(end) & kCpLetter) ++end;
    } else if (f & kCpNumber) {  // ' ?\p{N}+'
      while (x.fl(end) & kCpNumber) ++end;
    } else if (f != 0 && !(f & kWLN)) {  // ' ?[^\s\p{L}\p{N}]+'
      while (x.fl(end) != 0 && !(x.fl(end) & kWLN)) ++end;
    } else {
      const size_t ws = whitespace_run(x, pos);
      if (ws > 1 && pos + ws < x.e) {
        end = pos + ws - 1;  // '\s+(?!\S)': leave the last space to the next word
      } else if (ws > 0) {
        end = pos + ws;  // up to the end of the piece
      } else {
        end = pos + 1;  // unreachable in practice: every class is covered above
      }
    }
    emit(end - pos);
    pos = end;
  }
}

template <class Emit>
void llama3_piece(const Piece& x, int max_digits, Emit&& emit) {
  for (size_t pos = x.b; pos < x.e;) {
    if (const size_t n = contraction_len(x, pos, true)) {
      emit(n);
      pos += n;
      continue;
    }
    const uint32_t c = x.cp(pos);
    const uint8_t f = x.fl(pos);
    const bool newline = c == '\r' || c == '\n';
    // '[^\r\n\p{L}\p{N}]?\p{L}+'
    if (!newline && !(f & kCpNumber) && ((f & kCpLetter) || (x.fl(pos + 1) & kCpLetter))) {
      size_t end = pos + 1;
      while (x.fl(end) & kCpLetter) ++end;
      emit(end - pos);
      pos = end;
      continue;
    }
    // '\p{N}{1,3}' (or '\p{N}'): groups from the left, the last one shorter
    if (f & kCpNumber) {
      size_t end = pos;
      while (end < x.e && (x.fl(end) & kCpNumber) && end - pos < static_cast<size_t>(max_digits))
        ++end;
      emit(end - pos);
      pos = end;
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t skip = c == ' ' ? 1 : 0;
    const uint8_t f2 = x.fl(pos + skip);
    if (!(f2 & kWLN) && (f2 != 0 || skip)) {
      size_t end = pos + skip;
      while (x.fl(end) != 0 && !(x.fl(end) & kWLN)) ++end;
      while (x.cp(end) == '\r' || x.cp(end) == '\n') ++end;
      emit(end - pos);
      pos = end;
      continue;
    }
    // whitespace: '\s*[\r\n]+' | '\s+(?!\S)' | '\s+'
    size_t ws = 0, last_newline_end = 0;
    while (x.fl(pos + ws) & kCpWhitespace) {
      const uint32_t w = x.cp(pos + ws);
      ++ws;
      if (w == '\r' || w == '\n') last_newline_end = pos + ws;
    }
    size_t end;
    if (last_newline_end > 0) {
      end = last_newline_end;
    } else if (ws > 1 && pos + ws < x.e) {
      end = pos + ws - 1;
    } else if (ws > 0) {
      end = pos + ws;
    } else {
      end = pos + 1;  // unreachable: every class is covered above
    }
    emit(end - pos);
    pos = end;
  }
}

}  // namespace

void split_gpt2(const CpText& text, const std::vector<uint32_t>& in, std::vector<uint32_t>& out) {
  size_t start = 0;
  for (const uint32_t len : in) {
    const Piece x{text, start, start + len};
    gpt2_piece(x, [&](size_t n) { out.push_back(static_cast<uint32_t>(n)); });
    start += len;
  }
}

void split_llama3(const CpText& text, const std::vector<uint32_t>& in, std::vector<uint32_t>& out,
                  int max_digits) {
  size_t start = 0;
  for (const uint32_t len : in) {
    const Piece x{text, start, start + len};
    llama3_piece(x, max_digits, [&](size_t n) { out.push_back(static_cast<uint32_t>(n)); });
    start += len;
  }
}

}  // namespace ef::tok
