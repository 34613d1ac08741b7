// Quantized / BF16 KV caches: row layout and sizes, store round trips within
// each type's error bound, the configuration errors, the Hadamard rotation
// (an F32 cache gives the same logits with and without it), and KL(f16 cache
// || test cache) on a deterministic model: Q8_0 small, Q4_0 clearly larger.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "kernels/attention.h"
#include "kernels/hadamard.h"
#include "kernels/kernels.h"
#include "model/tiny_model.h"
#include "runtime/kv_cache.h"
#include "runtime/logit_compare.h"

namespace ef {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

TEST(KvQuant, TypeNamesRoundTripAndRejectOthers) {
  for (KvType t : {KvType::f32, KvType::f16, KvType::bf16, KvType::q8_0, KvType::q4_0}) {
    auto back = kv_type_from_name(kv_type_name(t));
    ASSERT_TRUE(back.has_value()) << kv_type_name(t);
    EXPECT_EQ(*back, t);
  }
  EXPECT_EQ(kv_type_from_name("Q8_0"), KvType::q8_0);
  EXPECT_FALSE(kv_type_from_name("q5_0").has_value());
  EXPECT_FALSE(kv_type_from_name("").has_value());
  EXPECT_NE(std::string(kv_type_names()).find("q4_0"), std::string::npos);
}

TEST(KvQuant, RowBytesFollowTheBlockLayouts) {
  // kv_dim 64 = 2 blocks: q8_0 2 * 34, q4_0 2 * 18.
  const struct { KvType t; size_t bytes; } cases[] = {
      {KvType::f32, 256}, {KvType::f16, 128}, {KvType::bf16, 128}, {KvType::q8_0, 68},
      {KvType::q4_0, 36}};
  for (const auto& c : cases) {
    auto cache = KvCache::create(3, 16, 64, c.t, KvType::f16, /*v_transposed=*/false);
    ASSERT_TRUE(cache.ok()) << kv_type_name(c.t);
    EXPECT_EQ(cache->k_row_bytes(), c.bytes) << kv_type_name(c.t);
    EXPECT_EQ(cache->v_row_bytes(), 128u);
    EXPECT_EQ(cache->bytes_per_token(), 3 * (c.bytes + 128));
    EXPECT_EQ(cache->k_bytes(), 3 * 16 * c.bytes);
    EXPECT_EQ(cache->bytes(), 3 * 16 * (c.bytes + 128));
    EXPECT_EQ(kv_row_bytes(c.t, 64), c.bytes);
  }
}

TEST(KvQuant, ConfigurationErrors) {
  // 48 is not a multiple of the 32-element blocks.
  auto bad_dim = KvCache::create(1, 8, 48, KvType::q8_0, KvType::q8_0, false);
  ASSERT_FALSE(bad_dim.ok());
  EXPECT_EQ(bad_dim.error().code, Errc::invalid_argument);
  EXPECT_NE(bad_dim.error().message().find("32"), std::string::npos);
  EXPECT_FALSE(KvCache::create(1, 8, 48, KvType::f16, KvType::q4_0, false).ok());
  EXPECT_TRUE(KvCache::create(1, 8, 48, KvType::bf16, KvType::bf16, false).ok());
  // Quantized or BF16 V needs the row layout (flash attention).
  for (KvType tv : {KvType::bf16, KvType::q8_0, KvType::q4_0}) {
    auto r = KvCache::create(1, 8, 64, KvType::f16, tv, /*v_transposed=*/true);
    ASSERT_FALSE(r.ok()) << kv_type_name(tv);
    EXPECT_NE(r.error().message().find("flash"), std::string::npos);
  }
  // Quantized K is fine without flash attention.
  EXPECT_TRUE(KvCache::create(1, 8, 64, KvType::q4_0, KvType::f16, true).ok());
}

// Stored rows read back (through the scalar dequantizers) within each type's
// rounding bound of the original values.
TEST(KvQuant, StoreRoundTripsWithinTheTypeBound) {
  const int64_t kv_dim = 96, n_pos = 5;
  const auto& ref = *kernels::table_for(kernels::Isa::scalar).value();
  for (KvType t : {KvType::f32, KvType::f16, KvType::bf16, KvType::q8_0, KvType::q4_0}) {
    auto cache = KvCache::create(2, 8, kv_dim, t, t, false, {0, 3});  // layer 1: ring of 3
    ASSERT_TRUE(cache.ok());
    for (int64_t p = 0; p < n_pos; ++p) {
      const auto k = randn(kv_dim, 100 + static_cast<uint32_t>(p), 2.0f);
      const auto v = randn(kv_dim, 200 + static_cast<uint32_t>(p), 0.5f);
      for (int64_t il = 0; il < 2; ++il) {
        cache->store(il, p, k.data(), v.data());
        std::vector<float> kb(kv_dim), vb(kv_dim);
        const auto& tk = ref.for_type(kv_dtype(t));
        tk.to_float(cache->k_row(il, p), kb.data(), kv_dim);
        tk.to_float(cache->v_pos(il, p), vb.data(), kv_dim);
        for (const auto& [orig, back] : {std::pair{&k, &kb}, std::pair{&v, &vb}}) {
          for (int64_t b = 0; b < kv_dim; b += 32) {
            float amax = 0.0f;
            for (int64_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs((*orig)[i]));
            for (int64_t i = b; i < b + 32; ++i) {
              const float x = (*orig)[i], y = (*back)[i];
              float bound = 0.0f;
              switch (t) {
                case KvType::f32: bound = 0.0f; break;
                case KvType::f16: bound = std::fabs(x) * 0x1p-11f + 1e-7f; break;
                case KvType::bf16: bound = std::fabs(x) * 0x1p-8f; break;
                // half a step of amax/127 (+ the fp16 rounding of the scale)
                case KvType::q8_0: bound = amax / 127.0f * 0.51f + std::fabs(x) * 1e-3f; break;
                // steps of amax/8, truncation-rounded: one step
                case KvType::q4_0: bound = amax / 8.0f * 1.01f; break;
              }
              ASSERT_LE(std::fabs(x - y), bound)
                  << kv_type_name(t) << " layer " << il << " pos " << p << " i " << i;
            }
          }
        }
      }
    }
    // Ring layer: position 4 lives in slot 1.
    EXPECT_EQ(cache->k_row(1, 4), cache->k_row(1, 1));
  }
}

TEST(KvQuant, HadamardIsTheNormalisedSylvesterMatrixAndItsOwnInverse) {
  for (int64_t n : {1, 2, 8, 64, 128}) {
    const auto x = randn(static_cast<size_t>(n), 5);
    std::vector<float> y = x;
    kernels::hadamard(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        s += (__builtin_popcountll(static_cast<uint64_t>(i & j)) % 2 ? -1.0 : 1.0) * x[j];
      }
      EXPECT_NEAR(y[i], s / std::sqrt(static_cast<double>(n)), 1e-5) << n << " " << i;
    }
    kernels::hadamard(y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
  }
}

std::unique_ptr<Model> tiny(const std::string& name, int64_t n_embd, int64_t n_head,
                            int64_t n_head_kv, uint64_t seed) {
  TinyModelSpec spec;
  spec.n_embd = n_embd;
  spec.n_layer = 2;
  spec.n_head = n_head;
  spec.n_head_kv = n_head_kv;
  spec.n_ff = 2 * n_embd;
  spec.n_ctx = 256;
  spec.seed = seed;
  spec.n_vocab_synthetic = 400;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ef_kvq_" + std::to_string(::getpid()) + "_" + name))
                               .string();
  Status s = write_tiny_llama(path, spec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  auto m = Model::load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<int32_t> prompt_tokens(int n, int32_t n_vocab) {
  std::mt19937 rng(11);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(3 + rng() % static_cast<uint32_t>(n_vocab - 3));
  return t;
}

// All logits of `tokens` (evaluated in micro-batches of 16), or empty.
std::vector<float> all_logits(const Model& m, SessionOptions o, const std::vector<int32_t>& toks) {
  o.n_ctx = 256;
  o.n_ubatch = 16;
  o.n_threads = 2;
  auto s = Session::create(m, o);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  if (!s.ok()) return {};
  auto r = (*s)->eval(toks, true);
  EXPECT_TRUE(r.ok());
  return r.ok() ? std::vector<float>(r->begin(), r->end()) : std::vector<float>{};
}

SessionOptions cache_opts(KvType k, KvType v, bool flash, bool hadamard) {
  SessionOptions o;
  o.type_k = k;
  o.type_v = v;
  o.flash_attn = flash;
  o.kv_hadamard = hadamard;
  return o;
}

TEST(KvQuant, HadamardWithF32CacheKeepsTheLogits) {
  auto m = tiny("had", 128, 4, 2, 3);  // head_dim 32
  ASSERT_TRUE(m);
  const auto toks = prompt_tokens(80, 400);
  for (bool flash : {false, true}) {
    const auto plain = all_logits(*m, cache_opts(KvType::f32, KvType::f32, flash, false), toks);
    const auto rot = all_logits(*m, cache_opts(KvType::f32, KvType::f32, flash, true), toks);
    ASSERT_EQ(plain.size(), rot.size());
    ASSERT_FALSE(plain.empty());
    float max_abs = 0.0f, max_diff = 0.0f;
    for (size_t i = 0; i < plain.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(plain[i]));
      max_diff = std::max(max_diff, std::fabs(plain[i] - rot[i]));
    }
    EXPECT_GT(max_diff, 0.0f) << "rotation should change rounding somewhere (is it applied?)";
    EXPECT_LE(max_diff, 1e-4f * max_abs) << "flash " << flash;
  }
}

TEST(KvQuant, SessionRejectsUnfitHeadDims) {
  auto m = tiny("hd16", 64, 4, 2, 1);  // head_dim 16: no 32-element blocks per head
  ASSERT_TRUE(m);
  auto r = Session::create(*m, cache_opts(KvType::q8_0, KvType::q8_0, true, false));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("head_dim"), std::string::npos);
  EXPECT_TRUE(Session::create(*m, cache_opts(KvType::bf16, KvType::bf16, true, true)).ok());
  auto m48 = tiny("hd48", 96, 2, 2, 1);  // head_dim 48: not a power of two
  ASSERT_TRUE(m48);
  auto h = Session::create(*m48, cache_opts(KvType::f16, KvType::f16, true, true));
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message().find("power of two"), std::string::npos);
  EXPECT_FALSE(Session::create(*m48, cache_opts(KvType::f16, KvType::q8_0, false, false)).ok());
}

