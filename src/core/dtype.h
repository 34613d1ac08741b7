// Element types. Numeric ids equal ggml's `ggml_type` so GGUF files move both
// ways; block layouts are byte-identical to ggml's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ef {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  BF16 = 30,
};

// ggml block layouts. QK = elements per block.
constexpr int kQK4_0 = 32;
constexpr int kQK8_0 = 32;

struct BlockQ4_0 {
  uint16_t d;              // fp16 scale
  uint8_t qs[kQK4_0 / 2];  // nibbles: low = element j, high = element j+16
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ8_0 {
  uint16_t d;          // fp16 scale
  int8_t qs[kQK8_0];   // quants
};
static_assert(sizeof(BlockQ8_0) == 34);

struct DTypeTraits {
  DType type;
  const char* name;   // ggml spelling: "f32", "f16", "q4_0", "q8_0", "bf16"
  int block_size;     // elements per block (1 for float types)
  size_t block_bytes; // bytes per block
};

// Traits for a supported dtype; nullopt for ids we do not support.
std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type_id);
const DTypeTraits& traits(DType type);  // type must be supported
const char* dtype_name(DType type);
// Parses "f32", "F16", "q8_0", ... (case-insensitive).
std::optional<DType> dtype_from_name(std::string_view name);
// Name of any ggml type id, including ones we do not support ("q4_K", ...),
// so error messages can say what a file contains. "unknown" otherwise.
const char* ggml_type_name(uint32_t ggml_type_id);

// Bytes of a row of n elements; nullopt if n is not a multiple of the block
// size or on overflow.
std::optional<uint64_t> row_size_bytes(DType type, uint64_t n);

}  // namespace ef
