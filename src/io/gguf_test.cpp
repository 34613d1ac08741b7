// Round trips Writer -> bytes/file -> File for every value type and dtype,
// atomic-write behaviour, and loading the shared vocab GGUFs.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cmath>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/fp16.h"
#include "core/memory.h"
#include "io/gguf.h"

namespace ef::gguf {
namespace {

std::unique_ptr<File> parse_ok(const std::vector<uint8_t>& bytes) {
  auto r = File::from_bytes(bytes);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<uint8_t> bytes_of(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return {b, b + n};
}

TEST(GgufRoundTrip, EveryScalarType) {
  Writer w;
  w.set_u8("t.u8", 200);
  w.set_i8("t.i8", -100);
  w.set_u16("t.u16", 60000);
  w.set_i16("t.i16", -30000);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_f32("t.f32", 1.5f);
  w.set_bool("t.bool", true);
  w.set_bool("t.false", false);
  w.set_string("t.string", "hello, gguf");
  w.set_u64("t.u64", 18000000000000000000ull);
  w.set_i64("t.i64", -9000000000000000000ll);
  w.set_f64("t.f64", 0.1);
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 13u);
  EXPECT_EQ(f->get_int("t.u8").value(), 200);
  EXPECT_EQ(f->get_int("t.i8").value(), -100);
  EXPECT_EQ(f->get_int("t.u16").value(), 60000);
  EXPECT_EQ(f->get_int("t.i16").value(), -30000);
  EXPECT_EQ(f->get_u32("t.u32").value(), 4000000000u);
  EXPECT_EQ(f->get_int("t.i32").value(), -2000000000);
  EXPECT_EQ(f->get_f32("t.f32").value(), 1.5f);
  EXPECT_TRUE(f->get_bool("t.bool").value());
  EXPECT_FALSE(f->get_bool("t.false").value());
  EXPECT_EQ(f->get_string("t.string").value(), "hello, gguf");
  EXPECT_EQ(f->find("t.u64")->value.u, 18000000000000000000ull);
  EXPECT_EQ(f->get_int("t.i64").value(), -9000000000000000000ll);
  EXPECT_EQ(f->find("t.f64")->value.f, 0.1);  // exact: f64 is stored bit for bit
  EXPECT_EQ(f->get_f32("t.f64").value(), 0.1f);
  // Types as stored.
  EXPECT_EQ(f->find("t.i16")->value.type, ValueType::i16);
  EXPECT_EQ(f->find("t.f64")->value.type, ValueType::f64);
  // Insertion order is preserved.
  EXPECT_EQ(f->metadata().front().key, "t.u8");
  EXPECT_EQ(f->metadata().back().key, "t.f64");
}

TEST(GgufRoundTrip, Arrays) {
  Writer w;
  w.set_string_array("a.str", {"a", "", "ünïcode", std::string("nul\0in", 6)});
  w.set_f32_array("a.f32", {0.5f, -2.25f, 1e30f});
  w.set_i32_array("a.i32", {-1, 0, 2147483647, -2147483647 - 1});
  w.set_f32_array("a.empty", {});
  std::vector<uint8_t> u8s = {1, 2, 255};
  w.set_raw_array("a.u8", ValueType::u8, 3, u8s);
  std::vector<uint8_t> bools = {1, 0};
  w.set_raw_array("a.bool", ValueType::boolean, 2, bools);
  const double d[2] = {0.25, -8.0};
  w.set_raw_array("a.f64", ValueType::f64, 2, bytes_of(d, sizeof(d)));
  const uint64_t big[1] = {1ull << 40};
  w.set_raw_array("a.u64", ValueType::u64, 1, bytes_of(big, sizeof(big)));
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);

  auto s = f->get_string_array("a.str").value();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0], "a");
  EXPECT_EQ(s[1], "");
  EXPECT_EQ(s[2], "ünïcode");
  EXPECT_EQ(s[3], std::string_view("nul\0in", 6));
  EXPECT_EQ(f->get_f32_array("a.f32").value(), (std::vector<float>{0.5f, -2.25f, 1e30f}));
  EXPECT_EQ(f->get_i32_array("a.i32").value(),
            (std::vector<int32_t>{-1, 0, 2147483647, -2147483647 - 1}));
  EXPECT_TRUE(f->get_f32_array("a.empty").value().empty());
  EXPECT_EQ(f->get_i32_array("a.u8").value(), (std::vector<int32_t>{1, 2, 255}));
  EXPECT_EQ(f->find("a.bool")->value.array_type, ValueType::boolean);
  EXPECT_EQ(f->find("a.bool")->value.array_count, 2u);
  EXPECT_EQ(f->get_f32_array("a.f64").value(), (std::vector<float>{0.25f, -8.0f}));
  // 2^40 does not fit in i32: the error names the key and index.
  auto bad = f->get_i32_array("a.u64");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().what.find("a.u64[0]"), std::string::npos) << bad.error().message();
}

