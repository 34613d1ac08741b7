// The CLI's error contract: every bad input gives exactly one line
// `error: ...` on stderr that names the problem, and a non-zero exit code
// (2 for usage errors, 1 for the rest). Runs the real binary (EF_CLI_PATH).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_run.h"

namespace ef::test {
namespace {

class CliErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->file("tiny.gguf");
    const CliRun r = run_cli({"init-model", "-o", model_, "--n-embd", "32", "--n-layer", "1",
                              "--n-head", "2", "--n-head-kv", "1", "--n-ff", "64", "--ctx", "64"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Asserts the contract and returns the single error line.
  static std::string expect_one_error(const CliRun& r, int exit_code) {
    EXPECT_EQ(r.exit_code, exit_code) << "stderr: " << r.err;
    const auto lines = r.error_lines();
    EXPECT_EQ(lines.size(), 1u) << "stderr: " << r.err;
    return lines.empty() ? std::string() : lines[0];
  }

  static TempDir* dir_;
  static std::string model_;
};
TempDir* CliErrors::dir_ = nullptr;
std::string CliErrors::model_;

TEST_F(CliErrors, MissingModelFile) {
  const std::string missing = dir_->file("does-not-exist.gguf");
  const std::string line = expect_one_error(run_cli({"info", missing}), 1);
  EXPECT_NE(line.find("does-not-exist.gguf"), std::string::npos) << line;
}

TEST_F(CliErrors, NonGgufFile) {
  const std::string path = dir_->file("notes.txt");
  std::ofstream(path) << "this is plain text, not a model file\n";
  const std::string line = expect_one_error(run_cli({"info", path}), 1);
  std::string lower = line;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(lower.find("gguf") != std::string::npos || lower.find("magic") != std::string::npos)
      << line;
}

TEST_F(CliErrors, UnknownFlag) {
  const std::string line =
      expect_one_error(run_cli({"generate", "-m", model_, "-p", "hi", "--bogus-flag"}), 2);
  EXPECT_NE(line.find("--bogus-flag"), std::string::npos) << line;
}

TEST_F(CliErrors, UnknownSubcommand) {
  const std::string line = expect_one_error(run_cli({"frobnicate"}), 2);
  EXPECT_NE(line.find("frobnicate"), std::string::npos) << line;
}

TEST_F(CliErrors, NegativeTokenCount) {
  const std::string line =
      expect_one_error(run_cli({"generate", "-m", model_, "-p", "hello", "-n", "-5"}), 2);
  EXPECT_NE(line.find("-5"), std::string::npos) << line;
  EXPECT_NE(line.find("-n"), std::string::npos) << line;
}

TEST_F(CliErrors, PromptLongerThanContext) {
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "the quick brown fox jumps over the lazy dog ";
  // The prompt's token count, from the tokenizer itself.
  const CliRun ids = run_cli({"tokenize", "-m", model_, "-p", prompt, "--ids"});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const size_t n_tokens = std::count(ids.out.begin(), ids.out.end(), ',') + 1;
  ASSERT_GT(n_tokens, 64u);
  const std::string line = expect_one_error(
      run_cli({"generate", "-m", model_, "-p", prompt, "-n", "4", "--ctx", "64"}), 2);
  EXPECT_NE(line.find(std::to_string(n_tokens)), std::string::npos) << line;
  EXPECT_NE(line.find("64"), std::string::npos) << line;
}

TEST_F(CliErrors, InvalidUtf8Prompt) {
  const std::string prompt = std::string("ab") + '\xff' + "cd";
  const std::string line =
      expect_one_error(run_cli({"generate", "-m", model_, "-p", prompt, "-n", "2"}), 2);
  EXPECT_NE(line.find("UTF-8"), std::string::npos) << line;
  EXPECT_NE(line.find("offset 2"), std::string::npos) << line;
}

TEST_F(CliErrors, UnknownIsa) {
  const std::string line = expect_one_error(
      run_cli({"generate", "-m", model_, "-p", "hi", "-n", "1", "--isa", "sse9"}), 2);
  EXPECT_NE(line.find("sse9"), std::string::npos) << line;
  EXPECT_NE(line.find("--isa"), std::string::npos) << line;
}

TEST_F(CliErrors, UnknownQuantizeType) {
  const std::string out = dir_->file("never.gguf");
  const std::string line = expect_one_error(run_cli({"quantize", model_, out, "q3_x"}), 2);
  EXPECT_NE(line.find("q3_x"), std::string::npos) << line;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(CliErrors, QuantizeIntoMissingDirectoryLeavesNothing) {
  const std::filesystem::path out = dir_->path() / "no-such-dir" / "out.gguf";
  const std::string line = expect_one_error(run_cli({"quantize", model_, out.string(), "q8_0"}), 1);
  EXPECT_NE(line.find("no-such-dir"), std::string::npos) << line;
  EXPECT_FALSE(std::filesystem::exists(out.parent_path()));
}

TEST_F(CliErrors, QuantizeOntoADirectoryLeavesNothing) {
  // The output path is an existing, non-empty directory: the final rename
  // fails after all the work, and no temp file may remain beside it.
  TempDir work;
  const std::filesystem::path target = work.path() / "occupied";
  std::filesystem::create_directory(target);
  std::ofstream(target / "keep.txt") << "x";
  const std::string line =
      expect_one_error(run_cli({"quantize", model_, target.string(), "q8_0"}), 1);
  EXPECT_NE(line.find("occupied"), std::string::npos) << line;
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(work.path())) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_EQ(entries, std::vector<std::string>{"occupied"});
  EXPECT_TRUE(std::filesystem::exists(target / "keep.txt"));
}

TEST_F(CliErrors, PerplexityTextTooShort) {
  const std::string text = dir_->file("short.txt");
  std::ofstream(text) << "just a few words";
  const std::string line =
      expect_one_error(run_cli({"perplexity", "-m", model_, "-f", text, "--ctx", "32"}), 2);
  EXPECT_NE(line.find("64"), std::string::npos) << line;  // needs 2 * ctx tokens
}

TEST_F(CliErrors, HelpIsNotAnError) {
  const CliRun r = run_cli({"generate", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.error_lines().empty()) << r.err;
  EXPECT_NE(r.out.find("--prompt"), std::string::npos);
}

}  // namespace
}  // namespace ef::test
