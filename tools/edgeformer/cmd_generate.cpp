// `edgeformer generate`: prompt in, streamed completion out.
//
// Order of work (each step fails with one clear error before the next):
//   flags -> prompt is valid UTF-8 -> load model -> create session ->
//   tokenize (with BOS) -> prompt fits the context -> prefill -> sample loop.
// The completion is streamed through StreamingDetokenizer (never half a UTF-8
// character) and flushed after each token; the statistics go to stderr.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "core/memory.h"
#include "edgeformer/model.h"
#include "edgeformer/sampler.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"
#include "session_flags.h"

namespace ef::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t n_predict = 128;
  SamplerOptions sampling;
  int64_t repeat_last_n = 64;
  bool no_display_prompt = false;
  SessionFlags session;
};

void write_out(const std::string& text) {
  if (text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

Status run_generate(const GenerateOptions& o) {
  if (o.n_predict < 0) {
    return usage_error(
        "number of tokens to generate must be >= 0, got " + std::to_string(o.n_predict), "-n");
  }
  size_t bad = 0;
  if (!is_valid_utf8(o.prompt, &bad)) {
    return usage_error("prompt is not valid UTF-8: bad byte at offset " + std::to_string(bad), "-p",
                       "pass the prompt as UTF-8 text");
  }
  EF_TRY(o.session.validate_and_apply());

  EF_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(o.model));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                      Session::create(*model, o.session.session_options()));
  const Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> prompt = tok.encode(o.prompt, /*add_bos=*/true);
  const int64_t n_ctx = session->n_ctx();
  if (prompt.empty()) return usage_error("prompt is empty after tokenization", "-p");
  if (static_cast<int64_t>(prompt.size()) >= n_ctx) {
    return usage_error("prompt is " + std::to_string(prompt.size()) +
                           " tokens but the context holds only " + std::to_string(n_ctx) +
                           " (and needs room to generate)",
                       "-p", "shorten the prompt or raise --ctx");
  }

  // Echo the prompt verbatim. The detokenizer still sees the prompt tokens
  // (output dropped) so the completion's first token keeps its leading space.
  StreamingDetokenizer detok(tok);
  for (int32_t id : prompt) (void)detok.push(id);
  if (!o.no_display_prompt) write_out(o.prompt);

  SamplerOptions sopts = o.sampling;
  sopts.penalty_last_n = static_cast<int32_t>(o.repeat_last_n);
  Sampler sampler(sopts);
  for (int32_t id : prompt) sampler.accept(id);

  const auto t_prompt = std::chrono::steady_clock::now();
  EF_ASSIGN_OR_RETURN(std::span<const float> logits, session->eval(prompt));
  const double prompt_seconds = seconds_since(t_prompt);

  const auto t_gen = std::chrono::steady_clock::now();
  int64_t n_generated = 0;
  const char* stop_reason = "token limit";
  while (n_generated < o.n_predict) {
    const int32_t id = sampler.sample(logits);
    sampler.accept(id);
    ++n_generated;
    if (tok.is_end_of_generation(id)) {
      stop_reason = "end-of-generation token";
      break;
    }
    write_out(detok.push(id));
    if (n_generated == o.n_predict) break;
    if (session->n_past() >= n_ctx) {
      stop_reason = "context full";
      break;
    }
    const int32_t next[1] = {id};
    EF_ASSIGN_OR_RETURN(logits, session->eval(next));
  }
  const double gen_seconds = seconds_since(t_gen);
  write_out(detok.flush());
  write_out("\n");

  const MemoryStats mem = memory_stats();
  auto rate = [](double n, double s) { return s > 0 ? n / s : 0.0; };
  std::fprintf(stderr, "\nprompt:    %zu tokens in %s (%.2f tokens/s)\n", prompt.size(),
               format_seconds(prompt_seconds).c_str(),
               rate(static_cast<double>(prompt.size()), prompt_seconds));
  std::fprintf(stderr, "generated: %lld tokens in %s (%.2f tokens/s), stopped by %s\n",
               static_cast<long long>(n_generated), format_seconds(gen_seconds).c_str(),
               rate(static_cast<double>(n_generated), gen_seconds), stop_reason);
  std::fprintf(stderr, "memory:    peak %s = buffers %s + mapped %s; process peak RSS (VmHWM) %s\n",
               format_bytes(mem.peak_bytes + mem.mapped_bytes).c_str(),
               format_bytes(mem.peak_bytes).c_str(), format_bytes(mem.mapped_bytes).c_str(),
               format_bytes(process_peak_rss_bytes()).c_str());
  std::fprintf(stderr,
               "session:   ctx %lld, threads %d, ubatch %lld, KV %s, flash attention %s, "
               "kernels %s\n",
               static_cast<long long>(n_ctx), session->options().n_threads,
               static_cast<long long>(session->options().n_ubatch), o.session.cache_type.c_str(),
               session->options().flash_attn ? "on" : "off", active_isa_name().c_str());
  return Status::success();
}

}  // namespace

void add_generate_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* sub = app.add_subcommand("generate", "Generate text from a prompt");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required();
  sub->add_option("-p,--prompt", o->prompt, "Prompt text (UTF-8)")->required();
  sub->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->capture_default_str();
  sub->add_option("--temp", o->sampling.temperature, "Temperature (<= 0: greedy)")
      ->capture_default_str();
  sub->add_option("--top-k", o->sampling.top_k, "Top-k (<= 0: off)")->capture_default_str();
  sub->add_option("--top-p", o->sampling.top_p, "Top-p (>= 1: off)")->capture_default_str();
  sub->add_option("--min-p", o->sampling.min_p, "Min-p (<= 0: off)")->capture_default_str();
  sub->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  sub->add_option("--repeat-last-n", o->repeat_last_n, "Tokens the penalty looks back over")
      ->capture_default_str();
  sub->add_option("-s,--seed", o->sampling.seed, "Sampling seed")->capture_default_str();
  sub->add_flag("--no-display-prompt", o->no_display_prompt, "Print only the completion");
  o->session.add_to(*sub, "Context length (default: the model's, at most 4096)");
  commands.push_back({sub, [o]() { return run_generate(*o); }});
}

}  // namespace ef::cli
