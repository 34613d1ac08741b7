// `edgeformer tokenizer train --vocab N --input FILES... -o tok.gguf
//  [--pre gpt2|llama3] [--threads N] [--special TEXT]...`
// Learns a byte-level BPE vocabulary (with merges) from plain text files and
// writes it as a vocab-only GGUF that `tokenize`, Model::load (when copied
// into a model) and llama.cpp load. A progress line goes to stderr; a summary
// (sizes, time) is printed at the end.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cmd_tokenizer.h"
#include "tokenizer/bpe_trainer.h"

namespace ef::cli {
namespace {

struct TrainOptions {
  int32_t vocab = 4096;
  std::vector<std::string> inputs;
  std::string output;
  std::string pre = "gpt2";
  int threads = 2;
  std::vector<std::string> specials;
  int64_t min_count = 2;
  bool progress = false;
};

Status run_train(const TrainOptions& o) {
  tok::BpeTrainOptions t;
  t.vocab_size = o.vocab;
  if (o.pre == "gpt2" || o.pre == "gpt-2") {
    t.pre = tok::PreType::kGpt2;
  } else if (o.pre == "llama3" || o.pre == "llama-bpe") {
    t.pre = tok::PreType::kLlama3;
  } else {
    return usage_error("unknown pre-tokenizer '" + o.pre + "'", "--pre", "use gpt2 or llama3");
  }
  if (o.threads < 1) return usage_error("must be at least 1", "--threads");
  t.threads = o.threads;
  t.min_pair_count = o.min_count;
  if (!o.specials.empty()) t.special_tokens = o.specials;

  const auto start = std::chrono::steady_clock::now();
  const int64_t n_merges = o.vocab - 256 - static_cast<int64_t>(t.special_tokens.size());
  Progress progress("merges", n_merges > 0 ? n_merges : 1, o.progress);
  t.progress = [&](int64_t done, int64_t) { progress.update(done); };
  EF_ASSIGN_OR_RETURN(tok::BpeVocabulary v, tok::train_bpe_files(o.inputs, t));
  progress.finish();
  EF_TRY(tok::write_bpe_vocab_gguf(v, o.output));
  const double seconds = seconds_since(start);
  std::printf("tokenizer: %zu tokens (%zu merges, %zu special), pre '%s'\n", v.tokens.size(),
              v.merges.size(), t.special_tokens.size(), v.pre.c_str());
  std::printf("tokenizer: %s of text, %llu distinct words, %s\n",
              format_bytes(v.input_bytes).c_str(),
              static_cast<unsigned long long>(v.distinct_words), format_seconds(seconds).c_str());
  if (static_cast<int64_t>(v.merges.size()) < n_merges) {
    std::fprintf(stderr,
                 "tokenizer: stopped after %zu merges: no pair occurs %lld times or more "
                 "(more text gives a larger vocabulary)\n",
                 v.merges.size(), static_cast<long long>(o.min_count));
  }
  std::printf("tokenizer: wrote %s\n", o.output.c_str());
  return Status::success();
}

}  // namespace

void add_tokenizer_command(CLI::App& app, CommandList& commands) {
  CLI::App* group = app.add_subcommand("tokenizer", "Build tokenizers (subcommand: train)");
  group->require_subcommand(1);
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = group->add_subcommand(
      "train", "Learn a byte-level BPE vocabulary from text files; write a vocab-only GGUF");
  sub->add_option("--vocab", o->vocab, "Vocabulary size: 256 bytes + merges + special tokens")
      ->required()
      ->check(CLI::Range(257, 1 << 22));
  sub->add_option("--input", o->inputs, "Plain text (UTF-8) files")->required()->expected(1, -1);
  sub->add_option("-o,--output", o->output, "GGUF file to write")->required();
  sub->add_option("--pre", o->pre, "Pre-tokenizer: gpt2 or llama3")->capture_default_str();
  sub->add_option("-t,--threads", o->threads, "Threads for reading and counting")
      ->capture_default_str();
  sub->add_option("--special", o->specials,
                  "Special (control) tokens appended to the vocabulary; the first is BOS and EOS "
                  "(default <|endoftext|>)");
  sub->add_option("--min-count", o->min_count, "Stop when the best pair occurs fewer times")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  sub->add_flag("--progress", o->progress, "Show progress even when stderr is not a terminal");
  commands.push_back({group, [o]() { return run_train(*o); }});
}

}  // namespace ef::cli
