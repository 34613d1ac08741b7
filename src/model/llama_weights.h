// The tensors of a llama model, bound by name from a GGUF file as zero-copy
// views into its mapping. Shapes use ggml order (ne[0] innermost): a weight
// W with n_out rows of n_in inputs has ne = {n_in, n_out}.
#pragma once

#include <vector>

#include "core/memory.h"
#include "core/tensor.h"
#include "edgeformer/error.h"
#include "edgeformer/model.h"
#include "model/weight_pack.h"

namespace ef {

struct LlamaLayer {
  Tensor attn_norm;    // {n_embd} F32
  Tensor attn_q;       // {n_embd, n_head * head_dim}
  Tensor attn_k;       // {n_embd, n_head_kv * head_dim}
  Tensor attn_v;       // {n_embd, n_head_kv * head_dim}
  Tensor attn_output;  // {n_head * head_dim, n_embd}
  Tensor ffn_norm;     // {n_embd} F32
  Tensor ffn_gate;     // {n_embd, n_ff}
  Tensor ffn_up;       // {n_embd, n_ff}
  Tensor ffn_down;     // {n_ff, n_embd}
};

struct LlamaWeights {
  Tensor token_embd;   // {n_embd, n_vocab}
  Tensor output_norm;  // {n_embd} F32
  Tensor output;       // {n_embd, n_vocab}; a copy of token_embd's view when tied
  std::vector<LlamaLayer> layers;
  // Packed copies of the matrices (Tensor::packed points into these) when
  // the kernel table at load had packed gemms; token_embd itself is never
  // packed (row lookups read the GGUF rows), a tied output is.
  std::vector<Buffer> packed_storage;
  PackReport pack_report;

  // Packs every matmul weight for `table` (see pack_matmul_weights).
  Status pack(const kernels::KernelTable& table, bool release_source);

  // Checks that every tensor exists with exactly the expected shape, norms
  // are F32 and matrices F32/F16/BF16/Q8_0/Q4_0; errors name the tensor and
  // the expected vs actual shape.
  static Result<LlamaWeights> bind(const gguf::File& file, const ModelConfig& config);
};

}  // namespace ef
