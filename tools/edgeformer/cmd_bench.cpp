// `edgeformer bench`: prompt-processing and generation speed, measured the
// way llama-bench measures them so the tables compare:
//   ppN: one eval of N random tokens (BOS first when the vocab adds BOS),
//        split into micro-batches of --ubatch by the session;
//   tgN: N evals of one token each (BOS first, then random tokens).
// Each test gets a fresh session (context = N), one warm-up run (ppN, or a
// single tg token), then --reps timed runs with the cache cleared before
// each. t/s = tokens / seconds per run; mean and sample stddev over runs.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <random>
#include <vector>

#include "bench_report.h"
#include "cli_common.h"
#include "core/cpu_features.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"
#include "gguf_format.h"
#include "io/gguf.h"
#include "session_flags.h"

namespace ef::cli {
namespace {

struct BenchOptions {
  std::string model;
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int reps = 5;
  bool json = false;
  bool progress = false;
  uint32_t seed = 1234;
  SessionFlags session;
};

class Runner {
 public:
  Runner(Session& session, const Tokenizer& tok, uint32_t seed)
      : session_(session), tok_(tok), rng_(seed) {}

  Status prompt(int64_t n) {
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    for (auto& t : tokens) t = random_token();
    if (tok_.add_bos_default() && tok_.bos_id() >= 0) tokens[0] = tok_.bos_id();
    auto r = session_.eval(tokens);
    if (!r.ok()) return r.take_error();
    return Status::success();
  }

  Status gen(int64_t n) {
    int32_t token = tok_.add_bos_default() && tok_.bos_id() >= 0 ? tok_.bos_id() : random_token();
    for (int64_t i = 0; i < n; ++i) {
      auto r = session_.eval(std::span<const int32_t>(&token, 1));
      if (!r.ok()) return r.take_error();
      token = random_token();
    }
    return Status::success();
  }

 private:
  int32_t random_token() {
    return static_cast<int32_t>(rng_() % static_cast<uint32_t>(tok_.n_vocab()));
  }
  Session& session_;
  const Tokenizer& tok_;
  std::mt19937 rng_;
};

std::string now_rfc3339() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%FT%TZ", &tm);
  return buf;
}

// llama.cpp's model description: "<arch> <size> <file type>".
std::string model_description(const Model& model) {
  const uint64_t n = model.n_params();
  const double d = static_cast<double>(n);
  std::string size = n >= 1000000000ull ? strprintf("%.1fB", d / 1e9)
                     : n >= 10000000ull ? strprintf("%.0fM", d / 1e6)
                                        : strprintf("%.2fM", d / 1e6);
  auto ftype = model.file().get_int_or("general.file_type", -1);
  std::string type = ftype.ok() && *ftype >= 0 ? llama_ftype_name(static_cast<uint32_t>(*ftype))
                                               : model.type_summary();
  return model.config().architecture + " " + size + " " + type;
}

Status run_bench(const BenchOptions& o) {
  if (o.n_prompt < 0) return usage_error("-p must be >= 0", "-p " + std::to_string(o.n_prompt));
  if (o.n_gen < 0) return usage_error("-n must be >= 0", "-n " + std::to_string(o.n_gen));
  if (o.reps < 1) return usage_error("-r must be >= 1", "-r " + std::to_string(o.reps));
  if (o.n_prompt == 0 && o.n_gen == 0) return usage_error("nothing to measure: -p and -n are 0");
  EF_TRY(o.session.validate_and_apply());
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(o.model));

  BenchTest base;
  base.model_filename = o.model;
  base.model_type = model_description(*model);
  base.model_size = model->weight_bytes();
  base.model_n_params = model->n_params();
  base.backend = "CPU (" + active_isa_name() + ")";
  base.cpu_info = cpu_features().summary();
  base.n_ubatch = o.session.n_ubatch;
  base.type_kv = o.session.cache_type;

  std::vector<BenchTest> plan;
  if (o.n_prompt > 0) {
    plan.push_back(base);
    plan.back().n_prompt = o.n_prompt;
  }
  if (o.n_gen > 0) {
    plan.push_back(base);
    plan.back().n_gen = o.n_gen;
  }

  if (!o.json) std::fputs(markdown_header().c_str(), stdout);
  std::fflush(stdout);
  for (BenchTest& t : plan) {
    Progress progress("bench " + t.name(), o.reps + 1, o.progress);
    int64_t steps = 0;
    SessionOptions so = o.session.session_options();
    so.n_ctx = t.n_prompt + t.n_gen;
    EF_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(*model, so));
    t.n_threads = session->options().n_threads;
    t.test_time = now_rfc3339();
    Runner runner(*session, model->tokenizer(), o.seed);

    // Warm-up: pages in the weights and grows any lazily sized scratch.
    session->reset();
    EF_TRY(t.n_prompt > 0 ? runner.prompt(t.n_prompt) : runner.gen(1));
    progress.update(++steps);
    for (int r = 0; r < o.reps; ++r) {
      session->reset();
      const auto start = std::chrono::steady_clock::now();
      EF_TRY(t.n_prompt > 0 ? runner.prompt(t.n_prompt) : runner.gen(t.n_gen));
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now() - start);
      t.samples_ns.push_back(static_cast<uint64_t>(ns.count()));
      progress.update(++steps);
    }
    progress.finish();
    if (!o.json) {
      std::fputs(markdown_row(t).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  if (o.json) {
    std::fputs(to_json(plan).c_str(), stdout);
  } else {
    std::printf("\nbuild: edgeformer 0.1.0\n");
  }
  return Status::success();
}

}  // namespace

void add_bench_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<BenchOptions>();
  o->session.n_threads = 2;
  CLI::App* sub = app.add_subcommand("bench", "Measure prompt processing (ppN) and generation "
                                              "(tgN) speed, llama-bench style");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required();
  sub->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens for the pp test (0: skip)")
      ->capture_default_str();
  sub->add_option("-n,--n-gen", o->n_gen, "Generated tokens for the tg test (0: skip)")
      ->capture_default_str();
  sub->add_option("-r,--repetitions", o->reps, "Timed runs per test")->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the random token ids")->capture_default_str();
  sub->add_flag("--json", o->json, "Print JSON instead of the markdown table");
  sub->add_flag("--progress", o->progress, "Show a progress line even when stderr is not a TTY");
  // No --ctx: each test's context is exactly its token count.
  o->session.add_to(*sub, nullptr);
  commands.push_back({sub, [o]() { return run_bench(*o); }});
}

}  // namespace ef::cli
