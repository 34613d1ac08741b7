#include "bench_report.h"

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli_common.h"

namespace ef::cli {
namespace {

// llama-bench's column widths: negative = left-aligned (strings).
struct Column {
  const char* name;
  int width;
};
constexpr Column kColumns[] = {
    {"model", -30}, {"size", 10},    {"params", 10}, {"backend", -10},
    {"threads", 7}, {"test", 15},    {"t/s", 20},
};

double mean(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

std::vector<double> as_double(const std::vector<uint64_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace

double sample_stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double sq = 0.0;
  for (double x : v) sq += (x - m) * (x - m);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

std::string BenchTest::name() const {
  if (n_prompt > 0 && n_gen == 0) return "pp" + std::to_string(n_prompt);
  if (n_gen > 0 && n_prompt == 0) return "tg" + std::to_string(n_gen);
  return "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen);
}

std::vector<double> BenchTest::samples_ts() const {
  std::vector<double> ts;
  const double n_tokens = static_cast<double>(n_prompt + n_gen);
  for (uint64_t ns : samples_ns) ts.push_back(ns > 0 ? 1e9 * n_tokens / static_cast<double>(ns) : 0.0);
  return ts;
}

double BenchTest::avg_ts() const { return mean(samples_ts()); }
double BenchTest::stddev_ts() const { return sample_stddev(samples_ts()); }
uint64_t BenchTest::avg_ns() const { return static_cast<uint64_t>(mean(as_double(samples_ns))); }
uint64_t BenchTest::stddev_ns() const {
  return static_cast<uint64_t>(sample_stddev(as_double(samples_ns)));
}

std::string markdown_header() {
  std::string out = "|";
  for (const auto& c : kColumns) out += strprintf(" %*s |", c.width, c.name);
  out += "\n|";
  for (const auto& c : kColumns) {
    out += ' ';
    out.append(static_cast<size_t>(std::abs(c.width) - 1), '-');
    out += c.width > 0 ? ": |" : "- |";
  }
  return out + "\n";
}

std::string markdown_row(const BenchTest& t) {
  const double size = static_cast<double>(t.model_size);
  const std::string size_text = t.model_size < 1024ull * 1024 * 1024
                                    ? strprintf("%.2f MiB", size / 1024.0 / 1024.0)
                                    : strprintf("%.2f GiB", size / 1024.0 / 1024.0 / 1024.0);
  const std::string values[] = {
      t.model_type,
      size_text,
      format_params(t.model_n_params),
      t.backend,
      std::to_string(t.n_threads),
      t.name(),
      strprintf("%.2f \xC2\xB1 %.2f", t.avg_ts(), t.stddev_ts()),
  };
  std::string out = "|";
  for (size_t i = 0; i < std::size(kColumns); ++i) {
    int width = kColumns[i].width;
    if (std::string_view(kColumns[i].name) == "t/s") width += 1;  // "±" is 2 bytes in UTF-8
    out += strprintf(" %*s |", width, values[i].c_str());
  }
  return out + "\n";
}

std::string to_json(const std::vector<BenchTest>& tests) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& t : tests) {
    nlohmann::json j;
    j["model_filename"] = t.model_filename;
    j["model_type"] = t.model_type;
    j["model_size"] = t.model_size;
    j["model_n_params"] = t.model_n_params;
    j["backend"] = t.backend;
    j["cpu_info"] = t.cpu_info;
    j["n_threads"] = t.n_threads;
    j["n_ubatch"] = t.n_ubatch;
    j["type_k"] = t.type_kv;
    j["type_v"] = t.type_kv;
    j["n_prompt"] = t.n_prompt;
    j["n_gen"] = t.n_gen;
    j["test"] = t.name();
    j["test_time"] = t.test_time;
    j["avg_ns"] = t.avg_ns();
    j["stddev_ns"] = t.stddev_ns();
    j["avg_ts"] = t.avg_ts();
    j["stddev_ts"] = t.stddev_ts();
    j["samples_ns"] = t.samples_ns;
    j["samples_ts"] = t.samples_ts();
    all.push_back(std::move(j));
  }
  return all.dump(2) + "\n";
}

}  // namespace ef::cli
