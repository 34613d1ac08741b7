// A whole training run as `edgeformer train` performs it: configuration
// (flags or JSON), data preparation (text tokenized once with the vocabulary
// GGUF's tokenizer, or token files), the step loop with held-out evaluation,
// periodic atomic checkpoints (weights GGUF + resume file), and resume.
//
// Everything fallible is checked before the first step: the vocabulary, the
// data (empty, shorter than a sequence, ids outside the vocabulary), the
// memory the run needs (against MemAvailable or max_memory_mb) and that the
// output and checkpoint paths are writable. Nothing is written before that.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgeformer/error.h"
#include "train/trainer.h"

namespace ef::train {

struct RunConfig {
  // Model shape (the vocabulary size comes from the vocab GGUF).
  std::string arch = "llama";  // or "deepseek2" (MLA attention, dense FFN)
  int64_t n_embd = 128;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_head_kv = 4;
  int64_t n_ff = 384;
  int64_t n_ctx = 0;  // llama.context_length written to the model; 0 = seq
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied = true;
  // Sliding-window attention (inference semantics, ModelConfig::is_swa):
  // window W > 0 makes layer il windowed iff swa_pattern == 0 or
  // il % swa_pattern < swa_pattern - 1; written to the GGUF as
  // llama.attention.sliding_window / sliding_window_pattern.
  int64_t sliding_window = 0;
  int64_t swa_pattern = 0;
  // RoPE dims: llama: 0 = the whole head (n_embd / n_head), else partial
  // RoPE; deepseek2: the decoupled RoPE key/query dims (0 = half a head,
  // even). deepseek2 heads: key/query = nope_dim + rope_dim, value = v_dim
  // (0 = n_embd / n_head each); the latent is kv_lora_rank wide (required)
  // and the query low-rank with q_lora_rank > 0 (0 = one attn_q).
  int64_t rope_dim = 0;
  int64_t kv_lora_rank = 0;
  int64_t q_lora_rank = 0;
  int64_t nope_dim = 0;
  int64_t v_dim = 0;
  // Data.
  std::string vocab;                 // GGUF with tokenizer.* keys
  std::vector<std::string> data;     // text files or token files
  std::vector<std::string> val;      // held-out files; empty = split data
  float val_fraction = 0.05f;        // tail of the data held out when val is empty
  std::string save_tokens;           // if set: write <prefix>.train.tok / .val.tok
  // Optimisation.
  int64_t steps = 1000;
  int64_t batch = 8;
  int64_t seq = 128;
  int64_t grad_accum = 1;
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  int64_t warmup = 100;
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float adam_eps = 1e-8f;
  float clip = 1.0f;
  uint64_t seed = 1234;
  std::string init;                  // optional GGUF to start from (same shape)
  // Run-time (may differ on resume without changing results).
  int threads = 0;                   // 0 = hardware concurrency
  int64_t eval_interval = 100;       // 0 = only at the end
  int64_t eval_windows = 64;
  int64_t checkpoint_interval = 0;   // 0 = only at the end
  int64_t log_interval = 10;
  int64_t stop_at = 0;               // stop after this step (simulated interruption)
  int64_t max_memory_mb = 0;         // 0 = MemAvailable
  std::string output;                // model GGUF
  std::string checkpoint;            // resume file; "" = output + ".ckpt"
};

// JSON <-> RunConfig. Unknown keys and wrong types are errors naming the key.
Result<RunConfig> run_config_from_json(const std::string& json_text, RunConfig base = {});
std::string run_config_to_json(const RunConfig& config);
// Keys that may change on --resume (everything else comes from the checkpoint).
bool is_runtime_key(const std::string& key);

struct RunEvent {
  enum Kind { step, eval, checkpoint, info } kind = info;
  StepResult result;        // step
  int64_t steps_total = 0;
  int64_t tokens_per_step = 0;
  float val_loss = 0.0f;    // eval
  std::string message;      // info / checkpoint path
};
using RunCallback = std::function<void(const RunEvent&)>;

// Runs (or, with resume_path, continues) the training described by config.
Status run_training(const RunConfig& config, const std::string& resume_path,
                    const RunCallback& on_event);

// Held-out evaluation of a model GGUF on text files: mean loss over
// non-overlapping windows of seq tokens (all windows, or max_windows).
struct EvalResult {
  double loss = 0.0;
  double perplexity = 0.0;
  int64_t tokens = 0;
};
Result<EvalResult> evaluate_model(const std::string& model_path,
                                  const std::vector<std::string>& text_paths, int64_t seq,
                                  int64_t batch, int64_t max_windows, int threads);

}  // namespace ef::train