struct Kl {
  double mean = 0.0, top1 = 0.0;
};
Kl compare(const std::vector<float>& base, const std::vector<float>& test, int64_t n_vocab) {
  LogitComparison c;
  EXPECT_EQ(base.size(), test.size());
  for (size_t off = 0; off + static_cast<size_t>(n_vocab) <= std::min(base.size(), test.size());
       off += static_cast<size_t>(n_vocab)) {
    c.add(base.data() + off, test.data() + off, n_vocab);
  }
  return {c.mean_kl(), c.top1_agreement()};
}

// KL(F16 cache || test cache) over 160 positions of a deterministic random
// model with head_dim 64. Bounds: Q8_0 keeps ~8 bits per element, so its KL
// must be tiny (issue #5 asks <= 2e-3 on a trained model); Q4_0's 4 bits must
// cost visibly more; BF16 (8-bit mantissa) sits near Q8_0.
TEST(KvQuant, KlDivergenceAgainstF16CacheOrdersTheTypes) {
  auto m = tiny("kl", 128, 2, 1, 9);  // head_dim 64
  ASSERT_TRUE(m);
  const int64_t n_vocab = m->config().n_vocab;
  const auto toks = prompt_tokens(160, static_cast<int32_t>(n_vocab));
  const auto base = all_logits(*m, cache_opts(KvType::f16, KvType::f16, true, false), toks);
  ASSERT_FALSE(base.empty());
  auto kl = [&](KvType k, KvType v, bool flash, bool had) {
    return compare(base, all_logits(*m, cache_opts(k, v, flash, had), toks), n_vocab);
  };
  const Kl f32 = kl(KvType::f32, KvType::f32, true, false);
  const Kl bf16 = kl(KvType::bf16, KvType::bf16, true, false);
  const Kl q8 = kl(KvType::q8_0, KvType::q8_0, true, false);
  const Kl q4 = kl(KvType::q4_0, KvType::q4_0, true, false);
  const Kl q8h = kl(KvType::q8_0, KvType::q8_0, true, true);
  const Kl q4h = kl(KvType::q4_0, KvType::q4_0, true, true);
  // Quantized K on the score-matrix path (V stays F16, transposed).
  const Kl q8k = kl(KvType::q8_0, KvType::f16, false, false);
  std::printf("KL vs f16 cache: f32 %.3e  bf16 %.3e  q8_0 %.3e (had %.3e)  q4_0 %.3e (had %.3e)"
              "  q8_0 K fa-off %.3e\n",
              f32.mean, bf16.mean, q8.mean, q8h.mean, q4.mean, q4h.mean, q8k.mean);
  EXPECT_LT(f32.mean, 1e-4);
  EXPECT_LT(q8.mean, 2e-3);
  EXPECT_LT(q8h.mean, 2e-3);
  EXPECT_LT(q8k.mean, 2e-3);
  EXPECT_LT(bf16.mean, 2e-3);
  EXPECT_GT(q8.mean, f32.mean);
  EXPECT_GT(q4.mean, 2.0 * q8.mean);
  EXPECT_GT(q4h.mean, 2.0 * q8h.mean);
  EXPECT_GT(q8.top1, 0.9);
  EXPECT_LT(q4.top1, 1.0 + 1e-12);
}

}  // namespace
}  // namespace ef

