// Trainer: bit-for-bit resume, checkpoint validation, data errors, the LR
// schedule, token files, and that training actually learns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "train/token_file.h"
#include "train/trainer.h"

namespace ef::train {
namespace {

TrainOptions small_options() {
  TrainOptions o;
  ModelConfig& c = o.shape;
  c.n_vocab = 37;
  c.n_ctx_train = 16;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_ff = 24;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 4;
  c.n_rot = 4;
  o.batch = 2;
  o.seq = 8;
  o.steps = 8;
  o.grad_accum = 2;
  o.lr.lr = 1e-2f;
  o.lr.min_lr = 1e-3f;
  o.lr.warmup = 2;
  o.seed = 99;
  o.threads = 2;
  o.eval_windows = 5;
  return o;
}

// A corpus with structure to learn: a repeated pseudo-random phrase.
std::vector<int32_t> corpus(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> phrase(13);
  for (int32_t& t : phrase) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = phrase[i % phrase.size()];
  return out;
}

std::string tmp(const char* name) { return ::testing::TempDir() + "/" + name; }

TEST(Trainer, ResumeIsBitIdentical) {
  const TrainOptions o = small_options();
  const auto data = corpus(500, 37, 1), val = corpus(100, 37, 2);
  const int64_t k = o.steps / 2;

  auto full = Trainer::create(o, data, val);
  ASSERT_TRUE(full.ok()) << full.error().message();
  std::vector<float> losses_full;
  for (int64_t s = 0; s < o.steps; ++s) losses_full.push_back((*full)->step().loss);

  auto first = Trainer::create(o, data, val);
  ASSERT_TRUE(first.ok());
  std::vector<float> losses_resumed;
  for (int64_t s = 0; s < k; ++s) losses_resumed.push_back((*first)->step().loss);
  const std::string ckpt = tmp("resume.ckpt");
  ASSERT_TRUE((*first)->save_checkpoint(ckpt, "{\"test\":1}").ok());
  first->reset();  // the "killed" process

  TrainOptions o2 = o;
  o2.threads = 1;  // a resumed run may use another thread count
  auto second = Trainer::create(o2, data, val);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->load_checkpoint(ckpt).ok());
  EXPECT_EQ((*second)->steps_done(), k);
  for (int64_t s = k; s < o.steps; ++s) losses_resumed.push_back((*second)->step().loss);

  ASSERT_EQ(losses_full.size(), losses_resumed.size());
  for (size_t i = 0; i < losses_full.size(); ++i) {
    EXPECT_EQ(std::memcmp(&losses_full[i], &losses_resumed[i], 4), 0) << "step " << i;
  }
  const int64_t n = (*full)->model().n_params();
  EXPECT_EQ(0, std::memcmp((*full)->model().params(), (*second)->model().params(), n * 4));
  EXPECT_EQ(0, std::memcmp((*full)->optimizer().m(), (*second)->optimizer().m(), n * 4));
  auto cfg = Trainer::read_checkpoint_config(ckpt);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(*cfg, "{\"test\":1}");
}

TEST(Trainer, CorruptOrForeignCheckpointIsRejected) {
  const TrainOptions o = small_options();
  const auto data = corpus(500, 37, 1), val = corpus(100, 37, 2);
  auto t = Trainer::create(o, data, val);
  ASSERT_TRUE(t.ok());
  (*t)->step();
  const std::string ckpt = tmp("corrupt.ckpt");
  ASSERT_TRUE((*t)->save_checkpoint(ckpt, "{}").ok());
  std::vector<char> bytes;
  {
    std::ifstream in(ckpt, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // A flipped byte in the weights and a truncated file are both caught.
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<char> bad = bytes;
    if (variant == 0) bad[bad.size() / 2] ^= 1;
    else bad.erase(bad.begin() + static_cast<std::ptrdiff_t>(bad.size() / 2), bad.end());
    std::ofstream(ckpt, std::ios::binary).write(bad.data(), static_cast<std::streamsize>(bad.size()));
    auto fresh = Trainer::create(o, data, val);
    ASSERT_TRUE(fresh.ok());
    std::vector<float> before((*fresh)->model().params(), (*fresh)->model().params() + 10);
    const Status s = (*fresh)->load_checkpoint(ckpt);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::format);
    EXPECT_EQ(0, std::memcmp(before.data(), (*fresh)->model().params(), 40));  // untouched
  }
  // Same shape, different data: refused.
  std::ofstream(ckpt, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  auto other = Trainer::create(o, corpus(500, 37, 5), val);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->load_checkpoint(ckpt).ok());
  // Other shape: refused.
  TrainOptions o3 = o;
  o3.shape.n_ff = 32;
  auto shaped = Trainer::create(o3, data, val);
  ASSERT_TRUE(shaped.ok());
  EXPECT_FALSE((*shaped)->load_checkpoint(ckpt).ok());
}

TEST(Trainer, BadDataIsRejectedClearly) {
  const TrainOptions o = small_options();
  const auto val = corpus(100, 37, 2);
  auto empty = Trainer::create(o, {}, val);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().what.find("empty"), std::string::npos);
  auto shorter = Trainer::create(o, corpus(8, 37, 1), val);  // == seq: no window with a target
  ASSERT_FALSE(shorter.ok());
  EXPECT_NE(shorter.error().what.find("sequence"), std::string::npos);
  auto foreign = Trainer::create(o, std::vector<int32_t>(100, 37), val);  // id == n_vocab
  EXPECT_FALSE(foreign.ok());
  auto huge = Trainer::create(o, corpus(500, 37, 1), val, /*max_bytes=*/1024);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, Errc::out_of_memory);
}

