// Sliding-window attention: the window boundary (distance W-1 visible, W
// masked) over 300+ generated tokens, the ring cache against the linear
// masked score-matrix path, and flat cache memory from 1k to 32k tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

std::unique_ptr<Model> swa_model(int64_t n_layer, int64_t window, int64_t pattern,
                                 const std::string& name) {
  TinyModelSpec spec;
  spec.n_embd = 64;
  spec.n_layer = n_layer;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 128;
  spec.n_ctx = 1024;
  spec.n_vocab_synthetic = 400;
  spec.sliding_window = window;
  spec.swa_pattern = pattern;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ef_swa_" + std::to_string(::getpid()) + "_" + name))
                               .string();
  Status s = write_tiny_llama(path, spec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  auto m = Model::load(path);
  std::filesystem::remove(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return m.ok() ? std::move(m).value() : nullptr;
}

// Greedy generation of n tokens after a short prompt; returns every step's
// logits (n_vocab each).
std::vector<float> generate(const Model& model, SessionOptions opt, int n,
                            std::vector<int32_t>* tokens_out, const std::vector<int32_t>* forced) {
  auto s = Session::create(model, opt);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  if (!s.ok()) return {};
  std::vector<int32_t> toks = {1, 17, 29, 71};
  auto r = (*s)->eval(toks, false);
  std::vector<float> all;
  for (int i = 0; i < n && r.ok(); ++i) {
    all.insert(all.end(), r->begin(), r->end());
    int32_t next = forced ? (*forced)[static_cast<size_t>(i)]
                          : static_cast<int32_t>(std::max_element(r->begin(), r->end()) - r->begin());
    toks.push_back(next);
    r = (*s)->eval(std::span<const int32_t>(&next, 1), false);
  }
  EXPECT_TRUE(r.ok());
  if (tokens_out) *tokens_out = toks;
  return all;
}

TEST(SlidingWindowTest, ConfigReadsWindowAndPattern) {
  auto m = swa_model(6, 16, 3, "cfg");
  ASSERT_TRUE(m);
  const ModelConfig& c = m->config();
  EXPECT_EQ(c.n_swa, 16);
  EXPECT_EQ(c.swa_pattern, 3);
  // llama.cpp's set_swa_pattern: il % P < P - 1 windowed, the last of each
  // group of P global.
  const bool expect[6] = {true, true, false, true, true, false};
  for (int il = 0; il < 6; ++il) EXPECT_EQ(c.is_swa(il), expect[il]) << il;
}

TEST(SlidingWindowTest, RingCacheEqualsLinearMaskedPathOver300Tokens) {
  auto m = swa_model(2, 24, 2, "ring");  // layer 0 windowed, layer 1 global
  ASSERT_TRUE(m);
  SessionOptions ring;
  ring.n_ctx = 512;
  ring.n_ubatch = 8;
  ring.n_threads = 2;
  ring.kv_type = KvType::f32;
  SessionOptions linear = ring;
  linear.flash_attn = false;
  std::vector<int32_t> toks;
  auto a = generate(*m, ring, 320, &toks, nullptr);
  std::vector<int32_t> forced(toks.begin() + 4, toks.end());
  auto b = generate(*m, linear, 320, nullptr, &forced);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  // Different kernels (flash vs score matrix): close, not bit-equal.
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::abs(b[i])));
  }
  EXPECT_LE(max_diff, 1e-4 * max_abs + 1e-5);
}

// One windowed layer: the logits at position i depend on tokens (i - W, i]
// only. Changing the token at distance W changes nothing (bit-exact);
// changing the one at distance W - 1 changes the logits.
TEST(SlidingWindowTest, BoundaryDistanceWMinusOneVisibleWMasked) {
  const int64_t W = 16;
  auto m = swa_model(1, W, 0, "boundary");
  ASSERT_TRUE(m);
  for (bool flash : {true, false}) {
    SessionOptions o;
    o.n_ctx = 400;
    o.n_ubatch = 7;
    o.n_threads = 2;
    o.flash_attn = flash;
    std::vector<int32_t> base;
    for (int i = 0; i < 330; ++i) base.push_back((i * 37 + 11) % 400);
    auto logits_at = [&](const std::vector<int32_t>& t) {
      auto s = Session::create(*m, o);
      EXPECT_TRUE(s.ok());
      auto r = (*s)->eval(t, true);
      EXPECT_TRUE(r.ok());
      return std::vector<float>(r->begin(), r->end());
    };
    const auto ref = logits_at(base);
    const size_t nv = static_cast<size_t>(m->config().n_vocab);
    for (int64_t i : {int64_t{40}, int64_t{200}, int64_t{329}}) {
      for (int64_t dist : {W, W - 1}) {
        auto t = base;
        t[static_cast<size_t>(i - dist)] = (t[static_cast<size_t>(i - dist)] + 5) % 400;
        const auto got = logits_at(t);
        const bool same = std::memcmp(got.data() + i * nv, ref.data() + i * nv,
                                      nv * sizeof(float)) == 0;
        EXPECT_EQ(same, dist == W) << "flash " << flash << " pos " << i << " dist " << dist;
      }
    }
  }
}

TEST(SlidingWindowTest, CacheMemoryFlatFrom1kTo32k) {
  auto m = swa_model(2, 64, 0, "flat");  // every layer windowed
  ASSERT_TRUE(m);
  uint64_t bytes[2];
  int i = 0;
  for (int64_t ctx : {1024, 32768}) {
    SessionOptions o;
    o.n_ctx = ctx;
    o.n_ubatch = 64;
    o.n_threads = 1;
    auto s = Session::create(*m, o);
    ASSERT_TRUE(s.ok());
    bytes[i++] = (*s)->kv_cache_bytes();
  }
  EXPECT_EQ(bytes[0], bytes[1]);
  // window + ubatch - 1 rows x kv_dim (2 heads x 16) x F16 x (K, V) x layers
  EXPECT_EQ(bytes[0], uint64_t{(64 + 64 - 1) * 32 * 2 * 2 * 2});
}

}  // namespace
}  // namespace ef
