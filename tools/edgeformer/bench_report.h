// Results of `edgeformer bench` and their two renderings: llama-bench's
// markdown table (same columns, widths and number formats, so the tables
// can be pasted side by side) and JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ef::cli {

struct BenchTest {
  std::string model_filename;
  std::string model_type;  // "llama 135M Q8_0"
  uint64_t model_size = 0;      // bytes of all tensors
  uint64_t model_n_params = 0;  // elements of all tensors
  std::string backend;     // "CPU (avx512)"
  std::string cpu_info;
  int n_threads = 0;
  int64_t n_ubatch = 0;
  std::string type_kv;     // "f16"
  int64_t n_prompt = 0;    // pp test when > 0
  int64_t n_gen = 0;       // tg test when > 0
  std::string test_time;   // RFC 3339
  std::vector<uint64_t> samples_ns;

  std::string name() const;                 // "pp512" / "tg128"
  std::vector<double> samples_ts() const;   // tokens per second per sample
  double avg_ts() const;
  double stddev_ts() const;
  uint64_t avg_ns() const;
  uint64_t stddev_ns() const;
};

// Sample standard deviation (n-1), 0 for fewer than two samples.
double sample_stddev(const std::vector<double>& v);

std::string markdown_header();
std::string markdown_row(const BenchTest& t);
// A JSON array of all tests (pretty-printed).
std::string to_json(const std::vector<BenchTest>& tests);

}  // namespace ef::cli
