// `edgeformer train` / `eval` end to end: resume equals an uninterrupted run
// (bitwise: every logged loss and the output GGUF), a run SIGKILLed at a
// random moment (possibly mid-checkpoint) resumes to the same result, and
// bad input fails with one clear error line and writes nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.h"
#include "model/tiny_model.h"

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("train_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ef::TinyModelSpec spec;
    spec.n_vocab_synthetic = 400;
    ASSERT_TRUE(ef::write_tiny_llama(path("vocab.gguf"), spec).ok());
    std::ofstream text(path("corpus.txt"));
    for (int i = 0; i < 60; ++i) {
      text << "the king said to the people that the world was good and new. " << i << "\n";
      text << "she had made the first day of the year a day of love.\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Common flags of a tiny, fast run.
  std::string base_flags() const {
    return " --vocab " + path("vocab.gguf") + " --data " + path("corpus.txt") +
           " --n-embd 32 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 64 --seq 16 --batch 2"
           " --grad-accum 2 --lr 3e-3 --warmup 2 --eval-windows 4 --log-interval 1 -t 2";
  }

  CliRun run(const std::string& args) const {
    const std::string out = path("stdout.txt"), err = path("stderr.txt");
    const std::string cmd = ef::test::cli_shell_command() + " " + args + " >" + out + " 2>" + err;
    CliRun r;
    const int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  static std::vector<std::string> step_lines(const std::string& out) {
    // "step N/M | loss X | lr ..." without the timing fields.
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("step", 0) != 0) continue;
      const size_t grad = line.find(" | grad norm");
      const size_t cut = grad == std::string::npos ? grad : line.find(" | ", grad + 1);
      lines.push_back(cut == std::string::npos ? line : line.substr(0, cut));
    }
    return lines;
  }

  fs::path dir_;
};

TEST_F(TrainCli, ResumeEqualsUninterruptedRun) {
  CliRun full = run("train" + base_flags() + " --steps 8 --eval-interval 4 -o " + path("full.gguf"));
  ASSERT_EQ(full.code, 0) << full.err;
  CliRun first = run("train" + base_flags() + " --steps 8 --eval-interval 4 --stop-at 4 -o " +
                  path("resumed.gguf"));
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.err.find("stopped at step 4"), std::string::npos) << first.err;
  CliRun second = run("train --resume " + path("resumed.gguf.ckpt") + " --log-interval 1 -t 1");
  ASSERT_EQ(second.code, 0) << second.err;

  auto a = step_lines(full.out);
  auto b = step_lines(first.out);
  auto c = step_lines(second.out);
  b.insert(b.end(), c.begin(), c.end());
  ASSERT_EQ(a.size(), 8u + 2u);  // 8 steps + 2 evaluations
  EXPECT_EQ(a, b);
  const std::string ga = slurp(path("full.gguf")), gb = slurp(path("resumed.gguf"));
  EXPECT_FALSE(ga.empty());
  EXPECT_EQ(ga, gb);  // bit-identical weights (and metadata)

  // The trained model evaluates with `eval`.
  CliRun ev = run("eval -m " + path("full.gguf") + " -f " + path("corpus.txt") + " --seq 16");
  ASSERT_EQ(ev.code, 0) << ev.err;
  EXPECT_NE(ev.out.find("perplexity"), std::string::npos);

  // Options other than run-time ones cannot change on resume.
  CliRun bad = run("train --resume " + path("resumed.gguf.ckpt") + " --lr 1");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--lr cannot change on --resume"), std::string::npos) << bad.err;
}

TEST_F(TrainCli, KilledRunResumesToTheSameResult) {
  const std::string flags = base_flags() + " --steps 30 --checkpoint-interval 1";
  CliRun ref = run("train" + flags + " -o " + path("ref.gguf"));
  ASSERT_EQ(ref.code, 0) << ref.err;

  // Start the same run, kill it hard once it has written a few checkpoints
  // (checkpoints are written every step, so the kill may land mid-write).
  const std::string cmd = ef::test::cli_shell_command() + " train" + flags + " -o " + path("killed.gguf") +
                          " >/dev/null 2>&1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string ckpt = path("killed.gguf.ckpt");
  for (int i = 0; i < 3000 && !fs::exists(ckpt); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(fs::exists(ckpt)) << "no checkpoint was written before the kill";

  CliRun resumed = run("train --resume " + ckpt);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(slurp(path("ref.gguf")), slurp(path("killed.gguf")));
}

TEST_F(TrainCli, BadInputFailsCleanly) {
  const std::string out = path("never.gguf");
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    CliRun r = run(args);
    EXPECT_NE(r.code, 0) << args;
    // Exactly one error line, the last one (info lines may precede it).
    const size_t at = r.err.find("error: ");
    EXPECT_TRUE(at == 0 || (at != std::string::npos && r.err[at - 1] == '\n')) << r.err;
    EXPECT_EQ(r.err.find("error: ", at + 1), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
    EXPECT_FALSE(fs::exists(out)) << args;
    EXPECT_FALSE(fs::exists(out + ".ckpt")) << args;
  };
  std::ofstream(path("empty.txt")).close();
  std::ofstream(path("short.txt")) << "the king";
  const std::string common = " --vocab " + path("vocab.gguf") + " --n-head 4 --seq 16 --batch 2 --steps 2 -o " + out;
  const std::string shape = common + " --n-embd 32 --n-layer 1 --n-ff 64";
  expect_error("train" + shape + " --data " + path("empty.txt"), "empty");
  expect_error("train" + shape + " --data " + path("short.txt"), "sequence");
  expect_error("train" + shape + " --data " + path("missing.txt"), "cannot open");
  expect_error("train --vocab " + path("vocab.gguf") + " --data " + path("corpus.txt") +
                   " --n-embd 32 --n-layer 1 --n-head 4 --n-ff 64 --seq 16 --steps 2 -o /nonexistent-dir/x.gguf",
               "cannot write the output model");
  // Far more than this machine has (about 4 TB of parameters and state).
  expect_error("train" + common + " --data " + path("corpus.txt") + " --n-embd 16384 --n-ff 65536 --n-layer 64",
               "MiB are available");
  expect_error("train" + common + " --data " + path("corpus.txt") +
                   " --n-embd 1024 --n-ff 4096 --n-layer 8 --max-memory-mb 64",
               "only 64 MiB");
  std::ofstream(path("cfg.json")) << "{\"steps\": 2, \"learning_rate\": 1}";
  expect_error("train" + shape + " --data " + path("corpus.txt") + " --config " + path("cfg.json"),
               "unknown config key 'learning_rate'");
  expect_error("train --resume " + path("corpus.txt"), "checkpoint");
}

}  // namespace
