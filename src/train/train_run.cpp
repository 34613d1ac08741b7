// run_training / evaluate_model (see train_run.h).
#include "train/train_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"

namespace ef::train {
namespace {

uint64_t mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;  // unknown: no limit
}

// Fails early (before hours of training) if `path` cannot be created.
Status check_writable(const std::string& path, const char* what) {
  const std::string probe = path + ".probe." + std::to_string(getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(Errc::io, std::string("cannot write the ") + what + ": " + std::strerror(errno),
                      path, "check that the directory exists and is writable");
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::success();
}

// Token ids of the given files: token files are read (their vocabulary size
// must match), text files are tokenized with `tokenizer` (created on demand).
Result<std::vector<int32_t>> load_tokens(const std::vector<std::string>& paths,
                                         const gguf::File& vocab, int64_t n_vocab,
                                         std::unique_ptr<Tokenizer>& tokenizer) {
  std::vector<int32_t> all;
  for (const std::string& path : paths) {
    if (is_token_file(path)) {
      EF_ASSIGN_OR_RETURN(TokenData d, read_token_file(path));
      if (d.n_vocab != n_vocab) {
        return make_error(Errc::invalid_argument,
                          "token file was made with a vocabulary of " + std::to_string(d.n_vocab) +
                              " tokens, the vocab GGUF has " + std::to_string(n_vocab),
                          path, "re-tokenize the corpus with this vocabulary");
      }
      all.insert(all.end(), d.ids.begin(), d.ids.end());
      continue;
    }
    if (!tokenizer) {
      EF_ASSIGN_OR_RETURN(tokenizer, Tokenizer::from_gguf(vocab));
    }
    EF_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenize_text_files(*tokenizer, {path}));
    all.insert(all.end(), ids.begin(), ids.end());
  }
  if (all.empty()) {
    return make_error(Errc::invalid_argument, "the corpus is empty (no tokens)",
                      paths.empty() ? std::string("data") : paths.front(),
                      "pass non-empty text or token files");
  }
  return all;
}

Status validate(const RunConfig& c) {
  if (c.vocab.empty()) return make_error(Errc::invalid_argument, "no vocabulary GGUF given", "vocab");
  if (c.data.empty()) return make_error(Errc::invalid_argument, "no training data given", "data");
  if (c.output.empty()) return make_error(Errc::invalid_argument, "no output path given", "output");
  if (c.n_embd <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.n_layer <= 0 || c.n_ff <= 0) {
    return make_error(Errc::out_of_range, "model dimensions must be positive", "n_embd/n_head/...");
  }
  if (c.arch != "llama" && c.arch != "deepseek2") {
    return make_error(Errc::invalid_argument, "unknown architecture '" + c.arch + "'", "arch",
                      "use llama or deepseek2");
  }
  if (c.rope_dim < 0 || c.kv_lora_rank < 0 || c.q_lora_rank < 0 || c.nope_dim < 0 ||
      c.v_dim < 0) {
    return make_error(Errc::out_of_range, "rope_dim / kv_lora_rank / q_lora_rank / nope_dim / "
                      "v_dim must be >= 0", "rope_dim/kv_lora_rank");
  }
  if (c.arch == "deepseek2" && c.kv_lora_rank == 0) {
    return make_error(Errc::invalid_argument, "deepseek2 needs a latent width", "kv_lora_rank",
                      "pass --kv-lora-rank R (e.g. n_embd / 2)");
  }
  if (c.arch == "deepseek2" && c.sliding_window > 0) {
    return make_error(Errc::unsupported, "sliding-window attention is not available for deepseek2",
                      "sliding_window");
  }
  if (c.sliding_window < 0 || c.swa_pattern < 0) {
    return make_error(Errc::out_of_range, "sliding_window and swa_pattern must be >= 0",
                      "sliding_window/swa_pattern");
  }
  if (!(c.val_fraction > 0.0f && c.val_fraction < 1.0f)) {
    return make_error(Errc::out_of_range, "val_fraction must be in (0, 1)", "val_fraction");
  }
  if (c.eval_interval < 0 || c.checkpoint_interval < 0 || c.log_interval < 0 || c.stop_at < 0 ||
      c.eval_windows <= 0) {
    return make_error(Errc::out_of_range, "intervals must be >= 0 and eval_windows >= 1",
                      "eval_interval/checkpoint_interval/log_interval");
  }
  return Status::success();
}

}  // namespace

