// The committed default model (models/default.gguf, made by
// scripts/train-default-model.sh) loads, is the model README describes, and
// still predicts held-out text: perplexity on the start of WikiText-2 test
// (never seen in training) must stay far below what an untrained model gives
// (~n_vocab = 4096). Measured at commit time: 63.8 over the whole test split
// (`edgeformer eval`), so the bound below fails on a damaged or swapped file,
// a tokenizer regression or a broken forward pass, not on noise.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"

namespace ef {
namespace {

const std::string kModel = std::string(EF_MODELS_DIR) + "/default.gguf";

TEST(DefaultModel, IsTheDocumentedModel) {
  auto model = Model::load(kModel);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.n_vocab, 4096);
  EXPECT_EQ(c.n_embd, 192);
  EXPECT_EQ(c.n_layer, 6);
  EXPECT_EQ(c.n_head, 6);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.n_ff, 512);
  EXPECT_EQ((*model)->type_summary(), "Q8_0");
  EXPECT_LT((*model)->weight_bytes(), 4u << 20);  // "a few MB"
}

TEST(DefaultModel, PredictsHeldOutWikitext) {
  auto model = Model::load(kModel);
  ASSERT_TRUE(model.ok()) << model.error().message();
  std::ifstream in(std::string(EF_SHARED_DATA_DIR) + "/wikitext-2/test.txt", std::ios::binary);
  ASSERT_TRUE(in) << "shared data missing";
  std::string text(40000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  const std::vector<int32_t> ids = (*model)->tokenizer().encode(text, false);
  const int64_t window = 256, n_windows = 8;
  ASSERT_GE(static_cast<int64_t>(ids.size()), window * n_windows);

  SessionOptions opt;
  opt.n_ctx = window;
  opt.n_threads = 2;
  auto session = Session::create(**model, opt);
  ASSERT_TRUE(session.ok()) << session.error().message();
  const int64_t n_vocab = (*model)->config().n_vocab;
  double nll = 0;
  int64_t count = 0;
  for (int64_t w = 0; w < n_windows; ++w) {
    (*session)->reset();
    std::span<const int32_t> toks(ids.data() + w * window, static_cast<size_t>(window));
    auto logits = (*session)->eval(toks, /*all_logits=*/true);
    ASSERT_TRUE(logits.ok()) << logits.error().message();
    for (int64_t i = 0; i + 1 < window; ++i) {
      const float* row = logits->data() + i * n_vocab;
      double mx = row[0];
      for (int64_t v = 1; v < n_vocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < n_vocab; ++v) sum += std::exp(row[v] - mx);
      nll += std::log(sum) + mx - row[toks[static_cast<size_t>(i + 1)]];
      ++count;
    }
  }
  const double ppl = std::exp(nll / static_cast<double>(count));
  RecordProperty("perplexity", std::to_string(ppl));
  EXPECT_LT(ppl, 90.0);
  EXPECT_GT(ppl, 20.0);  // far lower would mean the test text leaked into training
}

}  // namespace
}  // namespace ef
