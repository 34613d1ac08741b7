// Every ISA's flash_tile against the scalar oracle (ref::flash_tile), over
// several consecutive tiles (so the running max/sum rescaling is exercised)
// with per-row ranges that start and end inside 8- and 16-row blocks.
// Tolerance: the SIMD kernels sum the dot products and exp terms in another
// order and use a polynomial exp (< 2e-9 relative), so running maxima agree
// within 1e-5 absolute and normalised outputs within 1e-5 of their rms.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/fp16.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"

namespace ef::kernels {
namespace {

const KernelTable& table_of(Isa isa) {
  auto t = table_for(isa);  // isa comes from available_isas(): always ok
  return **t;
}

struct State {
  std::vector<float> m, l, acc;
};

State run_tiles(FlashTileFn fn, int64_t n_q, int64_t dk, int64_t dv, int n_tiles,
                const std::vector<float>& q, const std::vector<float>& k,
                const std::vector<float>& v, const std::vector<int32_t>& lo,
                const std::vector<int32_t>& hi) {
  constexpr int64_t T = 64;
  State st{std::vector<float>(n_q, -INFINITY), std::vector<float>(n_q, 0.0f),
           std::vector<float>(static_cast<size_t>(n_q * dv), 0.0f)};
  std::vector<float> s(T);
  for (int t = 0; t < n_tiles; ++t) {
    FlashTileArgs a;
    a.q = q.data();
    a.n_q = n_q;
    a.k = k.data() + t * T * dk;
    a.v = v.data() + t * T * dv;
    a.n_kv = T;
    a.dk = dk;
    a.dv = dv;
    a.lo = lo.data() + t * n_q;
    a.hi = hi.data() + t * n_q;
    a.m = st.m.data();
    a.l = st.l.data();
    a.acc = st.acc.data();
    a.s = s.data();
    fn(a);
  }
  return st;
}

void compare(int64_t dk, int64_t dv, unsigned seed) {
  constexpr int64_t T = 64;
  const int64_t n_q = 7;
  const int n_tiles = 3;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n_q * dk)), k(static_cast<size_t>(n_tiles * T * dk)),
      v(static_cast<size_t>(n_tiles * T * dv));
  // Scaled queries as flash_attend passes them (q / sqrt(dk)): scores ~ N(0, 4).
  for (auto& x : q) x = nd(rng) * 2.0f / std::sqrt(static_cast<float>(dk));
  for (auto& x : k) x = nd(rng);
  for (auto& x : v) x = nd(rng);
  // Ranges per tile and row: full, empty, partial at both ends, single.
  std::vector<int32_t> lo(static_cast<size_t>(n_tiles * n_q)), hi(lo.size());
  std::uniform_int_distribution<int> pos(0, T);
  for (size_t i = 0; i < lo.size(); ++i) {
    int a = pos(rng), b = pos(rng);
    if (i % 7 == 0) a = 0, b = T;
    if (i % 7 == 1) a = b = 10;
    if (i % 7 == 2) a = 17, b = 18;
    lo[i] = std::min(a, b);
    hi[i] = std::max(a, b);
  }
  const State want = run_tiles(ref::flash_tile, n_q, dk, dv, n_tiles, q, k, v, lo, hi);
  for (Isa isa : available_isas()) {
    const AttentionKernels& t = attention_kernels(table_of(isa));
    ASSERT_NE(t.flash_tile, nullptr) << isa_name(isa);
    const State got = run_tiles(t.flash_tile, n_q, dk, dv, n_tiles, q, k, v, lo, hi);
    for (int64_t r = 0; r < n_q; ++r) {
      const std::string what = std::string(isa_name(isa)) + " dk " + std::to_string(dk) + " dv " +
                               std::to_string(dv) + " row " + std::to_string(r);
      if (want.l[r] == 0.0f) {  // never visible: untouched
        EXPECT_EQ(got.l[r], 0.0f) << what;
        EXPECT_EQ(got.m[r], -INFINITY) << what;
        continue;
      }
      EXPECT_NEAR(got.m[r], want.m[r], 1e-5) << what;
      EXPECT_NEAR(got.l[r], want.l[r], 1e-5 * want.l[r]) << what;
      double rms = 0;
      for (int64_t d = 0; d < dv; ++d) {
        const double w = want.acc[r * dv + d] / want.l[r];
        rms += w * w;
      }
      rms = std::sqrt(rms / static_cast<double>(dv));
      for (int64_t d = 0; d < dv; ++d) {
        ASSERT_TRUE(std::isfinite(got.acc[r * dv + d])) << what;
        EXPECT_NEAR(got.acc[r * dv + d] / got.l[r], want.acc[r * dv + d] / want.l[r],
                    1e-5 * rms + 1e-7)
            << what << " d " << d;
      }
    }
  }
}

