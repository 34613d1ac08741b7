// Corruption suite: each test edits one field of a valid in-memory image and
// checks that parsing fails cleanly (no crash, no huge allocation) with an
// error naming the field and the exact byte offset of the bad bytes.
#include <gtest/gtest.h>

#include "io/gguf.h"
#include "io/gguf_test_image.h"

namespace ef::gguf {
namespace {

using testing::RawImage;
using testing::standard_image;

// Parses `img`, expects failure with `code`, every `needle` in the message,
// and "offset <off>" as the location.
void expect_error(const RawImage& img, Errc code, std::vector<std::string> needles, uint64_t off) {
  auto r = File::from_bytes(img.bytes);
  ASSERT_FALSE(r.ok()) << "corrupt image parsed successfully";
  const std::string msg = r.error().message();
  EXPECT_EQ(r.error().code, code) << msg;
  for (const auto& n : needles)
    EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' in: " << msg;
  const std::string loc = "offset " + std::to_string(off) + ")";
  EXPECT_NE(msg.find(loc), std::string::npos) << "'" << loc << "' in: " << msg;
  EXPECT_NE(r.error().where.find("offset"), std::string::npos) << msg;
}

void expect_format(const RawImage& img, std::vector<std::string> needles, uint64_t off) {
  expect_error(img, Errc::format, std::move(needles), off);
}

TEST(GgufCorrupt, StandardImageIsValid) {
  RawImage img = standard_image();
  auto r = File::from_bytes(img.bytes);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->data_offset(), img.offset("data"));
  EXPECT_EQ((*r)->tensors().size(), 2u);
  EXPECT_EQ((*r)->get_string_array("tokenizer.ggml.tokens").value().size(), 3u);
}

TEST(GgufCorrupt, EveryTruncationFails) {
  const RawImage img = standard_image();
  const uint64_t need = img.offset("end_of_data");
  for (uint64_t len = 0; len < need; ++len) {
    std::span<const uint8_t> prefix(img.bytes.data(), len);
    auto r = File::from_bytes(prefix);
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
    EXPECT_NE(r.error().where.find("offset"), std::string::npos) << r.error().message();
  }
  // Only the trailing padding after the last tensor is optional.
  std::span<const uint8_t> exact(img.bytes.data(), need);
  EXPECT_TRUE(File::from_bytes(exact).ok());
}

TEST(GgufCorrupt, TruncatedHeaderNamesField) {
  RawImage img = standard_image();
  img.bytes.resize(12);  // inside tensor_count
  expect_format(img, {"header.tensor_count", "end of file"}, 8);
  img.bytes.resize(0);
  expect_format(img, {"header.magic"}, 0);
}

TEST(GgufCorrupt, BadMagic) {
  RawImage img = standard_image();
  img.patch_u32("magic", 0x46554746);
  expect_format(img, {"header.magic", "not a GGUF file"}, 0);
}

TEST(GgufCorrupt, UnsupportedVersions) {
  for (uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
    RawImage img = standard_image();
    img.patch_u32("version", v);
    expect_error(img, Errc::unsupported, {"header.version", "version"}, 4);
  }
  RawImage v2 = standard_image();
  v2.patch_u32("version", 2);
  EXPECT_TRUE(File::from_bytes(v2.bytes).ok());
}

TEST(GgufCorrupt, HugeCountsFailFastWithoutAllocating) {
  // An unchecked reserve() of any of these counts would throw and abort.
  for (uint64_t n : {UINT64_MAX, uint64_t{1} << 60, uint64_t{1} << 40, uint64_t{100000}}) {
    RawImage t = standard_image();
    t.patch_u64("tensor_count", n);
    expect_format(t, {"header.tensor_count", std::to_string(n)}, 8);
    RawImage k = standard_image();
    k.patch_u64("kv_count", n);
    expect_format(k, {"header.kv_count", std::to_string(n)}, 16);
  }
}

TEST(GgufCorrupt, HugeStringLengths) {
  RawImage key = standard_image();
  key.patch_u64("general.architecture", UINT64_MAX);  // key length of kv[0]
  expect_format(key, {"kv[0].key", "18446744073709551615"}, 24);

  RawImage val = standard_image();
  val.patch_u64("general.architecture.value", UINT64_MAX);
  expect_format(val, {"general.architecture", "past the end"},
                val.offset("general.architecture.value"));

  RawImage elem = standard_image();
  elem.patch_u64("tokenizer.ggml.tokens[1]", uint64_t{1} << 62);
  expect_format(elem, {"tokenizer.ggml.tokens[1]", "past the end"},
                elem.offset("tokenizer.ggml.tokens[1]"));

  RawImage name = standard_image();
  name.patch_u64("t:b", UINT64_MAX);
  expect_format(name, {"tensor[1].name"}, name.offset("t:b"));
}

TEST(GgufCorrupt, HugeArrayCounts) {
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores"}) {
    for (uint64_t n : {UINT64_MAX, uint64_t{1} << 61, uint64_t{1000}}) {
      RawImage img = standard_image();
      img.patch_u64(std::string(key) + ".count", n);
      expect_format(img, {key, "past the end"}, img.offset(std::string(key) + ".count"));
    }
  }
}

