#include "session_flags.h"

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "kernels/kernels.h"

namespace ef::cli {

void SessionFlags::add_to(CLI::App& app, const char* ctx_help) {
  app.add_option("-t,--threads", n_threads, "Threads (0 = all hardware threads)");
  if (ctx_help != nullptr) app.add_option("-c,--ctx", n_ctx, ctx_help);
  app.add_option("-u,--ubatch", n_ubatch, "Micro-batch size for prompt processing");
  app.add_option("--cache-type", cache_type, "KV cache element type: f16 or f32");
  app.add_option("--flash-attn", flash_attn,
                 "Flash attention: on (default: tiled online softmax in F32, no T x T "
                 "buffers) or off (score matrix, llama.cpp's -fa off numerics)");
  app.add_option("--isa", isa, "Kernel ISA: scalar, avx2, avx512 (default: best available)");
}

Status SessionFlags::validate_and_apply() const {
  if (n_threads < 0)
    return usage_error("--threads must be >= 0", "--threads " + std::to_string(n_threads));
  if (n_ctx < 0) return usage_error("--ctx must be >= 0", "--ctx " + std::to_string(n_ctx));
  if (n_ubatch <= 0)
    return usage_error("--ubatch must be > 0", "--ubatch " + std::to_string(n_ubatch));
  if (cache_type != "f16" && cache_type != "f32") {
    return usage_error("unknown KV cache type '" + cache_type + "'", "--cache-type",
                       "use f16 or f32");
  }
  if (flash_attn != "on" && flash_attn != "off") {
    return usage_error("unknown --flash-attn value '" + flash_attn + "'", "--flash-attn",
                       "use on or off");
  }
  if (isa.empty()) return Status::success();
  auto parsed = kernels::parse_isa(isa);
  if (!parsed.ok()) {
    std::string names;
    for (auto i : kernels::available_isas())
      names += std::string(names.empty() ? "" : ", ") + kernels::isa_name(i);
    return usage_error("unknown ISA '" + isa + "'", "--isa", "this machine supports: " + names);
  }
  Status selected = kernels::select_isa(*parsed);
  if (!selected.ok()) {
    Error e = selected.take_error();
    if (e.where.empty()) e.where = "--isa " + isa;
    return e;
  }
  return Status::success();
}

SessionOptions SessionFlags::session_options() const {
  SessionOptions o;
  o.n_ctx = n_ctx;
  o.n_ubatch = n_ubatch;
  o.n_threads = n_threads;
  o.kv_type = cache_type == "f32" ? KvType::f32 : KvType::f16;
  o.flash_attn = flash_attn == "on";
  return o;
}

}  // namespace ef::cli
