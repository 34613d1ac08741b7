// Flags shared by the subcommands that run a model (generate, perplexity,
// bench): threads, context, micro-batch, KV cache type and kernel ISA.
#pragma once

#include <cstdint>
#include <string>

#include "edgeformer/error.h"
#include "edgeformer/session.h"

namespace CLI {
class App;
}

namespace ef::cli {

struct SessionFlags {
  int n_threads = 0;  // 0 = all hardware threads
  int64_t n_ctx = 0;  // 0 = model's training context (capped by the session)
  int64_t n_ubatch = 512;
  std::string cache_type = "f16";  // K and V (llama.cpp has only -ctk / -ctv)
  std::string cache_type_k;        // "" = cache_type
  std::string cache_type_v;        // "" = cache_type
  bool kv_hadamard = false;
  std::string isa;         // "" = automatic
  // on by default: not slower than the score-matrix path anywhere measured
  // (faster at prefill and at depth, see bench/README.md); "off" reproduces
  // llama.cpp's -fa off numerics (the llama.cpp comparison uses it).
  std::string flash_attn = "on";  // on | off (llama.cpp's -fa)
  std::string mem_budget;  // "" = none; e.g. 512M, 2G, 1.5GiB, 1000000

  // Registers -t/--threads, -c/--ctx, -u/--ubatch, --cache-type,
  // --cache-type-k, --cache-type-v, --kv-hadamard, --flash-attn, --isa,
  // --mem-budget.
  // `ctx_help` documents the default of --ctx; nullptr: no --ctx flag.
  void add_to(CLI::App& app, const char* ctx_help);
  // Range checks (usage errors), then selects the ISA.
  Status validate_and_apply() const;
  // Valid only after validate_and_apply() succeeded.
  SessionOptions session_options() const;
  // "q8_0" or "k q8_0 / v f16", plus " + hadamard" (summary lines).
  std::string cache_description() const;
};

}  // namespace ef::cli
