// A model whose vocabulary comes from the BPE trainer (as the default model
// will): Model::load picks up the byte-level BPE tokenizer, and a session
// generates tokens that stream back to valid text.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"
#include "model/tiny_model.h"
#include "tokenizer/bpe_trainer.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_bpe_model_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string shakespeare() {
  std::string dir = EF_SHARED_DATA_DIR;
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) dir = env;
  std::ifstream in(dir + "/tinyshakespeare/input.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str().substr(0, 100000);
}

TEST(BpeModel, TrainedVocabularyLoadsWithModelAndGenerates) {
  const std::string text = shakespeare();
  ASSERT_GT(text.size(), 50000u);
  tok::BpeTrainOptions o;
  o.vocab_size = 600;
  auto vocab = tok::train_bpe({text}, o);
  ASSERT_TRUE(vocab.ok()) << vocab.error().message();
  const std::string vocab_path = temp_path("vocab.gguf"), model_path = temp_path("model.gguf");
  ASSERT_TRUE(tok::write_bpe_vocab_gguf(vocab.value(), vocab_path).ok());

  TinyModelSpec spec;
  spec.vocab_path = vocab_path;
  ASSERT_TRUE(write_tiny_llama(model_path, spec).ok());
  auto model = Model::load(model_path);
  std::filesystem::remove(vocab_path);
  std::filesystem::remove(model_path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const Tokenizer& tok = (*model)->tokenizer();
  EXPECT_EQ(tok.n_vocab(), 600);
  EXPECT_EQ(tok.token_text(599), "<|endoftext|>");
  EXPECT_TRUE(tok.is_end_of_generation(599));

  const std::string prompt = "ROMEO:\nWhat light";
  const std::vector<int32_t> ids = tok.encode(prompt, true);
  EXPECT_EQ(tok.decode(ids), prompt);
  auto session = Session::create(**model, {});
  ASSERT_TRUE(session.ok()) << session.error().message();
  auto logits = (*session)->eval(ids);
  ASSERT_TRUE(logits.ok()) << logits.error().message();
  StreamingDetokenizer stream(tok);
  std::string out;
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(logits.value().size(), 600u);
    const auto best = static_cast<int32_t>(
        std::max_element(logits.value().begin(), logits.value().end()) - logits.value().begin());
    out += stream.push(best);
    logits = (*session)->eval(std::span<const int32_t>(&best, 1));
    ASSERT_TRUE(logits.ok()) << logits.error().message();
  }
  out += stream.flush();
  EXPECT_TRUE(is_valid_utf8(out));
}

}  // namespace
}  // namespace ef
