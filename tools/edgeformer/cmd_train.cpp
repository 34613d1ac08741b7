// `edgeformer train`: trains a llama model from scratch (or from --init) with
// the hand-written backward passes of src/train, writes it as a GGUF that
// `generate` loads, checkpoints periodically and resumes bit-for-bit.
// `edgeformer eval`: held-out loss / perplexity of a model on text files.
//
// Options come from --config cfg.json (keys = flag names with '_' for '-')
// and then from flags given explicitly, which override the file. With
// --resume CKPT the run's options come from the checkpoint; only run-time
// flags (threads, intervals, output paths, --stop-at) apply.
#include "cmd_train.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "train/train_run.h"

namespace ef::cli {
namespace {

struct TrainFlags {
  train::RunConfig values;  // bound to the flags
  std::string config_path;
  std::string resume;
  bool print_config = false;
  // (option, copier) for every flag that maps onto a RunConfig field.
  std::vector<std::pair<CLI::Option*, std::function<void(train::RunConfig&)>>> bound;
};

std::string format_duration(double seconds) {
  if (!(seconds >= 0.0) || seconds > 1e7) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", s);
  }
  return buf;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open config file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status run_train(TrainFlags& f) {
  train::RunConfig config;
  if (!f.config_path.empty()) {
    EF_ASSIGN_OR_RETURN(std::string text, read_file(f.config_path));
    EF_ASSIGN_OR_RETURN(config, train::run_config_from_json(text));
  }
  for (auto& [opt, copy] : f.bound) {
    if (opt->count() > 0) copy(config);
  }
  if (!f.resume.empty()) {
    // Only run-time options may be given with --resume; the defaults of the
    // others must not silently differ from the checkpoint's.
    for (auto& [opt, copy] : f.bound) {
      const std::string flag = opt->get_lnames().front();
      std::string key = flag;
      for (char& ch : key) ch = ch == '-' ? '_' : ch;
      if (opt->count() > 0 && !train::is_runtime_key(key)) {
        return make_error(Errc::invalid_argument, "--" + flag + " cannot change on --resume",
                          "--resume", "a resumed run keeps the checkpoint's options");
      }
    }
  }
  if (f.print_config) {
    std::printf("%s\n", train::run_config_to_json(config).c_str());
    return Status::success();
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t first_step = -1;
  double tokens = 0.0;
  auto on_event = [&](const train::RunEvent& e) {
    switch (e.kind) {
      case train::RunEvent::step: {
        if (first_step < 0) first_step = e.result.step;
        tokens += static_cast<double>(e.tokens_per_step);
        const int64_t done = e.result.step + 1;
        const bool last = done == e.steps_total;
        if (config.log_interval > 0 && (done % config.log_interval == 0 || last || done == 1)) {
          const double elapsed =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const double tps = elapsed > 0 ? tokens / elapsed : 0.0;
          const double steps_run = static_cast<double>(done - first_step);
          const double eta = steps_run > 0 ? elapsed / steps_run * static_cast<double>(e.steps_total - done) : -1;
          std::printf("step %6lld/%lld | loss %.6f | lr %.3e | grad norm %.3f | %.0f tok/s | ETA %s\n",
                      static_cast<long long>(done), static_cast<long long>(e.steps_total),
                      e.result.loss, e.result.lr, e.result.grad_norm, tps,
                      format_duration(eta).c_str());
          std::fflush(stdout);
        }
        break;
      }
      case train::RunEvent::eval:
        std::printf("step %6lld | val loss %.6f | val ppl %.3f\n",
                    static_cast<long long>(e.result.step), e.val_loss, std::exp(e.val_loss));
        std::fflush(stdout);
        break;
      case train::RunEvent::checkpoint:
        std::fprintf(stderr, "checkpoint at step %lld: %s\n", static_cast<long long>(e.result.step),
                     e.message.c_str());
        break;
      case train::RunEvent::info:
        std::fprintf(stderr, "%s\n", e.message.c_str());
        break;
    }
  };
  return train::run_training(config, f.resume, on_event);
}

template <class T>
void bind_option(CLI::App* sub, TrainFlags& f, const std::string& flags, T train::RunConfig::*field,
          const std::string& help) {
  CLI::Option* opt = sub->add_option(flags, f.values.*field, help)->capture_default_str();
  f.bound.emplace_back(opt, [&f, field](train::RunConfig& c) { c.*field = f.values.*field; });
}

void add_train(CLI::App& app, std::vector<TrainCommand>& out) {
  auto* sub = app.add_subcommand("train", "Train a llama or deepseek2 (MLA) model on text (hand-written backward passes)");
  auto f = std::make_shared<TrainFlags>();
  sub->add_option("--config", f->config_path, "JSON file with options (keys = flag names, '_' for '-')");
  sub->add_option("--resume", f->resume, "Continue the run saved in this checkpoint file");
  sub->add_flag("--print-config", f->print_config, "Print the effective options as JSON and exit");
  using RC = train::RunConfig;
  bind_option(sub, *f, "--vocab", &RC::vocab, "GGUF whose tokenizer.* keys give the vocabulary");
  bind_option(sub, *f, "--data", &RC::data, "Training text or token files (repeatable)");
  bind_option(sub, *f, "--val", &RC::val, "Held-out text or token files (default: tail of --data)");
  bind_option(sub, *f, "--val-fraction", &RC::val_fraction, "Fraction of --data held out when no --val");
  bind_option(sub, *f, "--save-tokens", &RC::save_tokens, "Write the tokenized split to PREFIX.train.tok / PREFIX.val.tok");
  bind_option(sub, *f, "--arch", &RC::arch, "llama, or deepseek2 (Multi-head Latent Attention, dense FFN)");
  bind_option(sub, *f, "--n-embd", &RC::n_embd, "Embedding width");
  bind_option(sub, *f, "--n-layer", &RC::n_layer, "Number of layers");
  bind_option(sub, *f, "--n-head", &RC::n_head, "Attention heads");
  bind_option(sub, *f, "--n-head-kv", &RC::n_head_kv, "KV heads (GQA/MQA when < n-head; llama only)");
  bind_option(sub, *f, "--n-ff", &RC::n_ff, "Feed-forward width");
  bind_option(sub, *f, "--n-ctx", &RC::n_ctx, "Context length written to the model (0 = --seq)");
  bind_option(sub, *f, "--rope-base", &RC::rope_base, "RoPE frequency base");
  bind_option(sub, *f, "--rms-eps", &RC::rms_eps, "RMSNorm epsilon");
  bind_option(sub, *f, "--tied", &RC::tied, "Tie the output head to the token embedding (true/false)");
  bind_option(sub, *f, "--sliding-window", &RC::sliding_window, "Sliding attention window W (0 = full causal): query i sees keys i-W+1..i");
  bind_option(sub, *f, "--swa-pattern", &RC::swa_pattern, "With --sliding-window: layer il is windowed iff il % P < P - 1 (0 = every layer)");
  bind_option(sub, *f, "--rope-dim", &RC::rope_dim, "RoPE dims (llama: 0 = whole head; deepseek2: decoupled RoPE dims, 0 = half a head)");
  bind_option(sub, *f, "--kv-lora-rank", &RC::kv_lora_rank, "deepseek2: latent width of keys/values (required)");
  bind_option(sub, *f, "--q-lora-rank", &RC::q_lora_rank, "deepseek2: low-rank query width (0 = one attn_q projection)");
  bind_option(sub, *f, "--nope-dim", &RC::nope_dim, "deepseek2: non-RoPE query/key head dims (0 = n-embd / n-head)");
  bind_option(sub, *f, "--v-dim", &RC::v_dim, "deepseek2: value head dims (0 = n-embd / n-head)");
  bind_option(sub, *f, "--steps", &RC::steps, "Optimizer steps");
  bind_option(sub, *f, "--batch", &RC::batch, "Sequences per micro-batch");
  bind_option(sub, *f, "--seq", &RC::seq, "Tokens per sequence");
  bind_option(sub, *f, "--grad-accum", &RC::grad_accum, "Micro-batches per step");
  bind_option(sub, *f, "--lr", &RC::lr, "Peak learning rate");
  bind_option(sub, *f, "--min-lr", &RC::min_lr, "Learning rate at the end of the cosine");
  bind_option(sub, *f, "--warmup", &RC::warmup, "Linear warmup steps");
  bind_option(sub, *f, "--weight-decay", &RC::weight_decay, "AdamW decoupled weight decay (matrices and embeddings)");
  bind_option(sub, *f, "--beta1", &RC::beta1, "AdamW beta1");
  bind_option(sub, *f, "--beta2", &RC::beta2, "AdamW beta2");
  bind_option(sub, *f, "--adam-eps", &RC::adam_eps, "AdamW epsilon");
  bind_option(sub, *f, "--clip", &RC::clip, "Max global gradient norm (0 = off)");
  bind_option(sub, *f, "--seed", &RC::seed, "Seed of weights and data sampling");
  bind_option(sub, *f, "--init", &RC::init, "Start from this GGUF's weights (same shape)");
  bind_option(sub, *f, "-t,--threads", &RC::threads, "Threads (0 = all cores); results do not depend on it");
  bind_option(sub, *f, "--eval-interval", &RC::eval_interval, "Evaluate the held-out split every N steps (0 = at the end)");
  bind_option(sub, *f, "--eval-windows", &RC::eval_windows, "Held-out windows per evaluation");
  bind_option(sub, *f, "--checkpoint-interval", &RC::checkpoint_interval, "Checkpoint every N steps (0 = at the end)");
  bind_option(sub, *f, "--log-interval", &RC::log_interval, "Print a progress line every N steps");
  bind_option(sub, *f, "--stop-at", &RC::stop_at, "Checkpoint and stop after this step (resume later)");
  bind_option(sub, *f, "--max-memory-mb", &RC::max_memory_mb, "Memory budget (0 = MemAvailable)");
  bind_option(sub, *f, "-o,--output", &RC::output, "Output model GGUF");
  bind_option(sub, *f, "--checkpoint", &RC::checkpoint, "Checkpoint file (default: OUTPUT.ckpt)");
  out.emplace_back(sub, [f]() { return run_train(*f); });
}

struct EvalFlags {
  std::string model;
  std::vector<std::string> files;
  int64_t seq = 0;
  int64_t batch = 4;
  int64_t windows = 0;
  int threads = 0;
};

void add_eval(CLI::App& app, std::vector<TrainCommand>& out) {
  auto* sub = app.add_subcommand("eval", "Held-out loss and perplexity of a model on text files");
  auto f = std::make_shared<EvalFlags>();
  sub->add_option("-m,--model", f->model, "GGUF model")->required();
  sub->add_option("-f,--file", f->files, "Text or token files (repeatable)")->required();
  sub->add_option("--seq", f->seq, "Window length (0 = the model's context length)");
  sub->add_option("--batch", f->batch, "Windows per forward pass");
  sub->add_option("--windows", f->windows, "Evaluate at most N windows (0 = all)");
  sub->add_option("-t,--threads", f->threads, "Threads (0 = all cores)");
  out.emplace_back(sub, [f]() -> Status {
    EF_ASSIGN_OR_RETURN(train::EvalResult r, train::evaluate_model(f->model, f->files, f->seq, f->batch,
                                                                   f->windows, f->threads));
    std::printf("loss %.6f | perplexity %.4f | tokens %lld\n", r.loss, r.perplexity,
                static_cast<long long>(r.tokens));
    return Status::success();
  });
}

}  // namespace

std::vector<TrainCommand> add_train_commands(CLI::App& app) {
  std::vector<TrainCommand> out;
  add_train(app, out);
  add_eval(app, out);
  return out;
}

}  // namespace ef::cli
