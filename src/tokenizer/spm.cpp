#include "tokenizer/spm.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

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
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

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

}  // namespace

void spm_encode_fragment(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  if (text.empty()) return;

  // Split by the lead byte's announced length, clamped to what remains: the
  // same grouping llama.cpp uses, also for invalid or truncated UTF-8.
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    const size_t len = std::min(spm_symbol_len(static_cast<uint8_t>(text[offs])), text.size() - offs);
    const auto index = static_cast<int64_t>(symbols.size());
    offs += len;
    symbols.push_back({index - 1, offs == text.size() ? -1 : index + 1, offs - len, len});
  }

  std::vector<Bigram> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue(BigramLess{}, std::move(storage));

  auto try_add = [&](int64_t left, int64_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const size_t size = l.n + r.n;  // the two symbols are adjacent in `text`
    const int32_t id = vocab.find(text.substr(l.start, size));
    if (id < 0) return;
    queue.push({left, right, vocab.score[static_cast<size_t>(id)], size});
  };

  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int64_t>(i - 1), static_cast<int64_t>(i));

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
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

}  // namespace ef::tok
