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
    text += "MENENIUS: Either you must confess yourselves wondrous malicious, or be accused of "
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
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("Final estimate: PPL = ([0-9.]+) ")))
      << r.out;
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
  const CliRun ids = run_cli({"tokenize", "-m", model, "-p", body.substr(0, body.size() - 1),
                              "--ids"});
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
  EXPECT_NE(r.err.find(chunks), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace ef::test
