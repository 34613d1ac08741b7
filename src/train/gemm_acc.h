// Accumulating F32 matrix product for the backward pass of linear layers:
//   C[i, j] += sum_p A(i, p) * B[p, j]      i < M, j < N, p < K
// A is read through strides (A(i, p) = a[i * a_row + p * a_col]) so both
// dinp += dout . W (A = dout) and dW += dout^T . inp (A = dout^T, read in
// place) run without transposing anything. B and C rows are contiguous.
//
// Outer-product ("broadcast") register tiles: 4 rows of C x 64 columns in 16
// vector accumulators, K in chunks of 128 so the B panel stays in L1. Built
// with GCC target attributes for AVX-512 / AVX2+FMA and picked at run time
// from the kernels' active ISA (EDGEFORMER_ISA=scalar selects the scalar
// loop), so this file needs no special compile flags. On AArch64 the NEON
// tiles (4 rows x 16 columns, baseline Advanced SIMD) are chosen at compile
// time instead; x86 and ARM paths are each compiled only for their target.
//
// Determinism: every C element is accumulated in increasing p by exactly one
// task (tasks are fixed blocks of C rows), whatever the thread count.
#pragma once

#include <cstdint>

namespace ef {
class ThreadPool;
}

namespace ef::train {

enum class GemmImpl { automatic, scalar, avx2, avx512, neon };

void gemm_acc(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_row, int64_t a_col,
              const float* b, int64_t ldb, float* c, int64_t ldc, ThreadPool& pool,
              GemmImpl impl = GemmImpl::automatic);

// Whether this CPU/build can run `impl` (tests iterate over these).
bool gemm_impl_supported(GemmImpl impl);

}  // namespace ef::train
