// Random tiny llama models (see tiny_model.h).
#include "model/tiny_model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <unordered_set>

#include "edgeformer/model.h"
#include "io/gguf.h"
#include "kernels/kernels.h"

namespace ef {
namespace {

constexpr const char* kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space marker

// llama.cpp's token types.
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6;

const char* const kWords[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "she", "this", "are", "or", "his", "her", "from", "at", "which",
    "but", "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "what", "up",
    "out", "about", "into", "than", "them", "then", "some", "time", "only", "new", "other",
    "also", "may", "after", "first", "two", "do", "like", "made", "over", "such", "our", "man",
    "me", "my", "said", "king", "love", "good", "world", "day", "year", "people", "hello",
    "ing", "ed", "er", "ly", "tion", "es", "en", "re", "st", "th", "an", "on", "at", "or",
};

class VocabBuilder {
 public:
  explicit VocabBuilder(SyntheticVocab& v) : v_(v) {}
  void add(std::string text, float score, int32_t type) {
    if (!seen_.insert(text).second) return;
    v_.tokens.push_back(std::move(text));
    v_.scores.push_back(score);
    v_.token_types.push_back(type);
  }
  // A normal piece; its score falls with every piece added so earlier
  // (more common) pieces win SentencePiece merges.
  void normal(const std::string& text) {
    if (full()) return;
    add(text, -static_cast<float>(v_.tokens.size() - n_before_), kNormal);
  }
  // The piece and every prefix of it (at character boundaries, keeping the
  // ▁ marker whole) so merges can build it from single characters.
  void with_prefixes(const std::string& text) {
    for (size_t len = 1; len <= text.size(); ++len) {
      const unsigned char next = len < text.size() ? static_cast<unsigned char>(text[len]) : 0;
      if ((next & 0xC0) == 0x80) continue;  // inside a UTF-8 sequence
      normal(text.substr(0, len));
    }
  }
  void mark_specials_done() { n_before_ = v_.tokens.size(); }
  void set_target(size_t n) { target_ = n; }
  bool full() const { return v_.tokens.size() >= target_; }

 private:
  SyntheticVocab& v_;
  std::unordered_set<std::string> seen_;
  size_t n_before_ = 0;
  size_t target_ = 0;
};

uint32_t file_type_of(DType t) {
  switch (t) {  // llama.cpp's llama_ftype
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
  }
  return 0;
}

Status add_random_matrix(gguf::Writer& w, Gaussian& g, const std::string& name, DType type,
                         int64_t n_in, int64_t n_out, float stddev) {
  std::vector<float> values(static_cast<size_t>(n_in * n_out));
  for (float& x : values) x = g.next() * stddev;
  std::vector<uint8_t> bytes;
  if (type == DType::F32) {
    bytes.resize(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
  } else {
    const auto row = row_size_bytes(type, static_cast<uint64_t>(n_in));
    if (!row) {
      return make_error(Errc::invalid_argument,
                        "row length " + std::to_string(n_in) + " of '" + name +
                            "' is not a multiple of " + dtype_name(type) + "'s block size",
                        "TinyModelSpec", "use dimensions that are multiples of 32");
    }
    bytes.resize(static_cast<size_t>(*row * static_cast<uint64_t>(n_out)));
    const kernels::FromFloatFn from_float = kernels::active().for_type(type).from_float;
    for (int64_t r = 0; r < n_out; ++r) {
      from_float(values.data() + r * n_in, bytes.data() + static_cast<size_t>(*row) * r, n_in);
    }
  }
  return w.add_tensor(name, type, {n_in, n_out}, bytes);
}

Status add_norm(gguf::Writer& w, Gaussian& g, const std::string& name, int64_t n) {
  std::vector<float> values(static_cast<size_t>(n));
  for (float& x : values) x = 1.0f + 0.1f * g.next();
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(values.data()),
                                 values.size() * sizeof(float));
  return w.add_tensor(name, DType::F32, {n}, bytes);
}

}  // namespace

Result<SyntheticVocab> make_synthetic_vocab(int n_vocab) {
  constexpr int kMin = 259 + 64;
  if (n_vocab < kMin) {
    return make_error(Errc::invalid_argument,
                      "synthetic vocabulary size " + std::to_string(n_vocab) + " is below " +
                          std::to_string(kMin),
                      "TinyModelSpec::n_vocab_synthetic",
                      "3 special + 256 byte tokens come first; ask for at least 64 more");
  }
  SyntheticVocab v;
  VocabBuilder b(v);
  b.set_target(static_cast<size_t>(n_vocab));
  b.add("<unk>", 0.0f, kUnknown);
  b.add("<s>", 0.0f, kControl);
  b.add("</s>", 0.0f, kControl);
  for (int i = 0; i < 256; ++i) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", i);
    b.add(name, 0.0f, kByte);
  }
  b.mark_specials_done();
  const std::string sp = kSpace;
  b.normal(sp);
  for (char ch = 'a'; ch <= 'z'; ++ch) b.normal(std::string(1, ch));
  b.with_prefixes(sp + "the");
  for (char ch = 'a'; ch <= 'z'; ++ch) b.normal(sp + std::string(1, ch));
  for (const char* word : kWords) {
    b.with_prefixes(sp + word);
    b.with_prefixes(word);
  }
  for (char ch : std::string(".,'!?;:-\"()0123456789")) b.normal(std::string(1, ch));
  for (char ch = 'A'; ch <= 'Z'; ++ch) {
    b.normal(std::string(1, ch));
    b.normal(sp + std::string(1, ch));
  }
  // Fill the rest with letter pairs, then triples, with and without ▁.
  for (int len = 2; len <= 3 && !b.full(); ++len) {
    const int count = len == 2 ? 26 * 26 : 26 * 26 * 26;
    for (int i = 0; i < count && !b.full(); ++i) {
      std::string s;
      for (int j = 0, k = i; j < len; ++j, k /= 26) s.insert(s.begin(), static_cast<char>('a' + k % 26));
      b.normal(s);
      b.normal(sp + s);
    }
  }
  if (static_cast<int>(v.tokens.size()) != n_vocab) {
    return make_error(Errc::invalid_argument,
                      "synthetic vocabulary size " + std::to_string(n_vocab) +
                          " is above the " + std::to_string(v.tokens.size()) + " pieces available",
                      "TinyModelSpec::n_vocab_synthetic", "use vocab_path for large vocabularies");
  }
  return v;
}

