// libFuzzer target: encodes arbitrary bytes with the llama SPM vocabulary
// (with and without parse_special), decodes the ids, streams them through the
// detokenizer, and checks invariants:
//   - every id is inside the vocabulary;
//   - StreamingDetokenizer output is always valid UTF-8;
//   - decode(encode(s)) == s when s is valid UTF-8 without a literal U+2581
//     and special tokens are not parsed.
// Inputs starting with byte 0xFB instead describe a small vocabulary (token
// texts, types, scores, flags) followed by text: this exercises metadata
// validation, special-token splitting with arbitrary special tokens, and the
// word-split fast path against whole-fragment merging.
// The vocabulary comes from $EF_SHARED_DATA_DIR/vocab/ggml-vocab-llama-spm.gguf,
// else from ../shared/data next to the source tree (found via __FILE__, which
// CMake passes as an absolute path), so no extra CMake definition is needed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "tokenizer/spm.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/vocab.h"

namespace {

std::string vocab_path() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) {
    dir = env;
  } else {
    dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
          "data";
  }
  return (dir / "vocab" / "ggml-vocab-llama-spm.gguf").string();
}

const ef::Tokenizer& tokenizer() {
  static std::unique_ptr<ef::Tokenizer> tok = [] {
    const std::string path = vocab_path();
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
  }();
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == 0xFB) return fuzz_custom_vocab(data, size);
  const ef::Tokenizer& tok = tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  for (const bool parse_special : {false, true}) {
    const bool add_bos = (size % 2) == 0;
    const std::vector<int32_t> ids = tok.encode(text, add_bos, parse_special);
    for (const int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");

    const std::string decoded = tok.decode(ids);
    if (!parse_special && ef::is_valid_utf8(text) &&
        text.find("\xE2\x96\x81") == std::string_view::npos) {
      check(decoded == text, "decode(encode(s)) != s");
    }

    check_stream(tok, ids);
  }
  return 0;
}