TEST(GgufRoundTrip, TensorsOfEveryDtypeAreAlignedViews) {
  Writer w;
  w.set_string("general.architecture", "llama");
  std::vector<float> f32 = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(w.add_tensor("w.f32", DType::F32, {3, 2}, bytes_of(f32.data(), 24)).ok());
  std::vector<uint16_t> f16 = {fp32_to_fp16(1.0f), fp32_to_fp16(-2.0f), fp32_to_fp16(0.5f)};
  ASSERT_TRUE(w.add_tensor("w.f16", DType::F16, {3}, bytes_of(f16.data(), 6)).ok());
  std::vector<uint8_t> bf16(2 * 5, 0x3f);
  ASSERT_TRUE(w.add_tensor("w.bf16", DType::BF16, {5, 1, 1, 1}, bf16).ok());
  std::vector<uint8_t> q8(2 * sizeof(BlockQ8_0));
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(w.add_tensor("w.q8_0", DType::Q8_0, {32, 2}, q8).ok());
  std::vector<uint8_t> q4(3 * sizeof(BlockQ4_0), 0x5a);
  ASSERT_TRUE(w.add_tensor("w.q4_0", DType::Q4_0, {96}, q4).ok());

  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->tensors().size(), 5u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  for (const auto& t : f->tensors()) {
    EXPECT_EQ(t.offset % f->alignment(), 0u) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u) << t.name;
  }
  const TensorInfo* a = f->find_tensor("w.f32");
  ASSERT_NE(a, nullptr);
  Tensor v = a->view();
  EXPECT_EQ(v.type, DType::F32);
  EXPECT_EQ(v.ne[0], 3);
  EXPECT_EQ(v.ne[1], 2);
  EXPECT_EQ(v.row<float>(1)[2], 6.0f);
  EXPECT_EQ(a->size_bytes, 24u);

  const TensorInfo* h = f->find_tensor("w.f16");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(fp16_to_fp32(h->view().row<uint16_t>(0)[1]), -2.0f);
  EXPECT_EQ(f->find_tensor("w.bf16")->n_dims, 4);
  EXPECT_EQ(f->find_tensor("w.bf16")->size_bytes, 10u);
  const TensorInfo* q = f->find_tensor("w.q8_0");
  EXPECT_EQ(q->view().rows(), 2);
  EXPECT_EQ(std::memcmp(q->data, q8.data(), q8.size()), 0);
  const TensorInfo* q4t = f->find_tensor("w.q4_0");
  EXPECT_EQ(q4t->size_bytes, 54u);
  EXPECT_EQ(std::memcmp(q4t->data, q4.data(), q4.size()), 0);
  EXPECT_EQ(f->find_tensor("missing"), nullptr);
}

TEST(GgufRoundTrip, CustomAlignmentAndReplaceInPlace) {
  Writer w;
  w.set_u32("a", 1);
  w.set_alignment(64);
  w.set_string("b", "x");
  w.set_u32("a", 2);  // replaces in place: still first
  std::vector<uint8_t> d(4 * 3, 1);
  ASSERT_TRUE(w.add_tensor("t0", DType::F32, {3}, d).ok());
  ASSERT_TRUE(w.add_tensor("t1", DType::F32, {3}, d).ok());
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 64u);
  ASSERT_EQ(f->metadata().size(), 3u);
  EXPECT_EQ(f->metadata()[0].key, "a");
  EXPECT_EQ(f->get_int("a").value(), 2);
  EXPECT_EQ(f->metadata()[1].key, "general.alignment");
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->find_tensor("t1")->offset, 64u);

  Writer dflt;
  dflt.set_alignment(32);  // default: no key written
  auto g = parse_ok(dflt.to_bytes());
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->has("general.alignment"));
}

