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
  std::string cache_type = "f16";
  std::string isa;         // "" = automatic
  // on by default: not slower than the score-matrix path anywhere measured
  // (faster at prefill and at depth, see bench/README.md); "off" reproduces
  // llama.cpp's -fa off numerics (the llama.cpp comparison uses it).
  std::string flash_attn = "on";  // on | off (llama.cpp's -fa)

  // Registers -t/--threads, -c/--ctx, -u/--ubatch, --cache-type, --flash-attn, --isa.
  // `ctx_help` documents the default of --ctx; nullptr: no --ctx flag.
  void add_to(CLI::App& app, const char* ctx_help);
  // Range checks (usage errors), then selects the ISA.
  Status validate_and_apply() const;
  SessionOptions session_options() const;
};

}  // namespace ef::cli