TEST(Trainer, LearnsARepeatedPhrase) {
  TrainOptions o = small_options();
  o.steps = 60;
  o.grad_accum = 1;
  o.lr.warmup = 5;
  o.lr.lr = 3e-2f;
  const auto data = corpus(2000, 37, 1);
  const auto val = corpus(200, 37, 1);  // same phrase: held-out text of the same kind
  auto t = Trainer::create(o, data, val);
  ASSERT_TRUE(t.ok());
  const float before = (*t)->evaluate();
  for (int64_t s = 0; s < o.steps; ++s) (*t)->step();
  const float after = (*t)->evaluate();
  EXPECT_NEAR(before, std::log(37.0f), 0.2f);  // untrained: about uniform
  EXPECT_LT(after, 0.5f * before) << before << " -> " << after;
}

TEST(Trainer, LrScheduleWarmupThenCosine) {
  LrSchedule s;
  s.lr = 1.0f;
  s.min_lr = 0.1f;
  s.warmup = 4;
  s.total = 14;
  EXPECT_FLOAT_EQ(s.at(0), 0.25f);
  EXPECT_FLOAT_EQ(s.at(3), 1.0f);
  EXPECT_FLOAT_EQ(s.at(4), 1.0f);                 // cosine starts at the peak
  EXPECT_NEAR(s.at(9), 0.55f, 1e-6);              // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(s.at(14), 0.1f, 1e-6);              // end
  EXPECT_NEAR(s.at(100), 0.1f, 1e-6);             // clamped after the end
  EXPECT_GT(s.at(6), s.at(7));
}

TEST(TokenFile, RoundTripAndValidation) {
  const std::string path = tmp("tokens.bin");
  const std::vector<int32_t> ids = {1, 2, 3, 40, 0, 5};
  ASSERT_TRUE(write_token_file(path, ids, 41).ok());
  EXPECT_TRUE(is_token_file(path));
  auto back = read_token_file(path);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->ids, ids);
  EXPECT_EQ(back->n_vocab, 41);
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<char> bad = bytes;
  bad[33] ^= 1;  // data no longer matches the checksum
  std::ofstream(path, std::ios::binary).write(bad.data(), static_cast<std::streamsize>(bad.size()));
  EXPECT_FALSE(read_token_file(path).ok());
  bad = bytes;
  bad.pop_back();  // truncated
  std::ofstream(path, std::ios::binary).write(bad.data(), static_cast<std::streamsize>(bad.size()));
  EXPECT_FALSE(read_token_file(path).ok());
  // An id >= n_vocab cannot be written as valid data: rewrite with vocab 40.
  ASSERT_TRUE(write_token_file(path, ids, 40).ok());
  EXPECT_FALSE(read_token_file(path).ok());
  EXPECT_FALSE(write_token_file("/nonexistent-dir/x.bin", ids, 41).ok());
}

TEST(TokenFile, WindowSamplerIsSeededAndInRange) {
  WindowSampler a(7, 100, 10), b(7, 100, 10), c(8, 100, 10);
  int differ = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    EXPECT_EQ(a.start(i), b.start(i));
    EXPECT_GE(a.start(i), 0);
    EXPECT_LT(a.start(i), 90);
    differ += a.start(i) != c.start(i);
  }
  EXPECT_GT(differ, 150);
}

}  // namespace
}  // namespace ef::train
