// Scalar oracle of the flash-attention tile (see FlashTileArgs in
// kernels/attention.h): plain loops, dots accumulated in double, the rest
// in F32 with std::exp. The SIMD versions in x86/ are
// tested against it (same formulas; they differ only in summation order and
// in their exp polynomial).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/fp16.h"

#include "kernels/attention.h"

namespace ef::kernels::ref {

void flash_tile(const FlashTileArgs& a) {
  for (int64_t r = 0; r < a.n_q; ++r) {
    const int64_t lo = a.lo[r], hi = a.hi[r];
    if (lo >= hi) continue;
    const float* q = a.q + r * a.dk;
    float tile_max = -INFINITY;
    for (int64_t j = lo; j < hi; ++j) {
      const float* k = a.k + j * a.dk;
      double s = 0.0;  // double: the oracle's own rounding stays far below the SIMD kernels'
      for (int64_t d = 0; d < a.dk; ++d) s += static_cast<double>(q[d]) * k[d];
      a.s[j] = static_cast<float>(s);
      tile_max = std::max(tile_max, a.s[j]);
    }
    const float m_new = std::max(a.m[r], tile_max);
    const float alpha = std::exp(a.m[r] - m_new);  // 0 on the first visible tile
    float* acc = a.acc + r * a.dv;
    for (int64_t d = 0; d < a.dv; ++d) acc[d] *= alpha;
    float sum = 0.0f;
    for (int64_t j = lo; j < hi; ++j) {
      const float p = std::exp(a.s[j] - m_new);
      sum += p;
      const float* v = a.v + j * a.dv;
      for (int64_t d = 0; d < a.dv; ++d) acc[d] += p * v[d];
    }
    a.l[r] = a.l[r] * alpha + sum;
    a.m[r] = m_new;
  }
}

void flash_tile_f16(const FlashTileArgs& a, const FlashF16Rows& rows) {
  int64_t n = 0;  // rows [0, max hi) are the ones any query reads
  for (int64_t r = 0; r < a.n_q; ++r) {
    if (a.lo[r] < a.hi[r]) n = std::max<int64_t>(n, a.hi[r]);
  }
  std::vector<float> k(static_cast<size_t>(n * a.dk)), v(static_cast<size_t>(n * a.dv));
  for (int64_t r = 0; r < a.n_q; ++r) {
    for (int64_t j = a.lo[r]; j < a.hi[r]; ++j) {
      for (int64_t d = 0; d < a.dk; ++d) k[j * a.dk + d] = fp16_to_fp32(rows.k[j * rows.k_stride + d]);
      for (int64_t d = 0; d < a.dv; ++d) v[j * a.dv + d] = fp16_to_fp32(rows.v[j * rows.v_stride + d]);
    }
  }
  FlashTileArgs wide = a;
  wide.k = k.data();
  wide.v = v.data();
  flash_tile(wide);
}

}  // namespace ef::kernels::ref
