// `edgeformer perplexity`: llama.cpp's llama-perplexity, same algorithm, so
// the numbers compare digit for digit (own code; semantics read from
// llama.cpp tools/perplexity/perplexity.cpp, function perplexity()).
//
//   tokens  = tokenize(whole file minus one trailing '\n', BOS if the vocab adds BOS)
//   n_chunk = n_tokens / n_ctx            (needs n_tokens >= 2*n_ctx)
//   chunk i = tokens[i*n_ctx, (i+1)*n_ctx), first token replaced by BOS
//             when add_bos; evaluated from an empty cache, all logits kept
//   score   = positions j in [n_ctx/2, n_ctx-2] predicting tokens[j+1]:
//             nll += -log_softmax(logits[j])[next]
//   ppl     = exp(nll / count), uncertainty from the variance of the nll terms
// Memory: no n_ctx x n_vocab logits buffer. A chunk's unscored first half
// is evaluated without logits, the scored half in pieces of kScorePiece
// tokens with all logits (logits depend neither on how tokens are split
// into eval() calls nor on micro-batches, so the numbers are unchanged);
// the session plans its logits buffer for one piece (logits_rows), so
// --mem-budget covers it.
// log_softmax matches llama.cpp's float/double mix exactly: max in float,
// sum of expf(x - max) in double, result logit - max - log(sum).
//
// --kl-divergence: a KV-cache comparison in one process. Every chunk is
// evaluated twice, by a base session with a --kl-base cache (default f16,
// no rotation) and by the session the flags describe (--cache-type-k/-v,
// --kv-hadamard), both with the same flash setting; over the scored
// positions it reports mean KL(base || test) per token with its standard
// error, max / 99.9% / 99% / median, top-1 agreement and both perplexities
// (the statistics llama-perplexity --kl-divergence prints).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"
#include "runtime/logit_compare.h"
#include "session_flags.h"

namespace ef::cli {
namespace {

// Tokens per all-logits eval() call in the scored half of a chunk.
constexpr int64_t kScorePiece = 128;

struct PerplexityOptions {
  std::string model;
  std::string file;
  int64_t n_chunks = -1;  // -1: all
  bool progress = false;
  bool kl_divergence = false;
  std::string kl_base = "f16";
  SessionFlags session;
};

// -log p(tok) under softmax(logits), computed as llama.cpp computes it.
double negative_log_prob(const float* logits, int64_t n_vocab, int32_t tok) {
  float max_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
  double sum_exp = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += expf(logits[i] - max_logit);
  const double log_softmax = (logits[tok] - max_logit) - std::log(sum_exp);
  return -log_softmax;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::io, "cannot open text file", path, "check the -f path");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(Errc::io, "cannot read text file", path);
  // llama.cpp's -f drops one trailing newline; the token stream must match.
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Status run_perplexity(const PerplexityOptions& o) {
  if (o.session.n_ctx <= 0) return usage_error("--ctx must be > 0 for perplexity", "--ctx");
  EF_TRY(o.session.validate_and_apply());
  EF_ASSIGN_OR_RETURN(std::string text, read_text_file(o.file));
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::load(o.model));

  const int64_t n_ctx = o.session.n_ctx;
  SessionOptions so = o.session.session_options();
  so.n_ubatch = std::min(so.n_ubatch, n_ctx);
  const int64_t piece = std::min(kScorePiece, n_ctx);
  so.logits_rows = piece;
  const std::optional<KvType> base_type = kv_type_from_name(o.kl_base);
  if (!base_type) {
    return usage_error("unknown KV cache type '" + o.kl_base + "'", "--kl-base",
                       std::string("valid types: ") + kv_type_names());
  }
  std::unique_ptr<Session> base;  // --kl-divergence only
  if (o.kl_divergence) {
    SessionOptions bo = so;
    bo.kv_type = *base_type;
    bo.type_k = bo.type_v = *base_type;
    bo.kv_hadamard = false;
    EF_ASSIGN_OR_RETURN(base, Session::create(*model, bo));
  }
  EF_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(*model, so));
  if (session->n_ctx() != n_ctx) {
    return make_error(Errc::internal, "session context differs from --ctx",
                      std::to_string(session->n_ctx()) + " vs " + std::to_string(n_ctx));
  }

