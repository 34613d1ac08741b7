#include "tokenizer/bpe.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

// A run of bytes word[start, start + n) in a doubly linked list; n == 0 once
// merged into its left neighbour. id: its token, or -1 if it is not one.
struct Symbol {
  int32_t prev, next;
  uint32_t start, n;
  int32_t id;
};

struct Bigram {
  int32_t rank;
  int32_t left, right;
  uint32_t size;  // bytes of the pair when queued; detects stale entries
};

// Min-heap order: lowest rank first, then the leftmost pair (llama.cpp's
// comparator). (rank, left) identifies a live entry, so the result does not
// depend on the heap implementation.
struct BigramGreater {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

}  // namespace

void bpe_encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (vocab.pre.ignore_merges) {
    if (const int32_t id = vocab.find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  thread_local Scratch scratch;
  std::vector<Symbol>& sym = scratch.symbols;
  sym.clear();
  for (size_t offs = 0; offs < word.size();) {
    const size_t len = std::min(spm_symbol_len(static_cast<uint8_t>(word[offs])), word.size() - offs);
    const auto index = static_cast<int32_t>(sym.size());
    sym.push_back({index - 1, offs + len == word.size() ? -1 : index + 1, static_cast<uint32_t>(offs),
                   static_cast<uint32_t>(len), vocab.find(word.substr(offs, len))});
    offs += len;
  }

  std::vector<Bigram>& heap = scratch.heap;
  heap.clear();
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = sym[static_cast<size_t>(left)];
    const Symbol& r = sym[static_cast<size_t>(right)];
    const int32_t rank =
        vocab.merges.rank(l.id, r.id, word.substr(l.start, l.n), word.substr(r.start, r.n));
    if (rank < 0) return;
    heap.push_back({rank, left, right, l.n + r.n});
    std::push_heap(heap.begin(), heap.end(), BigramGreater{});
  };
  for (size_t i = 1; i < sym.size(); ++i)
    try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramGreater{});
    const Bigram b = heap.back();
    heap.pop_back();
    Symbol& l = sym[static_cast<size_t>(b.left)];
    Symbol& r = sym[static_cast<size_t>(b.right)];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = b.left;
    l.id = vocab.find(word.substr(l.start, l.n));
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& s = sym[static_cast<size_t>(i)];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // Not a token: llama.cpp looks up each byte of the (byte-encoded) text
    // as a one-byte token and drops bytes that have none.
    for (uint32_t k = 0; k < s.n; ++k) {
      const int32_t id = vocab.byte_token[static_cast<uint8_t>(word[s.start + k])];
      if (id >= 0) out.push_back(id);
    }
  }
}

}  // namespace ef::tok
