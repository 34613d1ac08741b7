// generate --save-session / --load-session across processes: the state a
// subprocess saved restores (in this process and in another subprocess) to
// bit-identical logits and the identical greedy continuation; bad files give
// one clear error line.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_run.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "edgeformer/tokenizer.h"

namespace ef::test {
namespace {

class CliSession : public TinyModelCliSuite<CliSession> {};

const char* kPrompt = "Once upon a time there was";

TEST_F(CliSession, SavedStateContinuesIdentically) {
  const std::string file = dir_->file("a.efsession");
  const CliRun full =
      run_cli({"generate", "-m", model_, "-p", kPrompt, "-n", "12", "--temp", "0", "-t", "1"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const CliRun save = run_cli(
      {"generate", "-m", model_, "-p", kPrompt, "-n", "0", "--temp", "0", "--save-session", file});
  ASSERT_EQ(save.exit_code, 0) << save.err;
  ASSERT_TRUE(std::filesystem::exists(file));
  const CliRun cont = run_cli(
      {"generate", "-m", model_, "--load-session", file, "-n", "12", "--temp", "0", "-t", "2"});
  ASSERT_EQ(cont.exit_code, 0) << cont.err;
  // The continuation prints only the completion (no prompt was given).
  EXPECT_EQ(std::string(kPrompt) + cont.out, full.out);
  EXPECT_GT(cont.out.size(), 1u);

  // In this process: restoring the subprocess's file gives the logits of an
  // uninterrupted evaluation, bit for bit, now and after one more token.
  auto model = Model::load(model_);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const std::vector<int32_t> ids = (*model)->tokenizer().encode(kPrompt, true);
  SessionOptions opt;
  opt.n_ctx = 128;
  opt.flash_attn = true;  // the CLI's default (--flash-attn on)
  auto ref = Session::create(**model, opt).value();
  auto got = Session::create(**model, opt).value();
  auto lr = ref->eval(ids);
  ASSERT_TRUE(lr.ok());
  std::vector<float> want(lr->begin(), lr->end());
  auto lg = got->load(file);
  ASSERT_TRUE(lg.ok()) << lg.error().message();
  ASSERT_EQ(lg->size(), want.size());
  EXPECT_EQ(std::memcmp(lg->data(), want.data(), want.size() * 4), 0);
  const int32_t next[1] = {42};
  auto nr = ref->eval(next);
  ASSERT_TRUE(nr.ok());
  want.assign(nr->begin(), nr->end());
  auto ng = got->eval(next);
  ASSERT_TRUE(ng.ok());
  EXPECT_EQ(std::memcmp(ng->data(), want.data(), want.size() * 4), 0);
}

TEST_F(CliSession, AppendsPromptToLoadedSession) {
  const std::string file = dir_->file("b.efsession");
  ASSERT_EQ(
      run_cli({"generate", "-m", model_, "-p", "Once upon a", "-n", "0", "--save-session", file})
          .exit_code,
      0);
  // Token boundaries of the split text may differ from the whole text's,
  // so this only checks the appended prompt runs and is deterministic.
  const CliRun a = run_cli({"generate", "-m", model_, "--load-session", file, "-p",
                            " time there was", "-n", "8", "--temp", "0", "--no-display-prompt"});
  const CliRun b = run_cli({"generate", "-m", model_, "--load-session", file, "-p",
                            " time there was", "-n", "8", "--temp", "0", "--no-display-prompt"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), 1u);
}

TEST_F(CliSession, MemoryBudgetOffloadsAndKeepsTheOutput) {
  // A budget one byte below "everything resident at micro-batch 1" (computed
  // by the library for the same options) forces KV offload; the greedy
  // output must equal the unbudgeted flash run's.
  auto model = Model::load(model_);
  ASSERT_TRUE(model.ok());
  SessionOptions o;
  o.n_ctx = 128;
  o.n_ubatch = 1;
  o.n_threads = 1;
  o.flash_attn = true;
  const uint64_t budget = plan_memory(**model, o).value().total() - 1;
  const std::vector<std::string> gen = {"generate", "-m",           model_, "-p", kPrompt, "-n",
                                        "20",       "--temp",       "0",    "-t", "1",     "--ctx",
                                        "128",      "--flash-attn", "on"};
  const CliRun ref = run_cli(gen);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  std::vector<std::string> budgeted = gen;
  budgeted.push_back("--mem-budget");
  budgeted.push_back(std::to_string(budget));
  const CliRun off = run_cli(budgeted);
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, ref.out);
  EXPECT_NE(off.err.find("KV offloaded (disk)"), std::string::npos) << off.err;
  EXPECT_NE(off.err.find("fits the budget"), std::string::npos) << off.err;

  // info shows the same plan; a budget below the weights is one clear error.
  const CliRun info =
      run_cli({"info", model_, "--ctx", "128", "--mem-budget", std::to_string(budget)});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("memory plan"), std::string::npos);
  const CliRun tiny = run_cli({"info", model_, "--ctx", "128", "--mem-budget", "1K"});
  EXPECT_EQ(tiny.exit_code, 1) << tiny.err;
  ASSERT_EQ(tiny.error_lines().size(), 1u) << tiny.err;
  EXPECT_NE(tiny.error_lines()[0].find("at least"), std::string::npos) << tiny.err;
  const CliRun bad = run_cli({"generate", "-m", model_, "-p", "x", "--mem-budget", "lots"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(CliSession, QuantizedMlaCacheSavesAndOffloads) {
  // deepseek2 with a Q8_0 latent cache: save -> another process continues
  // with the output of an uninterrupted run; a budget that forces offload
  // keeps the output too.
  const std::string mla = dir_->file("mla.gguf");
  const CliRun init = run_cli({"init-model", "-o", mla, "--arch", "deepseek2", "--n-embd", "64",
                               "--n-layer", "2", "--n-head", "4", "--n-ff", "128", "--ctx", "128",
                               "--kv-lora-rank", "32", "--rope-dim", "32", "--nope-dim", "16",
                               "--v-dim", "16", "--seed", "9"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::vector<std::string> base = {"generate", "-m", mla, "--temp", "0", "-t", "1",
                                         "--ctx", "128", "--cache-type", "q8_0"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const CliRun full = with({"-p", kPrompt, "-n", "12"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const std::string file = dir_->file("mla.efsession");
  const CliRun save = with({"-p", kPrompt, "-n", "0", "--save-session", file});
  ASSERT_EQ(save.exit_code, 0) << save.err;
  const CliRun cont = with({"--load-session", file, "-n", "12"});
  ASSERT_EQ(cont.exit_code, 0) << cont.err;
  EXPECT_EQ(std::string(kPrompt) + cont.out, full.out);
  // Loading into an f16 latent cache names the mismatch.
  const CliRun wrong = run_cli({"generate", "-m", mla, "--load-session", file, "-n", "1"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("header.kv_type"), std::string::npos) << wrong.err;

  auto model = Model::load(mla);
  ASSERT_TRUE(model.ok());
  SessionOptions o;
  o.n_ctx = 128;
  o.n_ubatch = 1;
  o.n_threads = 1;
  o.kv_type = KvType::q8_0;
  const uint64_t budget = plan_memory(**model, o).value().total() - 1;
  const CliRun off = with({"-p", kPrompt, "-n", "12", "--mem-budget", std::to_string(budget)});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, full.out);
  EXPECT_NE(off.err.find("KV offloaded (disk)"), std::string::npos) << off.err;
}

TEST_F(CliSession, BadFilesGiveOneErrorLine) {
  const std::string file = dir_->file("c.efsession");
  ASSERT_EQ(run_cli({"generate", "-m", model_, "-p", kPrompt, "-n", "0", "--save-session", file})
                .exit_code,
            0);
  const std::string bytes = read_all(file);
  const std::string cut = dir_->file("cut.efsession");
  {
    std::ofstream out(cut, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  const CliRun r = run_cli({"generate", "-m", model_, "--load-session", cut, "-n", "4"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  ASSERT_EQ(r.error_lines().size(), 1u) << r.err;
  EXPECT_NE(r.error_lines()[0].find("offset"), std::string::npos) << r.err;

  const std::string other = dir_->file("other.gguf");
  ASSERT_EQ(run_cli({"init-model", "-o", other, "--n-embd", "64", "--n-layer", "2", "--n-head", "4",
                     "--n-head-kv", "2", "--n-ff", "128", "--ctx", "128", "--seed", "8"})
                .exit_code,
            0);
  const CliRun w = run_cli({"generate", "-m", other, "--load-session", file, "-n", "4"});
  EXPECT_EQ(w.exit_code, 2) << w.err;  // invalid argument: the file belongs to another model
  ASSERT_EQ(w.error_lines().size(), 1u) << w.err;
  EXPECT_NE(w.error_lines()[0].find("other weights"), std::string::npos) << w.err;

  const CliRun none = run_cli({"generate", "-m", model_, "-n", "4"});
  EXPECT_EQ(none.exit_code, 2) << none.err;
}

}  // namespace
}  // namespace ef::test