namespace ef {
namespace {

// The widening kernels on every F16 / BF16 bit pattern (subnormals, inf,
// NaN) and odd lengths, against the scalar oracles: flash attention's tiles
// go through them for every cache type.
TEST(KvQuant, WideningKernelsMatchTheScalarOracleOnEveryPattern) {
  const auto& scalar = *kernels::table_for(kernels::Isa::scalar).value();
  std::vector<uint16_t> all(65536 + 7);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i * 40503u);
  for (kernels::Isa isa : kernels::available_isas()) {
    const auto& t = *kernels::table_for(isa).value();
    for (DType type : {DType::F16, DType::BF16}) {
      for (int64_t n : {int64_t{65536 + 7}, int64_t{7}, int64_t{1}}) {
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
        scalar.for_type(type).to_float(all.data(), a.data(), n);
        t.for_type(type).to_float(all.data(), b.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          if (std::isnan(a[i])) {
            ASSERT_TRUE(std::isnan(b[i])) << kernels::isa_name(isa) << " " << i;
          } else {
            ASSERT_EQ(std::memcmp(&a[i], &b[i], 4), 0)
                << kernels::isa_name(isa) << " " << dtype_name(type) << " i " << i;
          }
        }
      }
    }
    // Block types: random blocks with every quant value present.
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
      const int64_t n = 32 * 67;
      const size_t bytes = *row_size_bytes(type, static_cast<uint64_t>(n));
      std::vector<uint8_t> raw(bytes);
      std::mt19937 rng(3);
      for (auto& x : raw) x = static_cast<uint8_t>(rng());
      const size_t bb = traits(type).block_bytes;
      for (size_t blk = 0; blk < bytes / bb; ++blk) {  // finite scales
        const uint16_t d = static_cast<uint16_t>(0x2000 + rng() % 0x3000);
        std::memcpy(raw.data() + blk * bb, &d, 2);
      }
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      scalar.for_type(type).to_float(raw.data(), a.data(), n);
      t.for_type(type).to_float(raw.data(), b.data(), n);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
          << kernels::isa_name(isa) << " " << dtype_name(type);
      // Flash attention's widening entry for the type: the same function values.
      const kernels::ToFloatFn w = kernels::attention_kernels(t).widen(type);
      ASSERT_NE(w, nullptr);
      std::fill(b.begin(), b.end(), -1.0f);
      w(raw.data(), b.data(), n);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0)
          << "attention widen " << kernels::isa_name(isa) << " " << dtype_name(type);
    }
  }
}

}  // namespace
}  // namespace ef
