// The BPE trainer: merge order on a tiny corpus, determinism (also across
// thread counts), and the written GGUF loading into a tokenizer that
// round-trips its training text.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "io/gguf.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace ef::tok {
namespace {

TEST(TokBpeTrainer, MostFrequentPairIsMergedFirst) {
  // Text "xy xy xy zq": gpt-2 words "xy", " xy", " xy", " zq".
  // Pair counts: (x,y)=3, (' ',x)=2, (' ',z)=1, (z,q)=1 -> first merge "x y".
  // Then: (' ',xy)=2 -> second merge "Ġ xy"; nothing else reaches 2.
  BpeTrainOptions o;
  o.vocab_size = 256 + 10 + 1;
  auto r = train_bpe({"xy xy xy zq"}, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const BpeVocabulary& v = r.value();
  ASSERT_EQ(v.merges.size(), 2u);  // stopped early: remaining pairs occur once
  EXPECT_EQ(v.merges[0], "x y");
  EXPECT_EQ(v.merges[1], "\xC4\xA0 xy");  // U+0120 'Ġ' stands for the space byte
  EXPECT_EQ(v.tokens[256], "xy");
  EXPECT_EQ(v.tokens[257], "\xC4\xA0xy");
  ASSERT_EQ(v.tokens.size(), 259u);
  EXPECT_EQ(v.tokens.back(), "<|endoftext|>");
  EXPECT_EQ(v.types.back(), 3);
  EXPECT_EQ(v.bos, 258);
  EXPECT_EQ(v.eos, 258);
}

TEST(TokBpeTrainer, TiesGoToTheSmallerPair) {
  BpeTrainOptions o;
  o.vocab_size = 256 + 1 + 1;
  auto r = train_bpe({"cd ab cd ab"}, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.value().merges.size(), 1u);
  // Words "cd", " ab" x2, " cd": pairs (c,d)=2, (' ',a)=2, (a,b)=2, (' ',c)=1.
  // The smallest of the count-2 pairs is (' ', a) (0x20 < 'a' < 'c').
  EXPECT_EQ(r.value().merges[0], "\xC4\xA0 a");
}

std::string corpus() {
  return testing::read_file(testing::shared_data_dir() + "/tinyshakespeare/input.txt")
      .substr(0, 200000);
}

TEST(TokBpeTrainer, DeterministicAcrossRunsAndThreads) {
  const std::string text = corpus();
  ASSERT_GT(text.size(), 100000u);
  BpeTrainOptions o;
  o.vocab_size = 800;
  o.threads = 1;
  auto a = train_bpe({text}, o);
  auto again = train_bpe({text}, o);
  // Small blocks (many cuts) and several threads: identical vocabulary.
  o.threads = 3;
  o.block_bytes = 4096;
  auto b = train_bpe({text}, o);
  ASSERT_TRUE(a.ok() && again.ok() && b.ok());
  EXPECT_EQ(a.value().tokens, again.value().tokens);
  EXPECT_EQ(a.value().merges, again.value().merges);
  EXPECT_EQ(a.value().tokens, b.value().tokens);
  EXPECT_EQ(a.value().merges, b.value().merges);
  EXPECT_EQ(a.value().distinct_words, b.value().distinct_words);
  EXPECT_EQ(a.value().tokens.size(), 800u);
  for (PreType pre : {PreType::kGpt2, PreType::kLlama3}) {
    o.pre = pre;
    o.block_bytes = size_t{1} << 30;
    auto whole = train_bpe({text}, o);
    o.block_bytes = 1000;
    auto cut = train_bpe({text}, o);
    ASSERT_TRUE(whole.ok() && cut.ok());
    EXPECT_EQ(whole.value().merges, cut.value().merges) << pre_type_name(pre);
  }
}

TEST(TokBpeTrainer, WrittenGgufLoadsAndRoundTrips) {
  const std::string text = corpus();
  for (PreType pre : {PreType::kGpt2, PreType::kLlama3}) {
    BpeTrainOptions o;
    o.vocab_size = 1000;
    o.pre = pre;
    auto r = train_bpe({text}, o);
    ASSERT_TRUE(r.ok()) << r.error().message();
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("ef_bpe_trainer_test_" + std::to_string(::getpid()) + ".gguf"))
                                 .string();
    ASSERT_TRUE(write_bpe_vocab_gguf(r.value(), path).ok());
    auto file = gguf::File::open(path);
    ASSERT_TRUE(file.ok()) << file.error().message();
    auto tok = Tokenizer::from_gguf(*file.value());
    std::remove(path.c_str());
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    const Tokenizer& t = *tok.value();
    EXPECT_EQ(t.n_vocab(), 1000);
    EXPECT_EQ(t.token_text(999), "<|endoftext|>");
    EXPECT_EQ(t.bos_id(), 999);
    EXPECT_TRUE(t.is_end_of_generation(999));
    EXPECT_FALSE(t.add_bos_default());
    const auto ids = t.encode(text, false);
    EXPECT_EQ(t.decode(ids), text);
    // The learned merges compress: well under one token per byte.
    EXPECT_LT(ids.size() * 2, text.size());
    // The special token is recognised only when asked.
    EXPECT_EQ(t.encode("<|endoftext|>", false, true), (std::vector<int32_t>{999}));
    EXPECT_GT(t.encode("<|endoftext|>", false, false).size(), 1u);
  }
}

TEST(TokBpeTrainer, RejectsBadOptions) {
  BpeTrainOptions o;
  o.vocab_size = 100;
  auto r = train_bpe({"abc"}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  o.vocab_size = 300;
  o.pre = PreType::kDeepseekCoder;
  EXPECT_FALSE(train_bpe({"abc"}, o).ok());
  auto f = train_bpe_files({"/nonexistent/file.txt"}, BpeTrainOptions{});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, Errc::io);
}

}  // namespace
}  // namespace ef::tok
