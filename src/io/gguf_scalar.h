// Internal to src/io: decoding one fixed-size GGUF scalar (the reader's
// metadata values and the rendering of array elements share it).
#pragma once

#include <cstdint>

#include "io/gguf.h"

namespace ef::gguf::detail {

// Decodes the scalar of type `t` at `p` (value_type_size(t) readable bytes)
// into v.u / v.i / v.f; v.type is left to the caller. Strings and arrays are
// not scalars: v is unchanged.
void decode_scalar(ValueType t, const uint8_t* p, Value& v);

}  // namespace ef::gguf::detail
