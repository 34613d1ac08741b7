// Happy paths of every subcommand on a tiny random model made by init-model.
// Expected values come from independent sources (the model's spec, the
// tokenizer, llama-bench's documented column layout), never from the output
// of the command under test.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "cli_run.h"

namespace ef::test {
namespace {

class CliHappy : public TinyModelCliSuite<CliHappy> {};

// Finds the tensor row of `name` in `info` output and returns its type column.
std::string tensor_type(const std::string& info, const std::string& name) {
  std::regex row("\\n\\s+" + name + "\\s+(\\S+)\\s+\\[");
  std::smatch m;
  return std::regex_search(info, m, row) ? m[1].str() : std::string();
}

TEST_F(CliHappy, InfoListsTensorsAndHyperParameters) {
  const CliRun r = run_cli({"info", model_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(tensor_type(r.out, "token_embd\\.weight"), "f32") << r.out;
  EXPECT_EQ(tensor_type(r.out, "blk\\.1\\.attn_q\\.weight"), "f32") << r.out;
  EXPECT_EQ(tensor_type(r.out, "blk\\.0\\.attn_norm\\.weight"), "f32") << r.out;
  EXPECT_NE(r.out.find("[64, 64]"), std::string::npos);   // attn_q: n_embd x n_embd
  EXPECT_NE(r.out.find("[64, 128]"), std::string::npos);  // ffn_gate: n_embd x n_ff
  EXPECT_TRUE(std::regex_search(r.out, std::regex("n_layer\\s+2\\n")));
  EXPECT_TRUE(std::regex_search(r.out, std::regex("n_head_kv\\s+2\\n")));
  EXPECT_NE(r.out.find("memory at ctx"), std::string::npos);
}

TEST_F(CliHappy, GreedyGenerationIsIdenticalAcrossThreadCounts) {
  auto gen = [](const char* threads) {
    return run_cli({"generate", "-m", model_, "-p", "Once upon a time", "-n", "24", "--temp", "0",
                    "-t", threads});
  };
  const CliRun one = gen("1");
  const CliRun two = gen("2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.out.rfind("Once upon a time", 0), 0u) << one.out;  // prompt echoed first
  std::smatch m;
  ASSERT_TRUE(std::regex_search(one.err, m, std::regex("generated: (\\d+) tokens"))) << one.err;
  EXPECT_GT(std::stoi(m[1].str()), 0);
  EXPECT_NE(one.err.find("VmHWM"), std::string::npos);
}

TEST_F(CliHappy, FlashAttentionIsOnByDefault) {
  // The session line reports what the session runs; the default must be the
  // flash path, and --flash-attn off must still reach the score-matrix path.
  auto gen = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "-m", model_, "-p", "abc", "-n", "8", "--temp", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const CliRun dflt = gen({});
  const CliRun on = gen({"--flash-attn", "on"});
  const CliRun off = gen({"--flash-attn", "off"});
  ASSERT_EQ(dflt.exit_code, 0) << dflt.err;
  ASSERT_EQ(on.exit_code, 0) << on.err;
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(dflt.err.find("flash attention on"), std::string::npos) << dflt.err;
  EXPECT_NE(off.err.find("flash attention off"), std::string::npos) << off.err;
  EXPECT_EQ(dflt.out, on.out);
}

TEST_F(CliHappy, SeededSamplingIsReproducible) {
  auto gen = [](const char* seed) {
    return run_cli({"generate", "-m", model_, "-p", "Hello", "-n", "16", "--temp", "1.0", "--seed",
                    seed, "--no-display-prompt"});
  };
  const CliRun a = gen("11");
  const CliRun b = gen("11");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST_F(CliHappy, QuantizeToQ8_0ThenInfoShowsIt) {
  const std::string out = dir_->file("tiny-q8_0.gguf");
  const CliRun q = run_cli({"quantize", model_, out, "q8_0"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const CliRun info = run_cli({"info", out});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(tensor_type(info.out, "blk\\.0\\.attn_q\\.weight"), "q8_0") << info.out;
  EXPECT_EQ(tensor_type(info.out, "blk\\.1\\.ffn_down\\.weight"), "q8_0") << info.out;
  EXPECT_EQ(tensor_type(info.out, "blk\\.0\\.attn_norm\\.weight"), "f32") << info.out;
  // LLAMA_FTYPE_MOSTLY_Q8_0 = 7 in llama.h.
  EXPECT_TRUE(std::regex_search(info.out, std::regex("general\\.file_type\\s+u32\\s+7\\n")))
      << info.out;
  // The quantized model still runs.
  const CliRun gen = run_cli({"generate", "-m", out, "-p", "abc", "-n", "4", "--temp", "0"});
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
}

TEST_F(CliHappy, PerplexityPrintsAFiniteEstimate) {
  const std::string text = dir_->file("text.txt");
  {
    std::ofstream f(text);
    for (int i = 0; i < 60; ++i) {
      f << "First Citizen: Before we proceed any further, hear me speak. All: Speak, speak.\n";
    }
  }
  const CliRun r = run_cli({"perplexity", "-m", model_, "-f", text, "--ctx", "64", "-t", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex("Final estimate: PPL = ([0-9.]+) \\+/- ([0-9.]+)")))
      << r.out;
  const double ppl = std::stod(m[1].str());
  EXPECT_TRUE(std::isfinite(ppl));
  EXPECT_GT(ppl, 1.0);
  EXPECT_NE(r.out.find("[1]"), std::string::npos);
  EXPECT_NE(r.out.find("[2]"), std::string::npos);
}

TEST_F(CliHappy, BenchJsonParses) {
  const CliRun r =
      run_cli({"bench", "-m", model_, "-p", "16", "-n", "4", "-r", "2", "-t", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_array()) << r.out;
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["test"], "pp16");
  EXPECT_EQ(j[1]["test"], "tg4");
  for (const auto& t : j) {
    EXPECT_EQ(t["samples_ns"].size(), 2u);
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_EQ(t["n_threads"], 1);
  }
}

TEST_F(CliHappy, BenchMarkdownHasLlamaBenchColumns) {
  const CliRun r = run_cli({"bench", "-m", model_, "-p", "8", "-n", "2", "-r", "1", "-t", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // llama-bench's header for a CPU run (column widths -30, 10, 10, -10, 7, 15, 20).
  const std::string header =
      "| model                          |       size |     params | backend    | threads |"
      "            test |                  t/s |\n"
      "| ------------------------------ | ---------: | ---------: | ---------- | ------: |"
      " --------------: | -------------------: |\n";
  EXPECT_EQ(r.out.rfind(header, 0), 0u) << r.out;
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("\\|\\s+pp8 \\|\\s+[0-9.]+ \xC2\xB1 [0-9.]+ \\|")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\|\\s+tg2 \\|"))) << r.out;
  EXPECT_NE(r.out.find("CPU ("), std::string::npos);
}

TEST_F(CliHappy, TokenizeStartsWithBos) {
  const CliRun r = run_cli({"tokenize", "-m", model_, "-p", "hello world", "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The synthetic vocabulary puts <s> at id 1 (tiny_model.h).
  EXPECT_EQ(r.out.rfind("[1, ", 0), 0u) << r.out;
}

}  // namespace
}  // namespace ef::test
