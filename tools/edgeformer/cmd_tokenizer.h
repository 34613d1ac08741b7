// Tokenizer subcommands owned by the tokenizer work: `tokenizer train` and
// `detokenize` (registration functions, as in cli_common.h).
#pragma once

#include "cli_common.h"

namespace ef::cli {

void add_tokenizer_command(CLI::App& app, CommandList& commands);
void add_detokenize_command(CLI::App& app, CommandList& commands);

}  // namespace ef::cli
