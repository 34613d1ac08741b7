// Session files: save -> load round trips bit-identically (same logits after
// restore and for every following token, identical greedy continuation), and
// the corruption suite: every truncation, header byte mutations, wrong
// models, huge counts -> clean errors naming field and offset, session left
// empty and usable.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_model.h"
#include "runtime/session_file.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_session_file_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TinyModelSpec spec(uint64_t seed = 42) {
  TinyModelSpec s;
  s.n_embd = 64;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 128;
  s.n_ctx = 128;
  s.n_vocab_synthetic = 400;
  s.seed = seed;
  return s;
}

std::unique_ptr<Model> make_model(const TinyModelSpec& sp, const std::string& name) {
  const std::string path = temp_path(name);
  Status st = write_tiny_llama(path, sp);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  std::filesystem::remove(path);
  return m.ok() ? std::move(m).value() : nullptr;
}

std::unique_ptr<Session> make_session(const Model& m, SessionOptions o = {}) {
  auto s = Session::create(m, o);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<int32_t> prompt(int n, int n_vocab = 400) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % n_vocab);
  return t;
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }
bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}
int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Greedy tokens and the logits of every step, continuing from `first`.
std::vector<std::vector<float>> greedy(Session& s, std::vector<float> first, int steps) {
  std::vector<std::vector<float>> out{first};
  for (int i = 0; i < steps; ++i) {
    const int32_t t = argmax(out.back());
    auto r = s.eval(std::span<const int32_t>(&t, 1));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) break;
    out.push_back(copy(*r));
  }
  return out;
}

struct Variant {
  KvType kv;
  bool flash;
  int64_t swa;  // sliding window (0: none)
};

TEST(SessionFile, RoundTripIsBitIdentical) {
  for (Variant v : {Variant{KvType::f16, false, 0}, Variant{KvType::f32, false, 0},
                    Variant{KvType::f16, true, 0}, Variant{KvType::f32, true, 5},
                    Variant{KvType::f16, false, 5}}) {
    SCOPED_TRACE(testing::Message()
                 << "kv " << int(v.kv) << " flash " << v.flash << " swa " << v.swa);
    TinyModelSpec sp = spec();
    sp.sliding_window = v.swa;
    if (v.swa > 0) sp.swa_pattern = 2;  // layer 0 windowed, layer 1 global
    auto model = make_model(sp, "rt.gguf");
    ASSERT_TRUE(model);
    SessionOptions o;
    o.kv_type = v.kv;
    o.flash_attn = v.flash;
    o.n_ubatch = 4;
    auto a = make_session(*model, o);
    ASSERT_TRUE(a);
    const auto p = prompt(23);
    auto la = a->eval(p);
    ASSERT_TRUE(la.ok());
    const std::vector<float> last = copy(*la);
    const std::string path = temp_path("rt.efsession");
    ASSERT_TRUE(a->save(path).ok());
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));

    // A second model object (same file contents) and a fresh session.
    auto model2 = make_model(sp, "rt2.gguf");
    auto b = make_session(*model2, o);
    ASSERT_TRUE(b);
    auto lb = b->load(path);
    ASSERT_TRUE(lb.ok()) << lb.error().message();
    EXPECT_TRUE(bit_equal(last, copy(*lb)));
    EXPECT_EQ(b->n_past(), 23);
    EXPECT_TRUE(std::equal(p.begin(), p.end(), b->tokens().begin(), b->tokens().end()));

    auto ga = greedy(*a, last, 10);
    auto gb = greedy(*b, copy(*lb), 10);
    ASSERT_EQ(ga.size(), gb.size());
    for (size_t i = 0; i < ga.size(); ++i) EXPECT_TRUE(bit_equal(ga[i], gb[i])) << "step " << i;

    auto info = Session::peek(path);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->n_past, 23);
    EXPECT_EQ(info->kv_type, v.kv);
    EXPECT_TRUE(info->has_logits);
    std::filesystem::remove(path);
  }
}

