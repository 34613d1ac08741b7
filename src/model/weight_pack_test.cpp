// Load-time weight packing on tiny llama models (q8_0 / q4_0, tied and
// untied output): which tensors get packed, logits of the packed model vs the
// same file loaded unpacked (EDGEFORMER_PACK=0), bit-identical across thread
// counts and token-by-token vs batched evaluation, and bit-identical to the
// AMX table (which follows the same block-fma sequence on the GGUF rows).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "kernels/kernels.h"
#include "model/llama_weights.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_weight_pack_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct IsaGuard {
  kernels::Isa before = kernels::active().isa;
  ~IsaGuard() { (void)kernels::select_isa(before); }
};

std::vector<float> logits(const Model& model, const std::vector<int32_t>& tokens, int threads,
                          size_t chunk) {
  SessionOptions opt;
  opt.n_threads = threads;
  opt.n_ubatch = 16;
  auto s = Session::create(model, opt);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  if (!s.ok()) return {};
  std::vector<float> all;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t len = std::min(chunk, tokens.size() - i);
    auto r = (*s)->eval(std::span<const int32_t>(tokens.data() + i, len), true);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r.ok()) return {};
    all.insert(all.end(), r->begin(), r->end());
  }
  return all;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return !a.empty() && a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(WeightPack, PackedModelMatchesUnpacked) {
  auto avx = kernels::table_for(kernels::Isa::avx512);
  if (!avx.ok() || (*avx)->q8_0.gemm_packed == nullptr) {
    GTEST_SKIP() << "no AVX-512 VNNI packed kernels on this machine/build";
  }
  IsaGuard guard;
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    for (bool tied : {false, true}) {
      const std::string what = std::string(dtype_name(type)) + (tied ? " tied" : " untied");
      TinyModelSpec spec;
      spec.n_embd = 64;
      spec.n_layer = 2;
      spec.n_ff = 160;  // 10 rows of 16: whole groups; n_vocab 400: a partial last group
      spec.weight_type = type;
      spec.tied_output = tied;
      spec.n_vocab_synthetic = 400;
      const std::string path = temp_path("m.gguf");
      ASSERT_TRUE(write_tiny_llama(path, spec).ok());
      ASSERT_TRUE(kernels::select_isa(kernels::Isa::avx512).ok());
      auto packed = Model::load(path);
      ASSERT_TRUE(packed.ok()) << packed.error().message();
      ASSERT_EQ(::setenv("EDGEFORMER_PACK", "0", 1), 0);
      auto plain = Model::load(path);
      ::unsetenv("EDGEFORMER_PACK");
      std::filesystem::remove(path);
      ASSERT_TRUE(plain.ok()) << plain.error().message();

      const LlamaWeights& pw = (*packed)->weights();
      EXPECT_EQ(pw.pack_report.tensors, 1 + 7 * spec.n_layer) << what;
      EXPECT_GT(pw.pack_report.packed_bytes, 0u);
      EXPECT_NE(pw.output.packed, nullptr) << what;
      EXPECT_EQ(pw.token_embd.packed, nullptr) << what << ": lookups need the GGUF rows";
      for (const LlamaLayer& l : pw.layers) {
        for (const Tensor* t : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_output, &l.ffn_gate,
                                &l.ffn_up, &l.ffn_down}) {
          EXPECT_NE(t->packed, nullptr) << what << " " << t->name;
        }
      }
      EXPECT_EQ((*plain)->weights().pack_report.tensors, 0);
      EXPECT_EQ((*plain)->weights().layers[0].attn_q.packed, nullptr);

      std::vector<int32_t> tokens;
      for (int i = 0; i < 21; ++i) tokens.push_back((i * 37 + 11) % 400);
      const auto got = logits(**packed, tokens, 1, tokens.size());
      ASSERT_EQ(got.size(), tokens.size() * 400) << what;
      // Thread count and evaluating token by token (decode) do not change bits.
      EXPECT_TRUE(bit_equal(got, logits(**packed, tokens, 2, tokens.size()))) << what;
      EXPECT_TRUE(bit_equal(got, logits(**packed, tokens, 2, 1))) << what;
      // The unpacked model on the scalar and AVX-512 tables: the same
      // weights, other float summation orders. Scalar (per block, no fma):
      // within 1e-4 of the largest logit. AVX-512 GGUF-layout kernels (per
      // lane, then a horizontal sum): their 1e-7-relative differences can
      // flip an activation quant (round half to even) somewhere in the two
      // layers, which moves q8_0 logits by up to ~1.3% here (scalar, AVX2,
      // AMX and packed agree within 5e-7 on the same model), hence 3%.
      for (kernels::Isa isa : {kernels::Isa::scalar, kernels::Isa::avx512}) {
        ASSERT_TRUE(kernels::select_isa(isa).ok());
        const auto want = logits(**plain, tokens, 1, tokens.size());
        ASSERT_EQ(want.size(), got.size());
        float max_abs = 0, max_diff = 0;
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_TRUE(std::isfinite(got[i])) << what;
          max_abs = std::max(max_abs, std::fabs(want[i]));
          max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
        }
        EXPECT_GT(max_abs, 0.1f) << what;
        EXPECT_LE(max_diff, (isa == kernels::Isa::scalar ? 1e-4f : 3e-2f) * max_abs)
            << what << " vs unpacked on " << kernels::isa_name(isa);
      }
      // AMX: the same per-block sequence, on the packed weights (amx_packed)
      // and on the GGUF rows (EDGEFORMER_PACK=0) -> the same bits.
      if (kernels::select_isa(kernels::Isa::amx).ok()) {
        EXPECT_TRUE(bit_equal(got, logits(**packed, tokens, 2, tokens.size()))) << what << " amx";
        EXPECT_TRUE(bit_equal(got, logits(**packed, tokens, 1, 1))) << what << " amx decode";
        EXPECT_TRUE(bit_equal(got, logits(**plain, tokens, 2, tokens.size())))
            << what << " amx, GGUF rows";
      }
    }
  }
}

