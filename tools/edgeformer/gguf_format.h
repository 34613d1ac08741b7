// Human-readable rendering of GGUF metadata types and tensor shapes, used by
// `info` (values themselves: gguf::format_value).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "io/gguf.h"

namespace ef::cli {

// A string shown on one line: control bytes escaped, cut to max_chars.
std::string printable(std::string_view text, size_t max_chars = 60);

// The value's type, e.g. "u32", "string", "[f32]".
std::string format_value_type(const gguf::Value& value);

// "[576, 49152]".
std::string format_shape(const gguf::TensorInfo& tensor);

// ggml's LLAMA_FTYPE value for a target dtype (ALL_F32=0, MOSTLY_F16=1,
// MOSTLY_Q4_0=2, MOSTLY_Q8_0=7, MOSTLY_BF16=32).
uint32_t llama_ftype_for(DType type);
// llama.cpp's display name for a general.file_type value ("all F32", "Q8_0").
std::string llama_ftype_name(uint32_t ftype);

}  // namespace ef::cli