TEST(SessionFile, RestoredRowsAreTheCacheRows) {
  // A restored session must continue exactly like one that saw the prompt:
  // a restored session that evaluates a *different* next token must match a
  // reference that did the same (so the KV rows, not just logits, came back).
  auto model = make_model(spec(), "rows.gguf");
  auto a = make_session(*model);
  ASSERT_TRUE(a->eval(prompt(17)).ok());
  const std::string path = temp_path("rows.efsession");
  ASSERT_TRUE(a->save(path).ok());
  auto b = make_session(*model);
  ASSERT_TRUE(b->load(path).ok());
  const std::vector<int32_t> next = {5, 77, 301};
  auto ra = a->eval(next, true);
  auto rb = b->eval(next, true);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_TRUE(bit_equal(copy(*ra), copy(*rb)));
  // An empty session (nothing evaluated) round-trips too, without logits.
  auto e = make_session(*model);
  ASSERT_TRUE(e->save(path).ok());
  auto f = make_session(*model);
  auto le = f->load(path);
  ASSERT_TRUE(le.ok()) << le.error().message();
  EXPECT_TRUE(le->empty());
  EXPECT_EQ(f->n_past(), 0);
  std::filesystem::remove(path);
}

class SessionFileCorrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = make_model(spec(), "corrupt.gguf");
    ASSERT_TRUE(model_);
    auto s = make_session(*model_);
    ASSERT_TRUE(s->eval(prompt(9)).ok());
    const std::string path = temp_path("corrupt.efsession");
    ASSERT_TRUE(s->save(path).ok());
    image_ = read_file(path);
    std::filesystem::remove(path);
    target_ = make_session(*model_);
  }
  // Loads `img`, expects failure naming `field` (if given) at `offset`, and
  // checks the target session is empty and still usable afterwards.
  Error expect_fail(const std::vector<uint8_t>& img, const std::string& field = {},
                    int64_t offset = -1) {
    auto r = target_->load_from_bytes(img);
    EXPECT_FALSE(r.ok()) << "corrupt image loaded";
    if (r.ok()) return {};
    Error e = r.take_error();
    EXPECT_NE(e.where.find("offset"), std::string::npos) << e.message();
    if (!field.empty()) {
      EXPECT_NE(e.where.find(field), std::string::npos) << e.message();
    }
    if (offset >= 0) {
      EXPECT_NE(e.where.find("offset " + std::to_string(offset)), std::string::npos) << e.message();
    }
    EXPECT_EQ(target_->n_past(), 0);
    EXPECT_TRUE(target_->tokens().empty());
    return e;
  }
  void patch_u64(std::vector<uint8_t>& img, size_t off, uint64_t v) {
    std::memcpy(img.data() + off, &v, 8);
  }
  std::unique_ptr<Model> model_;
  std::vector<uint8_t> image_;
  std::unique_ptr<Session> target_;
};