// A model whose weights get packed keeps the page-cache mapping even when a
// huge-page copy would be made (EDGEFORMER_HUGEPAGES=all): the mapped
// originals of packed tensors are dropped (released_bytes > 0 proves the
// mapping, an anonymous copy is never released) and no longer count as
// mapped; the same file unpacked gets the copy (nothing released).
TEST(WeightPack, PackedModelDropsTheMappedOriginals) {
  auto avx = kernels::table_for(kernels::Isa::avx512);
  if (!avx.ok() || (*avx)->q8_0.gemm_packed == nullptr) {
    GTEST_SKIP() << "no AVX-512 VNNI packed kernels on this machine/build";
  }
  IsaGuard guard;
  ASSERT_TRUE(kernels::select_isa(kernels::Isa::avx512).ok());
  TinyModelSpec spec;
  spec.n_embd = 128;
  spec.n_layer = 2;
  spec.n_ff = 512;  // ffn matrices of 34 KiB (q8_0): whole pages to drop
  spec.weight_type = DType::Q8_0;
  spec.n_vocab_synthetic = 400;
  const std::string path = temp_path("drop.gguf");
  ASSERT_TRUE(write_tiny_llama(path, spec).ok());
  const uint64_t file_bytes = std::filesystem::file_size(path);
  ASSERT_EQ(::setenv("EDGEFORMER_HUGEPAGES", "all", 1), 0);
  const uint64_t mapped_before = memory_stats().mapped_bytes;
  auto packed = Model::load(path);
  const uint64_t mapped_packed = memory_stats().mapped_bytes - mapped_before;
  ASSERT_EQ(::setenv("EDGEFORMER_PACK", "0", 1), 0);
  auto plain = Model::load(path);
  ::unsetenv("EDGEFORMER_PACK");
  ::unsetenv("EDGEFORMER_HUGEPAGES");
  std::filesystem::remove(path);
  ASSERT_TRUE(packed.ok()) << packed.error().message();
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  const PackReport& report = (*packed)->weights().pack_report;
  EXPECT_GT(report.released_bytes, 0u);
  EXPECT_EQ(mapped_packed, file_bytes - report.released_bytes);
  EXPECT_EQ((*plain)->weights().pack_report.released_bytes, 0u);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 9; ++i) tokens.push_back((i * 53 + 5) % 400);
  const auto got = logits(**packed, tokens, 2, tokens.size());
  EXPECT_TRUE(bit_equal(got, logits(**packed, tokens, 1, 1)));
  for (float v : got) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace ef
