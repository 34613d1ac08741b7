// `edgeformer info MODEL`: what a GGUF file holds and what running it costs.
//
// Reads the file with the validating GGUF reader, then shows the llama
// hyper-parameters, the tokenizer, every metadata key (long arrays
// summarised), every tensor and the estimated memory of a session at --ctx:
// weights (mapped) + KV cache (F16) + scratch, measured by creating the
// session when the model loads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli_common.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"
#include "gguf_format.h"
#include "plan_table.h"
#include "io/gguf.h"

namespace ef::cli {
namespace {

struct InfoOptions {
  std::string model;
  int64_t n_ctx = 0;
  int64_t n_ubatch = 512;
  std::string mem_budget;
  bool all_metadata = false;
};

void print_config(const ModelConfig& c) {
  std::printf("architecture:     %s\n", c.architecture.c_str());
  std::printf("  n_vocab         %lld\n", static_cast<long long>(c.n_vocab));
  std::printf("  n_ctx_train     %lld\n", static_cast<long long>(c.n_ctx_train));
  std::printf("  n_embd          %lld\n", static_cast<long long>(c.n_embd));
  std::printf("  n_layer         %lld\n", static_cast<long long>(c.n_layer));
  std::printf("  n_head          %lld\n", static_cast<long long>(c.n_head));
  std::printf("  n_head_kv       %lld\n", static_cast<long long>(c.n_head_kv));
  std::printf("  head_dim        %lld\n", static_cast<long long>(c.head_dim));
  std::printf("  n_rot           %lld\n", static_cast<long long>(c.n_rot));
  std::printf("  n_ff            %lld\n", static_cast<long long>(c.n_ff));
  std::printf("  rms_eps         %g\n", static_cast<double>(c.rms_eps));
  std::printf("  rope_freq_base  %g\n", static_cast<double>(c.rope_freq_base));
  std::printf("  tied_output     %s\n", c.tied_output ? "yes (output reuses token_embd)" : "no");
}

void print_tokenizer(const gguf::File& file) {
  auto tok = Tokenizer::from_gguf(file);
  if (!tok.ok()) {
    std::printf("tokenizer:        unavailable: %s\n", tok.error().message().c_str());
    return;
  }
  const Tokenizer& t = **tok;
  auto model = file.get_string("tokenizer.ggml.model");
  std::printf("tokenizer:        %s, %d tokens\n", model.ok() ? model->c_str() : "?", t.n_vocab());
  auto show = [&t](const char* label, int32_t id) {
    if (id < 0) {
      std::printf("  %-15s none\n", label);
    } else {
      std::printf("  %-15s %d \"%s\"\n", label, id, printable(t.token_text(id)).c_str());
    }
  };
  show("bos", t.bos_id());
  show("eos", t.eos_id());
  std::printf("  add_bos         %s\n", t.add_bos_default() ? "true" : "false");
}

void print_metadata(const gguf::File& file, bool all) {
  std::printf("\nmetadata: %zu keys (GGUF v%u, alignment %llu)\n", file.metadata().size(),
              file.version(), static_cast<unsigned long long>(file.alignment()));
  size_t key_width = 3;
  for (const auto& kv : file.metadata()) key_width = std::max(key_width, kv.key.size());
  std::printf("  %-*s  %-8s  %s\n", static_cast<int>(key_width), "key", "type", "value");
  for (const auto& kv : file.metadata()) {
    std::printf("  %-*s  %-8s  %s\n", static_cast<int>(key_width), kv.key.c_str(),
                format_value_type(kv.value).c_str(),
                gguf::format_value(kv.value, all ? 16 : 4).c_str());
  }
}

void print_tensors(const gguf::File& file, uint64_t* total_bytes, uint64_t* total_params) {
  std::printf("\ntensors: %zu\n", file.tensors().size());
  size_t name_width = 4;
  for (const auto& t : file.tensors()) name_width = std::max(name_width, t.name.size());
  std::printf("  %-*s  %-6s  %-16s  %12s\n", static_cast<int>(name_width), "name", "type", "shape",
              "bytes");
  *total_bytes = 0;
  *total_params = 0;
  for (const auto& t : file.tensors()) {
    uint64_t n = 1;
    for (int d = 0; d < t.n_dims; ++d) n *= static_cast<uint64_t>(t.ne[d]);
    *total_params += n;
    *total_bytes += t.size_bytes;
    std::printf("  %-*s  %-6s  %-16s  %12llu\n", static_cast<int>(name_width), t.name.c_str(),
                ggml_type_name(t.ggml_type), format_shape(t).c_str(),
                static_cast<unsigned long long>(t.size_bytes));
  }
}

// KV cache of a llama model: K and V, n_layer x n_ctx x (n_head_kv*head_dim).
uint64_t kv_cache_f16_bytes(const ModelConfig& c, int64_t n_ctx) {
  return 2ull * static_cast<uint64_t>(c.n_layer) * static_cast<uint64_t>(n_ctx) *
         static_cast<uint64_t>(c.n_head_kv * c.head_dim) * 2ull;
}

Status run_info(const InfoOptions& o) {
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(o.model));
  std::printf("file:             %s (%s)\n", o.model.c_str(),
              format_bytes(file->file_size()).c_str());
  auto config = ModelConfig::from_gguf(*file);
  if (config.ok()) {
    print_config(*config);
  } else {
    std::printf("architecture:     not loadable: %s\n", config.error().message().c_str());
  }
  print_tokenizer(*file);
  print_metadata(*file, o.all_metadata);
  uint64_t total_bytes = 0, total_params = 0;
  print_tensors(*file, &total_bytes, &total_params);
  std::printf("\ntotals: %s params (%llu), %s of tensor data (%llu bytes)\n",
              format_params(total_params).c_str(), static_cast<unsigned long long>(total_params),
              format_bytes(total_bytes).c_str(), static_cast<unsigned long long>(total_bytes));
  if (!config.ok()) return Status::success();

