// A tensor is a typed view of memory it does not own (mmap'd file, Buffer).
// Shapes follow ggml: ne[0] is the innermost (contiguous) dimension, so a
// weight matrix W[n_out][n_in] has ne = {n_in, n_out}; nb[i] is the byte
// stride of dimension i (nb[0] = block bytes for quantized types).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace ef {

constexpr int kMaxDims = 4;

struct Tensor {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};
  size_t nb[kMaxDims] = {0, 0, 0, 0};
  void* data = nullptr;
  // Optional copy of the rows in the kernels' packed layout
  // (src/kernels/packed.h), owned by whoever made it (the model's weights).
  // kernels::matmul reads it when the table has a packed gemm for `type`,
  // else `data`; everything else (row lookups, dequantizing) reads `data`.
  const void* packed = nullptr;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_bytes() const { return nb[1]; }
  size_t size_bytes() const { return nb[1] * static_cast<size_t>(rows()); }
  template <class T>
  T* row(int64_t i) const {
    return reinterpret_cast<T*>(static_cast<char*>(data) + static_cast<size_t>(i) * nb[1]);
  }
};

// Builds a contiguous tensor view; ne0 must be a multiple of the block size
// (callers validate file-derived shapes first).
Tensor make_tensor(std::string name, DType type, int n_dims, const int64_t* ne, void* data);

}  // namespace ef
