// Finite-difference checks of every training op: for an objective
// L = sum(out * R) with fixed random R, the backward pass (dout = R) must
// match central differences (L accumulated in double, step h) on tiny shapes.
// Also: the gemm-based matmul against its scalar reference, and thread-count
// independence of the backward ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "train/ops.h"

namespace ef::train {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double weighted_sum(const std::vector<float>& out, const std::vector<float>& r) {
  double s = 0.0;
  for (size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * r[i];
  return s;
}

// Compares analytic `grad` of `x` with central differences of objective(),
// Richardson-extrapolated ((4 D(h/2) - D(h)) / 3: truncation error O(h^4),
// so h can stay large against the float rounding of the forward pass).
// Returns the max of |fd - an| / (|fd| + |an| + floor) over all elements.
double fd_check(std::vector<float>& x, const std::vector<float>& grad,
                const std::function<double()>& objective, float h = 1e-1f) {
  double grad_max = 0.0;
  for (float g : grad) grad_max = std::max(grad_max, static_cast<double>(std::fabs(g)));
  const double floor = 1e-3 * grad_max + 1e-6;
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    auto central = [&](float step) {
      x[i] = saved + step;
      const double step_up = static_cast<double>(x[i]) - saved;  // the step actually taken
      const double lp = objective();
      x[i] = saved - step;
      const double step_down = saved - static_cast<double>(x[i]);
      const double lm = objective();
      x[i] = saved;
      return (lp - lm) / (step_up + step_down);
    };
    const double fd = (4.0 * central(h / 2) - central(h)) / 3.0;
    const double err = std::fabs(fd - grad[i]) / (std::fabs(fd) + std::fabs(grad[i]) + floor);
    worst = std::max(worst, err);
  }
  std::printf("    fd max rel err %.2e (%zu elements)\n", worst, x.size());
  return worst;
}

constexpr double kFdTol = 2e-3;

TEST(TrainOpsFd, Rmsnorm) {
  ThreadPool pool(2);
  const int64_t n = 3, C = 8;
  auto x = randn(n * C, 1), w = randn(C, 2), R = randn(n * C, 3);
  std::vector<float> out(n * C), rstd(n), dx(n * C), dw(C);
  auto obj = [&] {
    rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), n, C, 1e-5f, pool);
    return weighted_sum(out, R);
  };
  obj();
  rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), n, C, pool);
  EXPECT_LT(fd_check(x, dx, obj), kFdTol);
  EXPECT_LT(fd_check(w, dw, obj), kFdTol);
}

TEST(TrainOpsFd, Matmul) {
  ThreadPool pool(2);
  const int64_t n = 5, IC = 7, OC = 6;
  auto x = randn(n * IC, 4), w = randn(OC * IC, 5), R = randn(n * OC, 6);
  std::vector<float> out(n * OC), dx(n * IC), dw(OC * IC);
  auto obj = [&] {
    matmul_forward(out.data(), x.data(), w.data(), n, IC, OC, pool);
    return weighted_sum(out, R);
  };
  matmul_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), n, IC, OC,
                  pool);
  EXPECT_LT(fd_check(x, dx, obj), kFdTol);
  EXPECT_LT(fd_check(w, dw, obj), kFdTol);
}

TEST(TrainOps, MatmulMatchesScalarReference) {
  // Shapes that are not multiples of any SIMD width or tile.
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    const int64_t n = 37, IC = 45, OC = 29;
    auto x = randn(n * IC, 7), w = randn(OC * IC, 8), dy = randn(n * OC, 9);
    std::vector<float> out(n * OC), ref(n * OC);
    matmul_forward(out.data(), x.data(), w.data(), n, IC, OC, pool);
    matmul_forward_ref(ref.data(), x.data(), w.data(), n, IC, OC);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-4f) << i;
    std::vector<float> dx(n * IC, 0.5f), dw(OC * IC, 0.25f), dx_ref = dx, dw_ref = dw;
      matmul_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), n, IC, OC,
                    pool);
    matmul_backward_ref(dx_ref.data(), dw_ref.data(), dy.data(), x.data(), w.data(), n, IC, OC);
    for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx[i], dx_ref[i], 1e-4f) << i;
    for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw_ref[i], 1e-4f) << i;
  }
}

