// `edgeformer detokenize -m MODEL_OR_VOCAB --ids "1 2 3" [--special]`:
// prints the text of a list of token ids (separated by spaces and/or commas,
// optionally in [brackets], as `tokenize --ids` prints them). Control tokens
// print as nothing unless --special.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cmd_tokenizer.h"
#include "edgeformer/tokenizer.h"
#include "io/gguf.h"

namespace ef::cli {
namespace {

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool special = false;
};

Result<std::vector<int32_t>> parse_ids(const std::string& text, int32_t n_vocab) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ' || c == ',' || c == '[' || c == ']' || c == '\t' || c == '\n') {
      ++i;
      continue;
    }
    size_t j = i;
    if (text[j] == '-') ++j;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    const std::string number = text.substr(i, j - i);
    if (number.empty() || number == "-" || number.size() > 11)
      return usage_error("expected a list of token ids, found '" + text.substr(i, 20) + "'",
                         "--ids", "e.g. --ids \"1 15043 3186\"");
    const long long id = std::stoll(number);
    if (id < 0 || id >= n_vocab)
      return usage_error("token id " + number + " is outside the vocabulary (" +
                             std::to_string(n_vocab) + " tokens)",
                         "--ids");
    ids.push_back(static_cast<int32_t>(id));
    i = j;
  }
  return ids;
}

Status run_detokenize(const DetokenizeOptions& o) {
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(o.model));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::from_gguf(*file));
  EF_ASSIGN_OR_RETURN(std::vector<int32_t> ids, parse_ids(o.ids, tok->n_vocab()));
  std::string text;
  if (o.special) {
    bool strip = tok->add_space_prefix();
    for (int32_t id : ids) {
      std::string piece = tok->token_to_piece(id, true);
      if (strip && !piece.empty()) {
        if (piece[0] == ' ') piece.erase(0, 1);
        strip = false;
      }
      text += piece;
    }
  } else {
    text = tok->decode(ids);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return Status::success();
}

}  // namespace

void add_detokenize_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<DetokenizeOptions>();
  CLI::App* sub = app.add_subcommand("detokenize", "Print the text of a list of token ids");
  sub->add_option("-m,--model", o->model, "GGUF model (or vocabulary) file")->required();
  sub->add_option("--ids", o->ids, "Token ids, e.g. \"1 15043 3186\" or \"[1, 15043]\"")
      ->required();
  sub->add_flag("--special", o->special, "Also print control tokens (<s>, <|endoftext|>...)");
  commands.push_back({sub, [o]() { return run_detokenize(*o); }});
}

}  // namespace ef::cli
