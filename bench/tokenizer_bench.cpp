// Tokenizer throughput (MB/s) on the first 1 MB of wikitext-2 test.txt with
// both tokenizer types: vocab:0 = llama SPM, vocab:1 = GPT-2 byte-level BPE;
// and the BPE trainer on 1 MB of tinyshakespeare + wikitext. Data directory:
// $EF_SHARED_DATA_DIR, else ../shared/data beside the source tree (via __FILE__).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"
#include "tokenizer/bpe_trainer.h"

namespace {

std::filesystem::path data_dir() {
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared" /
         "data";
}

struct Fixture {
  std::unique_ptr<ef::Tokenizer> tok;
  std::string text;
  std::string error;
};

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Fixture load(const char* vocab) {
  Fixture x;
  auto file = ef::gguf::File::open((data_dir() / "vocab" / vocab).string());
  if (!file.ok()) {
    x.error = file.error().message();
    return x;
  }
  auto tok = ef::Tokenizer::from_gguf(*file.value());
  if (!tok.ok()) {
    x.error = tok.error().message();
    return x;
  }
  x.tok = std::move(tok).value();
  x.text = read_text(data_dir() / "wikitext-2" / "test.txt").substr(0, 1 << 20);
  if (x.text.empty()) x.error = "cannot read wikitext-2/test.txt";
  return x;
}

const Fixture& fixture(int64_t which) {
  static Fixture spm = load("ggml-vocab-llama-spm.gguf");
  static Fixture bpe = load("ggml-vocab-gpt-2.gguf");
  return which == 0 ? spm : bpe;
}

void BM_Encode(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const bool parse_special = state.range(1) != 0;
  // One untimed pass first: the BPE tokenizer's per-thread word cache is then
  // warm, as it is when a program tokenizes more than a few words.
  benchmark::DoNotOptimize(f.tok->encode(f.text, true, parse_special).data());
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = f.tok->encode(f.text, true, parse_special);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}
BENCHMARK(BM_Encode)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"vocab", "parse_special"})
    ->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0));
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const auto ids = f.tok->encode(f.text, true);
  for (auto _ : state) {
    auto text = f.tok->decode(ids);
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.text.size()));
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->ArgName("vocab")->Unit(benchmark::kMillisecond);

// Trains a vocabulary of state.range(0) tokens on 1 MB of text (1 thread).
void BM_TrainBpe(benchmark::State& state) {
  static const std::string text =
      (read_text(data_dir() / "tinyshakespeare" / "input.txt") +
       read_text(data_dir() / "wikitext-2" / "valid.txt"))
          .substr(0, 1 << 20);
  if (text.size() < (1 << 20)) {
    state.SkipWithError("cannot read tinyshakespeare / wikitext-2");
    return;
  }
  ef::tok::BpeTrainOptions o;
  o.vocab_size = static_cast<int32_t>(state.range(0));
  for (auto _ : state) {
    auto v = ef::tok::train_bpe({text}, o);
    if (!v.ok()) {
      state.SkipWithError(v.error().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(v.value().merges.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TrainBpe)->Arg(4096)->Arg(32000)->ArgName("vocab")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
