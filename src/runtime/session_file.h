// The session state file (`.efsession`): one sequence's KV cache, token ids
// and last logits, so a prompt processed once can be continued later by a
// new process (Session::save / Session::load).
//
// Layout (little-endian, no padding), version 2:
//   offset  size  field
//        0     4  magic "EFSN"
//        4     4  version (2; version 1 files, without the fields at 72..87,
//                 are still read: f16/f32, K type == V type, no flags)
//        8     4  kv_type            K row type (KvType code: f32 0, f16 1,
//                                    bf16 2, q8_0 3, q4_0 4); MLA: latent rows
//       12     4  n_layer
//       16     8  n_vocab
//       24     8  kv_row_bytes       bytes of one position's K row
//       32     8  n_ctx              context of the saving session
//       40     8  n_past             positions stored
//       48     8  n_logits           0 or n_vocab
//       56     8  config_hash        hash of the hyper-parameters
//       64     8  weights_hash       hash of tensor names/types/shapes + samples
//       72     4  kv_type_v          V row type (== kv_type for MLA)
//       76     4  flags              bit 0: Hadamard-rotated rows; bit 1: MLA
//                                    latent cache (keys only); others zero
//       80     8  v_row_bytes        bytes of one V row (0 for MLA)
//       88        tokens  [n_past] i32
//                 logits  [n_logits] f32 (after the last token)
//                 per layer: first_pos u64, n_rows u64,
//                            [n_rows] x (K row | V row), in their stored
//                            types (block types: ggml's block layout)
//                 (positions first_pos .. n_past-1: all positions for global
//                 layers, the last n_swa - 1 for sliding-window layers)
//   size - 8   8  checksum (Hash64 of every preceding byte)
//
// Rows are the cache's own bytes, so save -> load restores the cache
// bit for bit whatever its types. A reader derives the exact file size from
// the header and the model before reading any payload, so no allocation
// ever depends on an unchecked count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgeformer/error.h"

namespace ef {
class Model;
struct ModelConfig;

constexpr uint32_t kSessionMagic = 0x4E534645;  // "EFSN" little-endian
constexpr uint32_t kSessionVersion = 2;
constexpr uint64_t kSessionHeaderBytes = 88;
constexpr uint64_t kSessionHeaderBytesV1 = 72;
constexpr uint32_t kSessionFlagHadamard = 1u << 0;
constexpr uint32_t kSessionFlagMla = 1u << 1;

// Streaming 64-bit hash over bytes (not cryptographic: it detects corruption
// and truncation, not tampering). Word-at-a-time, so ~1 byte/cycle or better.
class Hash64 {
 public:
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  void mix(uint64_t word);
  uint64_t h_ = 0x9E3779B97F4A7C15ull;
  uint64_t total_ = 0;
  uint8_t carry_[8] = {};
  size_t n_carry_ = 0;
};

// Hash of every hyper-parameter that shapes the KV cache or the forward pass.
uint64_t session_config_hash(const ModelConfig& config);
// Hash of every tensor's name, type, shape and its first and last 32 bytes:
// tells a model with other weights of the same shape apart in O(tensors).
uint64_t session_weights_hash(const Model& model);

// Positions of layer `il` a session file stores when n_past tokens are in
// the cache: all of them, or the last n_swa - 1 for a sliding-window layer
// (the next query at position n_past sees exactly those).
int64_t session_live_rows(const ModelConfig& config, int64_t il, int64_t n_past);

// "field, offset N in path" (path may be empty): where session file errors
// point, like the GGUF reader's.
std::string session_where(const std::string& field, uint64_t offset, const std::string& path);

}  // namespace ef