TEST(GgufCorrupt, NamesLongerThanLimit) {
  RawImage img;
  img.header(0, 1);
  img.kv_begin(std::string(70000, 'k'), 4);
  img.u32(1);
  expect_format(img, {"kv[0].key", "exceeds the limit"}, 24);

  RawImage t;
  t.header(1, 0);
  t.tensor(std::string(70000, 't'), {4}, 0, 0);
  t.pad_to(32);
  for (int i = 0; i < 4; ++i) t.f32(0);
  expect_format(t, {"tensor[0].name", "exceeds the limit"}, 24);
}

TEST(GgufCorrupt, EmptyKeyAndTensorName) {
  RawImage img;
  img.header(0, 1);
  img.kv_begin("", 4);
  img.u32(1);
  expect_format(img, {"kv[0].key", "empty key"}, 24);

  RawImage t;
  t.header(1, 0);
  t.tensor("", {4}, 0, 0);
  t.pad_to(32);
  for (int i = 0; i < 4; ++i) t.f32(0);
  expect_format(t, {"tensor[0].name", "empty tensor name"}, 24);
}

TEST(GgufCorrupt, BadValueTypes) {
  for (uint32_t bad : {13u, 255u, 0xffffffffu}) {
    RawImage img = standard_image();
    img.patch_u32("llama.block_count.type", bad);
    expect_format(img, {"llama.block_count", "invalid value type", std::to_string(bad)},
                  img.offset("llama.block_count.type"));
    RawImage arr = standard_image();
    arr.patch_u32("tokenizer.ggml.scores.elem_type", bad);
    expect_format(arr, {"tokenizer.ggml.scores", "array element type"},
                  arr.offset("tokenizer.ggml.scores.elem_type"));
  }
}

TEST(GgufCorrupt, NestedArraysAreRejected) {
  RawImage img;
  img.header(0, 1);
  img.kv_array("x.nested", 9, 1);
  img.u32(4);
  img.u64(1);
  img.u32(7);
  expect_error(img, Errc::unsupported, {"x.nested", "nested arrays"},
               img.offset("x.nested.elem_type"));
}

TEST(GgufCorrupt, BadBool) {
  RawImage img;
  img.header(0, 1);
  img.kv_begin("x.flag", 7);
  img.u8(2);
  expect_format(img, {"x.flag", "bool"}, img.offset("x.flag.value"));
}

TEST(GgufCorrupt, DuplicateKey) {
  RawImage img;
  img.header(0, 2);
  img.kv_u32("x.a", 1);
  const uint64_t first = img.offset("x.a");
  img.kv_u32("x.a", 2);
  expect_format(img, {"duplicate key 'x.a'", "first defined at offset " + std::to_string(first)},
                img.offset("x.a"));
}

TEST(GgufCorrupt, DuplicateTensorName) {
  RawImage img;
  img.header(2, 0);
  img.tensor("w", {8}, 0, 0);
  img.tensor("w", {8}, 0, 32);
  const uint64_t second = img.offset("t:w");
  img.pad_to(32);
  for (int i = 0; i < 16; ++i) img.f32(0);
  expect_format(img, {"duplicate tensor name 'w'"}, second);
}

TEST(GgufCorrupt, BadAlignment) {
  for (uint32_t a : {0u, 48u, 4u, 1u, 0x80000001u}) {
    RawImage img = standard_image();
    img.patch_u32("general.alignment.value", a);
    expect_format(img, {"general.alignment", std::to_string(a)}, img.offset("general.alignment"));
  }
  RawImage wrong;  // u64 instead of u32
  wrong.header(0, 1);
  wrong.kv_begin("general.alignment", 10);
  wrong.u64(32);
  expect_format(wrong, {"general.alignment must be u32, got u64"}, 24);
  RawImage str;
  str.header(0, 1);
  str.kv_string("general.alignment", "32");
  expect_format(str, {"general.alignment must be u32, got string"}, 24);
}

TEST(GgufCorrupt, BadNDims) {
  for (uint32_t n : {0u, 5u, 0xffffffffu}) {
    RawImage img = standard_image();
    img.patch_u32("t:a.n_dims", n);
    expect_format(img, {"tensor 'a' n_dims", "must be 1..4"}, img.offset("t:a.n_dims"));
  }
}

