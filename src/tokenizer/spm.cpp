#include "tokenizer/spm.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

constexpr std::string_view kMarker = "\xE2\x96\x81";  // U+2581, the escaped space

// A run of bytes text[start, start + n) in a doubly linked list; n == 0 once
// it has been merged into its left neighbour.
struct Symbol {
  int64_t prev;
  int64_t next;
  size_t start;
  size_t n;
};

// A candidate merge of two adjacent symbols into a vocabulary entry.
struct Bigram {
  int64_t left;
  int64_t right;
  float score;
  size_t size;  // bytes of the merged text; detects stale queue entries
};

// Max-heap order: higher score first; on equal scores the leftmost pair.
// (score, left) identifies a live entry uniquely, so the merge order does not
// depend on the heap implementation.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Reused between calls on the same thread to avoid per-word allocations.
struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

size_t symbol_len_at(std::string_view text, size_t offs) {
  return std::min(spm_symbol_len(static_cast<uint8_t>(text[offs])), text.size() - offs);
}

// Symbols that are not vocabulary entries fall back to one token per byte.
// When the vocabulary has no token for some byte (no <0xXX> entries), the
// whole symbol becomes a single unknown token, or nothing if there is none.
void emit_bytes(const Vocab& vocab, std::string_view bytes, std::vector<int32_t>& out) {
  bool all_bytes = true;
  for (char c : bytes) all_bytes = all_bytes && vocab.byte_token[static_cast<uint8_t>(c)] >= 0;
  if (!all_bytes) {
    if (vocab.unk >= 0) out.push_back(vocab.unk);
    return;
  }
  for (char c : bytes) out.push_back(vocab.byte_token[static_cast<uint8_t>(c)]);
}

// The merge loop over one independent piece of text (non-empty).
void encode_piece(const Vocab& vocab, std::string_view text, Scratch& scratch,
                  std::vector<int32_t>& out) {
  // Split by the lead byte's announced length, clamped to what remains: the
  // same grouping llama.cpp uses, also for invalid or truncated UTF-8.
  std::vector<Symbol>& symbols = scratch.symbols;
  symbols.clear();
  for (size_t offs = 0; offs < text.size();) {
    const size_t len = symbol_len_at(text, offs);
    const auto index = static_cast<int64_t>(symbols.size());
    offs += len;
    symbols.push_back({index - 1, offs == text.size() ? -1 : index + 1, offs - len, len});
  }

  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  auto try_add = [&](int64_t left, int64_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const size_t size = l.n + r.n;  // the two symbols are adjacent in `text`
    const int32_t id = vocab.find(text.substr(l.start, size));
    if (id < 0) return;
    heap.push_back({left, right, vocab.score[static_cast<size_t>(id)], size});
    std::push_heap(heap.begin(), heap.end(), BigramLess{});
  };

  for (size_t i = 1; i < symbols.size(); ++i)
    try_add(static_cast<int64_t>(i - 1), static_cast<int64_t>(i));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramLess{});
    const Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Skip pairs one of whose symbols has changed since the pair was queued.
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;

    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;

    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  // Every merged symbol is a vocabulary entry by construction, so only
  // original (single-character) symbols can miss the vocabulary. llama.cpp
  // also consults a text -> merge-history map here ("resegment"), but that map
  // is keyed by merged texts of two or more whole symbols, which can never
  // equal a single original symbol, so the lookup always misses and the
  // symbol goes straight to byte fallback; we do the same without the map.
  for (int64_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.start, s.n);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
    } else {
      emit_bytes(vocab, piece, out);
    }
  }
}

}  // namespace

void spm_encode_fragment(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out,
                         bool split_words) {
  if (text.empty()) return;
  thread_local Scratch scratch;
  if (!split_words || !vocab.words_are_independent) {
    encode_piece(vocab, text, scratch, out);
    return;
  }
  // Cut before every U+2581 symbol that does not follow another U+2581 byte
  // sequence. Cuts fall on symbol starts of the whole-text split, so each
  // word is split into the same symbols; no vocabulary entry can span a cut
  // (words_are_independent), so no merge crosses it; and merges inside one
  // word happen in the same relative order (by score, then position), so
  // the concatenated result equals merging the whole text at once.
  size_t word_start = 0;
  for (size_t offs = 0; offs < text.size();) {
    const size_t len = symbol_len_at(text, offs);
    if (offs > word_start && text.substr(offs, len) == kMarker &&
        !(offs >= kMarker.size() &&
          text.substr(offs - kMarker.size(), kMarker.size()) == kMarker)) {
      encode_piece(vocab, text.substr(word_start, offs - word_start), scratch, out);
      word_start = offs;
    }
    offs += len;
  }
  encode_piece(vocab, text.substr(word_start), scratch, out);
}

}  // namespace ef::tok