TEST(TrainOpsFd, Rope) {
  const int64_t T = 5, n = 10, NH = 2, hd = 8;
  for (int64_t n_rot : {hd, int64_t{4}}) {
    std::vector<float> cs(T * n_rot / 2), sn(T * n_rot / 2);
    rope_table(cs.data(), sn.data(), T, n_rot, 10000.0f);
    auto x = randn(n * NH * hd, 10), R = randn(n * NH * hd, 11);
    std::vector<float> out;
    auto obj = [&] {
      out = x;
      rope_forward(out.data(), cs.data(), sn.data(), n, T, NH, hd, n_rot);
      return weighted_sum(out, R);
    };
    std::vector<float> dx = R;
    rope_backward(dx.data(), cs.data(), sn.data(), n, T, NH, hd, n_rot);
    EXPECT_LT(fd_check(x, dx, obj), kFdTol) << "n_rot " << n_rot;
  }
}

TEST(TrainOpsFd, RopeMatchesInferenceAngles) {
  // Row t must be rotated exactly like ops::rope at position t (same table).
  const int64_t T = 7, NH = 3, hd = 8;
  std::vector<float> cs(T * hd / 2), sn(T * hd / 2);
  rope_table(cs.data(), sn.data(), T, hd, 10000.0f);
  auto x = randn(T * NH * hd, 12);
  auto y = x;
  rope_forward(y.data(), cs.data(), sn.data(), T, T, NH, hd, hd);
  // Position 0 is the identity; position t rotates pair i by t * base^(-2i/hd).
  for (int64_t i = 0; i < NH * hd; ++i) EXPECT_EQ(y[i], x[i]);
  const double ang = 6.0 * std::pow(10000.0, -2.0 * 1 / hd);
  const float* x6 = x.data() + 6 * NH * hd;
  const float* y6 = y.data() + 6 * NH * hd;
  EXPECT_NEAR(y6[2], x6[2] * std::cos(ang) - x6[3] * std::sin(ang), 1e-5);
}

void attention_fd(int64_t NH, int64_t NKV, int64_t T = 4, int64_t window = 0, int64_t hd_v = 4) {
  ThreadPool pool(2);
  const int64_t B = 2, hd = 4, N = B * T;
  auto q = randn(N * NH * hd, 13), k = randn(N * NKV * hd, 14), v = randn(N * NKV * hd_v, 15);
  auto R = randn(N * NH * hd_v, 16);
  std::vector<float> out(N * NH * hd_v), att(B * NH * T * T);
  std::vector<float> scratch(attention_scratch_floats(T, std::max(hd, hd_v), pool.n_threads()));
  auto obj = [&] {
    attention_forward(out.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), B, T,
                      NH, NKV, hd, pool, window, hd_v);
    return weighted_sum(out, R);
  };
  obj();
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), R.data(), q.data(), k.data(),
                     v.data(), att.data(), B, T, NH, NKV, hd, pool, window, hd_v);
  EXPECT_LT(fd_check(q, dq, obj), kFdTol);
  EXPECT_LT(fd_check(k, dk, obj), kFdTol);
  EXPECT_LT(fd_check(v, dv, obj), kFdTol);
  // Causality: the first query's output equals v[0] exactly.
  for (int64_t d = 0; d < hd_v; ++d) EXPECT_EQ(out[d], v[d]);
  // The mask: query t puts probability exactly on keys t - W < u <= t.
  obj();
  for (int64_t bh = 0; bh < B * NH; ++bh) {
    for (int64_t t = 0; t < T; ++t) {
      double sum = 0.0;
      for (int64_t u = 0; u < T; ++u) {
        const float p = att[(bh * T + t) * T + u];
        const bool visible = u <= t && (window == 0 || t - u < window);
        if (visible) {
          EXPECT_GT(p, 0.0f) << t << " " << u;
        } else {
          EXPECT_EQ(p, 0.0f) << t << " " << u;
        }
        sum += p;
      }
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
  }
}

TEST(TrainOpsFd, AttentionMha) { attention_fd(2, 2); }
TEST(TrainOpsFd, AttentionGqa) { attention_fd(4, 2); }
TEST(TrainOpsFd, AttentionMqa) { attention_fd(3, 1); }
// Sliding window smaller than the sequence: keys older than W-1 positions
// get neither probability nor gradient.
TEST(TrainOpsFd, AttentionSlidingWindowGqa) { attention_fd(4, 2, 12, 5); }
TEST(TrainOpsFd, AttentionSlidingWindowMha) { attention_fd(2, 2, 12, 1); }
// Value heads of another size than query/key heads (MLA's decompressed form).
TEST(TrainOpsFd, AttentionValueHeadSize) { attention_fd(2, 2, 6, 0, 3); }
TEST(TrainOpsFd, AttentionValueHeadSizeWindowed) { attention_fd(2, 1, 7, 3, 6); }