TEST(GgufCorrupt, BadShapes) {
  for (uint64_t ne : {uint64_t{0}, UINT64_MAX, uint64_t{1} << 63}) {
    RawImage img = standard_image();
    img.patch_u64("t:a.ne1", ne);
    expect_format(img, {"tensor 'a' ne[1]", "must be positive"}, img.offset("t:a.ne1"));
  }
  RawImage over = standard_image();  // 2^40 * 2^40 elements overflows int64
  over.patch_u64("t:a.ne0", uint64_t{1} << 40);
  over.patch_u64("t:a.ne1", uint64_t{1} << 40);
  expect_format(over, {"tensor 'a' ne", "overflows"}, over.offset("t:a.ne1"));
  RawImage bytes = standard_image();  // 2^62 f32 elements fit int64, 2^64 bytes do not
  bytes.patch_u64("t:a.ne0", uint64_t{1} << 61);
  bytes.patch_u64("t:a.ne1", 2);
  expect_format(bytes, {"tensor 'a' ne", "byte size", "overflows"}, bytes.offset("t:a.ne0"));
  RawImage big = standard_image();  // fits in 64 bits but not in the file
  big.patch_u64("t:a.ne0", uint64_t{1} << 30);
  expect_format(big, {"tensor 'a' offset", "past the end"}, big.offset("t:a.offset"));
}

TEST(GgufCorrupt, RowNotMultipleOfBlockSize) {
  RawImage img = standard_image();
  img.patch_u64("t:b.ne0", 31);
  expect_format(img, {"tensor 'b' ne[0] = 31", "q8_0 block size 32"}, img.offset("t:b.ne0"));
}

TEST(GgufCorrupt, UnknownAndUnsupportedTensorTypes) {
  RawImage unknown = standard_image();
  unknown.patch_u32("t:b.type", 99);
  expect_format(unknown, {"tensor 'b'", "unknown ggml type 99"}, unknown.offset("t:b.type"));
  RawImage q4k = standard_image();
  q4k.patch_u32("t:b.type", 12);
  expect_error(q4k, Errc::unsupported, {"tensor 'b'", "q4_K"}, q4k.offset("t:b.type"));
}

TEST(GgufCorrupt, UnalignedOffset) {
  RawImage img = standard_image();
  img.patch_u64("t:b.offset", 68);
  expect_format(img, {"tensor 'b' offset 68", "alignment 32"}, img.offset("t:b.offset"));
}

TEST(GgufCorrupt, OverlappingTensors) {
  RawImage img = standard_image();
  img.patch_u64("t:b.offset", 32);  // "a" spans [0, 64)
  expect_format(img, {"'b'", "overlaps", "'a'"}, img.offset("t:b.offset"));
}

TEST(GgufCorrupt, DataPastEndOfFile) {
  for (uint64_t off : {uint64_t{96}, uint64_t{1} << 40, UINT64_MAX - 31}) {
    RawImage img = standard_image();
    img.patch_u64("t:b.offset", off);
    expect_format(img, {"tensor 'b'", "past the end"}, img.offset("t:b.offset"));
  }
}

TEST(GgufCorrupt, ErrorsFromOpenNameThePath) {
  // Same checks through File::open: `where` also carries the path.
  RawImage img = standard_image();
  img.patch_u32("magic", 0);
  const std::string path = ::testing::TempDir() + "ef_gguf_bad_magic.gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(img.bytes.data(), 1, img.bytes.size(), f), img.bytes.size());
  std::fclose(f);
  auto r = File::open(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().where.find(path), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().where.find("header.magic, offset 0"), std::string::npos);
}

TEST(GgufCorrupt, SingleByteFlipsNeverCrash) {
  // Deterministic sweep: every byte of the metadata/info region set to a few
  // nasty values. Parsing may succeed or fail but must not crash (ASan/UBSan
  // builds check memory safety), and any failure must carry an offset.
  const RawImage base = standard_image();
  const uint64_t end = base.offset("data");
  for (uint64_t i = 0; i < end; ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x7f}, uint8_t{0x80}}) {
      RawImage img = base;
      img.bytes[i] = v;
      auto r = File::from_bytes(img.bytes);
      if (!r.ok()) {
        EXPECT_NE(r.error().where.find("offset"), std::string::npos) << r.error().message();
        continue;
      }
      for (const auto& t : (*r)->tensors()) {
        volatile uint8_t sink = static_cast<const uint8_t*>(t.data)[t.size_bytes - 1];
        (void)sink;
      }
    }
  }
}

}  // namespace
}  // namespace ef::gguf
