// `edgeformer tokenizer train`, `tokenize` and `detokenize` end to end:
// train a vocabulary from a text file, tokenize with it and with the shared
// GPT-2 vocabulary, and turn the ids back into text.
#include <gtest/gtest.h>

#include <fstream>

#include "cli_run.h"

namespace ef::test {
namespace {

std::string shared(const std::string& rel) {
  std::string dir = EF_SHARED_DATA_DIR;
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) dir = env;
  return dir + "/" + rel;
}

TEST(CliTokenizer, TrainTokenizeDetokenize) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string text = read_all(shared("tinyshakespeare/input.txt")).substr(0, 60000);
  ASSERT_FALSE(text.empty());
  const std::string input = dir.file("in.txt"), vocab = dir.file("tok.gguf");
  std::ofstream(input, std::ios::binary) << text;

  CliRun r = run_cli({"tokenizer", "train", "--vocab", "500", "--input", input, "-o", vocab,
                      "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("500 tokens"), std::string::npos) << r.out;

  r = run_cli({"tokenize", "-m", vocab, "-p", "First Citizen:", "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.front(), '[');
  const std::string ids = r.out.substr(0, r.out.find('\n'));
  r = run_cli({"detokenize", "-m", vocab, "--ids", ids});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "First Citizen:\n");

  // The special token is parsed only with --special.
  r = run_cli({"tokenize", "-m", vocab, "-p", "a<|endoftext|>", "--ids", "--special"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("499]"), std::string::npos) << r.out;
  r = run_cli({"tokenize", "-m", vocab, "-p", "a<|endoftext|>", "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("499"), std::string::npos) << r.out;

  r = run_cli({"detokenize", "-m", vocab, "--ids", "499", "--special"});
  EXPECT_EQ(r.out, "<|endoftext|>\n");
  r = run_cli({"detokenize", "-m", vocab, "--ids", "499"});
  EXPECT_EQ(r.out, "\n");
}

TEST(CliTokenizer, Gpt2VocabularyAndErrors) {
  const std::string gpt2 = shared("vocab/ggml-vocab-gpt-2.gguf");
  CliRun r = run_cli({"tokenize", "-m", gpt2, "-p", "Hello world", "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[15496, 995]\n");  // GPT-2 adds no BOS
  r = run_cli({"detokenize", "-m", gpt2, "--ids", "15496 995"});
  EXPECT_EQ(r.out, "Hello world\n");

  r = run_cli({"detokenize", "-m", gpt2, "--ids", "1 x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.error_lines().size(), 1u) << r.err;
  r = run_cli({"detokenize", "-m", gpt2, "--ids", "50257"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"tokenizer", "train", "--vocab", "300", "--input", "/nonexistent", "-o", "/tmp/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.error_lines().size(), 1u) << r.err;
  r = run_cli({"tokenizer", "train", "--vocab", "100", "--input", gpt2, "-o", "/tmp/x"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace ef::test
