#include "gguf_format.h"

#include <cstring>

#include "cli_common.h"

namespace ef::cli {
namespace {

size_t element_bytes(gguf::ValueType t) {
  using VT = gguf::ValueType;
  switch (t) {
    case VT::u8: case VT::i8: case VT::boolean: return 1;
    case VT::u16: case VT::i16: return 2;
    case VT::u32: case VT::i32: case VT::f32: return 4;
    case VT::u64: case VT::i64: case VT::f64: return 8;
    default: return 0;
  }
}

// Decodes element i of a raw little-endian number array (x86/arm hosts are
// little-endian, so memcpy is the decode).
std::string array_element(const gguf::Value& v, uint64_t i) {
  using VT = gguf::ValueType;
  const size_t size = element_bytes(v.array_type);
  if (size == 0 || v.array_data == nullptr) return "?";
  const uint8_t* p = v.array_data + i * size;
  auto load = [p]<class T>(T) {
    T x;
    std::memcpy(&x, p, sizeof(T));
    return x;
  };
  switch (v.array_type) {
    case VT::u8: return std::to_string(load(uint8_t{}));
    case VT::i8: return std::to_string(load(int8_t{}));
    case VT::u16: return std::to_string(load(uint16_t{}));
    case VT::i16: return std::to_string(load(int16_t{}));
    case VT::u32: return std::to_string(load(uint32_t{}));
    case VT::i32: return std::to_string(load(int32_t{}));
    case VT::u64: return std::to_string(load(uint64_t{}));
    case VT::i64: return std::to_string(load(int64_t{}));
    case VT::f32: return strprintf("%g", static_cast<double>(load(float{})));
    case VT::f64: return strprintf("%g", load(double{}));
    case VT::boolean: return load(uint8_t{}) ? "true" : "false";
    default: return "?";
  }
}

// "\"text\"" built by appending (GCC 12 warns falsely on "lit" + string&&).
std::string quoted(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

}  // namespace

std::string printable(std::string_view text, size_t max_chars) {
  std::string out;
  size_t shown = 0;
  for (unsigned char c : text) {
    if (shown >= max_chars) {
      out += "...";
      break;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += strprintf("\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
    ++shown;
  }
  return out;
}

std::string format_value_type(const gguf::Value& value) {
  if (value.type == gguf::ValueType::array) {
    return std::string("[") + gguf::value_type_name(value.array_type) + "]";
  }
  return gguf::value_type_name(value.type);
}

std::string format_value(const gguf::Value& v, size_t max_items) {
  using VT = gguf::ValueType;
  switch (v.type) {
    case VT::u8: case VT::u16: case VT::u32: case VT::u64: return std::to_string(v.u);
    case VT::i8: case VT::i16: case VT::i32: case VT::i64: return std::to_string(v.i);
    case VT::f32: case VT::f64: return strprintf("%g", v.f);
    case VT::boolean: return v.u ? "true" : "false";
    case VT::string: return quoted(printable(v.str));
    case VT::array: break;
  }
  std::string out = strprintf("[%s x %llu]", gguf::value_type_name(v.array_type),
                              static_cast<unsigned long long>(v.array_count));
  const uint64_t n = v.array_count < max_items ? v.array_count : max_items;
  for (uint64_t i = 0; i < n; ++i) {
    out += i == 0 ? " " : ", ";
    if (v.array_type == VT::string) {
      out += i < v.array_strings.size() ? quoted(printable(v.array_strings[i], 24)) : "?";
    } else {
      out += array_element(v, i);
    }
  }
  if (v.array_count > n) out += ", ...";
  return out;
}

std::string format_shape(const gguf::TensorInfo& tensor) {
  std::string out = "[";
  for (int d = 0; d < tensor.n_dims; ++d) {
    if (d) out += ", ";
    out += std::to_string(tensor.ne[d]);
  }
  return out + "]";
}

uint32_t llama_ftype_for(DType type) {
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
  }
  return 0;
}

std::string llama_ftype_name(uint32_t ftype) {
  switch (ftype) {
    case 0: return "all F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 7: return "Q8_0";
    case 32: return "BF16";
    default: return "ftype " + std::to_string(ftype);
  }
}

}  // namespace ef::cli
