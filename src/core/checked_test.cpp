#include "core/checked.h"

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/fp16.h"

namespace ef {

TEST(Checked, MulAddAlign) {
  EXPECT_EQ(checked_mul(3, 4), 12u);
  EXPECT_FALSE(checked_mul(UINT64_MAX, 2).has_value());
  EXPECT_FALSE(checked_add(UINT64_MAX, 1).has_value());
  EXPECT_EQ(align_up(33, 32), 64u);
  EXPECT_EQ(align_up(64, 32), 64u);
  EXPECT_FALSE(align_up(UINT64_MAX - 3, 32).has_value());
  EXPECT_FALSE(align_up(5, 0).has_value());
}

TEST(DType, RowSizes) {
  EXPECT_EQ(row_size_bytes(DType::Q4_0, 64), 36u);
  EXPECT_EQ(row_size_bytes(DType::Q8_0, 32), 34u);
  EXPECT_FALSE(row_size_bytes(DType::Q8_0, 33).has_value());
  EXPECT_EQ(row_size_bytes(DType::BF16, 3), 6u);
  EXPECT_EQ(dtype_from_name("Q8_0"), DType::Q8_0);
  EXPECT_FALSE(dtype_from_name("q4_k").has_value());
}

TEST(Fp16, RoundTripsEveryHalf) {
  // Every finite half converts to float and back to itself.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(bits);
    if (f != f) {
      EXPECT_NE(fp16_to_fp32(fp32_to_fp16(f)), fp16_to_fp32(fp32_to_fp16(f)));
      continue;
    }
    EXPECT_EQ(fp32_to_fp16(f), bits) << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even (1.0).
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 and 1+2^-9: ties to even (1+2^-9).
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);   // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);   // tie to even -> 0
}

TEST(Bf16, MatchesGgmlRounding) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(bits_f32(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(bits_f32(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(bits_f32(0x7fc00001u)) & 0x7fc0, 0x7fc0);  // quiet NaN
  EXPECT_EQ(bf16_to_fp32(0x4000), 2.0f);
}

}  // namespace ef
