// Activation preparation of the q8_0 matmuls at the SmolLM2-135M widths
// (512 token rows of 576 or 1536 floats), single thread, per ISA:
//   quant/two_pass   from_float_act, then act_block_info (the old matmul prepare)
//   quant/one_pass   from_float_act_info (quants + block info in one pass)
//   quant/no_info    from_float_act alone (a floor: no info at all)
//   norm/unfused     rmsnorm into a float row, then from_float_act + act_block_info
//                    (the old forward: xb written, read back, quants re-read)
//   norm/fused       RowOps::rmsnorm_q8_0 with info (the new forward)
// Counter: input GB/s (floats read per call). CPU time, so it stays usable on
// a loaded machine (still: run it when the machine is quiet).
//
//   ./build/release/bin/act_quant_bench --benchmark_filter=avx512
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/row_ops.h"

namespace {

namespace kernels = ef::kernels;
using ef::BlockQ8_0;

constexpr int64_t kRows = 512;

enum class Mode { two_pass, one_pass, no_info, norm_unfused, norm_fused };

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
  } modes[] = {{Mode::two_pass, "quant/two_pass"},   {Mode::one_pass, "quant/one_pass"},
               {Mode::no_info, "quant/no_info"},     {Mode::norm_unfused, "norm/unfused"},
               {Mode::norm_fused, "norm/fused"}};
  for (kernels::Isa isa : kernels::available_isas()) {
    if (isa == kernels::Isa::avx512_vnni || isa == kernels::Isa::amx) continue;  // = avx512's
    auto table = kernels::table_for(isa);
    if (!table.ok()) continue;
    for (int64_t k : {int64_t{576}, int64_t{1536}}) {
      for (const auto& m : modes) {
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
