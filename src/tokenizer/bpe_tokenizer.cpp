#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/special_split.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/unicode_class.h"

namespace ef::tok {

namespace {

struct StrHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Words repeat a lot in natural text, and merging one is a pure function of
// its bytes, so each thread remembers the tokens of the words it has seen
// for the tokenizer it used last (bounded; cleared when full).
struct WordCache {
  static constexpr size_t kMaxWords = size_t{1} << 16;
  static constexpr size_t kMaxWordBytes = 64;  // longer words are rare; not cached
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> words;
};

std::atomic<uint64_t> g_next_instance{1};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab)
    : vocab_(std::move(vocab)), instance_(g_next_instance.fetch_add(1)) {}

void BpeTokenizer::encode_raw(std::string_view text, std::vector<int32_t>& out) const {
  thread_local CpText cps;
  thread_local std::vector<uint32_t> lens;
  thread_local std::string word;
  thread_local WordCache cache;
  if (cache.owner != instance_) {
    cache.words.clear();
    cache.owner = instance_;
  }
  decode_lenient(text, cps);
  pretokenize(vocab_.pre.type, cps, lens);
  size_t start = 0;
  for (const uint32_t n : lens) {
    const uint32_t b = cps.offs[start], e = cps.offs[start + n];
    start += n;
    const std::string_view raw = std::string_view(cps.utf8).substr(b, e - b);
    const bool cacheable = raw.size() <= WordCache::kMaxWordBytes;
    if (cacheable) {
      if (auto it = cache.words.find(raw); it != cache.words.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    word.clear();
    append_byte_encoded(word, raw);
    const size_t first = out.size();
    bpe_encode_word(vocab_, word, out);
    if (cacheable) {
      if (cache.words.size() >= WordCache::kMaxWords) cache.words.clear();
      cache.words.emplace(std::string(raw), std::vector<int32_t>(out.begin() + first, out.end()));
    }
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  for (const Fragment& f : split_special(vocab_, text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else {
      encode_raw(text.substr(f.offset, f.length), out);
    }
  }
  return out;
}

std::string BpeTokenizer::token_to_piece(int32_t id, bool special) const {
  if (!vocab_.valid(id)) return {};
  const auto i = static_cast<size_t>(id);
  if (!special && (vocab_.attr[i] & (kAttrControl | kAttrUnknown))) return {};
  return vocab_.piece[i];
}

bool BpeTokenizer::is_end_of_generation(int32_t id) const {
  return std::binary_search(vocab_.eog.begin(), vocab_.eog.end(), id);
}

const std::string& BpeTokenizer::token_text(int32_t id) const {
  static const std::string kEmpty;
  return vocab_.valid(id) ? vocab_.text[static_cast<size_t>(id)] : kEmpty;
}

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(VocabSpec spec) {
  if (spec.model != "gpt2")
    return make_error(Errc::unsupported, "tokenizer model '" + spec.model + "' is not 'gpt2'",
                      "tokenizer.ggml.model", "expected a byte-level BPE vocabulary");
  EF_ASSIGN_OR_RETURN(Vocab vocab, build_vocab(std::move(spec)));
  return std::unique_ptr<Tokenizer>(std::make_unique<BpeTokenizer>(std::move(vocab)));
}

Result<std::unique_ptr<Tokenizer>> make_tokenizer(VocabSpec spec) {
  if (spec.model == "gpt2") return make_bpe_tokenizer(std::move(spec));
  return make_spm_tokenizer(std::move(spec));
}

}  // namespace ef::tok
