// Token embedding lookup and its gradient (scatter-add into the used rows).
#include <cstring>

#include "train/ops.h"

namespace ef::train {

void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t n, int64_t C) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * C, wte + static_cast<int64_t>(ids[i]) * C,
                static_cast<size_t>(C) * sizeof(float));
  }
}

// Serial on purpose: repeated ids add into the same row, and token order
// fixes the summation order (cheap: n * C adds).
void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t n, int64_t C) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = dwte + static_cast<int64_t>(ids[i]) * C;
    const float* g = dout + i * C;
    for (int64_t c = 0; c < C; ++c) row[c] += g[c];
  }
}

}  // namespace ef::train
