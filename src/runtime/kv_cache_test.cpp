// KV cache layout: K rows per position, V transposed, F16 rounding on store.
#include "runtime/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/fp16.h"

namespace ef {
namespace {

TEST(KvCacheTest, F32StoresExactlyWithTransposedV) {
  auto c = KvCache::create(2, 8, 4, KvType::f32);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->bytes(), 2u * 2 * 8 * 4 * 4);
  const float k[4] = {1.5f, -2.0f, 3.25f, 0.1f};
  const float v[4] = {10.0f, 20.0f, 30.0f, 40.0f};
  c->store(1, 3, k, v);
  const float* kr = static_cast<const float*>(c->k_row(1, 3));
  for (int d = 0; d < 4; ++d) EXPECT_EQ(kr[d], k[d]);
  for (int d = 0; d < 4; ++d) {
    const float* vr = static_cast<const float*>(c->v_row(1, d));  // [n_ctx]
    EXPECT_EQ(vr[3], v[d]);
    EXPECT_EQ(vr[2], 0.0f);  // other positions untouched
  }
  // Layer 0 is separate storage.
  EXPECT_EQ(static_cast<const float*>(c->k_row(0, 3))[0], 0.0f);
}

TEST(KvCacheTest, F16RoundsToNearestEven) {
  auto c = KvCache::create(1, 4, 2, KvType::f16);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->elem_bytes(), 2u);
  const float k[2] = {0.1f, 70000.0f};  // 70000 overflows half -> inf
  const float v[2] = {1.0f + 1.0f / 4096, -3.0f};  // halfway between halves -> even
  c->store(0, 2, k, v);
  const uint16_t* kr = static_cast<const uint16_t*>(c->k_row(0, 2));
  EXPECT_EQ(kr[0], fp32_to_fp16(0.1f));
  EXPECT_NEAR(fp16_to_fp32(kr[0]), 0.1f, 1e-4);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(kr[1])));
  EXPECT_EQ(fp16_to_fp32(static_cast<const uint16_t*>(c->v_row(0, 0))[2]), 1.0f);
  EXPECT_EQ(fp16_to_fp32(static_cast<const uint16_t*>(c->v_row(0, 1))[2]), -3.0f);
}

TEST(KvCacheTest, RejectsBadOrHugeSizes) {
  EXPECT_FALSE(KvCache::create(0, 8, 4, KvType::f16).ok());
  EXPECT_FALSE(KvCache::create(2, -1, 4, KvType::f16).ok());
  EXPECT_FALSE(KvCache::create(1024, int64_t{1} << 40, 1 << 20, KvType::f32).ok());
}

}  // namespace
}  // namespace ef