TEST(TrainOps, AttentionWindowAtLeastTIsFullCausal) {
  // W >= T masks nothing: bit-identical to full causal attention.
  ThreadPool pool(2);
  const int64_t B = 1, T = 9, NH = 2, hd = 4, N = B * T;
  auto q = randn(N * NH * hd, 40), k = randn(N * NH * hd, 41), v = randn(N * NH * hd, 42);
  std::vector<float> full(N * NH * hd), win(N * NH * hd), att(B * NH * T * T);
  std::vector<float> scratch(attention_scratch_floats(T, hd, 2));
  attention_forward(full.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), B, T, NH,
                    NH, hd, pool);
  attention_forward(win.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), B, T, NH,
                    NH, hd, pool, T);
  EXPECT_EQ(full, win);
  // A window of 1: every query sees only itself, so out = v.
  attention_forward(win.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), B, T, NH,
                    NH, hd, pool, 1);
  EXPECT_EQ(win, v);
}

TEST(TrainOpsFd, Swiglu) {
  ThreadPool pool(2);
  const int64_t n = 12;
  auto g = randn(n, 17, 2.0f), u = randn(n, 18), R = randn(n, 19);
  std::vector<float> out(n), dg(n), du(n);
  auto obj = [&] {
    swiglu_forward(out.data(), g.data(), u.data(), n, pool);
    return weighted_sum(out, R);
  };
  swiglu_backward(dg.data(), du.data(), R.data(), g.data(), u.data(), n, pool);
  EXPECT_LT(fd_check(g, dg, obj), kFdTol);
  EXPECT_LT(fd_check(u, du, obj), kFdTol);
}

TEST(TrainOpsFd, CrossEntropy) {
  ThreadPool pool(2);
  const int64_t n = 3, V = 11;
  auto z = randn(n * V, 20, 2.0f);
  const std::vector<int32_t> targets = {3, 0, 10};
  std::vector<float> losses(n), probs(n * V);
  auto obj = [&] {
    crossentropy_forward(losses.data(), probs.data(), z.data(), targets.data(), n, V, pool);
    double s = 0.0;
    for (float l : losses) s += l;
    return s / static_cast<double>(n);
  };
  obj();
  // The loss equals -log(prob[target]).
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(losses[i], -std::log(probs[i * V + targets[i]]), 1e-5);
  std::vector<float> dz(n * V);
  crossentropy_backward(dz.data(), 1.0f / n, probs.data(), targets.data(), n, V, pool);
  EXPECT_LT(fd_check(z, dz, obj), kFdTol);
  // In place (dlogits aliasing probs) gives the same result.
  obj();  // fd_check left probs of a perturbed input
  std::vector<float> inplace = probs;
  crossentropy_backward(inplace.data(), 1.0f / n, inplace.data(), targets.data(), n, V, pool);
  for (size_t i = 0; i < dz.size(); ++i) EXPECT_EQ(inplace[i], dz[i]);
}

TEST(TrainOpsFd, Embedding) {
  const int64_t V = 5, C = 3, n = 6;
  auto wte = randn(V * C, 21), R = randn(n * C, 22);
  const std::vector<int32_t> ids = {1, 4, 1, 0, 1, 3};  // repeats accumulate
  std::vector<float> out(n * C), dw(V * C);
  auto obj = [&] {
    embedding_forward(out.data(), ids.data(), wte.data(), n, C);
    return weighted_sum(out, R);
  };
  embedding_backward(dw.data(), R.data(), ids.data(), n, C);
  EXPECT_LT(fd_check(wte, dw, obj), kFdTol);
  for (int64_t c = 0; c < C; ++c) EXPECT_EQ(dw[2 * C + c], 0.0f);  // unused row
}

// ---- MLA data movement: linear maps, so backward = transpose of forward ----

TEST(TrainOpsFd, SplitCols) {
  const int64_t n = 4, ca = 5, cb = 3;
  auto x = randn(n * (ca + cb), 50), Ra = randn(n * ca, 51), Rb = randn(n * cb, 52);
  std::vector<float> a(n * ca), b(n * cb), dx(x.size());
  auto obj = [&] {
    split_cols_forward(a.data(), b.data(), x.data(), n, ca, cb);
    return weighted_sum(a, Ra) + weighted_sum(b, Rb);
  };
  obj();
  EXPECT_EQ(a[ca], x[ca + cb]);      // row 1 starts after a whole input row
  EXPECT_EQ(b[0], x[ca]);
  split_cols_backward(dx.data(), Ra.data(), Rb.data(), n, ca, cb);
  EXPECT_LT(fd_check(x, dx, obj), kFdTol);
}

