#include "session_flags.h"

#include <CLI/CLI.hpp>
#include <utility>

#include "cli_common.h"
#include "kernels/kernels.h"

namespace ef::cli {

void SessionFlags::add_to(CLI::App& app, const char* ctx_help) {
  app.add_option("-t,--threads", n_threads, "Threads (0 = all hardware threads)");
  if (ctx_help != nullptr) app.add_option("-c,--ctx", n_ctx, ctx_help);
  app.add_option("-u,--ubatch", n_ubatch, "Micro-batch size for prompt processing");
  app.add_option("--cache-type", cache_type,
                 "KV cache element type for K and V: f16 (default), f32, bf16, q8_0, q4_0");
  app.add_option("--cache-type-k", cache_type_k, "K cache type (overrides --cache-type)");
  app.add_option("--cache-type-v", cache_type_v,
                 "V cache type (overrides --cache-type); bf16/q8_0/q4_0 need flash attention");
  app.add_flag("--kv-hadamard", kv_hadamard,
               "Store K and V rotated per head by a Walsh-Hadamard transform (helps q8_0/q4_0)");
  app.add_option("--flash-attn", flash_attn,
                 "Flash attention: on (default: tiled online softmax in F32, no T x T "
                 "buffers) or off (score matrix, llama.cpp's -fa off numerics)");
  app.add_option("--mem-budget", mem_budget,
                 "Memory budget for weights + KV + scratch (e.g. 512M, 2G): smaller micro-batches, "
                 "then KV offload to disk ($TMPDIR), else an error saying what fits");
  app.add_option("--isa", isa, "Kernel ISA: scalar, avx2, avx512 (default: best available)");
}

Status SessionFlags::validate_and_apply() const {
  if (n_threads < 0)
    return usage_error("--threads must be >= 0", "--threads " + std::to_string(n_threads));
  if (n_ctx < 0) return usage_error("--ctx must be >= 0", "--ctx " + std::to_string(n_ctx));
  if (n_ubatch <= 0)
    return usage_error("--ubatch must be > 0", "--ubatch " + std::to_string(n_ubatch));
  for (auto [flag, value] : {std::pair{"--cache-type", &cache_type},
                              std::pair{"--cache-type-k", &cache_type_k},
                              std::pair{"--cache-type-v", &cache_type_v}}) {
    if (value->empty() && std::string(flag) != "--cache-type") continue;
    if (!kv_type_from_name(*value)) {
      return usage_error("unknown KV cache type '" + *value + "'", flag,
                         std::string("valid types: ") + kv_type_names());
    }
  }
  if (flash_attn != "on" && flash_attn != "off") {
    return usage_error("unknown --flash-attn value '" + flash_attn + "'", "--flash-attn",
                       "use on or off");
  }
  const KvType tv = *kv_type_from_name(cache_type_v.empty() ? cache_type : cache_type_v);
  if (flash_attn == "off" && tv != KvType::f16 && tv != KvType::f32) {
    return usage_error(std::string("a ") + kv_type_name(tv) +
                           " V cache needs flash attention (V is stored transposed without it)",
                       "--flash-attn off", "use --flash-attn on, or an f16/f32 V cache");
  }
  if (!mem_budget.empty()) {
    auto b = parse_byte_size(mem_budget);
    if (!b.ok()) return usage_error(b.error().what, "--mem-budget", b.error().hint);
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
  o.kv_type = kv_type_from_name(cache_type).value_or(KvType::f16);
  o.type_k = cache_type_k.empty() ? o.kv_type : kv_type_from_name(cache_type_k).value_or(o.kv_type);
  o.type_v = cache_type_v.empty() ? o.kv_type : kv_type_from_name(cache_type_v).value_or(o.kv_type);
  o.kv_hadamard = kv_hadamard;
  o.flash_attn = flash_attn == "on";
  if (!mem_budget.empty()) {
    auto b = parse_byte_size(mem_budget);
    o.mem_budget = b.ok() ? *b : 0;  // validate_and_apply() rejected bad values
  }
  return o;
}

std::string SessionFlags::cache_description() const {
  const SessionOptions o = session_options();
  std::string s = *o.type_k == *o.type_v ? std::string(kv_type_name(*o.type_k))
                                         : std::string("k ") + kv_type_name(*o.type_k) + " / v " +
                                               kv_type_name(*o.type_v);
  if (o.kv_hadamard) s += " + hadamard";
  return s;
}

}  // namespace ef::cli
