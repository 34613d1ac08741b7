// A llama model in training form: F32 master weights and gradients in one
// flat Buffer each, activations for one (batch, seq) step, and hand-written
// forward/backward passes (src/train/ops.h).
//
// Parameter layout (the same order as the GGUF tensors of a llama model):
//   token_embd [V, C]
//   per layer: attn_norm [C], attn_q [NH*hd, C], attn_k [NKV*hd, C],
//              attn_v [NKV*hd, C], attn_output [C, NH*hd], ffn_norm [C],
//              ffn_gate [F, C], ffn_up [F, C], ffn_down [C, F]
//   output_norm [C], output [V, C] (absent when tied: token_embd is used)
// Matrices are row-major [out, in], i.e. ggml ne = {in, out}.
// deepseek2 (MLA, dense FFN) replaces attn_q/k/v per layer by
//   attn_q [NH*hk, C]  or  attn_q_a [ql, C], attn_q_a_norm [ql], attn_q_b [NH*hk, ql]
//   attn_kv_a_mqa [r + rope, C], attn_kv_a_norm [r],
//   attn_k_b ne {nope, r, NH}, attn_v_b ne {r, hv, NH}, attn_output [C, NH*hv]
// (llama.cpp's MLA layout; hk = nope + rope; forward in train_mla.cpp).
// Sliding-window layers (ModelConfig::is_swa) mask attention like the engine.
//
// Activation policy: everything the backward pass reads is KEPT from the
// forward pass (nothing recomputed), as llm.c does: per layer the residual
// input, both norm outputs and their rstd, q/k (after RoPE), v, attention
// probabilities [B, NH, T, T], attention output, residual after attention,
// gate, up and the SwiGLU output; then the final residual, the final norm
// and the logits (overwritten by probabilities, then by their gradient).
// deepseek2 layers also keep the low-rank query before/after its norm (with
// rstd), the latent before/after attn_kv_a_norm (with rstd) and the rotated
// shared k_pe; q/k are the per-head [nope | rope] keys, v/y have hv per head.
// activation_bytes() states the cost before anything is allocated.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"

namespace ef {
class ThreadPool;
namespace gguf {
class File;
}
}  // namespace ef

namespace ef::train {

struct ParamInfo {
  std::string name;       // GGUF tensor name
  std::vector<int64_t> ne;  // ggml order: {in, out} or {n}
  int64_t offset = 0;     // in floats, into params()/grads()
  int64_t count = 0;
  bool is_norm = false;   // 1-D norm weight (no weight decay)
};

// Parameter list for a config (no allocation).
std::vector<ParamInfo> param_layout(const ModelConfig& c);
// Memory needed for params + grads + activations + scratch at (B, T), and
// for the optimizer state (2 x params) — checked before allocating.
struct MemoryPlan {
  uint64_t params_bytes = 0;
  uint64_t grads_bytes = 0;
  uint64_t activation_bytes = 0;
  uint64_t scratch_bytes = 0;
  uint64_t optimizer_bytes = 0;
  uint64_t total() const {
    return params_bytes + grads_bytes + activation_bytes + scratch_bytes + optimizer_bytes;
  }
};
Result<MemoryPlan> plan_memory(const ModelConfig& c, int64_t B, int64_t T, int n_threads);

class TrainModel {
 public:
  // Validates the config (ModelConfig::validate, T <= n_ctx_train) and
  // allocates params (zero), grads and activations for batches of B x T.
  static Result<std::unique_ptr<TrainModel>> create(const ModelConfig& c, int64_t B, int64_t T,
                                                    int n_threads);
  ~TrainModel();

  // GPT-2 style initialisation from a seed: matrices ~ N(0, 0.02), the two
  // residual projections (attn_output, ffn_down) ~ N(0, 0.02 / sqrt(2 L)),
  // norm weights 1. Box-Muller over mt19937_64, identical on every platform.
  void init_random(uint64_t seed);
  // Loads weights from a llama / deepseek2 GGUF of the same shape (F32/F16/BF16/Q8_0/Q4_0
  // tensors are converted to F32).
  Status load_gguf(const gguf::File& file);
  // Writes a llama or deepseek2 GGUF (F32 tensors) loadable by Model::load; tokenizer.*
  // keys are copied from `vocab`. `extra` is called to add metadata.
  Status save_gguf(const std::string& path, const gguf::File& vocab, int64_t train_step) const;

  // Forward pass on ids/targets [B, T] (targets may be null: logits only).
  // Returns the mean cross-entropy loss (0 without targets).
  float forward(const int32_t* ids, const int32_t* targets);
  // Backward pass of the last forward (which needs targets): adds
  // d(mean loss * loss_scale)/d(params) into grads().
  void backward(float loss_scale);
  void zero_grad();

  const ModelConfig& config() const { return c_; }
  int64_t batch() const { return B_; }
  int64_t seq() const { return T_; }
  int n_threads() const;
  ThreadPool& pool();
  const float* token_losses() const;  // [B*T] per-position losses of the last forward
  int64_t n_params() const { return n_params_; }
  float* params() { return params_.as<float>(); }
  const float* params() const { return params_.as<float>(); }
  float* grads() { return grads_.as<float>(); }
  const std::vector<ParamInfo>& layout() const { return layout_; }
  const float* logits() const;  // [B*T, V] after forward without targets
  const float* param(const std::string& name) const;  // null if absent

 private:
  TrainModel() = default;
  // Attention blocks of layer l (first = its attn_norm's index in layout_):
  // forward xn1 -> y, backward dy -> dxn (zeroed first) plus weight grads.
  void llama_attention_forward(int64_t l, size_t first);
  void llama_attention_backward(int64_t l, size_t first);
  void mla_forward(int64_t l, size_t first);   // train_mla.cpp
  void mla_backward(int64_t l, size_t first);
  struct Impl;
  ModelConfig c_;
  int64_t B_ = 0, T_ = 0;
  int64_t n_params_ = 0;
  std::vector<ParamInfo> layout_;
  Buffer params_, grads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ef::train