TEST(TrainOpsFd, MlaKeys) {
  const int64_t n = 3, NH = 4, nope = 3, rope = 2, hk = nope + rope;
  auto kn = randn(n * NH * nope, 53), kpe = randn(n * rope, 54), R = randn(n * NH * hk, 55);
  std::vector<float> k(n * NH * hk), dkn(kn.size()), dkpe(kpe.size());
  auto obj = [&] {
    mla_keys_forward(k.data(), kn.data(), kpe.data(), n, NH, nope, rope);
    return weighted_sum(k, R);
  };
  obj();
  // Row 2, head 3: its own k_nope, then the row's shared k_pe.
  EXPECT_EQ(k[(2 * NH + 3) * hk + 1], kn[(2 * NH + 3) * nope + 1]);
  EXPECT_EQ(k[(2 * NH + 3) * hk + nope + 1], kpe[2 * rope + 1]);
  mla_keys_backward(dkn.data(), dkpe.data(), R.data(), n, NH, nope, rope);
  EXPECT_LT(fd_check(kn, dkn, obj), kFdTol);
  EXPECT_LT(fd_check(kpe, dkpe, obj), kFdTol);
}

TEST(TrainOpsFd, HeadTransposeAsKbWeight) {
  // attn_k_b {nope, r, NH} as the linear weight [NH*nope, r]: matmul with it
  // gives k_nope[h][i] = sum_j W_kb[h][j][i] c[j], as the engine's
  // decompressed MLA.
  ThreadPool pool(2);
  const int64_t NH = 3, r = 4, nope = 5, n = 2;
  auto wkb = randn(NH * r * nope, 56), c = randn(n * r, 57), R = randn(n * NH * nope, 58);
  std::vector<float> wt(wkb.size()), out(n * NH * nope), dwt(wkb.size()), dw(wkb.size());
  auto obj = [&] {
    head_transpose_forward(wt.data(), wkb.data(), NH, r, nope);
    matmul_forward(out.data(), c.data(), wt.data(), n, r, NH * nope, pool);
    return weighted_sum(out, R);
  };
  obj();
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t i = 0; i < nope; ++i) {
        double ref = 0.0;
        for (int64_t j = 0; j < r; ++j) ref += static_cast<double>(wkb[(h * r + j) * nope + i]) * c[t * r + j];
        EXPECT_NEAR(out[(t * NH + h) * nope + i], ref, 1e-5);
      }
    }
  }
  matmul_backward(nullptr, dwt.data(), R.data(), c.data(), wt.data(), n, r, NH * nope, pool);
  head_transpose_backward(dw.data(), dwt.data(), NH, r, nope);
  EXPECT_LT(fd_check(wkb, dw, obj), kFdTol);
}

TEST(TrainOps, BackwardIsThreadCountIndependent) {
  const int64_t B = 2, T = 6, NH = 4, NKV = 2, hd = 4, N = B * T, C = 24;
  for (int64_t window : {int64_t{0}, int64_t{3}}) {
    auto q = randn(N * NH * hd, 23), k = randn(N * NKV * hd, 24), v = randn(N * NKV * hd, 25);
    auto dout = randn(N * NH * hd, 26), x = randn(N * C, 27), w = randn(C, 28), g = randn(N * C, 29);
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> out(N * NH * hd), att(B * NH * T * T);
      std::vector<float> scratch(attention_scratch_floats(T, hd, threads));
      attention_forward(out.data(), att.data(), scratch.data(), q.data(), k.data(), v.data(), B, T, NH, NKV, hd, pool, window);
      std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
      attention_backward(dq.data(), dk.data(), dv.data(), scratch.data(), dout.data(), q.data(),
                         k.data(), v.data(), att.data(), B, T, NH, NKV, hd, pool, window);
      std::vector<float> y(N * C), rstd(N), dx(N * C), dw(C);
      rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f, pool);
      rmsnorm_backward(dx.data(), dw.data(), g.data(), x.data(), w.data(), rstd.data(), N, C, pool);
      std::vector<float> all;
      for (const auto* vec : {&out, &dq, &dk, &dv, &y, &dx, &dw}) all.insert(all.end(), vec->begin(), vec->end());
      results.push_back(all);
    }
    EXPECT_EQ(results[0], results[1]) << "window " << window;
    EXPECT_EQ(results[0], results[2]) << "window " << window;
  }
}

}  // namespace
}  // namespace ef::train
