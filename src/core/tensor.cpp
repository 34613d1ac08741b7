#include "core/tensor.h"

namespace ef {

Tensor make_tensor(std::string name, DType type, int n_dims, const int64_t* ne, void* data) {
  Tensor t;
  t.name = std::move(name);
  t.type = type;
  t.n_dims = n_dims;
  for (int i = 0; i < kMaxDims; ++i) t.ne[i] = i < n_dims ? ne[i] : 1;
  const auto& tr = traits(type);
  t.nb[0] = tr.block_bytes;
  t.nb[1] = tr.block_bytes * static_cast<size_t>(t.ne[0] / tr.block_size);
  for (int i = 2; i < kMaxDims; ++i) t.nb[i] = t.nb[i - 1] * static_cast<size_t>(t.ne[i - 1]);
  t.data = data;
  return t;
}

}  // namespace ef
