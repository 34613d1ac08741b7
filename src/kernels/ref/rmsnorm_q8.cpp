// The scalar RowOps::rmsnorm_q8_0: ops::rmsnorm's arithmetic (same float
// products, double sum, scale, (x * scale) * weight) fused with
// ref::quantize_row_q8_0_act(_info), 32 normed floats at a time on the
// stack instead of a float row written and read back. Compiled like
// ref/ops.cpp (no ISA flags, ISO mode: no a*b+c contraction), so the normed
// floats are bit for bit those of ops::rmsnorm; row_ops_test checks it.
#include <cmath>

#include "core/dtype.h"
#include "kernels/packed.h"
#include "kernels/ref/ref.h"
#include "kernels/row_ops.h"

namespace ef::kernels::ref {

void rmsnorm_q8_0(void* y, ActBlockInfo* info, const float* x, const float* weight, int64_t n,
                  float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  auto* blocks = static_cast<BlockQ8_0*>(y);
  float normed[kQK8_0];
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    for (int j = 0; j < kQK8_0; ++j) {
      const int64_t i = b * kQK8_0 + j;
      normed[j] = (x[i] * scale) * weight[i];
    }
    if (info != nullptr) {
      quantize_row_q8_0_act_info(normed, blocks + b, info + b, kQK8_0);
    } else {
      quantize_row_q8_0_act(normed, blocks + b, kQK8_0);
    }
  }
}

}  // namespace ef::kernels::ref