TEST(GgufRoundTrip, CopyMetadataKeepsTypesAndSkips) {
  Writer w;
  w.set_i8("k.i8", -3);
  w.set_f64("k.f64", 2.5);
  w.set_string_array("k.tokens", {"a", "b"});
  w.set_f32_array("k.scores", {1.f, 2.f});
  w.set_string("general.name", "skip me");
  w.set_alignment(128);
  auto src = parse_ok(w.to_bytes());
  ASSERT_NE(src, nullptr);

  Writer c;
  c.copy_metadata(*src, [](std::string_view k) { return k == "general.name"; });
  auto f = parse_ok(c.to_bytes());
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->has("general.name"));
  EXPECT_EQ(f->alignment(), 128u);
  EXPECT_EQ(f->find("k.i8")->value.type, ValueType::i8);
  EXPECT_EQ(f->get_int("k.i8").value(), -3);
  EXPECT_EQ(f->find("k.f64")->value.f, 2.5);
  EXPECT_EQ(f->get_string_array("k.tokens").value().size(), 2u);
  EXPECT_EQ(f->get_f32_array("k.scores").value()[1], 2.f);
}

TEST(GgufRoundTrip, TensorViewsAreWrittenWithoutCopy) {
  std::vector<float> src = {1, 2, 3, 4};
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(src.data()), 16);
  Writer w;
  ASSERT_TRUE(w.add_tensor_view("v", DType::F32, {4}, bytes).ok());
  src[3] = 40;  // a view sees later changes: proves it was not copied
  EXPECT_FALSE(w.add_tensor_view("v", DType::F32, {4}, bytes).ok());
  EXPECT_FALSE(w.add_tensor_view("bad", DType::F32, {5}, bytes).ok());
  Writer copy = w;  // copies share the viewed bytes
  auto f = parse_ok(copy.to_bytes());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->find_tensor("v")->view().row<float>(0)[3], 40.0f);
}

TEST(GgufAccessors, FormatValue) {
  Writer w;
  w.set_i32("i", -5);
  w.set_f32("f", 0.5f);
  w.set_bool("b", true);
  w.set_string("s", "a\"b\n");
  w.set_string_array("sa", {"x", "y", "z"});
  w.set_i32_array("ia", {1, 2, 3, 4});
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(format_value(f->find("i")->value), "-5");
  EXPECT_EQ(format_value(f->find("f")->value), "0.5");
  EXPECT_EQ(format_value(f->find("b")->value), "true");
  EXPECT_EQ(format_value(f->find("s")->value), "\"a\\\"b\\x0a\"");
  EXPECT_EQ(format_value(f->find("sa")->value, 2), "[3 x string: \"x\", \"y\", ...]");
  EXPECT_EQ(format_value(f->find("ia")->value), "[4 x i32: 1, 2, 3, 4]");
}

TEST(GgufAccessors, TypeMismatchAndMissingKeyErrorsNameTheKey) {
  Writer w;
  std::vector<uint8_t> scores = {1, 2};
  w.set_raw_array("tokenizer.ggml.scores", ValueType::u8, 2, scores);
  w.set_u64("big", 1ull << 40);
  w.set_i32("neg", -1);
  w.set_string("s", "x");
  w.set_u8("flag", 1);
  w.set_f64("huge", 1e300);
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);

  auto e = f->get_f32_array("tokenizer.ggml.scores");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::format);
  const std::string msg = e.error().message();
  EXPECT_NE(msg.find("tokenizer.ggml.scores: expected array of f32, got array of u8 (offset "),
            std::string::npos)
      << msg;
  EXPECT_FALSE(f->get_u32("big").ok());
  EXPECT_EQ(f->get_int("big").value(), 1ll << 40);
  EXPECT_FALSE(f->get_u32("neg").ok());
  EXPECT_FALSE(f->get_int("s").ok());
  EXPECT_FALSE(f->get_bool("flag").ok());  // only a real bool is a bool
  EXPECT_FALSE(f->get_string("flag").ok());
  EXPECT_FALSE(f->get_f32("flag").ok());
  EXPECT_FALSE(f->get_f32("huge").ok());
  EXPECT_FALSE(f->get_string_array("s").ok());

  auto m = f->get_int("llama.block_count");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("llama.block_count"), std::string::npos);
  // _or: fallback only when absent; still a type error when present.
  EXPECT_EQ(f->get_int_or("llama.block_count", 7).value(), 7);
  EXPECT_EQ(f->get_f32_or("x", 0.25f).value(), 0.25f);
  EXPECT_TRUE(f->get_bool_or("x", true).value());
  EXPECT_FALSE(f->get_int_or("s", 7).ok());
  EXPECT_FALSE(f->get_bool_or("flag", true).ok());
  EXPECT_EQ(f->get_int_or("big", 7).value(), 1ll << 40);
}

