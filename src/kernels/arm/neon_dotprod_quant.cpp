// SDOT integer paths (ARMv8.2-A dotprod; this file alone is compiled with
// -march=armv8.2-a+dotprod+fp16 and is only called when the CPU reports
// HWCAP_ASIMDDP): q8_0 . q8_0 and q4_0 . q8_0. Same tiles as the plain NEON
// file (neon_quant_tile.h), so the results are the same bits; only the
// per-block int32 sums are computed with 2 SDOTs instead of 4 vmull + 4 vpadal.
//
// Keep this file free of headers with non-template inline functions or
// standard-library templates: see neon_gemm.h for why.
#include <arm_neon.h>

#include "kernels/arm/neon_gemm.h"
#include "kernels/arm/neon_kernels.h"
#include "kernels/arm/neon_quant_tile.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "neon_dotprod_quant.cpp must be compiled with +dotprod (see CMakeLists.txt)"
#endif

namespace ef::kernels::arm::dotprod {
namespace {

// Lane i += sum of 4 consecutive products: exact (|sum| <= 2^16).
struct SdotDot {
  static int32x4_t block(const BlockI8& w, const BlockI8& x) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w.lo, x.lo), w.hi, x.hi);
  }
};
using Tiles = QuantTiles<SdotDot>;

}  // namespace

float vec_dot_q8_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Tiles::Q8>(k, w, x);
}
float vec_dot_q4_0(int64_t k, const void* w, const void* x) {
  return vec_dot_1x1<Tiles::Q4>(k, w, x);
}

void gemm_q8_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Tiles::Q8, 4, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}
void gemm_q4_0(int64_t k, const void* w, size_t wrb, int64_t r0, int64_t r1, const void* x,
               size_t xrb, int64_t nt, float* y, int64_t ldy) {
  gemm_auto<Tiles::Q4, 4, 4, 4>(k, w, wrb, r0, r1, x, xrb, nt, y, ldy);
}

}  // namespace ef::kernels::arm::dotprod
