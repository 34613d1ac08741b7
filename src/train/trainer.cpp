// Trainer: steps, evaluation and checkpoints (see trainer.h).
#include "train/trainer.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace ef::train {
namespace {

constexpr char kCkptMagic[8] = {'E', 'F', 'C', 'K', 'P', 'T', '0', '1'};
constexpr uint32_t kCkptVersion = 1;
constexpr size_t kCkptFixed = 8 + 4 + 4 + 8 * 6;  // up to the config bytes

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

Result<std::vector<uint8_t>> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return make_error(Errc::io, "cannot open checkpoint", path, "check the --resume path");
  const auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<uint8_t> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    return make_error(Errc::io, "cannot read checkpoint", path);
  }
  return bytes;
}

// Parsed and verified view of a checkpoint image.
struct CkptView {
  uint64_t step, windows, train_hash, val_hash, n_params;
  std::string config;
  const float* params;
  const float* m;
  const float* v;
};

Result<CkptView> parse_checkpoint(const std::vector<uint8_t>& b, const std::string& path) {
  auto corrupt = [&](const std::string& what) {
    return make_error(Errc::format, "checkpoint " + what, path,
                      "the file is truncated or corrupt; use an earlier checkpoint");
  };
  if (b.size() < kCkptFixed + 8 || std::memcmp(b.data(), kCkptMagic, 8) != 0) {
    return corrupt("has a bad header");
  }
  if (get<uint32_t>(b.data() + 8) != kCkptVersion) return corrupt("has an unknown version");
  const uint64_t stored = get<uint64_t>(b.data() + b.size() - 8);
  if (fnv1a64(b.data(), b.size() - 8) != stored) return corrupt("checksum does not match");
  CkptView v;
  const uint8_t* p = b.data() + 16;
  v.step = get<uint64_t>(p);
  v.windows = get<uint64_t>(p + 8);
  v.train_hash = get<uint64_t>(p + 16);
  v.val_hash = get<uint64_t>(p + 24);
  v.n_params = get<uint64_t>(p + 32);
  const uint64_t config_len = get<uint64_t>(p + 40);
  const uint64_t avail = b.size() - kCkptFixed - 8;
  if (config_len > avail || v.n_params > (avail - config_len) / 12 ||
      config_len + 12 * v.n_params != avail) {
    return corrupt("sizes do not add up");
  }
  v.config.assign(reinterpret_cast<const char*>(b.data() + kCkptFixed), config_len);
  const auto* f = reinterpret_cast<const float*>(b.data() + kCkptFixed + config_len);
  // The float arrays may be unaligned; callers memcpy them.
  v.params = f;
  v.m = f + v.n_params;
  v.v = f + 2 * v.n_params;
  return v;
}

}  // namespace

Result<std::unique_ptr<Trainer>> Trainer::create(const TrainOptions& options,
                                                 std::vector<int32_t> train_tokens,
                                                 std::vector<int32_t> val_tokens,
                                                 uint64_t max_bytes) {
  TrainOptions o = options;
  if (o.steps <= 0) return make_error(Errc::out_of_range, "steps must be >= 1", "steps");
  if (o.grad_accum <= 0 || o.grad_accum > 4096) {
    return make_error(Errc::out_of_range, "grad_accum must be in [1, 4096]", "grad_accum");
  }
  if (!(o.lr.lr > 0.0f) || !(o.lr.min_lr >= 0.0f) || o.lr.warmup < 0) {
    return make_error(Errc::out_of_range, "need lr > 0, min_lr >= 0, warmup >= 0", "lr");
  }
  o.lr.total = o.steps;
  if (train_tokens.empty()) {
    return make_error(Errc::invalid_argument, "the training corpus is empty", "data",
                      "pass a non-empty text or token file");
  }
  if (static_cast<int64_t>(train_tokens.size()) <= o.seq) {
    return make_error(Errc::invalid_argument,
                      "the training corpus has " + std::to_string(train_tokens.size()) +
                          " tokens, not more than one sequence of " + std::to_string(o.seq),
                      "data", "use more text or a shorter --seq");
  }
  if (static_cast<int64_t>(val_tokens.size()) <= o.seq) {
    return make_error(Errc::invalid_argument,
                      "the held-out split has " + std::to_string(val_tokens.size()) +
                          " tokens, not more than one sequence of " + std::to_string(o.seq),
                      "val", "use a larger validation file or --val-fraction");
  }
  for (const auto* data : {&train_tokens, &val_tokens}) {
    for (int32_t id : *data) {
      if (id < 0 || id >= o.shape.n_vocab) {
        return make_error(Errc::invalid_argument,
                          "token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                              std::to_string(o.shape.n_vocab),
                          "data", "tokenize the corpus with the same vocabulary");
      }
    }
  }
  EF_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(o.shape, o.batch, o.seq, o.threads));
  if (max_bytes != 0 && plan.total() > max_bytes) {
    return make_error(Errc::out_of_memory,
                      "training needs " + std::to_string(plan.total() >> 20) + " MiB (params " +
                          std::to_string(plan.params_bytes >> 20) + " MiB x 4, activations " +
                          std::to_string(plan.activation_bytes >> 20) + " MiB) but only " +
                          std::to_string(max_bytes >> 20) + " MiB are available",
                      "model shape / batch / seq", "use a smaller model, --batch or --seq");
  }
  EF_ASSIGN_OR_RETURN(std::unique_ptr<TrainModel> model,
                      TrainModel::create(o.shape, o.batch, o.seq, o.threads));
  EF_ASSIGN_OR_RETURN(AdamW opt, AdamW::create(model->n_params(), o.adamw));
  std::unique_ptr<Trainer> t(new Trainer(o, std::move(opt)));
  t->model_ = std::move(model);
  t->model_->init_random(o.seed);
  t->train_hash_ = fnv1a64(train_tokens.data(), train_tokens.size() * 4);
  t->val_hash_ = fnv1a64(val_tokens.data(), val_tokens.size() * 4);
  t->train_ = std::move(train_tokens);
  t->val_ = std::move(val_tokens);
  const size_t n = static_cast<size_t>(o.batch * o.seq);
  t->ids_.resize(n);
  t->targets_.resize(n);
  return t;
}

