// `edgeformer perplexity` against values known without running it:
//  - a model whose output projection is all zeros gives equal logits, so
//    every token has probability 1/n_vocab and the perplexity is n_vocab;
//  - the number of chunks is n_tokens / ctx, with n_tokens counted by the
//    tokenizer (`tokenize --ids`) on the text minus its trailing newline.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "cli_run.h"
#include "io/gguf.h"
#include "model/tiny_model.h"

namespace ef::test {
namespace {

// Copies `in` to `out` with output.weight replaced by zeros.
void write_zero_output_model(const std::string& in, const std::string& out) {
  auto file = gguf::File::open(in);
  ASSERT_TRUE(file.ok()) << file.error().message();
  gguf::Writer writer;
  writer.copy_metadata(**file);
  std::vector<uint8_t> zeros;
  bool found = false;
  for (const auto& t : (*file)->tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    std::span<const uint8_t> data(static_cast<const uint8_t*>(t.data), t.size_bytes);
    if (t.name == "output.weight") {
      zeros.assign(t.size_bytes, 0);  // F32 / F16 / BF16 zero is all-zero bytes
      data = zeros;
      found = true;
    }
    ASSERT_TRUE(writer.add_tensor(t.name, t.type, ne, data).ok());
  }
  ASSERT_TRUE(found);
  ASSERT_TRUE(writer.write(out).ok());
}

std::string shakespeare_text(int repeats) {
  std::string text;
  for (int i = 0; i < repeats; ++i) {
    text +=
        "MENENIUS: Either you must confess yourselves wondrous malicious, or be accused of "
        "folly. ";
    text += std::to_string(i);
    text += '\n';
  }
  return text;
}

TEST(CliPerplexity, UniformLogitsGiveVocabularySize) {
  TempDir dir;
  TinyModelSpec spec;
  spec.n_vocab_synthetic = 512;
  spec.seed = 3;
  const std::string base = dir.file("base.gguf");
  ASSERT_TRUE(write_tiny_llama(base, spec).ok());
  const std::string zero = dir.file("zero-output.gguf");
  write_zero_output_model(base, zero);

  const std::string text = dir.file("text.txt");
  std::ofstream(text) << shakespeare_text(30);
  const CliRun r = run_cli({"perplexity", "-m", zero, "-f", text, "--ctx", "32", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("Final estimate: PPL = ([0-9.]+) "))) << r.out;
  EXPECT_EQ(m[1].str(), "512.0000");
}

TEST(CliPerplexity, ChunkCountFollowsTokenCount) {
  TempDir dir;
  const std::string model = dir.file("m.gguf");
  const CliRun init = run_cli({"init-model", "-o", model, "--n-embd", "32", "--n-layer", "1",
                               "--n-head", "2", "--n-head-kv", "2", "--n-ff", "64"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::string body = shakespeare_text(25);
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << body;

  // llama.cpp's -f drops one trailing newline before tokenizing.
  const CliRun ids =
      run_cli({"tokenize", "-m", model, "-p", body.substr(0, body.size() - 1), "--ids"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const int64_t n_tokens = std::count(ids.out.begin(), ids.out.end(), ',') + 1;
  const int64_t ctx = 48;
  ASSERT_GE(n_tokens, 2 * ctx);

  const CliRun r = run_cli({"perplexity", "-m", model, "-f", text, "--ctx", std::to_string(ctx)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "lit" + string&&.
  auto bracket = [](int64_t i) {
    std::string s(1, '[');
    s += std::to_string(i);
    s += ']';
    return s;
  };
  const std::string last = bracket(n_tokens / ctx);
  const std::string beyond = bracket(n_tokens / ctx + 1);
  std::string chunks = "over ";
  chunks += std::to_string(n_tokens / ctx);
  chunks += " chunks";
  EXPECT_NE(r.out.find(last), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(beyond), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(chunks), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ef::test

namespace ef::test {
namespace {

// --kl-divergence: an f32 test cache against the f16 base is nearly the same
// distribution, q4_0 is measurably further; the statistics are printed and
// consistent (0 <= median <= 99% <= max, agreement a percentage).
TEST(CliPerplexity, KlDivergenceComparesCaches) {
  TempDir dir;
  TinyModelSpec spec;
  spec.n_embd = 128;
  spec.n_head = 2;
  spec.n_head_kv = 1;  // head_dim 64
  spec.n_ff = 256;
  spec.n_vocab_synthetic = 512;
  const std::string model = dir.file("m.gguf");
  ASSERT_TRUE(write_tiny_llama(model, spec).ok());
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << shakespeare_text(30);
  auto mean_kl = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"perplexity", "-m", model, "-f", text, "--ctx", "64",
                                     "-t", "1", "--chunks", "2", "--kl-divergence"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, std::regex("Mean KLD   = ([-0-9.e+]+)"))) << r.out;
    std::smatch s;
    EXPECT_TRUE(std::regex_search(r.out, s, std::regex("Same top-1 = ([0-9.]+) %"))) << r.out;
    if (s.size() > 1) {
      EXPECT_GE(std::stod(s[1].str()), 0.0);
      EXPECT_LE(std::stod(s[1].str()), 100.0);
    }
    std::smatch q;
    EXPECT_TRUE(std::regex_search(
        r.out, q,
        std::regex("Max KLD    = ([-0-9.e+]+)\n99.9% KLD  = ([-0-9.e+]+)\n99.0% KLD  = "
                   "([-0-9.e+]+)\nMedian KLD = ([-0-9.e+]+)")))
        << r.out;
    if (q.size() > 4) {
      EXPECT_GE(std::stod(q[1].str()), std::stod(q[3].str()));
      EXPECT_GE(std::stod(q[3].str()), std::stod(q[4].str()));
      EXPECT_GE(std::stod(q[4].str()), -1e-12);
    }
    return m.size() > 1 ? std::stod(m[1].str()) : -1.0;
  };
  const double f32 = mean_kl({"--cache-type", "f32", "--flash-attn", "on"});
  const double q4 = mean_kl({"--cache-type", "q4_0", "--kv-hadamard"});  // flash on (default)
  EXPECT_GE(f32, 0.0);
  EXPECT_LT(f32, 1e-4);
  EXPECT_GT(q4, 10.0 * f32);
}

TEST(CliPerplexity, UnknownCacheTypeListsTheValidOnes) {
  TempDir dir;
  const std::string model = dir.file("m.gguf");
  ASSERT_TRUE(write_tiny_llama(model, TinyModelSpec{}).ok());
  const std::string text = dir.file("text.txt");
  std::ofstream(text) << shakespeare_text(30);
  for (const char* flag : {"--cache-type", "--cache-type-k", "--cache-type-v", "--kl-base"}) {
    const CliRun r = run_cli({"perplexity", "-m", model, "-f", text, "--ctx", "32", flag, "q5_1"});
    EXPECT_NE(r.exit_code, 0) << flag;
    EXPECT_NE(r.err.find("q5_1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("q8_0"), std::string::npos) << flag << ": " << r.err;
  }
  const CliRun off = run_cli({"perplexity", "-m", model, "-f", text, "--ctx", "32",
                              "--cache-type-v", "q8_0", "--flash-attn", "off"});
  EXPECT_NE(off.exit_code, 0);
  EXPECT_NE(off.err.find("flash"), std::string::npos) << off.err;
}

}  // namespace
}  // namespace ef::test
