// libFuzzer target: encodes arbitrary bytes with the llama SPM vocabulary
// (with and without parse_special), decodes the ids, streams them through the
// detokenizer, and checks invariants:
//   - every id is inside the vocabulary;
//   - StreamingDetokenizer output is always valid UTF-8;
//   - decode(encode(s)) == s when s is valid UTF-8 without a literal U+2581
//     and special tokens are not parsed.
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

namespace {

std::string vocab_path() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) {
    dir = env;
  } else {
    dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "data";
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ef::Tokenizer& tok = tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  for (const bool parse_special : {false, true}) {
    const bool add_bos = (size % 2) == 0;
    const std::vector<int32_t> ids = tok.encode(text, add_bos, parse_special);
    for (const int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id out of range");

    const std::string decoded = tok.decode(ids);
    if (!parse_special && ef::is_valid_utf8(text) && text.find("\xE2\x96\x81") == std::string_view::npos) {
      check(decoded == text, "decode(encode(s)) != s");
    }

    ef::StreamingDetokenizer stream(tok, true);
    std::string streamed;
    for (const int32_t id : ids) {
      const std::string out = stream.push(id);
      check(ef::is_valid_utf8(out), "push() returned invalid UTF-8");
      streamed += out;
    }
    streamed += stream.flush();
    check(ef::is_valid_utf8(streamed), "stream is invalid UTF-8");
    if (ef::is_valid_utf8(decoded)) check(streamed == decoded, "stream != decode");
  }
  return 0;
}
