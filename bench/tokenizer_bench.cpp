// Tokenizer throughput on the first 1 MB of wikitext-2 test.txt with the
// llama SPM vocabulary. Data directory: $EF_SHARED_DATA_DIR, else
// ../shared/data beside the source tree (located via __FILE__).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"

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

const Fixture& fixture() {
  static Fixture f = [] {
    Fixture x;
    auto file = ef::gguf::File::open((data_dir() / "vocab" / "ggml-vocab-llama-spm.gguf").string());
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
    std::ifstream in(data_dir() / "wikitext-2" / "test.txt", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    x.text = ss.str().substr(0, 1 << 20);
    if (x.text.empty()) x.error = "cannot read wikitext-2/test.txt";
    return x;
  }();
  return f;
}

void BM_Encode(benchmark::State& state) {
  const Fixture& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const bool parse_special = state.range(0) != 0;
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = f.tok->encode(f.text, true, parse_special);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * f.text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->ArgName("parse_special")->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const Fixture& f = fixture();
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
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
