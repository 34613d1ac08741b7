// Helpers shared by the kernel tests (included by *_test.cpp only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"

namespace ef::kernels::test_util {

// n floats from N(0, scale^2), reproducible from `seed`.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Bytes of one k-element row of `t` (k valid for t's block size).
inline size_t rb(DType t, int64_t k) { return *row_size_bytes(t, static_cast<uint64_t>(k)); }

}  // namespace ef::kernels::test_util
