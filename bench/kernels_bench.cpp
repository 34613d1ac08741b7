// Matmul throughput per weight type and ISA at the SmolLM2-135M shapes
// (hidden 576, ffn 1536, kv 192, vocab 32000), for decode (1 token) and
// prefill (512 tokens), single thread so ISAs compare kernel against kernel.
//
// Counters: GFLOP/s (2*k*n*tokens per call) and weight GB/s (weight bytes
// streamed per call; the number that matters for decode).
// Rates use CPU time (single thread, no pool workers), which stays meaningful
// on a loaded shared machine. Scalar prefill runs only on the 576x576 shape to keep the run short.
//
//   ./build/release/bin/kernels_bench --benchmark_filter='q8_0'
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"

namespace {

using ef::DType;
namespace kernels = ef::kernels;

struct Shape {
  const char* name;
  int64_t k, n;
};
constexpr Shape kShapes[] = {
    {"576x576", 576, 576},   {"576x192", 576, 192},   {"576x1536", 576, 1536},
    {"1536x576", 1536, 576}, {"576x32000", 576, 32000},
};
constexpr DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void bench_matmul(benchmark::State& state, const kernels::KernelTable* table, DType type,
                  Shape shape, int64_t n_tokens, bool packed) {
  const size_t row_bytes = *ef::row_size_bytes(type, static_cast<uint64_t>(shape.k));
  std::vector<uint8_t> wdata(row_bytes * static_cast<size_t>(shape.n));
  {
    const auto wf = random_floats(static_cast<size_t>(shape.k * shape.n), 1);
    for (int64_t r = 0; r < shape.n; ++r) {
      table->for_type(type).from_float(wf.data() + r * shape.k, wdata.data() + r * row_bytes,
                                       shape.k);
    }
  }
  const int64_t ne[2] = {shape.k, shape.n};
  ef::Tensor w = ef::make_tensor("w", type, 2, ne, wdata.data());
  // Packed: the same weights in the 16-row interleave (kernels/packed.h).
  std::vector<uint8_t> pdata;
  if (packed) {
    pdata.resize(kernels::packed_bytes(type, shape.n, shape.k));
    table->for_type(type).repack(wdata.data(), row_bytes, shape.n, shape.k, pdata.data());
    w.packed = pdata.data();
  }
  const auto x = random_floats(static_cast<size_t>(shape.k * n_tokens), 2);
  std::vector<float> y(static_cast<size_t>(shape.n * n_tokens));
  std::vector<uint8_t> scratch;
  ef::ThreadPool pool(1);
  for (auto _ : state) {
    kernels::matmul(w, x.data(), n_tokens, y.data(), shape.n, scratch, pool, *table);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(shape.k * shape.n * n_tokens);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["wGB/s"] = benchmark::Counter(static_cast<double>(wdata.size()) * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// The bf16 gemm entry alone (activations already bf16, one call over all
// rows and tokens, no pool): kernel-level GFLOP/s to set against the AMX
// BF16 / vdpbf16ps peaks that roofline prints.
void bench_gemm_bf16(benchmark::State& state, const kernels::KernelTable* table, Shape shape,
                     int64_t n_tokens) {
  const size_t row_bytes = static_cast<size_t>(shape.k) * 2;
  std::vector<uint8_t> wdata(row_bytes * static_cast<size_t>(shape.n));
  std::vector<uint8_t> xdata(row_bytes * static_cast<size_t>(n_tokens));
  const auto wf = random_floats(static_cast<size_t>(shape.k * shape.n), 1);
  const auto xf = random_floats(static_cast<size_t>(shape.k * n_tokens), 2);
  for (int64_t r = 0; r < shape.n; ++r) {
    table->bf16.from_float(wf.data() + r * shape.k, wdata.data() + r * row_bytes, shape.k);
  }
  for (int64_t t = 0; t < n_tokens; ++t) {
    table->bf16.from_float(xf.data() + t * shape.k, xdata.data() + t * row_bytes, shape.k);
  }
  std::vector<float> y(static_cast<size_t>(shape.n * n_tokens));
  for (auto _ : state) {
    table->bf16.gemm(shape.k, wdata.data(), row_bytes, 0, shape.n, xdata.data(), row_bytes,
                     n_tokens, y.data(), shape.n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(shape.k * shape.n * n_tokens);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Decode as the model sees it: one token against 576x1536 weights, cycling
// through copies that fill 256 MB of 2 MiB pages (like the weights loaded by
// gguf::File), so every call streams from DRAM/L3. wGB/s per thread is the
// figure to set against the read bandwidth roofline prints.
void bench_decode_stream(benchmark::State& state, const kernels::KernelTable* table, DType type) {
  const int64_t k = 576, n = 1536;
  const size_t row_bytes = *ef::row_size_bytes(type, static_cast<uint64_t>(k));
  const size_t mat = row_bytes * static_cast<size_t>(n);
  const size_t huge = size_t{2} << 20;
  const size_t copies = (size_t{256} << 20) / mat;
  const size_t total = (copies * mat + huge - 1) / huge * huge;
  void* raw = mmap(nullptr, total + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(raw) + huge - 1) & ~(huge - 1));
  madvise(base, total, MADV_HUGEPAGE);
  const auto wf = random_floats(static_cast<size_t>(k * n), 1);
  for (int64_t r = 0; r < n; ++r) {
    table->for_type(type).from_float(wf.data() + r * k, base + r * row_bytes, k);
  }
  for (size_t c = 1; c < copies; ++c) std::memcpy(base + c * mat, base, mat);
  const auto x = random_floats(static_cast<size_t>(k), 2);
  std::vector<float> y(static_cast<size_t>(n));
  std::vector<uint8_t> scratch;
  ef::ThreadPool pool(1);
  size_t c = 0;
  for (auto _ : state) {
    const int64_t ne[2] = {k, n};
    const ef::Tensor w = ef::make_tensor("w", type, 2, ne, base + c * mat);
    kernels::matmul(w, x.data(), 1, y.data(), n, scratch, pool, *table);
    benchmark::DoNotOptimize(y.data());
    c = c + 1 == copies ? 0 : c + 1;
  }
  state.counters["wGB/s"] = benchmark::Counter(static_cast<double>(mat) * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  munmap(raw, total + huge);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (kernels::Isa isa : kernels::available_isas()) {
    auto table = kernels::table_for(isa);
    if (!table.ok()) continue;
    for (DType type : kTypes) {
      for (const Shape& shape : kShapes) {
        for (int64_t n_tokens : {int64_t{1}, int64_t{512}}) {
          if (isa == kernels::Isa::scalar && n_tokens > 1 && shape.n != shape.k) continue;
          // Packed beside the GGUF layout where the table has a packed gemm.
          const bool has_packed = (*table)->for_type(type).gemm_packed != nullptr;
          for (bool packed : {false, true}) {
            if (packed && !has_packed) continue;
            const std::string name = std::string("matmul/") + kernels::isa_name(isa) + "/" +
                                     ef::dtype_name(type) + (packed ? "/packed/" : "/") +
                                     shape.name + "/tokens:" + std::to_string(n_tokens);
            benchmark::RegisterBenchmark(name.c_str(), bench_matmul, *table, type, shape,
                                         n_tokens, packed)
                ->Unit(benchmark::kMicrosecond)
                ->MinTime(n_tokens > 1 ? 0.2 : 0.1);
          }
        }
      }
    }
  }
  for (kernels::Isa isa : {kernels::Isa::avx512, kernels::Isa::amx}) {
    auto table = kernels::table_for(isa);
    if (!table.ok() || (*table)->bf16.gemm == nullptr) continue;
    for (const Shape& shape : kShapes) {
      const std::string name = std::string("gemm_bf16/") + kernels::isa_name(isa) + "/" +
                               shape.name + "/tokens:256";
      benchmark::RegisterBenchmark(name.c_str(), bench_gemm_bf16, *table, shape, int64_t{256})
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
    }
  }
  for (kernels::Isa isa : {kernels::Isa::avx512, kernels::Isa::amx}) {
    auto table = kernels::table_for(isa);
    if (!table.ok()) continue;
    for (DType type : {DType::F16, DType::BF16}) {
      const std::string name = std::string("decode_stream/") + kernels::isa_name(isa) + "/" +
                               ef::dtype_name(type);
      benchmark::RegisterBenchmark(name.c_str(), bench_decode_stream, *table, type)
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.5);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
