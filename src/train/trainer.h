// The training loop's state machine: model + AdamW + data windows, one
// optimizer step at a time, held-out evaluation, and checkpoints that make a
// resumed run bit-identical to an uninterrupted one.
//
// A step = grad_accum micro-batches of (batch, seq) windows; each micro-batch
// adds d(loss / grad_accum) into the gradients, then AdamW clips and updates
// at the scheduled learning rate. Everything is a function of (seed, step):
// windows come from WindowSampler with a counter, gradients are
// thread-count independent, so a run's losses and weights depend only on its
// options and data.
//
// Checkpoint file (little-endian), written atomically:
//   char[8] "EFCKPT01", u32 version (1), u32 reserved,
//   u64 step, u64 windows_drawn, u64 train_hash, u64 val_hash,
//   u64 n_params, u64 config_len, config bytes (the run's JSON options),
//   f32 params[n], f32 m[n], f32 v[n], u64 FNV-1a 64 of everything before.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"
#include "train/optimizer.h"
#include "train/token_file.h"
#include "train/train_model.h"

namespace ef::train {

struct TrainOptions {
  ModelConfig shape;  // n_vocab must match the data's vocabulary
  int64_t batch = 8;
  int64_t seq = 64;
  int64_t steps = 100;
  int64_t grad_accum = 1;
  LrSchedule lr;      // lr.total is set to steps by create()
  AdamWConfig adamw;
  uint64_t seed = 1234;
  int threads = 1;
  int64_t eval_windows = 64;  // held-out windows (of seq tokens) per evaluation
};

struct StepResult {
  int64_t step = 0;       // index of the step just taken (0-based)
  float loss = 0.0f;      // mean training loss over its micro-batches
  float grad_norm = 0.0f; // before clipping
  float lr = 0.0f;
};

class Trainer {
 public:
  // Validates options, checks the data is longer than one sequence, plans and
  // allocates memory (refusing more than `max_bytes`, 0 = no limit), and
  // initialises the weights from options.seed (or leaves them for
  // load_weights()).
  static Result<std::unique_ptr<Trainer>> create(const TrainOptions& options,
                                                 std::vector<int32_t> train_tokens,
                                                 std::vector<int32_t> val_tokens,
                                                 uint64_t max_bytes = 0);

  StepResult step();
  // Mean held-out loss over up to eval_windows windows laid end to end from
  // the start of the validation tokens (the same windows every time).
  float evaluate();

  int64_t steps_done() const { return step_; }
  const TrainOptions& options() const { return options_; }
  TrainModel& model() { return *model_; }
  AdamW& optimizer() { return opt_; }

  Status save_checkpoint(const std::string& path, const std::string& config_json) const;
  // Restores weights, optimizer state, step and data position. Fails (and
  // changes nothing) if the file is corrupt or was made with another model
  // shape or other data.
  Status load_checkpoint(const std::string& path);
  // Reads just the stored JSON options of a checkpoint (to rebuild the run).
  static Result<std::string> read_checkpoint_config(const std::string& path);

 private:
  Trainer(TrainOptions options, AdamW opt) : options_(std::move(options)), opt_(std::move(opt)) {}
  TrainOptions options_;
  AdamW opt_;
  std::unique_ptr<TrainModel> model_;
  std::vector<int32_t> train_, val_;
  uint64_t train_hash_ = 0, val_hash_ = 0;
  int64_t step_ = 0;
  uint64_t windows_drawn_ = 0;
  std::vector<int32_t> ids_, targets_;
};

}  // namespace ef::train
