// gemm_acc: see gemm_acc.h.
#include "train/gemm_acc.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace ef::train {
namespace {

constexpr int64_t kMr = 4;        // C rows per register tile
constexpr int64_t kKc = 128;      // K chunk (B panel in L1)
constexpr int64_t kRowsPerTask = 16;

// ---- scalar reference path ------------------------------------------------
void rows_scalar(int64_t i0, int64_t i1, int64_t N, int64_t K, const float* a, int64_t a_row,
                 int64_t a_col, const float* b, int64_t ldb, float* c, int64_t ldc) {
  for (int64_t i = i0; i < i1; ++i) {
    float* ci = c + i * ldc;
    for (int64_t p = 0; p < K; ++p) {
      const float av = a[i * a_row + p * a_col];
      const float* bp = b + p * ldb;
      for (int64_t j = 0; j < N; ++j) ci[j] += av * bp[j];
    }
  }
}

#if defined(__x86_64__)
// ---- AVX-512: tiles of R rows x 64 columns (4 zmm per row) ----------------
template <int R>
__attribute__((target("avx512f"))) void tile512(int64_t i, int64_t j, int64_t nj, int64_t p0,
                                                 int64_t p1, const float* a, int64_t a_row,
                                                 int64_t a_col, const float* b, int64_t ldb,
                                                 float* c, int64_t ldc) {
  __mmask16 m[4];
  for (int v = 0; v < 4; ++v) {
    const int64_t left = std::clamp<int64_t>(nj - 16 * v, 0, 16);
    m[v] = static_cast<__mmask16>((1u << left) - 1u);
  }
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_maskz_loadu_ps(m[v], c + (i + r) * ldc + j + 16 * v);
  for (int64_t p = p0; p < p1; ++p) {
    const float* bp = b + p * ldb + j;
    __m512 bv[4];
    for (int v = 0; v < 4; ++v) bv[v] = _mm512_maskz_loadu_ps(m[v], bp + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[(i + r) * a_row + p * a_col]);
      for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_ps(c + (i + r) * ldc + j + 16 * v, m[v], acc[r][v]);
}

__attribute__((target("avx512f"))) void rows_avx512(int64_t i0, int64_t i1, int64_t N, int64_t K,
                                                     const float* a, int64_t a_row, int64_t a_col,
                                                     const float* b, int64_t ldb, float* c,
                                                     int64_t ldc) {
  for (int64_t p0 = 0; p0 < K; p0 += kKc) {
    const int64_t p1 = std::min(K, p0 + kKc);
    for (int64_t j = 0; j < N; j += 64) {
      const int64_t nj = std::min<int64_t>(64, N - j);
      int64_t i = i0;
      for (; i + kMr <= i1; i += kMr) tile512<4>(i, j, nj, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
      for (; i < i1; ++i) tile512<1>(i, j, nj, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
    }
  }
}

// ---- AVX2 + FMA: tiles of R rows x 32 columns (4 ymm per row) --------------
template <int R>
__attribute__((target("avx2,fma"))) void tile256(int64_t i, int64_t j, int64_t nj, int64_t p0,
                                                 int64_t p1, const float* a, int64_t a_row,
                                                 int64_t a_col, const float* b, int64_t ldb,
                                                 float* c, int64_t ldc) {
  alignas(32) int32_t lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  __m256i m[4];
  for (int v = 0; v < 4; ++v) {
    const int left = static_cast<int>(std::clamp<int64_t>(nj - 8 * v, 0, 8));
    m[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), idx);
  }
  __m256 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_maskload_ps(c + (i + r) * ldc + j + 8 * v, m[v]);
  for (int64_t p = p0; p < p1; ++p) {
    const float* bp = b + p * ldb + j;
    __m256 bv[4];
    for (int v = 0; v < 4; ++v) bv[v] = _mm256_maskload_ps(bp + 8 * v, m[v]);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_set1_ps(a[(i + r) * a_row + p * a_col]);
      for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < 4; ++v) _mm256_maskstore_ps(c + (i + r) * ldc + j + 8 * v, m[v], acc[r][v]);
}

__attribute__((target("avx2,fma"))) void rows_avx2(int64_t i0, int64_t i1, int64_t N, int64_t K,
                                                   const float* a, int64_t a_row, int64_t a_col,
                                                   const float* b, int64_t ldb, float* c,
                                                   int64_t ldc) {
  for (int64_t p0 = 0; p0 < K; p0 += kKc) {
    const int64_t p1 = std::min(K, p0 + kKc);
    for (int64_t j = 0; j < N; j += 32) {
      const int64_t nj = std::min<int64_t>(32, N - j);
      int64_t i = i0;
      for (; i + kMr <= i1; i += kMr) tile256<4>(i, j, nj, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
      for (; i < i1; ++i) tile256<1>(i, j, nj, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
    }
  }
}
#endif

#if defined(__aarch64__)
// ---- NEON (baseline AArch64, no special flags): tiles of R rows x 4*V
// columns in R*V q registers. V = 4 (16 columns, 16 accumulators of the 32
// registers) for the body, V = 1 for 4-column tails; the last N % 4 columns
// run the scalar loop. Each C element sums its products in increasing p with
// a separately rounded multiply and add, exactly like rows_scalar (AArch64
// builds use -ffp-contract=off), so NEON results equal the scalar loop's bit
// for bit and training gives the same weights with or without SIMD. (An FMA
// tile drifted to the edge of the PyTorch AdamW fixture's weight tolerance:
// near-zero gradients make those updates sensitive to the last bit.)
template <int R, int V>
void tile_neon(int64_t i, int64_t j, int64_t p0, int64_t p1, const float* a, int64_t a_row,
               int64_t a_col, const float* b, int64_t ldb, float* c, int64_t ldc) {
  float32x4_t acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = vld1q_f32(c + (i + r) * ldc + j + 4 * v);
  for (int64_t p = p0; p < p1; ++p) {
    const float* bp = b + p * ldb + j;
    float32x4_t bv[V];
    for (int v = 0; v < V; ++v) bv[v] = vld1q_f32(bp + 4 * v);
    for (int r = 0; r < R; ++r) {
      const float32x4_t av = vdupq_n_f32(a[(i + r) * a_row + p * a_col]);
      for (int v = 0; v < V; ++v) acc[r][v] = vaddq_f32(acc[r][v], vmulq_f32(av, bv[v]));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) vst1q_f32(c + (i + r) * ldc + j + 4 * v, acc[r][v]);
}

template <int V>
void tiles_neon(int64_t i0, int64_t i1, int64_t j, int64_t p0, int64_t p1, const float* a,
                int64_t a_row, int64_t a_col, const float* b, int64_t ldb, float* c,
                int64_t ldc) {
  int64_t i = i0;
  for (; i + kMr <= i1; i += kMr) tile_neon<kMr, V>(i, j, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
  for (; i < i1; ++i) tile_neon<1, V>(i, j, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
}

void rows_neon(int64_t i0, int64_t i1, int64_t N, int64_t K, const float* a, int64_t a_row,
               int64_t a_col, const float* b, int64_t ldb, float* c, int64_t ldc) {
  const int64_t n16 = N / 16 * 16, n4 = N / 4 * 4;
  for (int64_t p0 = 0; p0 < K; p0 += kKc) {
    const int64_t p1 = std::min(K, p0 + kKc);
    for (int64_t j = 0; j < n16; j += 16)
      tiles_neon<4>(i0, i1, j, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
    for (int64_t j = n16; j < n4; j += 4)
      tiles_neon<1>(i0, i1, j, p0, p1, a, a_row, a_col, b, ldb, c, ldc);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t p = p0; p < p1; ++p) {
        const float av = a[i * a_row + p * a_col];
        for (int64_t j = n4; j < N; ++j) c[i * ldc + j] += av * b[p * ldb + j];
      }
  }
}
#endif

using RowsFn = void (*)(int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t,
                        const float*, int64_t, float*, int64_t);

RowsFn pick(GemmImpl impl) {
#if defined(__x86_64__)
  if (impl == GemmImpl::automatic) {
    const kernels::Isa isa = kernels::active().isa;
    if (isa == kernels::Isa::scalar) return rows_scalar;
    if (isa == kernels::Isa::avx2) return rows_avx2;
    return gemm_impl_supported(GemmImpl::avx512) ? rows_avx512 : rows_avx2;
  }
  if (impl == GemmImpl::avx512) return rows_avx512;
  if (impl == GemmImpl::avx2) return rows_avx2;
#elif defined(__aarch64__)
  if (impl == GemmImpl::neon) return rows_neon;
  if (impl == GemmImpl::automatic && kernels::active().isa != kernels::Isa::scalar) return rows_neon;
#else
  (void)impl;
#endif
  return rows_scalar;
}

}  // namespace

bool gemm_impl_supported(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::automatic:
    case GemmImpl::scalar:
      return true;
#if defined(__x86_64__)
    case GemmImpl::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmImpl::avx512:
      return __builtin_cpu_supports("avx512f");
    default:
      return false;
#elif defined(__aarch64__)
    case GemmImpl::neon:
      return true;  // Advanced SIMD is part of the AArch64 baseline
    default:
      return false;
#else
    default:
      return false;
#endif
  }
  return false;
}

void gemm_acc(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_row, int64_t a_col,
              const float* b, int64_t ldb, float* c, int64_t ldc, ThreadPool& pool,
              GemmImpl impl) {
  const RowsFn rows = pick(impl);
  const int64_t n_tasks = (M + kRowsPerTask - 1) / kRowsPerTask;
  pool.run(n_tasks, [&](int64_t task, int) {
    const int64_t i0 = task * kRowsPerTask;
    rows(i0, std::min(M, i0 + kRowsPerTask), N, K, a, a_row, a_col, b, ldb, c, ldc);
  });
}

}  // namespace ef::train