StepResult Trainer::step() {
  const TrainOptions& o = options_;
  const WindowSampler sampler(o.seed, static_cast<int64_t>(train_.size()), o.seq);
  TrainModel& m = *model_;
  m.zero_grad();
  double loss_sum = 0.0;
  for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
    for (int64_t b = 0; b < o.batch; ++b) {
      const int64_t start = sampler.start(windows_drawn_++);
      std::memcpy(ids_.data() + b * o.seq, train_.data() + start, o.seq * sizeof(int32_t));
      std::memcpy(targets_.data() + b * o.seq, train_.data() + start + 1, o.seq * sizeof(int32_t));
    }
    loss_sum += m.forward(ids_.data(), targets_.data());
    m.backward(1.0f / static_cast<float>(o.grad_accum));
  }
  StepResult r;
  r.step = step_;
  r.lr = o.lr.at(step_);
  r.grad_norm = opt_.step(m.params(), m.grads(), m.layout(), r.lr, m.pool());
  r.loss = static_cast<float>(loss_sum / static_cast<double>(o.grad_accum));
  ++step_;
  return r;
}

float Trainer::evaluate() {
  const TrainOptions& o = options_;
  TrainModel& m = *model_;
  const int64_t available = (static_cast<int64_t>(val_.size()) - 1) / o.seq;
  const int64_t count = std::max<int64_t>(1, std::min(o.eval_windows, available));
  double sum = 0.0;
  for (int64_t w0 = 0; w0 < count; w0 += o.batch) {
    for (int64_t b = 0; b < o.batch; ++b) {
      // Slots past the last window repeat window 0 and are not counted.
      const int64_t w = w0 + b < count ? w0 + b : 0;
      std::memcpy(ids_.data() + b * o.seq, val_.data() + w * o.seq, o.seq * sizeof(int32_t));
      std::memcpy(targets_.data() + b * o.seq, val_.data() + w * o.seq + 1, o.seq * sizeof(int32_t));
    }
    m.forward(ids_.data(), targets_.data());
    const float* losses = m.token_losses();
    const int64_t used = std::min(o.batch, count - w0);
    for (int64_t i = 0; i < used * o.seq; ++i) sum += losses[i];
  }
  return static_cast<float>(sum / static_cast<double>(count * o.seq));
}

Status Trainer::save_checkpoint(const std::string& path, const std::string& config_json) const {
  const uint64_t n = static_cast<uint64_t>(model_->n_params());
  std::vector<uint8_t> out;
  out.reserve(kCkptFixed + config_json.size() + 12 * n + 8);
  out.insert(out.end(), kCkptMagic, kCkptMagic + 8);
  put<uint32_t>(out, kCkptVersion);
  put<uint32_t>(out, 0);
  put<uint64_t>(out, static_cast<uint64_t>(step_));
  put<uint64_t>(out, windows_drawn_);
  put<uint64_t>(out, train_hash_);
  put<uint64_t>(out, val_hash_);
  put<uint64_t>(out, n);
  put<uint64_t>(out, config_json.size());
  out.insert(out.end(), config_json.begin(), config_json.end());
  AdamW& opt = const_cast<AdamW&>(opt_);
  for (const float* arr : {static_cast<const float*>(model_->params()), static_cast<const float*>(opt.m()),
                           static_cast<const float*>(opt.v())}) {
    const auto* p = reinterpret_cast<const uint8_t*>(arr);
    out.insert(out.end(), p, p + n * 4);
  }
  put<uint64_t>(out, fnv1a64(out.data(), out.size()));
  return write_file_atomic(path, out);
}

Result<std::string> Trainer::read_checkpoint_config(const std::string& path) {
  EF_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_all(path));
  EF_ASSIGN_OR_RETURN(CkptView v, parse_checkpoint(bytes, path));
  return v.config;
}

Status Trainer::load_checkpoint(const std::string& path) {
  EF_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_all(path));
  EF_ASSIGN_OR_RETURN(CkptView v, parse_checkpoint(bytes, path));
  const int64_t n = model_->n_params();
  if (v.n_params != static_cast<uint64_t>(n)) {
    return make_error(Errc::invalid_argument,
                      "checkpoint has " + std::to_string(v.n_params) + " parameters, the model " +
                          std::to_string(n),
                      path, "resume with the options the checkpoint was made with");
  }
  if (v.train_hash != train_hash_ || v.val_hash != val_hash_) {
    return make_error(Errc::invalid_argument, "the training data differs from the checkpoint's",
                      path, "resume with the same corpus, vocabulary and split");
  }
  if (v.step > static_cast<uint64_t>(options_.steps)) {
    return make_error(Errc::invalid_argument, "checkpoint step is past the run's last step", path);
  }
  std::memcpy(model_->params(), v.params, static_cast<size_t>(n) * 4);
  std::memcpy(opt_.m(), v.m, static_cast<size_t>(n) * 4);
  std::memcpy(opt_.v(), v.v, static_cast<size_t>(n) * 4);
  opt_.set_t(static_cast<int64_t>(v.step));
  step_ = static_cast<int64_t>(v.step);
  windows_drawn_ = v.windows;
  return Status::success();
}

}  // namespace ef::train