TEST(AttentionKernelsTest, FlashTileMatchesScalarOracleOnEveryIsa) {
  compare(64, 64, 1);
  compare(128, 128, 2);
  compare(576, 512, 3);  // MLA
  compare(64, 48, 4);    // dv: 16-float chunks after the 32/64 ones
  compare(40, 24, 5);    // multiples of 8 only: AVX-512 falls back
  compare(36, 20, 6);    // neither: every x86 ISA falls back (NEON takes multiples of 4)
}

TEST(AttentionKernelsTest, FirstTileOfARowIgnoresItsInitialAccumulator) {
  // m = -inf means "no position yet": alpha = exp(-inf) = 0 must not turn
  // acc's contents into NaN (acc starts at 0; a NaN here would be sticky).
  for (Isa isa : available_isas()) {
    const AttentionKernels& t = attention_kernels(table_of(isa));
    std::vector<float> q(64, 0.1f), k(64 * 64, 1.0f), v(64 * 64, 2.0f), s(64), acc(64, 0.0f);
    float m = -INFINITY, l = 0.0f;
    int32_t lo = 5, hi = 9;
    FlashTileArgs a{q.data(), 1,   k.data(), v.data(), 64,         64,      64,
                    &lo,      &hi, &m,       &l,       acc.data(), s.data()};
    t.flash_tile(a);
    EXPECT_NEAR(l, 4.0f, 1e-5) << isa_name(isa);
    for (float x : acc) EXPECT_NEAR(x / l, 2.0f, 1e-5) << isa_name(isa);
  }
}

