#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "io/gguf.h"
#include "tokenizer/unicode_class.h"

namespace ef::tok {
namespace {

struct StrHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using WordCounts = std::unordered_map<std::string, uint64_t, StrHash, std::equal_to<>>;

// A slice of one input text that is pre-tokenized on its own.
struct Block {
  std::string_view text;
};

bool ascii_non_space(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x80 && u > 0x20 && u != 0x7F;
}

// Cuts `text` into blocks of about `target` bytes. A cut is made only right
// after a '\n' that has a visible ASCII character on both sides: neither the
// gpt-2 nor the llama3 regex lets a word cross such a point (the newline ends
// the word before it), so the blocks split exactly like the whole text. The
// cut points depend on the text alone, never on the thread count.
void cut_blocks(std::string_view text, size_t target, std::vector<Block>& out) {
  size_t start = 0;
  while (text.size() - start > target) {
    size_t cut = 0;
    for (size_t p = start + target; p + 1 < text.size(); ++p) {
      if (text[p] == '\n' && ascii_non_space(text[p - 1]) && ascii_non_space(text[p + 1])) {
        cut = p + 1;
        break;
      }
    }
    if (cut == 0) break;
    out.push_back({text.substr(start, cut - start)});
    start = cut;
  }
  out.push_back({text.substr(start)});
}

void count_block(PreType pre, std::string_view text, WordCounts& counts) {
  CpText cps;
  std::vector<uint32_t> lens;
  decode_lenient(text, cps);
  pretokenize(pre, cps, lens);
  size_t start = 0;
  for (const uint32_t n : lens) {
    const std::string_view word =
        std::string_view(cps.utf8).substr(cps.offs[start], cps.offs[start + n] - cps.offs[start]);
    start += n;
    auto it = counts.find(word);
    if (it == counts.end()) {
      counts.emplace(std::string(word), 1);
    } else {
      ++it->second;
    }
  }
}

WordCounts count_words(const std::vector<std::string_view>& texts, PreType pre, int threads,
                       size_t block_bytes) {
  std::vector<Block> blocks;
  for (std::string_view t : texts) cut_blocks(t, std::max<size_t>(block_bytes, 1), blocks);
  const size_t n_threads =
      std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), blocks.size()));
  std::vector<WordCounts> local(n_threads);
  std::atomic<size_t> next{0};
  auto worker = [&](size_t t) {
    for (size_t b; (b = next.fetch_add(1)) < blocks.size();) count_block(pre, blocks[b].text, local[t]);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n_threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
  WordCounts total = std::move(local[0]);
  for (size_t t = 1; t < n_threads; ++t)
    for (auto& [w, c] : local[t]) total[w] += c;
  return total;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t pair_left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t pair_right(uint64_t k) { return static_cast<int32_t>(k & 0xFFFFFFFFu); }

struct Word {
  std::vector<int32_t> syms;
  int64_t count;
};

struct HeapEntry {
  int64_t count;
  uint64_t pair;
};
// Max-heap: larger count first; ties to the smaller pair (left id, then right id).
struct HeapLess {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    return a.count < b.count || (a.count == b.count && a.pair > b.pair);
  }
};

// The merge loop. `tokens` holds the byte-encoded text of every token so
// far (256 bytes first); appends merged tokens and their merge strings.
void learn_merges(std::vector<Word>& words, int64_t n_merges, const BpeTrainOptions& o,
                  std::vector<std::string>& tokens, std::vector<std::string>& merges) {
  std::unordered_map<uint64_t, int64_t> counts;
  std::unordered_map<uint64_t, std::vector<uint32_t>> where;  // may hold stale/duplicate words
  for (uint32_t w = 0; w < words.size(); ++w) {
    const Word& word = words[w];
    for (size_t i = 0; i + 1 < word.syms.size(); ++i) {
      const uint64_t p = pair_key(word.syms[i], word.syms[i + 1]);
      counts[p] += word.count;
      where[p].push_back(w);
    }
  }
  std::vector<HeapEntry> heap;
  heap.reserve(counts.size());
  for (const auto& [p, c] : counts) heap.push_back({c, p});
  std::make_heap(heap.begin(), heap.end(), HeapLess{});

  std::vector<int64_t> stamp(words.size(), -1);
  std::vector<uint64_t> created;
  std::vector<int32_t> merged;
  for (int64_t m = 0; m < n_merges && !heap.empty();) {
    std::pop_heap(heap.begin(), heap.end(), HeapLess{});
    const HeapEntry top = heap.back();
    heap.pop_back();
    const auto it = counts.find(top.pair);
    const int64_t current = it == counts.end() ? 0 : it->second;
    if (current != top.count) {  // stale: counts only ever drop after a push
      if (current > 0) {
        heap.push_back({current, top.pair});
        std::push_heap(heap.begin(), heap.end(), HeapLess{});
      }
      continue;
    }
    if (current < o.min_pair_count) break;

    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    const auto id = static_cast<int32_t>(tokens.size());
    tokens.push_back(tokens[static_cast<size_t>(a)] + tokens[static_cast<size_t>(b)]);
    merges.push_back(tokens[static_cast<size_t>(a)] + " " + tokens[static_cast<size_t>(b)]);

    std::vector<uint32_t> affected = std::move(where[top.pair]);
    where.erase(top.pair);
    created.clear();
    for (const uint32_t w : affected) {
      if (stamp[w] == m) continue;  // listed twice
      stamp[w] = m;
      Word& word = words[w];
      std::vector<int32_t>& s = word.syms;
      // Replace every non-overlapping (a, b), left to right, and move the
      // counts of the pairs around each occurrence.
      merged.clear();
      bool any = false;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          any = true;
          merged.push_back(id);
          ++i;
        } else {
          merged.push_back(s[i]);
        }
      }
      if (!any) continue;  // stale index entry
      for (size_t i = 0; i + 1 < s.size(); ++i) counts[pair_key(s[i], s[i + 1])] -= word.count;
      for (size_t i = 0; i + 1 < merged.size(); ++i) {
        const uint64_t p = pair_key(merged[i], merged[i + 1]);
        counts[p] += word.count;
        if (merged[i] == id || merged[i + 1] == id) {
          where[p].push_back(w);
          created.push_back(p);
        }
      }
      s.swap(merged);
    }
    counts.erase(top.pair);
    // Pairs with the new token are the only ones whose counts grew.
    std::sort(created.begin(), created.end());
    created.erase(std::unique(created.begin(), created.end()), created.end());
    for (const uint64_t p : created) {
      const int64_t c = counts[p];
      if (c > 0) {
        heap.push_back({c, p});
        std::push_heap(heap.begin(), heap.end(), HeapLess{});
      }
    }
    ++m;
    if (o.progress && (m % 256 == 0 || m == n_merges)) o.progress(m, n_merges);
  }
}

}  // namespace

