// Session::eval on random tiny models: finite, position/causality sane, and
// bit-identical across micro-batch splits and thread counts.
#include "edgeformer/session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_session_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::unique_ptr<Model> make_model(const TinyModelSpec& spec, const std::string& name) {
  const std::string path = temp_path(name);
  Status s = write_tiny_llama(path, spec);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  auto model = Model::load(path);
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message());
  std::filesystem::remove(path);  // the mapping stays valid
  return model.ok() ? std::move(model).value() : nullptr;
}

std::unique_ptr<Session> make_session(const Model& model, SessionOptions opt) {
  auto s = Session::create(model, opt);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<int32_t> prompt(int n, int n_vocab, int salt = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11 + salt * 101) % n_vocab);
  return t;
}

// All logits of `tokens`, evaluated in calls of `chunk` tokens.
std::vector<float> run(Session& s, const std::vector<int32_t>& tokens, size_t chunk) {
  std::vector<float> all;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t len = std::min(chunk, tokens.size() - i);
    auto r = s.eval(std::span<const int32_t>(tokens.data() + i, len), true);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r.ok()) return {};
    all.insert(all.end(), r->begin(), r->end());
  }
  return all;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TinyModelSpec small_spec(DType type = DType::F32) {
  TinyModelSpec spec;
  spec.n_embd = 64;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 128;
  spec.n_ctx = 128;
  spec.weight_type = type;
  spec.n_vocab_synthetic = 400;
  return spec;
}

TEST(SessionTest, LogitsAreFiniteAndNotFlat) {
  auto model = make_model(small_spec(), "finite.gguf");
  ASSERT_TRUE(model);
  auto s = make_session(*model, {});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->n_ctx(), 128);  // min(n_ctx_train, 4096)
  EXPECT_GE(s->options().n_threads, 1);
  auto r = s->eval(prompt(5, 400));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 400u);
  double sum = 0, sq = 0;
  for (float v : *r) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sq += double(v) * v;
  }
  const double mean = sum / 400, var = sq / 400 - mean * mean;
  EXPECT_GT(std::sqrt(var), 0.1);  // random weights give spread-out logits
  EXPECT_EQ(s->n_past(), 5);
  EXPECT_GT(s->kv_cache_bytes(), 0u);
  EXPECT_GT(s->scratch_bytes(), 0u);
}

TEST(SessionTest, MicroBatchSplitsAreBitIdentical) {
  for (KvType kv : {KvType::f16, KvType::f32}) {
    for (DType type : {DType::F32, DType::Q8_0}) {
      auto model = make_model(small_spec(type), "split.gguf");
      ASSERT_TRUE(model);
      const auto tokens = prompt(37, 400);
      std::vector<float> ref;
      // (ubatch, call size, threads); threads vary too so a split that only
      // works single-threaded would show.
      struct Split {
        int64_t ubatch;
        size_t call;
        int threads;
      };
      for (Split sp : {Split{512, 37, 1}, Split{1, 37, 1}, Split{4, 37, 1}, Split{16, 5, 1},
                       Split{512, 1, 1}, Split{7, 3, 2}, Split{16, 37, 2}}) {
        {
          const int64_t ubatch = sp.ubatch;
          const size_t call = sp.call;
          SessionOptions opt;
          opt.n_ubatch = ubatch;
          opt.n_threads = sp.threads;
          opt.kv_type = kv;
          auto s = make_session(*model, opt);
          ASSERT_TRUE(s);
          auto all = run(*s, tokens, call);
          ASSERT_EQ(all.size(), tokens.size() * 400);
          if (ref.empty()) {
            ref = all;
          } else {
            EXPECT_TRUE(bit_equal(ref, all))
                << "ubatch " << ubatch << " call " << call << " type " << dtype_name(type);
          }
        }
      }
    }
  }
}

TEST(SessionTest, ThreadCountDoesNotChangeLogits) {
  for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    auto model = make_model(small_spec(type), "threads.gguf");
    ASSERT_TRUE(model);
    const auto tokens = prompt(40, 400);
    std::vector<float> ref;
    for (int threads : {1, 2, 3}) {
      SessionOptions opt;
      opt.n_threads = threads;
      opt.n_ubatch = 16;
      auto s = make_session(*model, opt);
      ASSERT_TRUE(s);
      auto all = run(*s, tokens, tokens.size());
      if (ref.empty()) {
        ref = all;
        for (float v : all) ASSERT_TRUE(std::isfinite(v)) << dtype_name(type);
      } else {
        EXPECT_TRUE(bit_equal(ref, all)) << threads << " threads, " << dtype_name(type);
      }
    }
  }
}

TEST(SessionTest, LastLogitsEqualLastRowOfAllLogits) {
  auto model = make_model(small_spec(), "last.gguf");
  ASSERT_TRUE(model);
  const auto tokens = prompt(9, 400);
  SessionOptions opt;
  opt.n_ubatch = 4;
  auto a = make_session(*model, opt);
  auto b = make_session(*model, opt);
  auto all = run(*a, tokens, tokens.size());
  auto last = b->eval(tokens, false);
  ASSERT_TRUE(last.ok());
  std::vector<float> last_row(all.end() - 400, all.end());
  EXPECT_TRUE(bit_equal(last_row, std::vector<float>(last->begin(), last->end())));
}

