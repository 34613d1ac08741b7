// Test helper: runs the `edgeformer` binary (EF_CLI_PATH) with an exact argv
// (bytes passed through untouched, so invalid UTF-8 reaches the CLI) and
// captures stdout, stderr and the exit code.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ef::test {

struct CliRun {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;

  // Lines of stderr starting with "error:".
  std::vector<std::string> error_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("error:", 0) == 0) lines.push_back(line);
    }
    return lines;
  }
};

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ef_cli_test_XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The command that starts the CLI: the words of $EF_CLI_EMULATOR (split on
// spaces; set by CTest for cross builds, e.g. "qemu-aarch64 -L
// /usr/aarch64-linux-gnu", so an aarch64 CLI runs under qemu-user without
// binfmt_misc), then EF_CLI_PATH.
inline std::vector<std::string> cli_command() {
  std::vector<std::string> words;
  if (const char* emu = std::getenv("EF_CLI_EMULATOR"); emu != nullptr) {
    std::istringstream in(emu);
    std::string w;
    while (in >> w) words.push_back(w);
  }
  words.push_back(EF_CLI_PATH);
  return words;
}

// cli_command() as one shell word list (for tests that run the CLI via sh;
// no word contains spaces or shell metacharacters).
inline std::string cli_shell_command() {
  std::string cmd;
  for (const std::string& w : cli_command()) cmd += (cmd.empty() ? "" : " ") + w;
  return cmd;
}

// Runs EF_CLI_PATH with `args` (argv[1..]); stdin is /dev/null.
inline CliRun run_cli(const std::vector<std::string>& args) {
  CliRun result;
  TempDir dir;
  const std::string out_path = dir.file("stdout");
  const std::string err_path = dir.file("stderr");
  std::vector<std::string> words = cli_command();
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execvp(argv[0], argv.data());  // PATH lookup for the emulator
    _exit(127);
  }
  if (pid < 0) return result;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return result;
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = read_all(out_path);
  result.err = read_all(err_path);
  return result;
}

// A test suite sharing one tiny random llama model written by `init-model`
// (2 layers, n_embd 64, GQA 4/2, ctx 128, seed 7): dir_ / model_. `Suite` is
// the deriving fixture, so each suite has its own model and directory.
template <class Suite>
class TinyModelCliSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->file("tiny.gguf");
    const CliRun r =
        run_cli({"init-model", "-o", model_, "--n-embd", "64", "--n-layer", "2", "--n-head", "4",
                 "--n-head-kv", "2", "--n-ff", "128", "--ctx", "128", "--seed", "7"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static inline TempDir* dir_ = nullptr;
  static inline std::string model_;
};

}  // namespace ef::test
