// Binding one weight tensor of a model file: the GGUF tensor `name` must
// exist with exactly the expected shape and a supported type; norms must be
// F32, matrices valid matmul weights (per 2-D slice: ne[0] a whole number of
// blocks). Errors name the tensor, the shapes and the file; `arch` ("llama",
// "deepseek2") goes into the hint.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "edgeformer/error.h"
#include "io/gguf.h"

namespace ef {

enum class TensorKind { norm, matrix };

Result<Tensor> bind_tensor(const gguf::File& file, const char* arch, const std::string& name,
                           TensorKind kind, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1);

// A layer's dense SwiGLU FFN: `prefix` + ffn_norm [n_embd], ffn_gate and
// ffn_up [n_ff][n_embd], ffn_down [n_embd][n_ff], into the layer's members
// of the same names.
template <class Layer>
Status bind_ffn(const gguf::File& file, const char* arch, const std::string& prefix, int64_t n_embd,
                int64_t n_ff, Layer& l) {
  EF_ASSIGN_OR_RETURN(
      l.ffn_norm, bind_tensor(file, arch, prefix + "ffn_norm.weight", TensorKind::norm, n_embd));
  EF_ASSIGN_OR_RETURN(l.ffn_gate, bind_tensor(file, arch, prefix + "ffn_gate.weight",
                                              TensorKind::matrix, n_embd, n_ff));
  EF_ASSIGN_OR_RETURN(l.ffn_up, bind_tensor(file, arch, prefix + "ffn_up.weight",
                                            TensorKind::matrix, n_embd, n_ff));
  EF_ASSIGN_OR_RETURN(l.ffn_down, bind_tensor(file, arch, prefix + "ffn_down.weight",
                                              TensorKind::matrix, n_ff, n_embd));
  return Status::success();
}

}  // namespace ef