  // Memory estimate: create the session for real so the numbers are the
  // engine's own; fall back to the KV formula if the model does not load.
  const ModelConfig& c = *config;
  int64_t n_ctx =
      o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(c.n_ctx_train > 0 ? c.n_ctx_train : 4096, 4096);
  file.reset();  // the model maps the file itself
  auto model = Model::load(o.model);
  if (!model.ok()) {
    std::printf(
        "\nmemory at ctx %lld: weights %s + KV cache (F16) %s + scratch ? "
        "(model does not load: %s)\n",
        static_cast<long long>(n_ctx), format_bytes(total_bytes).c_str(),
        format_bytes(kv_cache_f16_bytes(c, n_ctx)).c_str(), model.error().message().c_str());
    return Status::success();
  }
  SessionOptions so;
  so.n_ctx = n_ctx;
  so.n_ubatch = o.n_ubatch;
  so.n_threads = 1;
  so.kv_type = KvType::f16;
  if (!o.mem_budget.empty()) {
    EF_ASSIGN_OR_RETURN(so.mem_budget, parse_byte_size(o.mem_budget));
  }
  // The planner's numbers are the allocations Session::create makes
  // (runtime/memory_plan.cpp; tested against Buffer's accounting).
  EF_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(**model, so));
  std::printf(
      "\nmemory at ctx %lld, ubatch %lld: weights %s (mapped) + KV cache F16 %s + scratch "
      "%s = %s\n",
      static_cast<long long>(plan.n_ctx), static_cast<long long>(plan.n_ubatch),
      format_bytes(plan.weights).c_str(), format_bytes(plan.kv_resident).c_str(),
      format_bytes(plan.scratch).c_str(),
      format_bytes(plan.weights + plan.kv_resident + plan.scratch).c_str());
  std::printf("%s", format_memory_plan(plan).c_str());
  if (c.architecture != "deepseek2") {
    // K + V rows of every layer in each type (--cache-type, --cache-type-k/-v).
    const int64_t kv_dim = c.n_head_kv * c.head_dim;
    std::printf("KV cache bytes per token:");
    const char* sep = " ";
    for (KvType t : {KvType::f16, KvType::f32, KvType::bf16, KvType::q8_0, KvType::q4_0}) {
      const uint64_t row = kv_row_bytes(t, c.head_dim) != 0 ? kv_row_bytes(t, kv_dim) : 0;
      if (row == 0) {
        std::printf("%s%s n/a (head_dim %lld not a multiple of 32)", sep, kv_type_name(t),
                    static_cast<long long>(c.head_dim));
      } else {
        std::printf("%s%s %llu", sep, kv_type_name(t),
                    static_cast<unsigned long long>(2 * row * static_cast<uint64_t>(c.n_layer)));
      }
      sep = ", ";
    }
    std::printf("\n");
  }
  return Status::success();
}

}  // namespace

void add_info_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info",
                                     "Show a GGUF model's hyper-parameters, tokenizer, "
                                     "metadata, tensors and memory estimate");
  sub->add_option("model", o->model, "GGUF model file")->required();
  sub->add_option("-c,--ctx", o->n_ctx,
                  "Context length for the memory estimate "
                  "(default: training context, at most 4096)");
  sub->add_option("-u,--ubatch", o->n_ubatch, "Micro-batch size for the scratch estimate");
  sub->add_option("--mem-budget", o->mem_budget,
                  "Plan within this memory budget (e.g. 512M): micro-batch, KV offload");
  sub->add_flag("--all", o->all_metadata, "Show more elements of long arrays");
  commands.push_back({sub, [o]() -> Status {
                        if (o->n_ctx < 0) return usage_error("--ctx must be >= 0", "--ctx");
                        if (o->n_ubatch <= 0)
                          return usage_error("--ubatch must be > 0", "--ubatch");
                        if (!o->mem_budget.empty()) {
                          auto b = parse_byte_size(o->mem_budget);
                          if (!b.ok())
                            return usage_error(b.error().what, "--mem-budget", b.error().hint);
                        }
                        return run_info(*o);
                      }});
}

}  // namespace ef::cli
