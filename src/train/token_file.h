// Token files: a corpus tokenized once, stored as uint32 ids behind a small
// validated header, and the seeded (batch, seq) window sampler.
//
// Layout (little-endian):
//   0  char[8] "EFTOKENS"
//   8  u32     version (1)
//   12 u32     n_vocab   (every id must be < n_vocab)
//   16 u64     n_tokens  (file size must be 32 + 4 * n_tokens)
//   24 u64     FNV-1a 64 of the id bytes
//   32 u32     ids[n_tokens]
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgeformer/error.h"

namespace ef {
class Tokenizer;
}

namespace ef::train {

uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = 0xcbf29ce484222325ull);

// Writes atomically (temp file, fsync, rename).
Status write_token_file(const std::string& path, std::span<const int32_t> ids, int64_t n_vocab);
struct TokenData {
  int64_t n_vocab = 0;
  std::vector<int32_t> ids;
};
Result<TokenData> read_token_file(const std::string& path);
// Whether `path` starts with the token-file magic (else it is treated as text).
bool is_token_file(const std::string& path);

// Tokenizes text files (each encoded whole, BOS first when the vocabulary
// adds one) and concatenates them. Empty input is an error.
Result<std::vector<int32_t>> tokenize_text_files(const Tokenizer& tokenizer,
                                                 const std::vector<std::string>& paths);

// Deterministic window sampler: window j of the run starts at
//   splitmix64(seed ^ j * golden) % (n_tokens - T)
// so the data position is one counter (windows drawn so far), saved in
// checkpoints, and a resumed run draws exactly the same windows.
class WindowSampler {
 public:
  WindowSampler(uint64_t seed, int64_t n_tokens, int64_t T) : seed_(seed), n_(n_tokens), T_(T) {}
  int64_t start(uint64_t window_index) const;
 private:
  uint64_t seed_;
  int64_t n_;
  int64_t T_;
};

// Atomic whole-file write used by token files and checkpoints: `path`.tmp.<pid>
// in the same directory, fsync, rename, fsync of the directory. On failure
// nothing is left behind.
Status write_file_atomic(const std::string& path, std::span<const uint8_t> bytes);

}  // namespace ef::train
