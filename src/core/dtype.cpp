#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "core/checked.h"

namespace ef {
namespace {

constexpr std::array<DTypeTraits, 5> kTraits = {{
    {DType::F32, "f32", 1, 4},
    {DType::F16, "f16", 1, 2},
    {DType::Q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0)},
    {DType::Q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0)},
    {DType::BF16, "bf16", 1, 2},
}};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type_id) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == ggml_type_id) return t;
  }
  return std::nullopt;
}

const DTypeTraits& traits(DType type) {
  for (const auto& t : kTraits) {
    if (t.type == type) return t;
  }
  return kTraits[0];  // unreachable for valid DType values
}

const char* dtype_name(DType type) { return traits(type).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& t : kTraits) {
    if (lower == t.name) return t.type;
  }
  return std::nullopt;
}

const char* ggml_type_name(uint32_t id) {
  static constexpr const char* kNames[] = {
      "f32",  "f16",  "q4_0", "q4_1", "q4_2(removed)", "q4_3(removed)", "q5_0",
      "q5_1", "q8_0", "q8_1", "q2_K", "q3_K",          "q4_K",          "q5_K",
      "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs",  "iq1_s",         "iq4_nl",
      "iq3_s", "iq2_s", "iq4_xs", "i8", "i16",         "i32",           "i64",
      "f64",  "iq1_m", "bf16", "q4_0_4_4(removed)", "q4_0_4_8(removed)",
      "q4_0_8_8(removed)", "tq1_0", "tq2_0"};
  if (id < sizeof(kNames) / sizeof(kNames[0])) return kNames[id];
  return "unknown";
}

std::optional<uint64_t> row_size_bytes(DType type, uint64_t n) {
  const auto& t = traits(type);
  if (n % static_cast<uint64_t>(t.block_size) != 0) return std::nullopt;
  return checked_mul(n / static_cast<uint64_t>(t.block_size), t.block_bytes);
}

}  // namespace ef