TEST(GgufWriter, RejectsBadTensors) {
  Writer w;
  std::vector<uint8_t> d(4 * 4);
  EXPECT_FALSE(w.add_tensor("", DType::F32, {4}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {4, 1, 1, 1, 1}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {0, 4}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {-4}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {5}, d).ok());    // size mismatch
  EXPECT_FALSE(w.add_tensor("x", DType::Q8_0, {16}, d).ok());  // not a block multiple
  ASSERT_TRUE(w.add_tensor("x", DType::F32, {4}, d).ok());
  EXPECT_FALSE(w.add_tensor("x", DType::F32, {4}, d).ok());  // duplicate
}

class GgufFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ef_gguf_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(GgufFileTest, WriteThenOpenMapsAndTracksMemory) {
  Writer w;
  w.set_string("general.name", "tiny");
  std::vector<float> v(64, 0.5f);
  ASSERT_TRUE(w.add_tensor("t", DType::F32, {64}, bytes_of(v.data(), 256)).ok());
  const std::string path = (dir_ / "m.gguf").string();
  ASSERT_TRUE(w.write(path).ok());
  EXPECT_EQ(std::filesystem::file_size(path), w.to_bytes().size());
  // No temp file left behind.
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) entries += e.exists();
  EXPECT_EQ(entries, 1u);

  const uint64_t mapped_before = memory_stats().mapped_bytes;
  {
    auto f = File::open(path);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ((*f)->path(), path);
    EXPECT_EQ(memory_stats().mapped_bytes, mapped_before + (*f)->file_size());
    EXPECT_EQ((*f)->find_tensor("t")->view().row<float>(0)[63], 0.5f);
  }
  EXPECT_EQ(memory_stats().mapped_bytes, mapped_before);
}

// Large files are read into huge pages instead of mmap'd (gguf_reader.cpp);
// EDGEFORMER_HUGEPAGES=all takes that path for a small file, =0 the mmap one:
// same tensor bytes, same memory accounting.
TEST_F(GgufFileTest, HugePageCopyAndMmapGiveSameTensors) {
  Writer w;
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.25f - 7.0f;
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {1000}, bytes_of(v.data(), 4000)).ok());
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {10, 100}, bytes_of(v.data(), 4000)).ok());
  const std::string path = (dir_ / "h.gguf").string();
  ASSERT_TRUE(w.write(path).ok());
  const char* old = std::getenv("EDGEFORMER_HUGEPAGES");
  const std::string saved = old != nullptr ? old : "";
  const uint64_t mapped_before = memory_stats().mapped_bytes;
  for (const char* mode : {"all", "0"}) {
    ::setenv("EDGEFORMER_HUGEPAGES", mode, 1);
    auto f = File::open(path);
    ASSERT_TRUE(f.ok()) << mode << ": " << f.error().message();
    EXPECT_EQ(memory_stats().mapped_bytes, mapped_before + (*f)->file_size()) << mode;
    // The huge-page copy starts the file on a 2 MiB boundary.
    const auto* first = (*f)->find_tensor("a");
    ASSERT_NE(first, nullptr);
    const auto base = reinterpret_cast<uintptr_t>(first->view().data) - (*f)->data_offset() -
                      first->offset;
    if (std::string(mode) == "all") {
      EXPECT_EQ(base % (uintptr_t{2} << 20), 0u);
    }
    for (const char* name : {"a", "b"}) {
      const auto* t = (*f)->find_tensor(name);
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(0, std::memcmp(t->view().data, v.data(), 4000)) << mode << " " << name;
    }
  }
  if (old != nullptr) {
    ::setenv("EDGEFORMER_HUGEPAGES", saved.c_str(), 1);
  } else {
    ::unsetenv("EDGEFORMER_HUGEPAGES");
  }
  EXPECT_EQ(memory_stats().mapped_bytes, mapped_before);
}

TEST_F(GgufFileTest, OpenMissingFileIsIoErrorNamingPath) {
  auto f = File::open((dir_ / "nope.gguf").string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, Errc::io);
  EXPECT_NE(f.error().message().find("nope.gguf"), std::string::npos);
  auto d = File::open(dir_.string());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::io);
}

TEST_F(GgufFileTest, FailedWriteLeavesNoFileAndKeepsExistingFile) {
  const auto ro = dir_ / "ro";
  std::filesystem::create_directories(ro);
  const std::string existing = (ro / "keep.gguf").string();
  { std::ofstream(existing) << "precious"; }
  std::filesystem::permissions(
      ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  if (::access(ro.c_str(), W_OK) == 0) {
    // Running as root: permissions do not stop us. Use a missing directory
    // instead, which fails for everyone.
    std::filesystem::permissions(ro, std::filesystem::perms::owner_all);
  }
  Writer w;
  w.set_string("general.name", "x");
  const bool ro_effective = ::access(ro.c_str(), W_OK) != 0;
  const std::string target =
      ro_effective ? existing : (dir_ / "missing_dir" / "keep.gguf").string();
  Status s = w.write(target);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io);
  EXPECT_NE(s.error().message().find(target), std::string::npos) << s.error().message();
  std::filesystem::permissions(ro, std::filesystem::perms::owner_all);
  // The old file is untouched and no temp file remains.
  std::ifstream in(existing);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(ro)) entries += e.exists();
  EXPECT_EQ(entries, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "missing_dir"));
}

