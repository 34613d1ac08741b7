// Byte-level BPE trainer: learns a vocabulary with merges from plain text and
// writes it as a vocab-only GGUF (tokenizer.ggml.model = "gpt2") that
// EdgeFormer's and llama.cpp's tokenizers load.
//
// Algorithm (GPT-2 style): pre-tokenize the text with the chosen family's
// regex (gpt-2 or llama3), count distinct words, start every word as its
// bytes (256 base tokens), then repeatedly merge the most frequent adjacent
// pair of tokens into a new token. Pair counts are kept up to date
// incrementally: a merge only touches the words that contain the pair (an
// index pair -> words), and a max-heap with lazily refreshed counts yields
// the next pair. Ties go to the smaller (left id, right id), so the result is
// a pure function of the input bytes (also independent of --threads: the
// input is cut into blocks at fixed places and counts are summed exactly).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeformer/error.h"
#include "tokenizer/pretokenize.h"

namespace ef::tok {

struct BpeTrainOptions {
  int32_t vocab_size = 4096;  // total: 256 byte tokens + merges + special tokens
  PreType pre = PreType::kGpt2;  // kGpt2 or kLlama3
  int threads = 1;               // for pre-tokenizing and counting
  // Texts are cut into blocks of about this size for the counting threads.
  // Cuts fall where no word can cross them, so the result does not depend on it.
  size_t block_bytes = size_t{1} << 20;
  // Appended after the merged tokens as CONTROL tokens; the first one is BOS and EOS.
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  int64_t min_pair_count = 2;  // stop early when the best pair is rarer
  // Called now and then with (merges done, merges wanted); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

struct BpeVocabulary {
  std::vector<std::string> tokens;  // byte-encoded texts, id order
  std::vector<int32_t> types;       // tokenizer.ggml.token_type per token
  std::vector<std::string> merges;  // "left right", rank order
  int32_t bos = -1, eos = -1;
  std::string pre;  // tokenizer.ggml.pre value ("gpt-2" or "llama-bpe")
  // Statistics of the run.
  uint64_t input_bytes = 0;
  uint64_t distinct_words = 0;
};

// Trains on the given texts (each one is pre-tokenized on its own).
Result<BpeVocabulary> train_bpe(const std::vector<std::string_view>& texts,
                                const BpeTrainOptions& options);
// Reads the files and trains; errors name the file.
Result<BpeVocabulary> train_bpe_files(const std::vector<std::string>& paths,
                                      const BpeTrainOptions& options);

// Writes a vocab-only GGUF: general.architecture "gpt2" with placeholder
// hyper-parameters (as llama.cpp's own vocab-only files have) and the
// tokenizer.ggml.* keys. Atomic (temp file + rename).
Status write_bpe_vocab_gguf(const BpeVocabulary& vocab, const std::string& path,
                            const std::string& name = "edgeformer-bpe");

}  // namespace ef::tok