// flash_tile_f16 reads F16 rows in place, with row strides wider than the
// head (a cache row holds every KV head), and must give the same bits as
// the same ISA's flash_tile on the widened rows. The buffers end at the
// block's largest hi, so a read past it is an ASan error.
TEST(AttentionKernelsTest, FlashTileF16InPlaceEqualsWidenedTile) {
  int checked = 0;
  for (Isa isa : available_isas()) {
    const AttentionKernels& t = attention_kernels(table_of(isa));
    if (t.flash_tile_f16 == nullptr) continue;
    for (const auto& [dk, dv] : {std::pair<int64_t, int64_t>{64, 64}, {128, 128}, {576, 512}, {48, 32}, {40, 24}}) {
      const int64_t n_q = 9, ks = dk * 3 + 16, vs = dv * 2 + 16;
      std::mt19937 rng(static_cast<unsigned>(dk + dv));
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::uniform_int_distribution<int> pos(0, 64);
      std::vector<int32_t> lo(n_q), hi(n_q);
      int64_t max_hi = 0;
      for (int64_t r = 0; r < n_q; ++r) {
        int a = pos(rng), b = pos(rng);
        if (r == 0) a = 3, b = 50;   // ends inside a 16-row block
        if (r == 1) a = b = 7;       // fully masked
        lo[r] = std::min(a, b);
        hi[r] = std::max(a, b);
        max_hi = std::max<int64_t>(max_hi, hi[r]);
      }
      std::vector<uint16_t> k16(static_cast<size_t>(max_hi * ks)), v16(static_cast<size_t>(max_hi * vs));
      for (auto& x : k16) x = fp32_to_fp16(nd(rng));
      for (auto& x : v16) x = fp32_to_fp16(nd(rng));
      std::vector<float> k(static_cast<size_t>(64 * dk), 0.0f), v(static_cast<size_t>(64 * dv), 0.0f);
      for (int64_t j = 0; j < max_hi; ++j) {
        for (int64_t d = 0; d < dk; ++d) k[j * dk + d] = fp16_to_fp32(k16[j * ks + d]);
        for (int64_t d = 0; d < dv; ++d) v[j * dv + d] = fp16_to_fp32(v16[j * vs + d]);
      }
      std::vector<float> q(static_cast<size_t>(n_q * dk));
      for (auto& x : q) x = nd(rng) * 0.2f;
      auto run = [&](bool in_place) {
        State st{std::vector<float>(n_q, -INFINITY), std::vector<float>(n_q, 0.0f),
                 std::vector<float>(static_cast<size_t>(n_q * dv), 0.0f)};
        std::vector<float> s(64);
        FlashTileArgs a{q.data(), n_q, k.data(), v.data(), 64, dk, dv, lo.data(), hi.data(),
                        st.m.data(), st.l.data(), st.acc.data(), s.data()};
        if (in_place) {
          a.k = a.v = nullptr;
          t.flash_tile_f16(a, FlashF16Rows{k16.data(), ks, v16.data(), vs});
        } else {
          t.flash_tile(a);
        }
        return st;
      };
      const State want = run(false), got = run(true);
      const std::string what = std::string(isa_name(isa)) + " dk " + std::to_string(dk);
      for (int64_t r = 0; r < n_q; ++r) {
        EXPECT_EQ(got.m[r], want.m[r]) << what << " row " << r;
        EXPECT_EQ(got.l[r], want.l[r]) << what << " row " << r;
        for (int64_t d = 0; d < dv; ++d) {
          ASSERT_EQ(got.acc[r * dv + d], want.acc[r * dv + d]) << what << " row " << r << " d " << d;
        }
      }
      ++checked;
    }
  }
  // Every x86 machine this runs on in CI has AVX-512 or not; count what ran.
  RecordProperty("isa_shapes_checked", checked);
}

