// Typed metadata accessors and tensor views for a parsed GGUF file.
// Errors name the key, the expected and actual type, and the key's offset,
// e.g. "tokenizer.ggml.scores: expected array of f32, got array of u8 (offset 812)".
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "io/gguf.h"
#include "io/gguf_scalar.h"

namespace ef::gguf {
namespace {

bool is_unsigned_int(ValueType t) {
  return t == ValueType::u8 || t == ValueType::u16 || t == ValueType::u32 || t == ValueType::u64;
}
bool is_signed_int(ValueType t) {
  return t == ValueType::i8 || t == ValueType::i16 || t == ValueType::i32 || t == ValueType::i64;
}

std::string type_desc(const Value& v) {
  if (v.type == ValueType::array) {
    return std::string("array of ") + value_type_name(v.array_type);
  }
  return value_type_name(v.type);
}

std::string offset_where(const KeyValue& kv, const std::string& path) {
  std::string w = "offset " + std::to_string(kv.offset);
  if (!path.empty()) w += " in " + path;
  return w;
}

Error type_error(const KeyValue& kv, const std::string& expected, const std::string& path) {
  return make_error(Errc::format,
                    kv.key + ": expected " + expected + ", got " + type_desc(kv.value),
                    offset_where(kv, path));
}

Error range_error(const KeyValue& kv, const std::string& value, const std::string& range,
                  const std::string& path) {
  return make_error(Errc::format, kv.key + ": value " + value + " is out of range for " + range,
                    offset_where(kv, path));
}

// Element j of a raw integer array as sign + magnitude, so any of the eight
// integer types can be range-checked without overflow.
struct IntElem {
  bool negative;
  uint64_t magnitude_or_value;  // value if !negative, else -value
};

IntElem read_int_elem(ValueType t, const uint8_t* base, uint64_t j) {
  auto load = [&](auto tag) {
    decltype(tag) x;
    std::memcpy(&x, base + j * sizeof(x), sizeof(x));
    return x;
  };
  int64_t s = 0;
  switch (t) {
    case ValueType::u8:
      return {false, load(uint8_t{})};
    case ValueType::u16:
      return {false, load(uint16_t{})};
    case ValueType::u32:
      return {false, load(uint32_t{})};
    case ValueType::u64:
      return {false, load(uint64_t{})};
    case ValueType::i8:
      s = load(int8_t{});
      break;
    case ValueType::i16:
      s = load(int16_t{});
      break;
    case ValueType::i32:
      s = load(int32_t{});
      break;
    case ValueType::i64:
      s = load(int64_t{});
      break;
    default:
      return {false, 0};
  }
  if (s < 0) return {true, static_cast<uint64_t>(0) - static_cast<uint64_t>(s)};
  return {false, static_cast<uint64_t>(s)};
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::u8:
      return "u8";
    case ValueType::i8:
      return "i8";
    case ValueType::u16:
      return "u16";
    case ValueType::i16:
      return "i16";
    case ValueType::u32:
      return "u32";
    case ValueType::i32:
      return "i32";
    case ValueType::f32:
      return "f32";
    case ValueType::boolean:
      return "bool";
    case ValueType::string:
      return "string";
    case ValueType::array:
      return "array";
    case ValueType::u64:
      return "u64";
    case ValueType::i64:
      return "i64";
    case ValueType::f64:
      return "f64";
  }
  return "invalid";
}

namespace {

std::string quote(std::string_view s, size_t max_chars) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (s.size() > max_chars) out += "...";
  out += '"';
  return out;
}

std::string format_number(ValueType t, const uint8_t* p) {
  Value v;
  v.type = t;
  detail::decode_scalar(t, p, v);
  return format_value(v);
}

}  // namespace

std::string format_value(const Value& v, size_t max_elems) {
  switch (v.type) {
    case ValueType::u8:
    case ValueType::u16:
    case ValueType::u32:
    case ValueType::u64:
      return std::to_string(v.u);
    case ValueType::i8:
    case ValueType::i16:
    case ValueType::i32:
    case ValueType::i64:
      return std::to_string(v.i);
    case ValueType::f32:
    case ValueType::f64: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.9g", v.f);
      return buf;
    }
    case ValueType::boolean:
      return v.u ? "true" : "false";
    case ValueType::string:
      return quote(v.str, 200);
    case ValueType::array:
      break;
  }
  std::string out = "[";
  out += std::to_string(v.array_count);
  out += " x ";
  out += value_type_name(v.array_type);
  const uint64_t shown = v.array_count < max_elems ? v.array_count : max_elems;
  for (uint64_t j = 0; j < shown; ++j) {
    out += j == 0 ? ": " : ", ";
    if (v.array_type == ValueType::string) {
      out += quote(v.array_strings[j], 40);
    } else {
      out += format_number(v.array_type, v.array_data + j * value_type_size(v.array_type));
    }
  }
  if (shown < v.array_count) out += ", ...";
  out += ']';
  return out;
}

Tensor TensorInfo::view() const {
  // Callers only get TensorInfo from a validated File, whose parse() rejected
  // unsupported types and ne[0] that is not a multiple of the block size.
  return make_tensor(name, type, n_dims, ne, const_cast<void*>(data));
}