Status run_training(const RunConfig& given, const std::string& resume_path,
                    const RunCallback& on_event) {
  RunConfig c = given;
  if (!resume_path.empty()) {
    // The run's options come from the checkpoint; only run-time keys
    // (threads, intervals, paths) may be changed.
    EF_ASSIGN_OR_RETURN(std::string stored, Trainer::read_checkpoint_config(resume_path));
    EF_ASSIGN_OR_RETURN(RunConfig saved, run_config_from_json(stored));
    RunConfig merged = saved;
    merged.threads = given.threads;
    merged.eval_interval = given.eval_interval;
    merged.eval_windows = saved.eval_windows;  // keeps the evaluation comparable
    merged.checkpoint_interval = given.checkpoint_interval;
    merged.log_interval = given.log_interval;
    merged.stop_at = given.stop_at;
    merged.max_memory_mb = given.max_memory_mb;
    merged.output = given.output.empty() ? saved.output : given.output;
    merged.checkpoint = given.checkpoint.empty() ? resume_path : given.checkpoint;
    c = merged;
  }
  EF_TRY(validate(c));
  if (c.checkpoint.empty()) c.checkpoint = c.output + ".ckpt";
  if (c.threads <= 0) c.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> vocab, gguf::File::open(c.vocab));
  const gguf::KeyValue* tokens_kv = vocab->find("tokenizer.ggml.tokens");
  if (tokens_kv == nullptr || tokens_kv->value.type != gguf::ValueType::array) {
    return make_error(Errc::format, "no tokenizer.ggml.tokens array", c.vocab,
                      "pass a GGUF that contains a vocabulary");
  }
  const auto n_vocab = static_cast<int64_t>(tokens_kv->value.array_count);

  std::unique_ptr<Tokenizer> tokenizer;
  EF_ASSIGN_OR_RETURN(std::vector<int32_t> train_ids, load_tokens(c.data, *vocab, n_vocab, tokenizer));
  std::vector<int32_t> val_ids;
  if (!c.val.empty()) {
    EF_ASSIGN_OR_RETURN(val_ids, load_tokens(c.val, *vocab, n_vocab, tokenizer));
  } else {
    const auto n_val = static_cast<size_t>(static_cast<double>(train_ids.size()) * c.val_fraction);
    val_ids.assign(train_ids.end() - static_cast<std::ptrdiff_t>(n_val), train_ids.end());
    train_ids.resize(train_ids.size() - n_val);
  }
  {
    RunEvent e;
    e.message = "data: " + std::to_string(train_ids.size()) + " training tokens, " +
                std::to_string(val_ids.size()) + " held-out tokens, vocabulary " +
                std::to_string(n_vocab);
    on_event(e);
  }

  TrainOptions o;
  ModelConfig& s = o.shape;
  s.n_vocab = n_vocab;
  s.n_ctx_train = c.n_ctx > 0 ? c.n_ctx : c.seq;
  s.n_embd = c.n_embd;
  s.n_layer = c.n_layer;
  s.n_ff = c.n_ff;
  s.n_head = c.n_head;
  s.n_head_kv = c.n_head_kv;
  s.head_dim = c.n_embd / c.n_head;
  s.n_rot = c.rope_dim > 0 ? c.rope_dim : s.head_dim;
  if (c.arch == "deepseek2") {
    // The model validates the rest (ModelConfig::validate): rope even, etc.
    const int64_t head = c.n_embd / c.n_head;
    s.architecture = "deepseek2";
    s.n_rot = c.rope_dim > 0 ? c.rope_dim : std::max<int64_t>(2, head / 2 / 2 * 2);
    s.head_dim = (c.nope_dim > 0 ? c.nope_dim : head) + s.n_rot;
    s.head_dim_v = c.v_dim > 0 ? c.v_dim : head;
    s.n_head_kv = c.n_head;
    s.kv_lora_rank = c.kv_lora_rank;
    s.q_lora_rank = c.q_lora_rank;
    s.n_layer_dense_lead = c.n_layer;
  }
  s.rms_eps = c.rms_eps;
  s.rope_freq_base = c.rope_base;
  s.tied_output = c.tied;
  s.n_swa = c.sliding_window;
  s.swa_pattern = c.swa_pattern;
  o.batch = c.batch;
  o.seq = c.seq;
  o.steps = c.steps;
  o.grad_accum = c.grad_accum;
  o.lr.lr = c.lr;
  o.lr.min_lr = c.min_lr;
  o.lr.warmup = c.warmup;
  o.adamw.beta1 = c.beta1;
  o.adamw.beta2 = c.beta2;
  o.adamw.eps = c.adam_eps;
  o.adamw.weight_decay = c.weight_decay;
  o.adamw.clip = c.clip;
  o.seed = c.seed;
  o.threads = c.threads;
  o.eval_windows = c.eval_windows;
  const uint64_t budget = c.max_memory_mb > 0 ? static_cast<uint64_t>(c.max_memory_mb) << 20
                                              : mem_available_bytes();

  // Everything that can fail cheaply fails before the first step.
  EF_TRY(check_writable(c.output, "output model"));
  EF_TRY(check_writable(c.checkpoint, "checkpoint"));
  // Keep a copy of the split for --save-tokens, written once the run is known to be valid.
  std::vector<int32_t> train_copy, val_copy;
  const bool save_tokens = !c.save_tokens.empty() && resume_path.empty();
  if (save_tokens) {
    train_copy = train_ids;
    val_copy = val_ids;
  }
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                      Trainer::create(o, std::move(train_ids), std::move(val_ids), budget));
  if (save_tokens) {
    EF_TRY(write_token_file(c.save_tokens + ".train.tok", train_copy, n_vocab));
    EF_TRY(write_token_file(c.save_tokens + ".val.tok", val_copy, n_vocab));
    RunEvent e;
    e.message = "wrote " + c.save_tokens + ".train.tok and " + c.save_tokens + ".val.tok";
    on_event(e);
  }
  if (!c.init.empty() && resume_path.empty()) {
    EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> init, gguf::File::open(c.init));
    EF_TRY(trainer->model().load_gguf(*init));
  }
  if (!resume_path.empty()) EF_TRY(trainer->load_checkpoint(resume_path));

  const std::string config_json = run_config_to_json(c);
  auto save = [&]() -> Status {
    EF_TRY(trainer->save_checkpoint(c.checkpoint, config_json));
    EF_TRY(trainer->model().save_gguf(c.output, *vocab, trainer->steps_done()));
    RunEvent e;
    e.kind = RunEvent::checkpoint;
    e.result.step = trainer->steps_done();
    e.message = c.checkpoint;
    on_event(e);
    return Status::success();
  };
  auto eval = [&] {
    RunEvent e;
    e.kind = RunEvent::eval;
    e.result.step = trainer->steps_done();
    e.val_loss = trainer->evaluate();
    on_event(e);
  };
  while (trainer->steps_done() < o.steps) {
    RunEvent e;
    e.kind = RunEvent::step;
    e.result = trainer->step();
    e.steps_total = o.steps;
    e.tokens_per_step = o.batch * o.seq * o.grad_accum;
    on_event(e);
    const int64_t done = trainer->steps_done();
    if (done == o.steps) break;
    if (c.eval_interval > 0 && done % c.eval_interval == 0) eval();
    if (c.checkpoint_interval > 0 && done % c.checkpoint_interval == 0) EF_TRY(save());
    if (c.stop_at > 0 && done == c.stop_at) {
      if (c.checkpoint_interval == 0 || done % c.checkpoint_interval != 0) EF_TRY(save());
      RunEvent stop;
      stop.message = "stopped at step " + std::to_string(done) + " (--stop-at); continue with --resume " +
                     c.checkpoint;
      on_event(stop);
      return Status::success();
    }
  }
  eval();
  return save();
}

