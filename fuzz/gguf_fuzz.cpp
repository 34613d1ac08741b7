// libFuzzer target for the GGUF reader: parse arbitrary bytes, then touch
// everything a parsed File hands out (metadata through every typed accessor,
// every tensor's first and last byte through its view) so ASan/UBSan see any
// out-of-bounds pointer the validator let through.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "io/gguf.h"

namespace {

volatile uint8_t g_sink;

void touch(const void* p, size_t n) {
  if (n == 0) return;
  const auto* b = static_cast<const uint8_t*>(p);
  g_sink = static_cast<uint8_t>(b[0] ^ b[n - 1] ^ b[n / 2]);
}

void exercise(const ef::gguf::File& f) {
  for (const auto& kv : f.metadata()) {
    const std::string shown = ef::gguf::format_value(kv.value, 4);
    touch(shown.data(), shown.size());
    (void)f.get_int(kv.key);
    (void)f.get_u32(kv.key);
    (void)f.get_f32(kv.key);
    (void)f.get_bool(kv.key);
    (void)f.get_string(kv.key);
    (void)f.get_int_or(kv.key, 0);
    if (auto s = f.get_string_array(kv.key); s.ok()) {
      for (auto v : *s) touch(v.data(), v.size());
    }
    if (auto a = f.get_f32_array(kv.key); a.ok() && !a->empty()) touch(a->data(), a->size() * 4);
    if (auto a = f.get_i32_array(kv.key); a.ok() && !a->empty()) touch(a->data(), a->size() * 4);
  }
  for (const auto& t : f.tensors()) {
    ef::Tensor v = t.view();
    touch(v.data, v.size_bytes());
    if (v.size_bytes() != t.size_bytes) __builtin_trap();  // view and info must agree
    if (f.find_tensor(t.name) != &t) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = ef::gguf::File::from_bytes(std::span<const uint8_t>(data, size));
  if (r.ok()) exercise(**r);
  return 0;
}
