// Test helper: builds GGUF images byte by byte (independently of Writer) and
// remembers where each field starts, so corruption tests can patch exactly
// one field of a valid image and check the error names that field's offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ef::gguf::testing {

struct RawImage {
  std::vector<uint8_t> bytes;
  std::map<std::string, uint64_t> at;  // field label -> byte offset

  void mark(const std::string& label) { at[label] = bytes.size(); }
  uint64_t offset(const std::string& label) const { return at.at(label); }

  void raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void f32(float v) { raw(&v, 4); }
  void str(std::string_view s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(0);
  }

  void patch_u32(uint64_t off, uint32_t v) { std::memcpy(bytes.data() + off, &v, 4); }
  void patch_u64(uint64_t off, uint64_t v) { std::memcpy(bytes.data() + off, &v, 8); }
  void patch_u32(const std::string& label, uint32_t v) { patch_u32(offset(label), v); }
  void patch_u64(const std::string& label, uint64_t v) { patch_u64(offset(label), v); }

  // Header with counts; labels "magic", "version", "tensor_count", "kv_count".
  void header(uint64_t tensor_count, uint64_t kv_count, uint32_t version = 3) {
    mark("magic");
    u32(0x46554747);
    mark("version");
    u32(version);
    mark("tensor_count");
    u64(tensor_count);
    mark("kv_count");
    u64(kv_count);
  }
  // KV record; labels "<key>" (record start), "<key>.type", "<key>.value".
  void kv_begin(const std::string& key, uint32_t type) {
    mark(key);
    str(key);
    mark(key + ".type");
    u32(type);
    mark(key + ".value");
  }
  void kv_u32(const std::string& key, uint32_t v) {
    kv_begin(key, 4);
    u32(v);
  }
  void kv_string(const std::string& key, std::string_view v) {
    kv_begin(key, 8);
    str(v);
  }
  // Array header; labels "<key>.elem_type", "<key>.count".
  void kv_array(const std::string& key, uint32_t elem_type, uint64_t count) {
    kv_begin(key, 9);
    mark(key + ".elem_type");
    u32(elem_type);
    mark(key + ".count");
    u64(count);
  }
  // Tensor info; labels "t:<name>", "t:<name>.n_dims", ".ne0".., ".type", ".offset".
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    const std::string t = "t:" + name;
    mark(t);
    str(name);
    mark(t + ".n_dims");
    u32(static_cast<uint32_t>(ne.size()));
    for (size_t d = 0; d < ne.size(); ++d) {
      mark(t + ".ne" + std::to_string(d));
      u64(ne[d]);
    }
    mark(t + ".type");
    u32(type);
    mark(t + ".offset");
    u64(offset);
  }
};

// A small valid image: 5 kvs (string, u32 alignment, u32, string array,
// f32 array) and 2 tensors: "a" f32 [8, 2] at data offset 0 (64 bytes) and
// "b" q8_0 [32] at data offset 64 (34 bytes). Label "data" = data section;
// "end_of_data" = end of the last tensor's bytes.
inline RawImage standard_image() {
  RawImage img;
  img.header(2, 5);
  img.kv_string("general.architecture", "llama");
  img.kv_u32("general.alignment", 32);
  img.kv_u32("llama.block_count", 2);
  img.kv_array("tokenizer.ggml.tokens", 8, 3);
  img.mark("tokenizer.ggml.tokens[0]");
  img.str("<s>");
  img.mark("tokenizer.ggml.tokens[1]");
  img.str("a");
  img.mark("tokenizer.ggml.tokens[2]");
  img.str("b");
  img.kv_array("tokenizer.ggml.scores", 6, 3);
  img.f32(0.f);
  img.f32(-1.f);
  img.f32(-2.f);
  img.tensor("a", {8, 2}, 0, 0);
  img.tensor("b", {32}, 8, 64);
  img.pad_to(32);
  img.mark("data");
  for (int i = 0; i < 16; ++i) img.f32(static_cast<float>(i));
  for (int i = 0; i < 34; ++i) img.u8(static_cast<uint8_t>(i));
  img.mark("end_of_data");
  img.pad_to(32);
  return img;
}

}  // namespace ef::gguf::testing