TEST(SessionTest, CausalAndPositionDependent) {
  auto model = make_model(small_spec(), "causal.gguf");
  ASSERT_TRUE(model);
  auto s = make_session(*model, {});
  auto t1 = prompt(6, 400);
  auto t2 = t1;
  t2[5] = (t2[5] + 1) % 400;  // only the last token differs
  auto a = run(*s, t1, t1.size());
  s->reset();
  EXPECT_EQ(s->n_past(), 0);
  auto b = run(*s, t2, t2.size());
  // Rows 0..4 cannot see token 5.
  EXPECT_TRUE(bit_equal(std::vector<float>(a.begin(), a.begin() + 5 * 400),
                        std::vector<float>(b.begin(), b.begin() + 5 * 400)));
  EXPECT_FALSE(bit_equal(std::vector<float>(a.begin() + 5 * 400, a.end()),
                         std::vector<float>(b.begin() + 5 * 400, b.end())));
  // The same token at a different position (after a different prefix) gives
  // different logits; after reset() the same prompt gives the same logits.
  s->reset();
  auto c = run(*s, t1, t1.size());
  EXPECT_TRUE(bit_equal(a, c));
  s->reset();
  auto single = run(*s, {t1[0]}, 1);
  EXPECT_TRUE(bit_equal(single, std::vector<float>(a.begin(), a.begin() + 400)));
  auto again = run(*s, {t1[0]}, 1);  // same token, position 1
  EXPECT_FALSE(bit_equal(single, again));
}

TEST(SessionTest, KvCacheTypesAgreeClosely) {
  auto model = make_model(small_spec(), "kvtype.gguf");
  ASSERT_TRUE(model);
  const auto tokens = prompt(20, 400);
  SessionOptions o16, o32;
  o32.kv_type = KvType::f32;
  auto a = run(*make_session(*model, o16), tokens, tokens.size());
  auto b = run(*make_session(*model, o32), tokens, tokens.size());
  ASSERT_EQ(a.size(), b.size());
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, double(std::abs(a[i] - b[i])));
  EXPECT_LT(max_diff, 0.05);  // F16 rounding of K/V only
  EXPECT_GT(max_diff, 0.0);   // ... but it does round
}

TEST(SessionTest, AttentionHeadLayouts) {
  // MHA (kv = heads), GQA and MQA (one KV head), and partial rotary dims are
  // exercised through the same code; all must run and be finite.
  for (int64_t kv_heads : {4, 2, 1}) {
    auto spec = small_spec();
    spec.n_head_kv = kv_heads;
    auto model = make_model(spec, "heads.gguf");
    ASSERT_TRUE(model);
    auto s = make_session(*model, {});
    auto all = run(*s, prompt(10, 400), 10);
    ASSERT_EQ(all.size(), 4000u);
    for (float v : all) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(SessionTest, QuantizedModelsTrackF32) {
  // Same seed: the quantized weights are roundings of the F32 ones, so logits
  // must correlate strongly (a wrong dequantization or layout would not).
  auto ref_model = make_model(small_spec(DType::F32), "q_ref.gguf");
  const auto tokens = prompt(12, 400);
  auto ref = run(*make_session(*ref_model, {}), tokens, tokens.size());
  for (DType type : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    auto model = make_model(small_spec(type), "q.gguf");
    ASSERT_TRUE(model);
    auto got = run(*make_session(*model, {}), tokens, tokens.size());
    ASSERT_EQ(got.size(), ref.size());
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      sab += double(ref[i]) * got[i];
      saa += double(ref[i]) * ref[i];
      sbb += double(got[i]) * got[i];
    }
    const double corr = sab / std::sqrt(saa * sbb);
    EXPECT_GT(corr, type == DType::Q4_0 ? 0.95 : 0.99) << dtype_name(type);
  }
}

TEST(SessionTest, RejectsBadInputWithoutChangingState) {
  auto model = make_model(small_spec(), "errors.gguf");
  ASSERT_TRUE(model);
  SessionOptions opt;
  opt.n_ctx = 8;
  auto s = make_session(*model, opt);
  ASSERT_TRUE(s);
  std::vector<int32_t> bad = {1, 2, 400};
  auto r = s->eval(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::out_of_range);
  EXPECT_NE(r.error().message().find("400"), std::string::npos);
  EXPECT_NE(r.error().message().find("index 2"), std::string::npos);
  bad = {-1};
  EXPECT_FALSE(s->eval(bad).ok());
  EXPECT_FALSE(s->eval(std::span<const int32_t>()).ok());
  EXPECT_EQ(s->n_past(), 0);

  ASSERT_TRUE(s->eval(prompt(6, 400)).ok());
  auto over = s->eval(prompt(3, 400));
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message().find("context"), std::string::npos);
  EXPECT_EQ(s->n_past(), 6);
  EXPECT_TRUE(s->eval(prompt(2, 400)).ok());  // exactly fills n_ctx
  EXPECT_EQ(s->n_past(), 8);
  EXPECT_FALSE(s->eval(prompt(1, 400)).ok());
  s->reset();
  EXPECT_TRUE(s->eval(prompt(8, 400)).ok());
}

TEST(SessionTest, RejectsBadOptions) {
  auto model = make_model(small_spec(), "options.gguf");
  ASSERT_TRUE(model);
  SessionOptions opt;
  opt.n_ubatch = 0;
  EXPECT_FALSE(Session::create(*model, opt).ok());
  opt = {};
  opt.n_ctx = -1;
  EXPECT_FALSE(Session::create(*model, opt).ok());
  opt = {};
  opt.n_threads = -3;
  EXPECT_FALSE(Session::create(*model, opt).ok());
  opt = {};
  opt.n_ctx = 1000;  // above the training context is allowed
  opt.n_ubatch = 4096;
  auto s = Session::create(*model, opt);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->n_ctx(), 1000);
  EXPECT_EQ((*s)->options().n_ubatch, 1000);  // clamped to n_ctx
}

}  // namespace
}  // namespace ef
