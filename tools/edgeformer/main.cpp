// Placeholder driver of the train branch (the CLI helper's main.cpp replaces
// it on merge; it registers train/eval with one line, see cmd_train.h).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cmd_train.h"

int main(int argc, char** argv) {
  CLI::App app{"EdgeFormer", "edgeformer"};
  app.require_subcommand(1);
  const auto commands = ef::cli::add_train_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const auto& [sub, run] : commands) {
    if (!sub->parsed()) continue;
    const ef::Status status = run();
    if (status.ok()) return 0;
    std::fprintf(stderr, "error: %s\n", status.error().message().c_str());
    return status.error().code == ef::Errc::invalid_argument ? 2 : 1;
  }
  return 2;
}
