// `edgeformer`: command-line front end of the library.
//
// Contract with users and scripts: results go to stdout, diagnostics to
// stderr; any failure prints exactly one line `error: <message>` on stderr and
// exits non-zero (2 for usage errors such as unknown flags or bad values, 1
// for everything else). No exception escapes main().
#include <CLI/CLI.hpp>
#include <clocale>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "cli_common.h"
#include "cmd_train.h"
#include "cmd_tokenizer.h"

namespace {

// Error messages must stay on one line whatever CLI11 or the library say.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int report(const std::string& message, int code) {
  std::fprintf(stderr, "error: %s\n", one_line(message).c_str());
  return code;
}

int run(int argc, char** argv) {
  CLI::App app{"EdgeFormer: run small llama-family GGUF models on edge CPUs", "edgeformer"};
  app.set_version_flag("--version", "edgeformer 0.1.0");
  app.require_subcommand(1);

  ef::cli::CommandList commands;
  ef::cli::add_info_command(app, commands);
  ef::cli::add_generate_command(app, commands);
  ef::cli::add_perplexity_command(app, commands);
  ef::cli::add_bench_command(app, commands);
  ef::cli::add_quantize_command(app, commands);
  ef::cli::add_init_model_command(app, commands);
  ef::cli::add_tokenize_command(app, commands);
  for (auto& c : ef::cli::add_train_commands(app)) commands.push_back({c.first, c.second});
  ef::cli::add_detokenize_command(app, commands);
  ef::cli::add_tokenizer_command(app, commands);

  // CLI11 reports a mistyped command as "A subcommand is required"; name it.
  if (argc >= 2 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const auto& c : commands) {
      known = known || c.app->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + c.app->get_name();
    }
    if (!known) {
      return report("unknown command '" + std::string(argv[1]) + "'; hint: commands are " + names,
                    ef::cli::kExitUsage);
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    std::string hint = "run 'edgeformer --help'";
    for (const auto& c : commands) {
      if (c.app->parsed()) hint = "run 'edgeformer " + c.app->get_name() + " --help'";
    }
    return report(message + "; hint: " + hint, ef::cli::kExitUsage);
  }

  for (const auto& c : commands) {
    if (!c.app->parsed()) continue;
    ef::Status status = c.run();
    if (!status.ok()) return report(status.error().message(), ef::cli::exit_code_for(status.error()));
    return 0;
  }
  return report("no subcommand given; hint: run 'edgeformer --help'", ef::cli::kExitUsage);
}

}  // namespace

int main(int argc, char** argv) {
  // Numbers are printed the same way whatever the user's locale (as llama.cpp does).
  std::setlocale(LC_NUMERIC, "C");
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    return report("out of memory", ef::cli::kExitFailure);
  } catch (const std::exception& e) {
    return report(std::string("unexpected failure: ") + e.what(), ef::cli::kExitFailure);
  } catch (...) {
    return report("unexpected failure", ef::cli::kExitFailure);
  }
}