const KeyValue* File::find(std::string_view key) const {
  for (const auto& kv : kv_) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {
Error missing(std::string_view key, const std::string& path) {
  return make_error(Errc::format, "missing metadata key '" + std::string(key) + "'",
                    path.empty() ? std::string(key) : std::string(key) + " in " + path,
                    "the model file is incomplete or was converted for another architecture");
}
}  // namespace

Result<int64_t> File::get_int(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (is_signed_int(v.type)) return v.i;
  if (is_unsigned_int(v.type)) {
    if (v.u > static_cast<uint64_t>(INT64_MAX)) {
      return range_error(*kv, std::to_string(v.u), "int64", path_);
    }
    return static_cast<int64_t>(v.u);
  }
  return type_error(*kv, "an integer", path_);
}

Result<uint32_t> File::get_u32(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (is_signed_int(v.type)) {
    if (v.i < 0 || v.i > static_cast<int64_t>(UINT32_MAX)) {
      return range_error(*kv, std::to_string(v.i), "u32", path_);
    }
    return static_cast<uint32_t>(v.i);
  }
  if (is_unsigned_int(v.type)) {
    if (v.u > UINT32_MAX) return range_error(*kv, std::to_string(v.u), "u32", path_);
    return static_cast<uint32_t>(v.u);
  }
  return type_error(*kv, "an integer", path_);
}

Result<float> File::get_f32(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (v.type == ValueType::f32) return static_cast<float>(v.f);
  if (v.type == ValueType::f64) {
    if (std::isfinite(v.f) && std::fabs(v.f) > FLT_MAX) {
      return range_error(*kv, std::to_string(v.f), "f32", path_);
    }
    return static_cast<float>(v.f);
  }
  return type_error(*kv, "f32", path_);
}

Result<bool> File::get_bool(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  if (kv->value.type != ValueType::boolean) return type_error(*kv, "bool", path_);
  return kv->value.u != 0;
}

Result<std::string> File::get_string(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  if (kv->value.type != ValueType::string) return type_error(*kv, "string", path_);
  return std::string(kv->value.str);
}

Result<std::vector<std::string_view>> File::get_string_array(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (v.type != ValueType::array || v.array_type != ValueType::string) {
    return type_error(*kv, "array of string", path_);
  }
  return v.array_strings;
}

Result<std::vector<float>> File::get_f32_array(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (v.type != ValueType::array ||
      (v.array_type != ValueType::f32 && v.array_type != ValueType::f64)) {
    return type_error(*kv, "array of f32", path_);
  }
  std::vector<float> out(static_cast<size_t>(v.array_count));  // count validated at parse
  if (v.array_type == ValueType::f32) {
    if (!out.empty()) std::memcpy(out.data(), v.array_data, out.size() * sizeof(float));
  } else {
    for (size_t j = 0; j < out.size(); ++j) {
      double d;
      std::memcpy(&d, v.array_data + j * sizeof(double), sizeof(double));
      out[j] = static_cast<float>(d);
    }
  }
  return out;
}

Result<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  const KeyValue* kv = find(key);
  if (!kv) return missing(key, path_);
  const Value& v = kv->value;
  if (v.type != ValueType::array ||
      !(is_signed_int(v.array_type) || is_unsigned_int(v.array_type))) {
    return type_error(*kv, "array of i32", path_);
  }
  std::vector<int32_t> out(static_cast<size_t>(v.array_count));
  for (size_t j = 0; j < out.size(); ++j) {
    const IntElem e = read_int_elem(v.array_type, v.array_data, j);
    const uint64_t limit = e.negative ? uint64_t{1} << 31 : uint64_t{INT32_MAX};
    if (e.magnitude_or_value > limit) {
      return make_error(Errc::format,
                        kv->key + "[" + std::to_string(j) + "]: value " + (e.negative ? "-" : "") +
                            std::to_string(e.magnitude_or_value) + " does not fit in i32",
                        offset_where(*kv, path_));
    }
    out[j] = e.negative ? static_cast<int32_t>(-static_cast<int64_t>(e.magnitude_or_value))
                        : static_cast<int32_t>(e.magnitude_or_value);
  }
  return out;
}

Result<int64_t> File::get_int_or(std::string_view key, int64_t fallback) const {
  if (!has(key)) return fallback;
  return get_int(key);
}

Result<float> File::get_f32_or(std::string_view key, float fallback) const {
  if (!has(key)) return fallback;
  return get_f32(key);
}

Result<bool> File::get_bool_or(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  return get_bool(key);
}

uint64_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::u8:
    case ValueType::i8:
    case ValueType::boolean:
      return 1;
    case ValueType::u16:
    case ValueType::i16:
      return 2;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::f32:
      return 4;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::f64:
      return 8;
    default:
      return 0;
  }
}

namespace detail {

void decode_scalar(ValueType t, const uint8_t* p, Value& v) {
  switch (t) {
    case ValueType::u8:
    case ValueType::boolean:
      v.u = p[0];
      break;
    case ValueType::i8:
      v.i = static_cast<int8_t>(p[0]);
      break;
    case ValueType::u16: {
      uint16_t x;
      std::memcpy(&x, p, 2);
      v.u = x;
      break;
    }
    case ValueType::i16: {
      int16_t x;
      std::memcpy(&x, p, 2);
      v.i = x;
      break;
    }
    case ValueType::u32: {
      uint32_t x;
      std::memcpy(&x, p, 4);
      v.u = x;
      break;
    }
    case ValueType::i32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      v.i = x;
      break;
    }
    case ValueType::f32: {
      float x;
      std::memcpy(&x, p, 4);
      v.f = x;
      break;
    }
    case ValueType::u64:
      std::memcpy(&v.u, p, 8);
      break;
    case ValueType::i64:
      std::memcpy(&v.i, p, 8);
      break;
    case ValueType::f64:
      std::memcpy(&v.f, p, 8);
      break;
    case ValueType::string:
    case ValueType::array:
      break;
  }
}

}  // namespace detail
}  // namespace ef::gguf
