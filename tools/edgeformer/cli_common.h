// Shared plumbing of the `edgeformer` subcommands: registration, error to
// exit-code mapping, small formatting helpers and a progress line.
//
// Every subcommand lives in its own cmd_<name>.cpp and exposes one
// `add_<name>_command(app, commands)` function. The subcommand's action
// returns ef::Status; main() prints a failed Status as exactly one line
// `error: <Error::message()>` on stderr and exits with exit_code_for().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgeformer/error.h"

namespace CLI {
class App;
}

namespace ef::cli {

struct Command {
  CLI::App* app = nullptr;      // the CLI11 subcommand
  std::function<Status()> run;  // called when the subcommand was chosen
};
using CommandList = std::vector<Command>;

void add_info_command(CLI::App& app, CommandList& commands);
void add_generate_command(CLI::App& app, CommandList& commands);
void add_perplexity_command(CLI::App& app, CommandList& commands);
void add_bench_command(CLI::App& app, CommandList& commands);
void add_quantize_command(CLI::App& app, CommandList& commands);
void add_init_model_command(CLI::App& app, CommandList& commands);
void add_tokenize_command(CLI::App& app, CommandList& commands);

// Usage errors (bad flag values, bad prompt) exit with 2, everything else 1.
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;
int exit_code_for(const Error& error);

// Shorthand for a usage error produced by the CLI's own validation.
Error usage_error(std::string what, std::string where = {}, std::string hint = {});

// The active ISA's name, e.g. "avx512".
std::string active_isa_name();

// "1.23 MiB", "4.56 GiB", "512 B".
std::string format_bytes(uint64_t bytes);
// "135.00 M", "1.24 B" (llama-bench style).
std::string format_params(uint64_t n);
// printf into a std::string.
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "512M", "1.5G", "64KiB", "1000000" -> bytes (K/M/G/T are powers of 1024);
// fails on anything else, zero or overflow.
Result<uint64_t> parse_byte_size(const std::string& text);

// "12.34 ms" below a second, "3.210 s" above.
std::string format_seconds(double seconds);
// Seconds since `start` on the steady clock.
double seconds_since(std::chrono::steady_clock::time_point start);

// A progress line for long work, on stderr. Enabled when stderr is a TTY or
// when forced (--progress). On a TTY the line is redrawn in place (\r); when
// forced onto a pipe/file it prints at most one line per second plus the last.
// `allow_auto` = false keeps it off on a TTY unless forced (for commands whose
// stdout output already shows progress on the same terminal).
class Progress {
 public:
  Progress(std::string label, int64_t total, bool forced, bool allow_auto = true);
  void update(int64_t done);
  void finish();  // final state + newline (TTY) or last line
  bool enabled() const { return enabled_; }

 private:
  void draw(int64_t done, bool final);

  std::string label_;
  int64_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  int64_t last_done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ef::cli