Result<BpeVocabulary> train_bpe(const std::vector<std::string_view>& texts,
                                const BpeTrainOptions& o) {
  if (o.pre != PreType::kGpt2 && o.pre != PreType::kLlama3)
    return make_error(Errc::invalid_argument, "the trainer supports the gpt-2 and llama3 "
                      "pre-tokenizers only", "pre", "use --pre gpt2 or --pre llama3");
  const int64_t n_special = static_cast<int64_t>(o.special_tokens.size());
  if (o.vocab_size < 256 + n_special)
    return make_error(Errc::invalid_argument,
                      "vocabulary size " + std::to_string(o.vocab_size) + " is below the " +
                          std::to_string(256 + n_special) + " byte and special tokens",
                      "vocab", "use at least 256 + the number of special tokens");

  BpeVocabulary v;
  for (std::string_view t : texts) v.input_bytes += t.size();
  WordCounts counts = count_words(texts, o.pre, o.threads, o.block_bytes);
  v.distinct_words = counts.size();

  // Words in a fixed order (sorted bytes), so indices do not depend on hashing.
  std::vector<std::pair<std::string_view, uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [text, count] : sorted) {
    Word w{{}, static_cast<int64_t>(count)};
    w.syms.reserve(text.size());
    for (const char c : text) w.syms.push_back(static_cast<uint8_t>(c));
    words.push_back(std::move(w));
  }

  const auto& enc = byte_to_unicode();
  v.tokens.assign(enc.begin(), enc.end());  // token b = byte b
  learn_merges(words, o.vocab_size - 256 - n_special, o, v.tokens, v.merges);

  v.types.assign(v.tokens.size(), 1);  // NORMAL
  for (const std::string& s : o.special_tokens) {
    if (std::find(v.tokens.begin(), v.tokens.end(), s) != v.tokens.end())
      return make_error(Errc::invalid_argument, "special token '" + s + "' is also a learned token",
                        "special tokens", "pick a text that cannot occur in byte-encoded form");
    v.tokens.push_back(s);
    v.types.push_back(3);  // CONTROL
  }
  if (n_special > 0) v.bos = v.eos = static_cast<int32_t>(v.tokens.size() - o.special_tokens.size());
  v.pre = o.pre == PreType::kLlama3 ? "llama-bpe" : "gpt-2";
  return v;
}

Result<BpeVocabulary> train_bpe_files(const std::vector<std::string>& paths,
                                      const BpeTrainOptions& o) {
  if (paths.empty())
    return make_error(Errc::invalid_argument, "no input files", "input", "pass --input FILE...");
  std::vector<std::string> contents;
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in)
      return make_error(Errc::io, "cannot open input file", p, "check the path and permissions");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return make_error(Errc::io, "cannot read input file", p);
    contents.push_back(std::move(ss).str());
  }
  std::vector<std::string_view> views(contents.begin(), contents.end());
  return train_bpe(views, o);
}

Status write_bpe_vocab_gguf(const BpeVocabulary& v, const std::string& path,
                            const std::string& name) {
  gguf::Writer w;
  // llama.cpp loads vocab-only files through the model loader, which reads
  // the architecture's hyper-parameters; these placeholders satisfy it (its
  // own ggml-vocab-gpt-2.gguf has the same keys).
  w.set_string("general.architecture", "gpt2");
  w.set_string("general.name", name);
  w.set_u32("gpt2.block_count", 1);
  w.set_u32("gpt2.context_length", 2048);
  w.set_u32("gpt2.embedding_length", 64);
  w.set_u32("gpt2.feed_forward_length", 256);
  w.set_u32("gpt2.attention.head_count", 1);
  w.set_f32("gpt2.attention.layer_norm_epsilon", 1e-5f);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  w.set_i32_array("tokenizer.ggml.token_type", v.types);
  w.set_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  if (v.eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
  return w.write(path);
}

}  // namespace ef::tok