// FlashTileArgs::wide lets a kernel take several rows at a time (AVX-512:
// K transposed, shared loads); the result must be the row-by-row one bit for
// bit (the engine's batch-independence rests on it). Random shapes and
// ranges: n_q 1..70, n_kv not a multiple of 16, empty rows, ranges inside
// one 16-key block, rows whose lo differ in parity, and consecutive tiles
// (so m, l and acc carry state in).
TEST(AttentionKernelsTest, FlashTileWideScratchGivesTheRowByRowBits) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const std::pair<int64_t, int64_t> shapes[] = {{64, 64}, {128, 128}, {576, 512}, {64, 48},
                                                {32, 80}, {16, 16},   {48, 32},   {40, 24}};
  int cases = 0;
  for (Isa isa : available_isas()) {
    const AttentionKernels& t = attention_kernels(table_of(isa));
    for (int iter = 0; iter < 40; ++iter) {
      const auto [dk, dv] = shapes[iter % 8];
      const int64_t n_q = iter < 8 ? 48 : 1 + static_cast<int64_t>(rng() % 70);
      const int64_t n_kv = iter % 3 == 0 ? 64 : 1 + static_cast<int64_t>(rng() % 140);
      const int64_t ns = (n_kv + 15) / 16 * 16;
      const int n_tiles = 2;
      std::vector<float> q(static_cast<size_t>(n_q * dk)), k(static_cast<size_t>(n_tiles * ns * dk)),
          v(static_cast<size_t>(n_tiles * n_kv * dv));
      for (auto& x : q) x = nd(rng) * 2.0f / std::sqrt(static_cast<float>(dk));
      for (auto& x : k) x = nd(rng);
      for (auto& x : v) x = nd(rng);
      std::vector<int32_t> lo(static_cast<size_t>(n_tiles * n_q)), hi(lo.size());
      std::uniform_int_distribution<int> pos(0, static_cast<int>(n_kv));
      for (size_t i = 0; i < lo.size(); ++i) {
        int a = pos(rng), b = pos(rng);
        const int kind = static_cast<int>(rng() % 8);
        if (kind == 0) a = 0, b = static_cast<int>(n_kv);  // whole tile
        if (kind == 1) b = a;                              // empty
        if (kind == 2) b = std::min<int>(a + 1 + static_cast<int>(rng() % 5), static_cast<int>(n_kv));
        if (kind == 3) a = 0;  // causal-like: 0 .. hi
        lo[i] = std::min(a, b);
        hi[i] = std::max(a, b);
      }
      auto run = [&](bool wide) {
        State st{std::vector<float>(n_q, -INFINITY), std::vector<float>(n_q, 0.0f),
                 std::vector<float>(static_cast<size_t>(n_q * dv), 0.0f)};
        std::vector<float> s(static_cast<size_t>(ns));
        std::vector<float> w(static_cast<size_t>(flash_tile_wide_floats(n_kv, dk)), NAN);
        for (int tile = 0; tile < n_tiles; ++tile) {
          FlashTileArgs a{q.data(), n_q, k.data() + tile * ns * dk, v.data() + tile * n_kv * dv,
                          n_kv,     dk,  dv,       lo.data() + tile * n_q, hi.data() + tile * n_q,
                          st.m.data(), st.l.data(), st.acc.data(), s.data()};
          a.wide = wide ? w.data() : nullptr;
          t.flash_tile(a);
        }
        return st;
      };
      const State want = run(false), got = run(true);
      const std::string what = std::string(isa_name(isa)) + " dk " + std::to_string(dk) + " dv " +
                               std::to_string(dv) + " n_q " + std::to_string(n_q) + " n_kv " +
                               std::to_string(n_kv);
      for (int64_t r = 0; r < n_q; ++r) {
        ASSERT_EQ(std::memcmp(&got.m[r], &want.m[r], sizeof(float)), 0) << what << " row " << r;
        ASSERT_EQ(std::memcmp(&got.l[r], &want.l[r], sizeof(float)), 0) << what << " row " << r;
        ASSERT_EQ(std::memcmp(&got.acc[r * dv], &want.acc[r * dv], sizeof(float) * dv), 0)
            << what << " row " << r;
      }
      // Not vacuous: some row saw keys.
      bool any = false;
      for (int64_t r = 0; r < n_q; ++r) any |= want.l[r] > 0.0f;
      cases += any;
    }
  }
  EXPECT_GT(cases, 0);
}

TEST(AttentionKernelsTest, WideningsAreExactOnEveryIsa) {
  // F16/BF16 -> F32 is exact, so every ISA's widening equals the scalar
  // one bit for bit (including a tail shorter than a vector).
  const KernelTable& scalar_table = table_of(Isa::scalar);
  const AttentionKernels& ref_set = attention_kernels(scalar_table);
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(96 + 5);
  for (auto& v : x) v = nd(rng);
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    const bool block = type == DType::Q8_0 || type == DType::Q4_0;
    const int64_t n = block ? 96 : static_cast<int64_t>(x.size());
    std::vector<uint8_t> row(static_cast<size_t>(n) * 4);
    scalar_table.for_type(type).from_float(x.data(), row.data(), n);
    std::vector<float> want(static_cast<size_t>(n));
    ASSERT_NE(ref_set.widen(type), nullptr) << dtype_name(type);
    ref_set.widen(type)(row.data(), want.data(), n);
    for (Isa isa : available_isas()) {
      const AttentionKernels& t = attention_kernels(table_of(isa));
      std::vector<float> got(static_cast<size_t>(n), -1.0f);
      t.widen(type)(row.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(got[i], want[i]) << isa_name(isa) << " " << dtype_name(type) << " " << i;
      }
    }
  }
}

}  // namespace
}  // namespace ef::kernels
