// Writes the seed corpus for gguf_fuzz (small valid GGUF files, each < 4 KB).
// Not part of the build; regenerate with:
//   g++ -std=c++20 -Iinclude -Isrc fuzz/gen_gguf_seeds.cpp build/release/libedgeformer.a \
//       -o /tmp/gen_gguf_seeds && /tmp/gen_gguf_seeds fuzz/corpus/gguf_fuzz
#include <cstdio>
#include <string>
#include <vector>

#include "io/gguf.h"

using ef::DType;
using ef::gguf::ValueType;
using ef::gguf::Writer;

static int write_seed(const Writer& w, const std::string& path) {
  auto s = w.write(path);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  int rc = 0;

  Writer tensors;  // one tensor of every supported dtype
  tensors.set_string("general.architecture", "llama");
  tensors.set_u32("llama.block_count", 1);
  std::vector<uint8_t> f32(4 * 8, 0x3f), f16(2 * 8, 0x3c), q8(34, 7), q4(18, 0x88),
      bf16(2 * 4, 0x3f);
  rc |= !tensors.add_tensor("w.f32", DType::F32, {4, 2}, f32).ok();
  rc |= !tensors.add_tensor("w.f16", DType::F16, {8}, f16).ok();
  rc |= !tensors.add_tensor("w.q8_0", DType::Q8_0, {32}, q8).ok();
  rc |= !tensors.add_tensor("w.q4_0", DType::Q4_0, {32, 1}, q4).ok();
  rc |= !tensors.add_tensor("w.bf16", DType::BF16, {2, 1, 2, 1}, bf16).ok();
  rc |= write_seed(tensors, dir + "/tensors.gguf");

  Writer meta;  // every value type, including arrays
  meta.set_u8("m.u8", 1);
  meta.set_i8("m.i8", -1);
  meta.set_u16("m.u16", 2);
  meta.set_i16("m.i16", -2);
  meta.set_u32("m.u32", 3);
  meta.set_i32("m.i32", -3);
  meta.set_f32("m.f32", 0.5f);
  meta.set_bool("m.bool", true);
  meta.set_string("m.string", "text");
  meta.set_u64("m.u64", 4);
  meta.set_i64("m.i64", -4);
  meta.set_f64("m.f64", 0.25);
  meta.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "b"});
  meta.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1, -2});
  meta.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1});
  meta.set_raw_array("m.bools", ValueType::boolean, 2, {0, 1});
  rc |= write_seed(meta, dir + "/metadata.gguf");

  Writer aligned;  // non-default alignment
  aligned.set_alignment(64);
  aligned.set_string("general.name", "aligned");
  std::vector<uint8_t> a(4 * 3, 0), b(34 * 2, 1);
  rc |= !aligned.add_tensor("a", DType::F32, {3}, a).ok();
  rc |= !aligned.add_tensor("b", DType::Q8_0, {64}, b).ok();
  rc |= write_seed(aligned, dir + "/aligned.gguf");
  return rc;
}
