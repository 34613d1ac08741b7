#include "gguf_format.h"

#include "cli_common.h"

namespace ef::cli {

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
