// Test helpers: the shared llama.cpp vocabularies and their test vectors.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "edgeformer/tokenizer.h"
#include "io/gguf.h"

namespace ef::tok::testing {

inline std::string shared_data_dir() {
  if (const char* env = std::getenv("EF_SHARED_DATA_DIR"); env && *env) return env;
  return EF_SHARED_DATA_DIR;
}

inline std::string vocab_path(const std::string& name) {
  return shared_data_dir() + "/vocab/ggml-vocab-" + name + ".gguf";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Loads a shared vocabulary GGUF; on failure returns nullptr and sets *error.
inline std::unique_ptr<Tokenizer> load_vocab(const std::string& name, std::string* error) {
  auto file = gguf::File::open(vocab_path(name));
  if (!file.ok()) {
    *error = file.error().message();
    return nullptr;
  }
  auto tok = Tokenizer::from_gguf(*file.value());
  if (!tok.ok()) {
    *error = tok.error().message();
    return nullptr;
  }
  return std::move(tok).value();
}

struct Vector {
  std::string input;
  std::vector<int32_t> expected;
};

// Reads NAME.gguf.inp / .out the way llama.cpp's test-tokenizer-0 does:
// inputs are separated by "\n__ggml_vocab_test__\n" (so the newline before
// and after each separator line belongs to the separator); each .out line
// holds the expected ids separated by spaces.
inline std::vector<Vector> read_vectors(const std::string& gguf_path, std::string* error) {
  const std::string raw = read_file(gguf_path + ".inp");
  const std::string out = read_file(gguf_path + ".out");
  if (raw.empty() || out.empty()) {
    *error = "cannot read " + gguf_path + ".inp/.out";
    return {};
  }
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::vector<int32_t>> outputs;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    for (long long id; ids >> id;) v.push_back(static_cast<int32_t>(id));
    outputs.push_back(std::move(v));
  }
  if (inputs.size() != outputs.size()) {
    *error = std::to_string(inputs.size()) + " inputs but " + std::to_string(outputs.size()) +
             " outputs";
    return {};
  }
  std::vector<Vector> result;
  for (size_t i = 0; i < inputs.size(); ++i) result.push_back({inputs[i], outputs[i]});
  return result;
}

}  // namespace ef::tok::testing
