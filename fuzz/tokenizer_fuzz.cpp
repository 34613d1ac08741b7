// libFuzzer target for both tokenizers. Arbitrary bytes are encoded with the
// llama SPM vocabulary and with the GPT-2 byte-level BPE vocabulary (with and
// without parse_special), decoded, streamed through the detokenizer, and
// pre-tokenized with every BPE pre-tokenizer family. Invariants:
//   - every id is inside the vocabulary;
//   - StreamingDetokenizer output is always valid UTF-8;
//   - decode(encode(s)) == s when s is valid UTF-8 and special tokens are not
//     parsed (SPM: also without a literal U+2581);
//   - pre-tokenizer words are non-empty and cover the text exactly.
// Inputs starting with byte 0xFB instead describe a small SPM vocabulary
// (token texts, types, scores, flags) followed by text: this exercises
// metadata validation, special-token splitting with arbitrary special
// tokens, and the word-split fast path against whole-fragment merging.
// Inputs starting with 0xFC describe a small BPE vocabulary (tokens, merges
// between them, pre-tokenizer) followed by text.
// The vocabularies come from $EF_SHARED_DATA_DIR/vocab/, else from
// ../shared/data next to the source tree (found via __FILE__, which CMake
// passes as an absolute path), so no extra CMake definition is needed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/spm.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/vocab.h"

namespace {

std::string vocab_path(const char* name) {
  std::filesystem::path dir;
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) {
    dir = env;
  } else {
    dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
          "data";
  }
  return (dir / "vocab" / name).string();
}

std::unique_ptr<ef::Tokenizer> load(const char* name) {
  const std::string path = vocab_path(name);
  auto file = ef::gguf::File::open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", file.error().message().c_str());
    std::abort();
  }
  auto t = ef::Tokenizer::from_gguf(*file.value());
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", t.error().message().c_str());
    std::abort();
  }
  return std::move(t).value();
}

const ef::Tokenizer& spm_tokenizer() {
  static std::unique_ptr<ef::Tokenizer> tok = load("ggml-vocab-llama-spm.gguf");
  return *tok;
}

const ef::Tokenizer& bpe_tokenizer() {
  static std::unique_ptr<ef::Tokenizer> tok = load("ggml-vocab-gpt-2.gguf");
  return *tok;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

void check_stream(const ef::Tokenizer& tok, const std::vector<int32_t>& ids) {
  ef::StreamingDetokenizer stream(tok, true);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string out = stream.push(id);
    check(ef::is_valid_utf8(out), "push() returned invalid UTF-8");
    streamed += out;
  }
  streamed += stream.flush();
  check(ef::is_valid_utf8(streamed), "stream is invalid UTF-8");
  const std::string decoded = tok.decode(ids);
  if (ef::is_valid_utf8(decoded)) check(streamed == decoded, "stream != decode");
}