TEST_F(SessionFileCorrupt, ImageIsValid) {
  auto r = target_->load_from_bytes(image_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(target_->n_past(), 9);
  // 88 header + 9 tokens + 400 logits + 2 layers x (16 + 9 x (K, V) x kv_dim 32 x F16) + 8.
  EXPECT_EQ(image_.size(), 88u + 36 + 1600 + 2 * (16 + 9 * 2 * 64) + 8);
}

TEST_F(SessionFileCorrupt, EveryTruncationFails) {
  for (size_t len = 0; len < image_.size(); ++len) {
    std::vector<uint8_t> img(image_.begin(), image_.begin() + static_cast<ptrdiff_t>(len));
    expect_fail(img);
  }
  std::vector<uint8_t> longer = image_;
  longer.push_back(0);
  Error e = expect_fail(longer, "file size");
  EXPECT_NE(e.message().find("trailing"), std::string::npos) << e.message();
}

TEST_F(SessionFileCorrupt, HeaderByteMutationsFail) {
  // Every header byte, flipped: each field either fails its own check or the
  // checksum (which covers the header).
  for (size_t i = 0; i < kSessionHeaderBytes; ++i) {
    for (uint8_t x : {uint8_t{0x01}, uint8_t{0xff}}) {
      std::vector<uint8_t> img = image_;
      img[i] ^= x;
      expect_fail(img);
    }
  }
}

TEST_F(SessionFileCorrupt, NamedHeaderFields) {
  std::vector<uint8_t> img = image_;
  img[0] = 'X';
  expect_fail(img, "header.magic", 0);
  img = image_;
  img[4] = 3;
  EXPECT_EQ(expect_fail(img, "header.version", 4).code, Errc::unsupported);
  img = image_;
  img[8] = 7;
  expect_fail(img, "header.kv_type", 8);
  img = image_;
  img[12] = 3;
  expect_fail(img, "header.n_layer", 12);
  img = image_;
  patch_u64(img, 16, 401);
  patch_u64(img, 48, 401);  // n_logits follows n_vocab, or its own check fires first
  expect_fail(img, "header.n_vocab", 16);
  img = image_;
  patch_u64(img, 24, 65);
  expect_fail(img, "header.kv_row_bytes", 24);
  img = image_;
  patch_u64(img, 48, 5);
  expect_fail(img, "header.n_logits", 48);
  img = image_;
  img[60] ^= 1;
  expect_fail(img, "header.config_hash", 56);
  img = image_;
  img[70] ^= 1;
  expect_fail(img, "header.weights_hash", 64);
  img = image_;
  img[88] = 0xff;  // token 0 -> negative id
  img[91] = 0xff;
  expect_fail(img, "tokens[0]", 88);
  img = image_;
  img[image_.size() - 20] ^= 0x10;  // inside the last V row
  Error e = expect_fail(img, "checksum", static_cast<int64_t>(image_.size() - 8));
  EXPECT_NE(e.message().find("checksum"), std::string::npos);
}

TEST_F(SessionFileCorrupt, HugeCountsFailWithoutAllocating) {
  for (uint64_t n : {UINT64_MAX, uint64_t{1} << 62, uint64_t{1} << 40, uint64_t{1} << 24}) {
    std::vector<uint8_t> img = image_;
    patch_u64(img, 40, n);  // n_past
    expect_fail(img, "header.n_past", 40);
    img = image_;
    patch_u64(img, 32, n);  // n_ctx
    patch_u64(img, 40, n);
    expect_fail(img, "header.n_", -1);
    img = image_;
    patch_u64(img, 24, n);  // row bytes
    expect_fail(img, "header.kv_row_bytes", 24);
  }
  // n_past within the file's n_ctx but above the session's context.
  std::vector<uint8_t> img = image_;
  patch_u64(img, 32, 1000);
  patch_u64(img, 40, 1000);
  Error e = expect_fail(img, "header.n_past", 40);
  EXPECT_EQ(e.code, Errc::out_of_range);
  EXPECT_NE(e.hint.find("--ctx"), std::string::npos);
}

TEST_F(SessionFileCorrupt, WrongModelOrCacheType) {
  auto other_weights = make_model(spec(43), "w43.gguf");
  auto s1 = make_session(*other_weights);
  Error e1 = s1->load_from_bytes(image_).take_error();
  EXPECT_NE(e1.where.find("header.weights_hash"), std::string::npos) << e1.message();

  TinyModelSpec deeper = spec();
  deeper.n_layer = 3;
  auto m3 = make_model(deeper, "l3.gguf");
  Error e2 = make_session(*m3)->load_from_bytes(image_).take_error();
  EXPECT_NE(e2.where.find("header.n_layer"), std::string::npos) << e2.message();

  TinyModelSpec theta = spec();
  theta.rope_freq_base = 500000.0f;
  auto mt = make_model(theta, "theta.gguf");
  Error e3 = make_session(*mt)->load_from_bytes(image_).take_error();
  EXPECT_NE(e3.where.find("header.config_hash"), std::string::npos) << e3.message();

  SessionOptions f32;
  f32.kv_type = KvType::f32;
  Error e4 = make_session(*model_, f32)->load_from_bytes(image_).take_error();
  EXPECT_NE(e4.where.find("header.kv_type"), std::string::npos) << e4.message();
  EXPECT_NE(e4.hint.find("--cache-type f16"), std::string::npos) << e4.message();
}

TEST_F(SessionFileCorrupt, FailedLoadLeavesUsableEmptySession) {
  ASSERT_TRUE(target_->eval(prompt(4)).ok());
  ASSERT_GT(image_.size(), 8u);
  std::vector<uint8_t> img = image_;
  img[image_.size() - 1] ^= 1;  // checksum
  expect_fail(img, "checksum");
  // Usable: same logits as a brand-new session.
  auto fresh = make_session(*model_);
  auto a = target_->eval(prompt(6));
  ASSERT_TRUE(a.ok());
  const auto va = copy(*a);
  auto b = fresh->eval(prompt(6));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(bit_equal(va, copy(*b)));
}

TEST(SessionFile, IoErrors) {
  auto model = make_model(spec(), "io.gguf");
  auto s = make_session(*model);
  Error e = s->save("/nonexistent_dir_ef/x.efsession").take_error();
  EXPECT_EQ(e.code, Errc::io);
  auto l = s->load("/nonexistent_dir_ef/x.efsession");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, Errc::io);
  EXPECT_FALSE(Session::peek("/nonexistent_dir_ef/x.efsession").ok());
}

}  // namespace
}  // namespace ef
