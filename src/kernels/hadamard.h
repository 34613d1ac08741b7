// Normalised Walsh-Hadamard transform: x <- H x with H = H_n / sqrt(n),
// H_1 = [1], H_2m = [[H_m, H_m], [H_m, -H_m]] (Sylvester order). H is
// symmetric and orthogonal, so H (H x) = x and (H a) . (H b) = a . b: the KV
// cache can store rotated keys/values (outliers spread over the whole head,
// which block quantization handles better) without changing attention.
#pragma once

#include <cstdint>

namespace ef::kernels {

// In place, n a power of two (n >= 1). O(n log n): log2(n) butterfly passes
// of adds/subtracts, then one multiply by 1/sqrt(n).
void hadamard(float* x, int64_t n);

// hadamard() on each of n_heads consecutive heads of head_dim floats.
void hadamard_heads(float* x, int64_t n_heads, int64_t head_dim);

}  // namespace ef::kernels