// Layout: 0xFB, flags, n_tokens, then per token [type][score][len][bytes],
// then the text (everything left).
int fuzz_custom_vocab(const uint8_t* data, size_t size) {
  size_t pos = 1;
  auto take = [&]() -> int { return pos < size ? data[pos++] : -1; };
  const int flags = take(), n = take();
  if (flags < 0 || n <= 0) return 0;
  ef::tok::VocabSpec spec;
  spec.add_space_prefix = (flags & 1) != 0;
  spec.add_bos = (flags & 2) != 0;
  if (flags & 4) spec.name = "phi3";
  for (int i = 0; i < std::min(n, 64); ++i) {
    const int type = take(), score = take(), len = take();
    if (len < 0) return 0;
    const size_t l = std::min<size_t>(static_cast<size_t>(len) % 12, size - pos);
    spec.tokens.emplace_back(reinterpret_cast<const char*>(data + pos), l);
    pos += l;
    spec.types.push_back(type % 7);
    spec.scores.push_back(static_cast<float>(score % 16) - 8.0f);
  }
  auto made = ef::tok::make_spm_tokenizer(std::move(spec));
  if (!made.ok()) return 0;  // rejecting bad metadata is fine; crashing is not
  const ef::Tokenizer& tok = *made.value();
  const auto& vocab = dynamic_cast<const ef::tok::SpmTokenizer&>(tok).vocab();
  const std::string_view text(reinterpret_cast<const char*>(data + pos), size - pos);

  for (const bool parse_special : {false, true}) {
    const std::vector<int32_t> ids = tok.encode(text, true, parse_special);
    for (const int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");
    check_stream(tok, ids);
  }
  std::string escaped;
  for (char c : text) {
    if (c == ' ') {
      escaped += "\xE2\x96\x81";
    } else {
      escaped += c;
    }
  }
  std::vector<int32_t> split, whole;
  ef::tok::spm_encode_fragment(vocab, escaped, split, true);
  ef::tok::spm_encode_fragment(vocab, escaped, whole, false);
  check(split == whole, "word-split encoding differs from whole-fragment encoding");
  return 0;
}

// Layout: 0xFC, pre family, n_tokens, per token [len][bytes], n_merges, per
// merge [left][right] (token indexes), then the text (everything left).
int fuzz_custom_bpe(const uint8_t* data, size_t size) {
  static const char* kPres[] = {"gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder",
                                "falcon", "starcoder", "default"};
  size_t pos = 1;
  auto take = [&]() -> int { return pos < size ? data[pos++] : -1; };
  const int pre = take(), n = take();
  if (pre < 0 || n <= 0) return 0;
  ef::tok::VocabSpec spec;
  spec.model = "gpt2";
  spec.pre = kPres[pre % 8];
  for (int i = 0; i < std::min(n, 64); ++i) {
    const int len = take();
    if (len < 0) return 0;
    const size_t l = std::min<size_t>(static_cast<size_t>(len) % 8, size - pos);
    spec.tokens.emplace_back(reinterpret_cast<const char*>(data + pos), l);
    pos += l;
  }
  const int n_merges = take();
  for (int i = 0; i < n_merges; ++i) {
    const int l = take(), r = take();
    if (l < 0 || r < 0) return 0;
    spec.merges.push_back(spec.tokens[static_cast<size_t>(l) % spec.tokens.size()] + " " +
                          spec.tokens[static_cast<size_t>(r) % spec.tokens.size()]);
  }
  auto made = ef::tok::make_bpe_tokenizer(std::move(spec));
  if (!made.ok()) return 0;  // rejecting bad metadata is fine; crashing is not
  const ef::Tokenizer& tok = *made.value();
  const std::string_view text(reinterpret_cast<const char*>(data + pos), size - pos);
  for (const bool parse_special : {false, true}) {
    const std::vector<int32_t> ids = tok.encode(text, true, parse_special);
    for (const int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");
    check_stream(tok, ids);
  }
  return 0;
}

void check_pretokenizers(std::string_view text) {
  ef::tok::CpText cps;
  ef::tok::decode_lenient(text, cps);
  std::vector<uint32_t> lens;
  for (int t = 0; t <= static_cast<int>(ef::tok::PreType::kStarcoder); ++t) {
    ef::tok::pretokenize(static_cast<ef::tok::PreType>(t), cps, lens);
    size_t total = 0;
    for (const uint32_t n : lens) {
      check(n > 0, "empty pre-tokenizer word");
      total += n;
    }
    check(total == cps.cps.size(), "pre-tokenizer words do not cover the text");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == 0xFB) return fuzz_custom_vocab(data, size);
  if (size > 0 && data[0] == 0xFC) return fuzz_custom_bpe(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool valid = ef::is_valid_utf8(text);

  for (const bool bpe : {false, true}) {
    const ef::Tokenizer& tok = bpe ? bpe_tokenizer() : spm_tokenizer();
    for (const bool parse_special : {false, true}) {
      const bool add_bos = (size % 2) == 0;
      const std::vector<int32_t> ids = tok.encode(text, add_bos, parse_special);
      for (const int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");

      const std::string decoded = tok.decode(ids);
      if (!parse_special && valid &&
          (bpe || text.find("\xE2\x96\x81") == std::string_view::npos)) {
        check(decoded == text, "decode(encode(s)) != s");
      }
      check_stream(tok, ids);
    }
  }
  check_pretokenizers(text);
  return 0;
}