Result<EvalResult> evaluate_model(const std::string& model_path,
                                  const std::vector<std::string>& text_paths, int64_t seq,
                                  int64_t batch, int64_t max_windows, int threads) {
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(model_path));
  EF_ASSIGN_OR_RETURN(ModelConfig c, ModelConfig::from_gguf(*file));
  std::unique_ptr<Tokenizer> tokenizer;
  EF_ASSIGN_OR_RETURN(std::vector<int32_t> ids, load_tokens(text_paths, *file, c.n_vocab, tokenizer));
  if (seq <= 0 || seq > c.n_ctx_train) seq = c.n_ctx_train;
  const int64_t windows_available = (static_cast<int64_t>(ids.size()) - 1) / seq;
  if (windows_available < 1) {
    return make_error(Errc::invalid_argument,
                      "the text has " + std::to_string(ids.size()) + " tokens, not more than one window of " +
                          std::to_string(seq),
                      text_paths.front(), "use more text or a smaller --seq");
  }
  const int64_t windows = max_windows > 0 ? std::min(max_windows, windows_available) : windows_available;
  const int64_t B = std::max<int64_t>(1, std::min(batch, windows));
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<TrainModel> m, TrainModel::create(c, B, seq, threads));
  EF_TRY(m->load_gguf(*file));
  std::vector<int32_t> in(static_cast<size_t>(B * seq)), tg(in.size());
  double sum = 0.0;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t w = w0 + b < windows ? w0 + b : 0;  // padding slots are not counted
      std::memcpy(in.data() + b * seq, ids.data() + w * seq, seq * sizeof(int32_t));
      std::memcpy(tg.data() + b * seq, ids.data() + w * seq + 1, seq * sizeof(int32_t));
    }
    m->forward(in.data(), tg.data());
    const int64_t used = std::min(B, windows - w0);
    for (int64_t i = 0; i < used * seq; ++i) sum += m->token_losses()[i];
  }
  EvalResult r;
  r.tokens = windows * seq;
  r.loss = sum / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace ef::train
