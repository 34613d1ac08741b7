// Activation preparation of the q8_0 matmuls at the SmolLM2-135M widths
// (512 token rows of 576 or 1536 floats), single thread, per ISA:
//   quant/old        (avx512) the per-block quantizer of before (a copy here,
//                    one horizontal max per block), then act_block_info:
//                    what matmul's prepare did before from_float_act_info
//   quant/two_pass   from_float_act, then act_block_info
//   quant/one_pass   from_float_act_info (quants + block info in one pass)
//   quant/no_info    from_float_act alone (a floor: no info at all)
//   norm/old         (avx512) rmsnorm into a float row, the old quantizer,
//                    act_block_info (the forward before: xb written and read back)
//   norm/unfused     rmsnorm into a float row, then from_float_act + act_block_info
//   norm/fused       RowOps::rmsnorm_q8_0 with info (the new forward)
// Counter: input GB/s (floats read per call). CPU time, so it stays usable on
// a loaded machine (still: run it when the machine is quiet).
//
//   ./build/release/bin/act_quant_bench --benchmark_filter=avx512
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized once inlined (a
// false positive, see src/kernels/x86/avx512_quant.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/row_ops.h"

namespace {

namespace kernels = ef::kernels;
using ef::BlockQ8_0;

constexpr int64_t kRows = 512;

enum class Mode { old, two_pass, one_pass, no_info, norm_old, norm_unfused, norm_fused };

// The AVX-512 activation quantizer as it was before the batched one
// (src/kernels/x86/avx512_quant.cpp at cfdf8a3): one block at a time, a
// horizontal max and scalar divisions per block. Same bytes.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void old_quantize_avx512(
    const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    const __m512 v0 = _mm512_loadu_ps(xb);
    const __m512 v1 = _mm512_loadu_ps(xb + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    blocks[b].d = ef::fp32_to_fp16(amax / 127.0f);
    const __m512 idv = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, idv), kRne);
    const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, idv), kRne);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16), _mm512_cvtsepi32_epi8(q1));
  }
}

void bench(benchmark::State& state, const kernels::KernelTable* table, Mode mode, int64_t k) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const auto n = static_cast<size_t>(kRows * k);
  const auto nb = static_cast<size_t>(k / 32);
  std::vector<float> x(n), xb(n), weight(static_cast<size_t>(k));
  for (auto& v : x) v = dist(rng);
  for (auto& v : weight) v = 1.0f + 0.1f * dist(rng);
  std::vector<BlockQ8_0> q(nb * kRows);
  std::vector<kernels::ActBlockInfo> info(nb * kRows);
  const kernels::TypeKernels& tk = table->q8_0;
  const kernels::RowOps& ro = kernels::row_ops(*table);
  for (auto _ : state) {
    for (int64_t t = 0; t < kRows; ++t) {
      const float* xr = x.data() + t * k;
      BlockQ8_0* qr = q.data() + static_cast<size_t>(t) * nb;
      kernels::ActBlockInfo* ir = info.data() + static_cast<size_t>(t) * nb;
      switch (mode) {
        case Mode::old:
          old_quantize_avx512(xr, qr, k);
          kernels::act_block_info(qr, k, ir);
          break;
        case Mode::norm_old:
          ro.rmsnorm(xb.data() + t * k, xr, weight.data(), k, 1e-5f);
          old_quantize_avx512(xb.data() + t * k, qr, k);
          kernels::act_block_info(qr, k, ir);
          break;
        case Mode::two_pass:
          tk.from_float_act(xr, qr, k);
          kernels::act_block_info(qr, k, ir);
          break;
        case Mode::one_pass:
          tk.from_float_act_info(xr, qr, ir, k);
          break;
        case Mode::no_info:
          tk.from_float_act(xr, qr, k);
          break;
        case Mode::norm_unfused:
          ro.rmsnorm(xb.data() + t * k, xr, weight.data(), k, 1e-5f);
          tk.from_float_act(xb.data() + t * k, qr, k);
          kernels::act_block_info(qr, k, ir);
          break;
        case Mode::norm_fused:
          ro.rmsnorm_q8_0(qr, ir, xr, weight.data(), k, 1e-5f);
          break;
      }
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::DoNotOptimize(info.data());
    benchmark::ClobberMemory();
  }
  state.counters["in_GB/s"] = benchmark::Counter(
      static_cast<double>(n * sizeof(float)) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const struct {
    Mode mode;
    const char* name;
  } modes[] = {{Mode::old, "quant/old"},         {Mode::two_pass, "quant/two_pass"},
               {Mode::one_pass, "quant/one_pass"}, {Mode::no_info, "quant/no_info"},
               {Mode::norm_old, "norm/old"},       {Mode::norm_unfused, "norm/unfused"},
               {Mode::norm_fused, "norm/fused"}};
  for (kernels::Isa isa : kernels::available_isas()) {
    if (isa == kernels::Isa::avx512_vnni || isa == kernels::Isa::amx) continue;  // = avx512's
    auto table = kernels::table_for(isa);
    if (!table.ok()) continue;
    for (int64_t k : {int64_t{576}, int64_t{1536}}) {
      for (const auto& m : modes) {
        const bool old = m.mode == Mode::old || m.mode == Mode::norm_old;
        if (old && !(isa == kernels::Isa::avx512 && ef::cpu_features().avx512bw)) continue;
        const std::string name = std::string(m.name) + "/" + kernels::isa_name(isa) + "/512x" +
                                 std::to_string(k);
        benchmark::RegisterBenchmark(name.c_str(), bench, *table, m.mode, k)
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.2);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
