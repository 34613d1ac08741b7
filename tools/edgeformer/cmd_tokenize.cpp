// `edgeformer tokenize -m MODEL -p TEXT`: shows how the model's tokenizer
// splits a text. Output (stdout), like llama-tokenize:
//   default   one line per token: `<id> -> '<piece>'`
//   --ids     the ids as a list: [1, 15043, 3186]
//   --pieces  one piece per line, quoted
// Only the tokenizer is loaded (not the weights): SentencePiece-style
// ("llama") or byte-level BPE ("gpt2") vocabularies.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "edgeformer/tokenizer.h"
#include "gguf_format.h"
#include "io/gguf.h"

namespace ef::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool ids = false;
  bool pieces = false;
  bool no_bos = false;
  bool parse_special = false;
};

Status run_tokenize(const TokenizeOptions& o) {
  if (o.ids && o.pieces) return usage_error("--ids and --pieces are exclusive");
  size_t bad = 0;
  if (!is_valid_utf8(o.text, &bad)) {
    return usage_error("text is not valid UTF-8: bad byte at offset " + std::to_string(bad), "-p");
  }
  EF_ASSIGN_OR_RETURN(std::unique_ptr<gguf::File> file, gguf::File::open(o.model));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::from_gguf(*file));
  const std::vector<int32_t> ids = tok->encode(o.text, !o.no_bos, o.parse_special);
  if (o.ids) {
    std::string line = "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", line.c_str());
    return Status::success();
  }
  for (int32_t id : ids) {
    // Control tokens have an empty piece; show their vocab text instead.
    std::string piece = tok->token_to_piece(id);
    if (piece.empty()) piece = tok->token_text(id);
    if (o.pieces) {
      std::printf("'%s'\n", printable(piece, 200).c_str());
    } else {
      std::printf("%6d -> '%s'\n", id, printable(piece, 200).c_str());
    }
  }
  std::fprintf(stderr, "%zu tokens\n", ids.size());
  return Status::success();
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand("tokenize", "Show the tokens of a text");
  sub->add_option("-m,--model", o->model, "GGUF model (or vocabulary) file")->required();
  sub->add_option("-p,--prompt", o->text, "Text to tokenize (UTF-8)")->required();
  sub->add_flag("--ids", o->ids, "Print only the ids, as a list");
  sub->add_flag("--pieces", o->pieces, "Print only the pieces");
  sub->add_flag("--no-bos", o->no_bos, "Do not add the BOS token");
  sub->add_flag("--parse-special,--special", o->parse_special, "Recognise special-token texts like <s>");
  commands.push_back({sub, [o]() { return run_tokenize(*o); }});
}

}  // namespace ef::cli
