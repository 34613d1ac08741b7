// Sampler tests: each filter on hand-computed examples, determinism per seed,
// and the empirical distribution of draws.
#include "edgeformer/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace ef {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Options with every filter off and temperature 1: plain softmax sampling.
SamplerOptions plain(uint64_t seed = 1) {
  SamplerOptions o;
  o.temperature = 1.0f;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.seed = seed;
  return o;
}

std::vector<int32_t> ids_of(std::span<const Sampler::Candidate> c) {
  std::vector<int32_t> ids;
  for (const auto& x : c) ids.push_back(x.second);
  return ids;
}

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> log_probs(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

// Test-local pseudo-random logits (independent of the sampler's RNG).
std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<float> l(n);
  for (auto& x : l) x = static_cast<float>(g() % 20001) / 1000.0f - 10.0f;
  return l;
}

int32_t argmax_lowest(const std::vector<float>& l) {
  int32_t best = 0;
  for (size_t i = 1; i < l.size(); ++i) {
    if (l[i] > l[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplerOptions o = plain();
  o.temperature = 0.0f;
  Sampler s(o);
  const std::vector<float> l = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
  EXPECT_EQ(s.sample(l), 1);
  const std::vector<float> l2 = {-5.0f, -kInf, -4.0f, -4.5f};
  EXPECT_EQ(s.sample(l2), 2);
  o.temperature = -1.0f;  // any non-positive temperature is greedy
  Sampler s2(o);
  EXPECT_EQ(s2.sample(l), 1);
  ASSERT_EQ(s2.last_candidates().size(), 1u);
  EXPECT_EQ(s2.last_candidates()[0].second, 1);
}

TEST(Sampler, TopK1EqualsGreedyAtAnyTemperature) {
  for (float temp : {0.05f, 0.8f, 1.5f, 10.0f, 100.0f}) {
    SamplerOptions o;  // defaults for top-p / min-p
    o.top_k = 1;
    o.temperature = temp;
    o.seed = 7;
    Sampler s(o);
    for (uint32_t trial = 0; trial < 40; ++trial) {
      const auto l = random_logits(300, trial);
      EXPECT_EQ(s.sample(l), argmax_lowest(l)) << "temp " << temp << " trial " << trial;
    }
  }
}

TEST(Sampler, TopKKeepsTheKBest) {
  SamplerOptions o = plain();
  o.top_k = 3;
  Sampler s(o);
  const std::vector<float> l = {0.0f, 5.0f, 1.0f, 4.0f, 4.0f, -2.0f};
  s.sample(l);
  EXPECT_EQ(ids_of(s.last_candidates()), (std::vector<int32_t>{1, 3, 4}));
  for (int i = 0; i < 200; ++i) {
    const int32_t t = s.sample(l);
    EXPECT_TRUE(t == 1 || t == 3 || t == 4) << t;
  }
}

// probs by id: {0.1, 0.5, 0.15, 0.25}; sorted: 1 (.5), 3 (.25), 2 (.15), 0 (.1).
// Cumulative: .5, .75, .9, 1.0.
TEST(Sampler, TopPKeepsSmallestPrefixReachingP) {
  const auto l = log_probs({0.1, 0.5, 0.15, 0.25});
  struct Case {
    float p;
    std::vector<int32_t> ids;
  };
  const Case cases[] = {
      {0.3f, {1}}, {0.5f - 1e-4f, {1}}, {0.7f, {1, 3}}, {0.8f, {1, 3, 2}},
      {0.95f, {1, 3, 2, 0}}, {0.999f, {1, 3, 2, 0}}, {0.0f, {1}},
  };
  for (const Case& c : cases) {
    SamplerOptions o = plain();
    o.top_p = c.p;
    Sampler s(o);
    s.sample(l);
    EXPECT_EQ(ids_of(s.last_candidates()), c.ids) << "top_p " << c.p;
  }
}

// Beyond the first partial sort (256 tokens) top-p must sort the rest too.
TEST(Sampler, TopPOnLargeFlatVocabMatchesBruteForce) {
  const size_t n = 3000;
  std::vector<float> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = static_cast<float>((i * 7919) % n) * 1e-3f;
  const float p = 0.9f;
  // Brute force: sort descending, cumulate the softmax.
  std::vector<std::pair<float, int32_t>> sorted;
  for (size_t i = 0; i < n; ++i) sorted.push_back({l[i], static_cast<int32_t>(i)});
  std::sort(sorted.begin(), sorted.end(), [](auto a, auto b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  double sum = 0;
  for (auto& x : sorted) sum += std::exp(static_cast<double>(x.first - sorted[0].first));
  size_t keep = 0;
  double cum = 0;
  while (keep < n) {
    cum += std::exp(static_cast<double>(sorted[keep].first - sorted[0].first)) / sum;
    ++keep;
    if (cum >= p) break;
  }
  ASSERT_GT(keep, 256u);  // the example must exercise the fallback
  SamplerOptions o = plain();
  o.top_p = p;
  Sampler s(o);
  s.sample(l);
  const auto got = ids_of(s.last_candidates());
  ASSERT_EQ(got.size(), keep);
  for (size_t i = 0; i < keep; ++i) EXPECT_EQ(got[i], sorted[i].second) << i;
}

// Same distribution: p_max = 0.5; min_p keeps p >= min_p * 0.5.
TEST(Sampler, MinPKeepsTokensAboveFractionOfMax) {
  const auto l = log_probs({0.1, 0.5, 0.15, 0.25});
  struct Case {
    float min_p;
    std::vector<int32_t> ids;
  };
  const Case cases[] = {
      {0.1f, {1, 3, 2, 0}},  // >= 0.05
      {0.25f, {1, 3, 2}},    // >= 0.125
      {0.45f, {1, 3}},       // >= 0.225
      {0.9f, {1}},           // >= 0.45
      {2.0f, {1}},           // nothing qualifies: the best stays
  };
  for (const Case& c : cases) {
    for (int32_t top_k : {0, 4}) {  // unsorted and sorted paths
      SamplerOptions o = plain();
      o.min_p = c.min_p;
      o.top_k = top_k;
      Sampler s(o);
      s.sample(l);
      EXPECT_EQ(ids_of(s.last_candidates()), c.ids) << "min_p " << c.min_p << " top_k " << top_k;
    }
  }
}

TEST(Sampler, FiltersApplyInLlamaCppOrder) {
  // top-k 3 leaves {1,3,2} (p renormalised: .5/.9, .25/.9, .15/.9 = .556, .278,
  // .167); top-p 0.8 then keeps {1,3} (.833 >= .8); min-p 0.6 keeps p >= .333:
  // {1} only, since .278 < .333.
  const auto l = log_probs({0.1, 0.5, 0.15, 0.25});
  SamplerOptions o = plain();
  o.top_k = 3;
  o.top_p = 0.8f;
  Sampler s(o);
  s.sample(l);
  EXPECT_EQ(ids_of(s.last_candidates()), (std::vector<int32_t>{1, 3}));
  o.min_p = 0.6f;
  Sampler s2(o);
  s2.sample(l);
  EXPECT_EQ(ids_of(s2.last_candidates()), (std::vector<int32_t>{1}));
  // Temperature acts last: it scales the survivors' logits.
  o.min_p = 0.0f;
  o.temperature = 0.5f;
  Sampler s3(o);
  s3.sample(l);
  ASSERT_EQ(s3.last_candidates().size(), 2u);
  EXPECT_FLOAT_EQ(s3.last_candidates()[0].first, l[1] / 0.5f);
  EXPECT_FLOAT_EQ(s3.last_candidates()[1].first, l[3] / 0.5f);
}

TEST(Sampler, PenaltiesOnHandComputedExample) {
  const std::vector<float> l = {2.0f, -1.0f, 0.5f, 3.0f};
  const std::vector<int32_t> history = {0, 1, 0, 3, 3, 3};
  SamplerOptions o = plain();
  o.repeat_penalty = 2.0f;
  o.frequency_penalty = 0.1f;
  o.presence_penalty = 0.5f;

  // Window of 4: [0, 3, 3, 3] -> counts {0: 1, 3: 3}.
  o.penalty_last_n = 4;
  {
    Sampler s(o);
    for (int32_t t : history) s.accept(t);
    s.sample(l);
    const auto c = s.last_candidates();  // filters off: id order
    ASSERT_EQ(c.size(), 4u);
    EXPECT_FLOAT_EQ(c[0].first, 2.0f / 2 - 0.1f * 1 - 0.5f);  // 0.4
    EXPECT_FLOAT_EQ(c[1].first, -1.0f);                       // outside the window
    EXPECT_FLOAT_EQ(c[2].first, 0.5f);                        // never seen
    EXPECT_FLOAT_EQ(c[3].first, 3.0f / 2 - 0.1f * 3 - 0.5f);  // 0.7
  }
  // Whole history: counts {0: 2, 1: 1, 3: 3}; a negative logit is multiplied.
  o.penalty_last_n = -1;
  {
    Sampler s(o);
    for (int32_t t : history) s.accept(t);
    s.sample(l);
    const auto c = s.last_candidates();
    EXPECT_FLOAT_EQ(c[0].first, 2.0f / 2 - 0.1f * 2 - 0.5f);   // 0.3
    EXPECT_FLOAT_EQ(c[1].first, -1.0f * 2 - 0.1f * 1 - 0.5f);  // -2.6
    EXPECT_FLOAT_EQ(c[2].first, 0.5f);
    EXPECT_FLOAT_EQ(c[3].first, 0.7f);
    // Counts are per call: a second sample sees the same penalised logits.
    s.sample(l);
    EXPECT_FLOAT_EQ(s.last_candidates()[0].first, 0.3f);
  }
  // penalty_last_n = 0 disables penalties.
  o.penalty_last_n = 0;
  {
    Sampler s(o);
    for (int32_t t : history) s.accept(t);
    s.sample(l);
    EXPECT_FLOAT_EQ(s.last_candidates()[3].first, 3.0f);
  }
}

TEST(Sampler, GreedyUsesPenalisedLogits) {
  SamplerOptions o = plain();
  o.temperature = 0.0f;
  o.repeat_penalty = 1.5f;
  Sampler s(o);
  const std::vector<float> l = {1.0f, 1.4f, 0.2f};
  EXPECT_EQ(s.sample(l), 1);
  s.accept(1);  // 1.4 / 1.5 = 0.933 < 1.0
  EXPECT_EQ(s.sample(l), 0);
  s.reset();  // forgets the history
  EXPECT_EQ(s.sample(l), 1);
  // Out-of-range ids in the history are ignored.
  s.accept(-3);
  s.accept(99);
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  const std::vector<float> flat(100, 0.0f);
  auto run = [&](Sampler& s) {
    std::vector<int32_t> seq;
    for (int i = 0; i < 1000; ++i) seq.push_back(s.sample(flat));
    return seq;
  };
  Sampler a(plain(42)), b(plain(42)), c(plain(43));
  const auto sa = run(a), sb = run(b), sc = run(c);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  // Sanity: the flat draws cover the vocabulary.
  EXPECT_GT(std::set<int32_t>(sa.begin(), sa.end()).size(), 90u);
  a.reset();
  EXPECT_EQ(run(a), sa);
}

TEST(Sampler, EmpiricalFrequenciesWithinThreeSigma) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  // A permutation of ids so sorting matters, and a temperature that the
  // logits undo: logits = T * log p, so softmax(logits / T) = p.
  const std::vector<int32_t> id_of = {2, 0, 3, 1};
  const float temp = 0.7f;
  std::vector<float> l(4);
  for (size_t k = 0; k < 4; ++k) {
    l[static_cast<size_t>(id_of[k])] = temp * static_cast<float>(std::log(probs[k]));
  }
  for (bool sorted_path : {false, true}) {
    SamplerOptions o = plain(123);
    o.temperature = temp;
    o.top_k = sorted_path ? 4 : 0;
    Sampler s(o);
    const int n = 20000;
    std::vector<int> counts(4, 0);
    for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.sample(l))];
    for (size_t k = 0; k < 4; ++k) {
      const double expected = n * probs[k];
      const double sigma = std::sqrt(n * probs[k] * (1 - probs[k]));
      EXPECT_NEAR(counts[static_cast<size_t>(id_of[k])], expected, 3 * sigma)
          << "p=" << probs[k] << (sorted_path ? " sorted" : " unsorted");
    }
  }
}

TEST(Sampler, NoNaNWithInfiniteAndNaNLogits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> l = {-kInf, 1.0f, -kInf, nan, 0.5f, -kInf, -2.0f, -kInf};
  SamplerOptions o;  // the default chain
  o.repeat_penalty = 1.3f;
  o.frequency_penalty = 0.2f;
  o.presence_penalty = 0.1f;
  Sampler s(o);
  for (int32_t t : {0, 2, 3, 1}) s.accept(t);
  for (int i = 0; i < 500; ++i) {
    const int32_t t = s.sample(l);
    ASSERT_TRUE(t == 1 || t == 4 || t == 6) << t;
    for (const auto& c : s.last_candidates()) {
      EXPECT_FALSE(std::isnan(c.first));
      EXPECT_TRUE(std::isfinite(c.first)) << "token " << c.second;
    }
    s.accept(t);
  }
  // Every logit -inf: still a valid token, never NaN.
  const std::vector<float> dead(5, -kInf);
  for (float temp : {0.0f, 0.8f}) {
    SamplerOptions d = o;
    d.temperature = temp;
    Sampler ds(d);
    const int32_t t = ds.sample(dead);
    EXPECT_GE(t, 0);
    EXPECT_LT(t, 5);
  }
  EXPECT_EQ(s.sample(std::span<const float>{}), -1);
}

TEST(Sampler, DefaultChainDrawsFromTopK) {
  const auto l = random_logits(1000, 99);
  std::vector<float> sorted = l;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const float kth = sorted[39];
  SamplerOptions o;  // top-k 40, top-p 0.95, min-p 0.05, temp 0.8
  Sampler s(o);
  for (int i = 0; i < 300; ++i) {
    const int32_t t = s.sample(l);
    ASSERT_GE(t, 0);
    EXPECT_GE(l[static_cast<size_t>(t)], kth);
    // min-p: survivors have p >= 0.05 p_max before temperature.
    EXPECT_GE(l[static_cast<size_t>(t)], sorted[0] + std::log(0.05f) - 1e-5f);
  }
}

}  // namespace
}  // namespace ef
