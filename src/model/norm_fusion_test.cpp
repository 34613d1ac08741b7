// rmsnorm fused with the q8_0 activation quantization in llama_forward
// (NormedInput): logits bit-identical to the unfused path
// (EDGEFORMER_FUSE_NORM=0: float xb, then the matmul's quantizer) on every
// kernel table this machine runs, for q8_0 / q4_0 models (tied and untied
// output) in a prompt micro-batch and a decode step; the fused run never
// writes the float xb rows (the round trip is really gone), and an F16 model
// keeps the float path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "model/llama_forward.h"
#include "model/llama_weights.h"
#include "model/tiny_model.h"
#include "runtime/kv_cache.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_norm_fusion_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct IsaGuard {
  kernels::Isa before = kernels::active().isa;
  ~IsaGuard() {
    (void)kernels::select_isa(before);
    ::unsetenv("EDGEFORMER_FUSE_NORM");
  }
};

struct RunResult {
  std::vector<float> logits;  // prompt rows, then the decode row
  bool xb_untouched = false;  // the poisoned xb rows survived the run
};

// 13 prompt tokens in one micro-batch (all logits), then one decode step.
RunResult run(const Model& model, bool fused) {
  if (fused) {
    ::unsetenv("EDGEFORMER_FUSE_NORM");
  } else {
    ::setenv("EDGEFORMER_FUSE_NORM", "0", 1);
  }
  EXPECT_EQ(norm_quant_fusion_enabled(), fused);
  RunResult r;
  const ModelConfig& c = model.config();
  const int64_t n_ctx = 32, n = 13;
  auto cache = KvCache::create(c.n_layer, n_ctx, c.n_head_kv * c.head_dim, KvType::f16);
  auto scratch = ForwardScratch::create(c, 16, n_ctx, 2);
  EXPECT_TRUE(cache.ok() && scratch.ok());
  if (!cache.ok() || !scratch.ok()) return r;
  ThreadPool pool(2);
  float* xb = scratch->xb.as<float>();
  const size_t xb_floats = scratch->xb.size_bytes() / sizeof(float);
  for (size_t i = 0; i < xb_floats; ++i) xb[i] = -12345.0f;
  std::vector<int32_t> tokens;
  for (int i = 0; i < n + 1; ++i) tokens.push_back((i * 37 + 11) % static_cast<int>(c.n_vocab));
  r.logits.resize(static_cast<size_t>((n + 1) * c.n_vocab));
  llama_forward(c, model.weights(), *cache, *scratch, pool, tokens.data(), n, 0, 0,
                r.logits.data());
  llama_forward(c, model.weights(), *cache, *scratch, pool, tokens.data() + n, 1, n, 0,
                r.logits.data() + n * c.n_vocab);
  r.xb_untouched = true;
  for (size_t i = 0; i < xb_floats; ++i) r.xb_untouched = r.xb_untouched && xb[i] == -12345.0f;
  return r;
}

TEST(LlamaNormFusion, LogitsBitIdenticalToUnfusedOnEveryIsa) {
  IsaGuard guard;
  struct Spec {
    DType type;
    bool tied;
    bool fusable;  // every normed input feeds q8_0-activation matmuls
  };
  const Spec specs[] = {{DType::Q4_0, false, true},
                        {DType::Q8_0, true, true},
                        {DType::F16, false, false}};
  for (const Spec& sp : specs) {
    TinyModelSpec spec;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_ff = 96;
    spec.weight_type = sp.type;
    spec.tied_output = sp.tied;
    const std::string path = temp_path(std::string(dtype_name(sp.type)) + ".gguf");
    ASSERT_TRUE(write_tiny_llama(path, spec).ok());
    for (kernels::Isa isa : kernels::available_isas()) {
      ASSERT_TRUE(kernels::select_isa(isa).ok());
      auto model = Model::load(path);  // packed for this table where it packs
      ASSERT_TRUE(model.ok()) << model.error().message();
      const std::string at = std::string(kernels::isa_name(isa)) + " " + dtype_name(sp.type) +
                             (sp.tied ? " tied" : " untied");
      const RunResult unfused = run(**model, false);
      const RunResult fused = run(**model, true);
      ASSERT_FALSE(unfused.logits.empty()) << at;
      ASSERT_EQ(unfused.logits.size(), fused.logits.size()) << at;
      EXPECT_EQ(0, std::memcmp(unfused.logits.data(), fused.logits.data(),
                               unfused.logits.size() * sizeof(float)))
          << at;
      double max_abs = 0.0;
      for (float v : fused.logits) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
      EXPECT_GT(max_abs, 0.0) << at << ": logits must not be trivially zero";
      EXPECT_FALSE(unfused.xb_untouched) << at << ": the unfused path writes xb";
      EXPECT_EQ(fused.xb_untouched, sp.fusable) << at;
    }
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace ef