Status write_tiny_llama(const std::string& path, const TinyModelSpec& spec) {
  gguf::Writer w;
  int64_t n_vocab = 0;
  if (!spec.vocab_path.empty()) {
    EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> vocab, gguf::File::open(spec.vocab_path));
    const gguf::KeyValue* tokens = vocab->find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->value.type != gguf::ValueType::array) {
      return make_error(Errc::format, "no tokenizer.ggml.tokens array", spec.vocab_path,
                        "pass a GGUF file that contains a vocabulary");
    }
    n_vocab = static_cast<int64_t>(tokens->value.array_count);
    w.copy_metadata(*vocab, [](std::string_view key) { return key.substr(0, 10) != "tokenizer."; });
  } else {
    EF_ASSIGN_OR_RETURN(SyntheticVocab v, make_synthetic_vocab(spec.n_vocab_synthetic));
    n_vocab = static_cast<int64_t>(v.tokens.size());
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", std::move(v.tokens));
    w.set_f32_array("tokenizer.ggml.scores", std::move(v.scores));
    w.set_i32_array("tokenizer.ggml.token_type", std::move(v.token_types));
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_bool("tokenizer.ggml.add_eos_token", false);
  }

  // Validate the shape exactly as a loader would, before generating weights.
  ModelConfig c;
  c.n_vocab = n_vocab;
  c.n_ctx_train = spec.n_ctx;
  c.n_embd = spec.n_embd;
  c.n_layer = spec.n_layer;
  c.n_ff = spec.n_ff;
  c.n_head = spec.n_head;
  c.n_head_kv = spec.n_head_kv;
  c.head_dim = spec.n_head > 0 ? spec.n_embd / spec.n_head : 0;
  c.n_rot = c.head_dim;
  c.rms_eps = spec.rms_eps;
  c.rope_freq_base = spec.rope_freq_base;
  EF_TRY(c.validate());

  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "edgeformer-tiny-llama");
  w.set_u32("general.file_type", file_type_of(spec.weight_type));
  w.set_u32("llama.context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.n_embd));
  w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_head));
  if (spec.sliding_window > 0) {
    w.set_u32("llama.attention.sliding_window", static_cast<uint32_t>(spec.sliding_window));
  }
  if (spec.swa_pattern >= 0) {
    w.set_u32("llama.attention.sliding_window_pattern", static_cast<uint32_t>(spec.swa_pattern));
  }
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.n_rot));
  w.set_f32("llama.rope.freq_base", c.rope_freq_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(n_vocab));

  // Tensors in a fixed order, each drawn from the one seeded stream.
  Gaussian g(spec.seed);
  const DType wt = spec.weight_type;
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  const auto inv_sqrt = [](int64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); };
  EF_TRY(add_random_matrix(w, g, "token_embd.weight", wt, c.n_embd, n_vocab, inv_sqrt(c.n_embd)));
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    EF_TRY(add_norm(w, g, p + "attn_norm.weight", c.n_embd));
    EF_TRY(add_random_matrix(w, g, p + "attn_q.weight", wt, c.n_embd, q_dim, inv_sqrt(c.n_embd)));
    EF_TRY(add_random_matrix(w, g, p + "attn_k.weight", wt, c.n_embd, kv_dim, inv_sqrt(c.n_embd)));
    EF_TRY(add_random_matrix(w, g, p + "attn_v.weight", wt, c.n_embd, kv_dim, inv_sqrt(c.n_embd)));
    EF_TRY(add_random_matrix(w, g, p + "attn_output.weight", wt, q_dim, c.n_embd, inv_sqrt(q_dim)));
    EF_TRY(add_norm(w, g, p + "ffn_norm.weight", c.n_embd));
    EF_TRY(add_random_matrix(w, g, p + "ffn_gate.weight", wt, c.n_embd, c.n_ff, inv_sqrt(c.n_embd)));
    EF_TRY(add_random_matrix(w, g, p + "ffn_up.weight", wt, c.n_embd, c.n_ff, inv_sqrt(c.n_embd)));
    EF_TRY(add_random_matrix(w, g, p + "ffn_down.weight", wt, c.n_ff, c.n_embd, inv_sqrt(c.n_ff)));
  }
  EF_TRY(add_norm(w, g, "output_norm.weight", c.n_embd));
  if (!spec.tied_output) {
    EF_TRY(add_random_matrix(w, g, "output.weight", wt, c.n_embd, n_vocab, inv_sqrt(c.n_embd)));
  }
  return w.write(path);
}

}  // namespace ef