size_t count_entries(const std::filesystem::path& dir) {
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) n += e.exists() ? 1 : 0;
  return n;
}

TEST_F(GgufFileTest, FailedRenameRemovesTempFile) {
  // The target is a non-empty directory: the temp file is written and synced,
  // then rename() fails, which must remove the temp file.
  const auto target = dir_ / "occupied";
  std::filesystem::create_directories(target);
  { std::ofstream(target / "inside") << "x"; }
  Writer w;
  w.set_string("general.name", "x");
  Status s = w.write(target.string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io);
  EXPECT_NE(s.error().message().find("rename"), std::string::npos) << s.error().message();
  EXPECT_EQ(count_entries(dir_), 1u);  // only "occupied", no temp
  EXPECT_TRUE(std::filesystem::is_directory(target));
  EXPECT_EQ(count_entries(target), 1u);
}

TEST_F(GgufFileTest, WriteFailingMidFileKeepsExistingFile) {
  // RLIMIT_FSIZE makes write() fail with EFBIG partway through (works even as
  // root, unlike permission bits). Nothing is printed while the limit is set.
  const std::string path = (dir_ / "keep.gguf").string();
  { std::ofstream(path) << "precious"; }
  Writer w;
  std::vector<uint8_t> big(256 * 1024, 7);
  ASSERT_TRUE(w.add_tensor("big", DType::F32, {64 * 1024}, big).ok());

  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status s = w.write(path);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io);
  EXPECT_NE(s.error().message().find(path), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find(std::strerror(EFBIG)), std::string::npos)
      << s.error().message();
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  EXPECT_EQ(count_entries(dir_), 1u);
}

TEST_F(GgufFileTest, SuccessfulWriteReplacesExistingFile) {
  const std::string path = (dir_ / "m.gguf").string();
  { std::ofstream(path) << "old"; }
  Writer w;
  w.set_u32("v", 9);
  ASSERT_TRUE(w.write(path).ok());
  auto f = File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->get_u32("v").value(), 9u);
}

TEST_F(GgufFileTest, InvalidAlignmentIsReportedByWrite) {
  Writer w;
  w.set_alignment(48);
  Status s = w.write((dir_ / "x.gguf").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("alignment"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.gguf"));
}

// ---- the real vocab files from llama.cpp's test suite ----

std::string vocab(const char* name) { return std::string(EF_SHARED_DATA_DIR) + "/vocab/" + name; }

TEST(GgufVocab, LlamaSpmLoads) {
  auto r = File::open(vocab("ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  const File& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), "llama");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.error().message();
  EXPECT_EQ(tokens->size(), 32000u);
  EXPECT_EQ((*tokens)[1], "<s>");
  auto scores = f.get_f32_array("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.ok()) << scores.error().message();
  EXPECT_EQ(scores->size(), 32000u);
  auto types = f.get_i32_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok()) << types.error().message();
  EXPECT_EQ(types->size(), 32000u);
  EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id").value(), 1u);
}

TEST(GgufVocab, Gpt2Loads) {
  auto r = File::open(vocab("ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  const File& f = **r;
  EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), "gpt2");
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 50257u);
  EXPECT_EQ((*tokens)[50256], "<|endoftext|>");
  auto merges = f.get_string_array("tokenizer.ggml.merges");
  ASSERT_TRUE(merges.ok()) << merges.error().message();
  EXPECT_EQ(merges->size(), 50000u);
}

TEST(GgufVocab, CopyMetadataRoundTripsRealFile) {
  auto r = File::open(vocab("ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  Writer w;
  w.copy_metadata(**r);
  auto f = parse_ok(w.to_bytes());
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->metadata().size(), (*r)->metadata().size());
  for (size_t i = 0; i < f->metadata().size(); ++i) {
    EXPECT_EQ(f->metadata()[i].key, (*r)->metadata()[i].key);
    EXPECT_EQ(f->metadata()[i].value.type, (*r)->metadata()[i].value.type);
  }
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.merges").value(),
            (*r)->get_string_array("tokenizer.ggml.merges").value());
}

}  // namespace
}  // namespace ef::gguf
