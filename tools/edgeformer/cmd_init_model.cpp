// `edgeformer init-model`: writes a llama GGUF with seeded random weights
// (write_tiny_llama). A preset fills the hyper-parameters; any flag given
// explicitly overrides the preset. The result is untrained: it runs through
// every code path but its text is gibberish.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli_common.h"
#include "core/dtype.h"
#include "model/tiny_deepseek2.h"
#include "model/tiny_model.h"

namespace ef::cli {
namespace {

struct InitOptions {
  std::string output;
  std::string preset = "tiny";
  std::string type = "f32";
  TinyModelSpec spec;
  // Options whose explicit use overrides the preset.
  CLI::Option* n_embd = nullptr;
  CLI::Option* n_layer = nullptr;
  CLI::Option* n_head = nullptr;
  CLI::Option* n_head_kv = nullptr;
  CLI::Option* n_ff = nullptr;
  CLI::Option* n_ctx = nullptr;
  CLI::Option* rope_base = nullptr;
  CLI::Option* tied = nullptr;
  bool tied_flag = false;
  // --arch deepseek2 (MLA): latent/head sizes; other shape flags are shared.
  std::string arch = "llama";
  TinyDeepseek2Spec mla;
};

// deepseek2 (Multi-head Latent Attention) model with the shared shape flags.
Status write_deepseek2(const InitOptions& o, const TinyModelSpec& spec) {
  TinyDeepseek2Spec d = o.mla;
  d.n_embd = spec.n_embd;
  d.n_layer = spec.n_layer;
  d.n_head = spec.n_head;
  d.n_ff = spec.n_ff;
  d.n_ctx = spec.n_ctx;
  d.rope_freq_base = spec.rope_freq_base;
  d.weight_type = spec.weight_type;
  d.seed = spec.seed;
  d.tied_output = spec.tied_output;
  d.vocab_path = spec.vocab_path;
  d.n_vocab_synthetic = spec.n_vocab_synthetic;
  EF_TRY(write_tiny_deepseek2(o.output, d));
  std::printf("wrote %s: deepseek2 (MLA), n_embd %lld, n_layer %lld, n_head %lld, n_ff %lld, "
              "q_lora_rank %lld, kv_lora_rank %lld, nope/rope/v dims %lld/%lld/%lld, %s, %s "
              "weights, seed %llu\n",
              o.output.c_str(), static_cast<long long>(d.n_embd),
              static_cast<long long>(d.n_layer), static_cast<long long>(d.n_head),
              static_cast<long long>(d.n_ff), static_cast<long long>(d.q_lora_rank),
              static_cast<long long>(d.kv_lora_rank), static_cast<long long>(d.nope_dim),
              static_cast<long long>(d.rope_dim), static_cast<long long>(d.v_dim),
              d.legacy_kv_b ? "legacy attn_kv_b" : "attn_k_b/attn_v_b", dtype_name(d.weight_type),
              static_cast<unsigned long long>(d.seed));
  std::printf("note: the weights are random (untrained); generated text will be gibberish\n");
  return Status::success();
}

// Hyper-parameters of a preset (vocabulary and weight type come from flags).
Result<TinyModelSpec> preset_spec(const std::string& name) {
  TinyModelSpec s;
  if (name == "tiny") return s;  // TinyModelSpec's defaults
  if (name == "smollm2-135m") {
    // HuggingFaceTB/SmolLM2-135M's shape: 30 layers, GQA 9/3 heads of 64,
    // tied embeddings, rope theta 100000.
    s.n_embd = 576;
    s.n_layer = 30;
    s.n_head = 9;
    s.n_head_kv = 3;
    s.n_ff = 1536;
    s.n_ctx = 8192;
    s.rope_freq_base = 100000.0f;
    s.tied_output = true;
    return s;
  }
  return usage_error("unknown preset '" + name + "'", "--preset", "use tiny or smollm2-135m");
}

Status run_init_model(InitOptions& o) {
  EF_ASSIGN_OR_RETURN(TinyModelSpec spec, preset_spec(o.preset));
  // Explicit flags win over the preset.
  if (o.n_embd->count()) spec.n_embd = o.spec.n_embd;
  if (o.n_layer->count()) spec.n_layer = o.spec.n_layer;
  if (o.n_head->count()) spec.n_head = o.spec.n_head;
  if (o.n_head_kv->count()) spec.n_head_kv = o.spec.n_head_kv;
  if (o.n_ff->count()) spec.n_ff = o.spec.n_ff;
  if (o.n_ctx->count()) spec.n_ctx = o.spec.n_ctx;
  if (o.rope_base->count()) spec.rope_freq_base = o.spec.rope_freq_base;
  if (o.tied->count()) spec.tied_output = true;
  spec.seed = o.spec.seed;
  spec.vocab_path = o.spec.vocab_path;
  spec.n_vocab_synthetic = o.spec.n_vocab_synthetic;

  const auto type = dtype_from_name(o.type);
  if (!type) {
    return usage_error("unknown weight type '" + o.type + "'", "--type",
                       "use f32, f16, bf16, q8_0 or q4_0");
  }
  spec.weight_type = *type;
  for (auto [v, name] : {std::pair{spec.n_embd, "--n-embd"},
                         {spec.n_layer, "--n-layer"},
                         {spec.n_head, "--n-head"},
                         {spec.n_head_kv, "--n-head-kv"},
                         {spec.n_ff, "--n-ff"},
                         {spec.n_ctx, "--ctx"}}) {
    if (v <= 0)
      return usage_error(std::string(name) + " must be > 0, got " + std::to_string(v), name);
  }
  if (spec.n_head_kv > spec.n_head || spec.n_head % spec.n_head_kv != 0) {
    return usage_error("--n-head must be a multiple of --n-head-kv",
                       std::to_string(spec.n_head) + " / " + std::to_string(spec.n_head_kv));
  }
  if (spec.n_embd % spec.n_head != 0) {
    return usage_error("--n-embd must be a multiple of --n-head",
                       std::to_string(spec.n_embd) + " / " + std::to_string(spec.n_head));
  }
  if (!spec.vocab_path.empty() && !std::filesystem::exists(spec.vocab_path)) {
    return make_error(Errc::io, "vocabulary file not found", spec.vocab_path);
  }

  if (o.arch == "deepseek2") return write_deepseek2(o, spec);
  if (o.arch != "llama") {
    return usage_error("unknown architecture '" + o.arch + "'", "--arch", "use llama or deepseek2");
  }
  EF_TRY(write_tiny_llama(o.output, spec));
  std::error_code ec;
  const auto size = std::filesystem::file_size(o.output, ec);
  std::printf(
      "wrote %s (%s): llama, n_embd %lld, n_layer %lld, n_head %lld/%lld kv, n_ff %lld, "
      "ctx %lld, %s weights%s, vocab %s, seed %llu\n",
      o.output.c_str(), ec ? "?" : format_bytes(size).c_str(), static_cast<long long>(spec.n_embd),
      static_cast<long long>(spec.n_layer), static_cast<long long>(spec.n_head),
      static_cast<long long>(spec.n_head_kv), static_cast<long long>(spec.n_ff),
      static_cast<long long>(spec.n_ctx), dtype_name(spec.weight_type),
      spec.tied_output ? " (tied output)" : "",
      spec.vocab_path.empty() ? ("synthetic " + std::to_string(spec.n_vocab_synthetic)).c_str()
                              : spec.vocab_path.c_str(),
      static_cast<unsigned long long>(spec.seed));
  std::printf("note: the weights are random (untrained); generated text will be gibberish\n");
  return Status::success();
}

}  // namespace

void add_init_model_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* sub = app.add_subcommand("init-model", "Write a llama GGUF with random weights");
  sub->add_option("-o,--output", o->output, "Output GGUF path")->required();
  sub->add_option("--preset", o->preset, "Hyper-parameters: tiny | smollm2-135m")
      ->capture_default_str();
  o->n_embd = sub->add_option("--n-embd", o->spec.n_embd, "Embedding width");
  o->n_layer = sub->add_option("--n-layer", o->spec.n_layer, "Transformer blocks");
  o->n_head = sub->add_option("--n-head", o->spec.n_head, "Attention heads");
  o->n_head_kv = sub->add_option("--n-head-kv", o->spec.n_head_kv, "Key/value heads (GQA)");
  o->n_ff = sub->add_option("--n-ff", o->spec.n_ff, "Feed-forward width");
  o->n_ctx = sub->add_option("--ctx", o->spec.n_ctx, "Training context (llama.context_length)");
  o->rope_base = sub->add_option("--rope-freq-base", o->spec.rope_freq_base, "RoPE base");
  sub->add_option("--type", o->type, "Weight type: f32 | f16 | bf16 | q8_0 | q4_0")
      ->capture_default_str();
  sub->add_option("--seed", o->spec.seed, "Random seed")->capture_default_str();
  sub->add_option("--vocab", o->spec.vocab_path,
                  "GGUF to copy the tokenizer from (default: a synthetic SentencePiece vocab)");
  sub->add_option("--n-vocab", o->spec.n_vocab_synthetic, "Size of the synthetic vocab")
      ->capture_default_str();
  sub->add_option("--arch", o->arch, "Architecture: llama | deepseek2 (MLA)")->capture_default_str();
  sub->add_option("--q-lora-rank", o->mla.q_lora_rank, "deepseek2: query rank (0 = plain attn_q)")
      ->capture_default_str();
  sub->add_option("--kv-lora-rank", o->mla.kv_lora_rank, "deepseek2: latent width")
      ->capture_default_str();
  sub->add_option("--nope-dim", o->mla.nope_dim, "deepseek2: non-RoPE query/key head dims")
      ->capture_default_str();
  sub->add_option("--rope-dim", o->mla.rope_dim, "deepseek2: decoupled RoPE dims")
      ->capture_default_str();
  sub->add_option("--v-dim", o->mla.v_dim, "deepseek2: value head dims")->capture_default_str();
  sub->add_flag("--legacy-kv-b", o->mla.legacy_kv_b,
                "deepseek2: one attn_kv_b tensor (old llama.cpp layout)");
  o->tied = sub->add_flag("--tied", o->tied_flag, "Tie the output projection to token_embd");
  commands.push_back({sub, [o]() { return run_init_model(*o); }});
}

}  // namespace ef::cli