  const Tokenizer& tok = model->tokenizer();
  const bool add_bos = tok.add_bos_default();
  std::fprintf(stderr, "perplexity: tokenizing the input ..\n");
  const auto t_tok = std::chrono::steady_clock::now();
  const std::vector<int32_t> tokens = tok.encode(text, add_bos);
  std::fprintf(stderr, "perplexity: tokenization took %g ms\n", 1e3 * seconds_since(t_tok));

  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * n_ctx) {
    return usage_error("you need at least " + std::to_string(2 * n_ctx) +
                           " tokens to evaluate perplexity with a context of " +
                           std::to_string(n_ctx) + ", but the file tokenizes to only " +
                           std::to_string(n_tokens) + " tokens",
                       o.file, "use a longer text or a smaller --ctx");
  }
  const int64_t n_chunk_max = n_tokens / n_ctx;
  const int64_t n_chunk = o.n_chunks < 0 ? n_chunk_max : std::min(o.n_chunks, n_chunk_max);
  const int64_t n_vocab = tok.n_vocab();
  const int64_t first = n_ctx / 2;
  std::fprintf(stderr,
               "perplexity: calculating perplexity over %lld chunks, n_ctx=%lld, batch_size=%lld, "
               "n_seq=1\n",
               static_cast<long long>(n_chunk), static_cast<long long>(n_ctx),
               static_cast<long long>(so.n_ubatch));

  // The [i]ppl values on stdout already show progress on a terminal.
  Progress progress("perplexity", n_chunk, o.progress, isatty(STDOUT_FILENO) != 1);
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  double nll_base = 0.0;
  LogitComparison cmp;
  for (int64_t i = 0; i < n_chunk; ++i) {
    const int64_t start = i * n_ctx;
    std::copy(tokens.begin() + start, tokens.begin() + start + n_ctx, chunk.begin());
    if (add_bos) chunk[0] = tok.bos_id();

    const auto t_start = std::chrono::steady_clock::now();
    // Unscored prefix [0, first) without logits, then the scored rows
    // [first, n_ctx - 1) in pieces (the last token's logits score nothing).
    // With --kl-divergence the base session runs the same pieces in
    // lockstep (the test logits stay valid: they live in the other session).
    session->reset();
    if (base) base->reset();
    if (first > 0) {
      const std::span<const int32_t> prefix(chunk.data(), static_cast<size_t>(first));
      EF_TRY(session->eval(prefix));
      if (base) EF_TRY(base->eval(prefix));
    }
    for (int64_t j0 = first; j0 < n_ctx; j0 += piece) {
      const int64_t len = std::min(piece, n_ctx - j0);
      const std::span<const int32_t> part(chunk.data() + j0, static_cast<size_t>(len));
      EF_ASSIGN_OR_RETURN(std::span<const float> logits, session->eval(part, /*all_logits=*/true));
      if (static_cast<int64_t>(logits.size()) != len * n_vocab) {
        return make_error(Errc::internal, "eval returned the wrong number of logits",
                          std::to_string(logits.size()));
      }
      std::span<const float> bl;
      if (base) {
        EF_ASSIGN_OR_RETURN(bl, base->eval(part, /*all_logits=*/true));
      }
      for (int64_t j = j0; j < std::min(j0 + len, n_ctx - 1); ++j) {
        const int32_t next = tokens[static_cast<size_t>(start + j + 1)];
        const float* row = logits.data() + (j - j0) * n_vocab;
        const double v = negative_log_prob(row, n_vocab, next);
        nll += v;
        nll2 += v * v;
        if (base) {
          const float* brow = bl.data() + (j - j0) * n_vocab;
          nll_base += negative_log_prob(brow, n_vocab, next);
          cmp.add(brow, row, n_vocab);
        }
      }
    }
    if (i == 0) {
      const double t_total = seconds_since(t_start);
      std::fprintf(stderr, "perplexity: %.2f seconds per pass - ETA ", t_total);
      int total_seconds = static_cast<int>(t_total * static_cast<double>(n_chunk));
      if (total_seconds >= 60 * 60) {
        std::fprintf(stderr, "%d hours ", total_seconds / (60 * 60));
        total_seconds %= 60 * 60;
      }
      std::fprintf(stderr, "%.2f minutes\n", total_seconds / 60.0);
    }
    count += n_ctx - first - 1;
    std::printf("[%lld]%.4lf,", static_cast<long long>(i + 1),
                std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
    progress.update(i + 1);
  }
  progress.finish();
  std::printf("\n");

  nll2 /= static_cast<double>(count);
  nll /= static_cast<double>(count);
  const double ppl = std::exp(nll);
  nll2 -= nll * nll;
  if (nll2 > 0) {
    nll2 = std::sqrt(nll2 / static_cast<double>(count - 1));
  } else {
    // Every token scored the same (e.g. constant logits): no spread to
    // report. llama.cpp prints only an error here; we keep the estimate.
    std::fprintf(stderr, "perplexity: note: log(prob) has no variance; uncertainty is 0\n");
    nll2 = 0.0;
  }
  std::printf("Final estimate: PPL = %.4lf +/- %.5lf\n", ppl, nll2 * ppl);
  if (base) {
    const SessionOptions& to = session->options();
    std::printf("\n====== KV cache KL divergence: base %s vs test %s (flash %s, %lld tokens) ======\n",
                kv_type_name(*base_type), o.session.cache_description().c_str(),
                to.flash_attn ? "on" : "off", static_cast<long long>(cmp.count()));
    std::printf("PPL(base)  = %.4lf\n", std::exp(nll_base / static_cast<double>(count)));
    std::printf("PPL(test)  = %.4lf\n", ppl);
    std::printf("KV bytes/token: base %llu, test %llu\n",
                static_cast<unsigned long long>(base->kv_bytes_per_token()),
                static_cast<unsigned long long>(session->kv_bytes_per_token()));
    std::printf("Mean KLD   = %.6e +/- %.2e\n", cmp.mean_kl(), cmp.mean_kl_stderr());
    std::printf("Max KLD    = %.6e\n", cmp.max_kl());
    std::printf("99.9%% KLD  = %.6e\n", cmp.kl_quantile(0.999));
    std::printf("99.0%% KLD  = %.6e\n", cmp.kl_quantile(0.99));
    std::printf("Median KLD = %.6e\n", cmp.kl_quantile(0.5));
    std::printf("Same top-1 = %.3lf %%\n", 100.0 * cmp.top1_agreement());
  }
  return Status::success();
}

}  // namespace

void add_perplexity_command(CLI::App& app, CommandList& commands) {
  auto o = std::make_shared<PerplexityOptions>();
  o->session.n_ctx = 512;  // llama-perplexity's default
  CLI::App* sub = app.add_subcommand(
      "perplexity", "Perplexity of a text file, computed exactly as llama-perplexity does");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required();
  sub->add_option("-f,--file", o->file, "Text file (e.g. wikitext-2 test.txt)")->required();
  sub->add_option("--chunks", o->n_chunks, "Evaluate at most this many chunks (-1: all)");
  sub->add_flag("--progress", o->progress, "Show a progress line even when stderr is not a TTY");
  sub->add_flag("--kl-divergence", o->kl_divergence,
                "Also evaluate with a --kl-base KV cache and report KL(base || this cache) per "
                "token and top-1 agreement");
  sub->add_option("--kl-base", o->kl_base,
                  "KV cache type of the --kl-divergence base (default f16, both K and V)");
  o->session.add_to(*sub, "Tokens per chunk (default 512, as llama-perplexity)");
  commands.push_back({sub, [o]() { return run_perplexity(*o); }});
}

}  // namespace ef::cli
