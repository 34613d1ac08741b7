// RunConfig <-> JSON (nlohmann-json; its exceptions stay inside this file).
#include <nlohmann/json.hpp>
#include <set>

#include "train/train_run.h"

namespace ef::train {
namespace {

using nlohmann::json;

// One list of every key, so parsing and printing cannot drift apart.
#define EF_RUN_CONFIG_FIELDS(X)                                                           \
  X(arch) X(n_embd) X(n_layer) X(n_head) X(n_head_kv) X(n_ff) X(n_ctx) X(rope_base) X(rms_eps)     \
  X(tied) X(sliding_window) X(swa_pattern) X(rope_dim)   \
  X(kv_lora_rank) X(q_lora_rank) X(nope_dim) X(v_dim) X(vocab) X(data) X(val) X(val_fraction) X(save_tokens) X(steps) X(batch) X(seq) \
  X(grad_accum) X(lr) X(min_lr) X(warmup) X(weight_decay) X(beta1) X(beta2) X(adam_eps)   \
  X(clip) X(seed) X(init) X(threads) X(eval_interval) X(eval_windows)                     \
  X(checkpoint_interval) X(log_interval) X(stop_at) X(max_memory_mb) X(output) X(checkpoint)

const std::set<std::string> kRuntimeKeys = {
    "threads", "eval_interval", "eval_windows", "checkpoint_interval", "log_interval",
    "stop_at", "max_memory_mb", "output", "checkpoint"};

}  // namespace

bool is_runtime_key(const std::string& key) { return kRuntimeKeys.count(key) != 0; }

Result<RunConfig> run_config_from_json(const std::string& json_text, RunConfig base) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const std::exception& e) {
    return make_error(Errc::format, std::string("config is not valid JSON: ") + e.what(),
                      "config");
  }
  if (!j.is_object()) return make_error(Errc::format, "config must be a JSON object", "config");
  static const std::set<std::string> known = {
#define EF_NAME(f) #f,
      EF_RUN_CONFIG_FIELDS(EF_NAME)
#undef EF_NAME
  };
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (known.count(key) == 0) {
      return make_error(Errc::invalid_argument, "unknown config key '" + key + "'", "config",
                        "see `edgeformer train --help` for the keys (flag names with _)");
    }
  }
  RunConfig c = base;
  std::string current;
  try {
#define EF_READ(f)                                       \
  current = #f;                                          \
  if (j.contains(#f)) j.at(#f).get_to(c.f);
    EF_RUN_CONFIG_FIELDS(EF_READ)
#undef EF_READ
  } catch (const std::exception& e) {
    return make_error(Errc::invalid_argument,
                      "config key '" + current + "' has the wrong type: " + e.what(), current);
  }
  return c;
}

std::string run_config_to_json(const RunConfig& c) {
  json j;
#define EF_WRITE(f) j[#f] = c.f;
  EF_RUN_CONFIG_FIELDS(EF_WRITE)
#undef EF_WRITE
  return j.dump(1);
}

}  // namespace ef::train
