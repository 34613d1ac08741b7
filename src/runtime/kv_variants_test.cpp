// Session files and memory budgets for every KV cache configuration:
// quantized (BF16/Q8_0/Q4_0), mixed K != V types, Hadamard-rotated caches and
// deepseek2's MLA latent cache.
//   - save -> new model object + session -> load gives bit-identical logits
//     and an identical greedy continuation;
//   - the corruption suite per variant: every truncation, header byte flips,
//     cross-variant loads naming the mismatching field;
//   - version 1 files (f16/f32 only) still load;
//   - KV offload under --mem-budget: logits (prefill, all rows, then decode)
//     equal the unbudgeted run exactly, at contexts of several flash pieces,
//     with staging memory of one piece.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_deepseek2.h"
#include "model/tiny_model.h"
#include "runtime/session_file.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_kv_variants_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct Variant {
  const char* name;
  bool mla;
  KvType k, v;
  bool hadamard;
  bool flash = true;
};

const Variant kVariants[] = {
    {"q8_0", false, KvType::q8_0, KvType::q8_0, false},
    {"q4_0+hadamard", false, KvType::q4_0, KvType::q4_0, true},
    {"bf16", false, KvType::bf16, KvType::bf16, false},
    {"k q8_0 / v f16", false, KvType::q8_0, KvType::f16, false},
    {"k q8_0 / v f16, no flash", false, KvType::q8_0, KvType::f16, false, false},
    {"k f16 / v q4_0 + hadamard", false, KvType::f16, KvType::q4_0, true},
    {"f16+hadamard", false, KvType::f16, KvType::f16, true},
    {"mla f16", true, KvType::f16, KvType::f16, false},
    {"mla f16, no flash", true, KvType::f16, KvType::f16, false, false},
    {"mla f32", true, KvType::f32, KvType::f32, false},
    {"mla bf16", true, KvType::bf16, KvType::bf16, false},
    {"mla q8_0", true, KvType::q8_0, KvType::q8_0, false},
    {"mla q4_0", true, KvType::q4_0, KvType::q4_0, false},
};

// head_dim 32 (block types need whole blocks per head; Hadamard a power of
// two); MLA: latent 32 + rope 32 (multiples of 32 for Q8_0/Q4_0 rows).
std::unique_ptr<Model> make_model(bool mla, int64_t n_ctx, const std::string& name,
                                  uint64_t seed = 42) {
  const std::string path = temp_path(name);
  Status st;
  if (mla) {
    TinyDeepseek2Spec d;
    d.n_embd = 64;
    d.n_layer = 2;
    d.n_head = 4;
    d.n_ff = 128;
    d.n_ctx = n_ctx;
    d.kv_lora_rank = 32;
    d.nope_dim = 32;
    d.rope_dim = 32;
    d.v_dim = 32;
    d.n_vocab_synthetic = 400;
    d.seed = seed;
    st = write_tiny_deepseek2(path, d);
  } else {
    TinyModelSpec s;
    s.n_embd = 128;
    s.n_layer = 2;
    s.n_head = 4;
    s.n_head_kv = 2;
    s.n_ff = 128;
    s.n_ctx = n_ctx;
    s.n_vocab_synthetic = 400;
    s.seed = seed;
    st = write_tiny_llama(path, s);
  }
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  std::filesystem::remove(path);
  return m.ok() ? std::move(m).value() : nullptr;
}

SessionOptions options_for(const Variant& v, int64_t n_ctx = 128) {
  SessionOptions o;
  o.n_ctx = n_ctx;
  o.n_ubatch = 4;
  o.n_threads = 2;
  o.type_k = v.k;
  o.type_v = v.v;
  o.kv_type = v.k;
  o.kv_hadamard = v.hadamard;
  o.flash_attn = v.flash;
  return o;
}

std::unique_ptr<Session> make_session(const Model& m, const SessionOptions& o) {
  auto s = Session::create(m, o);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<int32_t> prompt(int n, int salt = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11 + salt * 13) % 400);
  return t;
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }
int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}
std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(KvVariantSessionFile, RoundTripIsBitIdentical) {
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    auto model = make_model(v.mla, 128, "rt.gguf");
    ASSERT_TRUE(model);
    const SessionOptions o = options_for(v);
    auto a = make_session(*model, o);
    ASSERT_TRUE(a);
    auto la = a->eval(prompt(23));
    ASSERT_TRUE(la.ok()) << la.error().message();
    const std::vector<float> last = copy(*la);
    const std::string path = temp_path("rt.efsession");
    Status saved = a->save(path);
    ASSERT_TRUE(saved.ok()) << saved.error().message();

    auto model2 = make_model(v.mla, 128, "rt2.gguf");  // another object, same file
    auto b = make_session(*model2, o);
    ASSERT_TRUE(b);
    auto lb = b->load(path);
    ASSERT_TRUE(lb.ok()) << lb.error().message();
    EXPECT_TRUE(copy(*lb) == last);
    EXPECT_EQ(b->n_past(), 23);
    // The rows came back, not only the logits: identical greedy continuations.
    std::vector<float> ga = last, gb = copy(*lb);
    for (int step = 0; step < 8; ++step) {
      const int32_t t = argmax(ga);
      auto ra = a->eval(std::span<const int32_t>(&t, 1));
      auto rb = b->eval(std::span<const int32_t>(&t, 1));
      ASSERT_TRUE(ra.ok() && rb.ok());
      ga = copy(*ra);
      gb = copy(*rb);
      ASSERT_TRUE(ga == gb) << "step " << step;
    }
    auto info = Session::peek(path);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->kv_type, v.k);
    EXPECT_EQ(info->type_v, v.v);
    EXPECT_EQ(info->hadamard, v.hadamard);
    EXPECT_EQ(info->mla, v.mla);
    // File size: rows in their stored types, K and V (none for MLA).
    const int64_t n_layer = 2, kv_dim = v.mla ? 64 : 64;
    const uint64_t row = kv_row_bytes(v.k, kv_dim) + (v.mla ? 0 : kv_row_bytes(v.v, kv_dim));
    EXPECT_EQ(std::filesystem::file_size(path),
              kSessionHeaderBytes + 23 * 4 + 400 * 4 + n_layer * (16 + 23 * row) + 8);
    std::filesystem::remove(path);
  }
}

// One saved image per variant (5 tokens, with logits).
struct Image {
  Variant v;
  std::vector<uint8_t> bytes;
};

class KvVariantCorrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    llama_ = make_model(false, 64, "c_llama.gguf");
    mla_ = make_model(true, 64, "c_mla.gguf");
    ASSERT_TRUE(llama_ && mla_);
    for (const Variant& v : kVariants) {
      auto s = make_session(model(v), options_for(v, 64));
      ASSERT_TRUE(s);
      ASSERT_TRUE(s->eval(prompt(5, 3)).ok());
      const std::string path = temp_path("c.efsession");
      ASSERT_TRUE(s->save(path).ok());
      images_.push_back({v, read_file(path)});
      std::filesystem::remove(path);
    }
  }
  const Model& model(const Variant& v) const { return v.mla ? *mla_ : *llama_; }
  // Loads `img` into a fresh session of `v`: must fail naming `field` (if
  // given), with "offset" in where, leaving the session empty.
  Error expect_fail(const Variant& v, const std::vector<uint8_t>& img,
                    const std::string& field = {}) {
    auto s = make_session(model(v), options_for(v, 64));
    auto r = s->load_from_bytes(img);
    EXPECT_FALSE(r.ok()) << "corrupt image loaded";
    if (r.ok()) return {};
    Error e = r.take_error();
    EXPECT_NE(e.where.find("offset"), std::string::npos) << e.message();
    if (!field.empty()) {
      EXPECT_NE(e.where.find(field), std::string::npos) << e.message();
    }
    EXPECT_EQ(s->n_past(), 0);
    return e;
  }
  std::unique_ptr<Model> llama_, mla_;
  std::vector<Image> images_;
};

TEST_F(KvVariantCorrupt, ImagesLoad) {
  for (const Image& im : images_) {
    SCOPED_TRACE(im.v.name);
    auto s = make_session(model(im.v), options_for(im.v, 64));
    auto r = s->load_from_bytes(im.bytes);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(s->n_past(), 5);
  }
}

TEST_F(KvVariantCorrupt, EveryTruncationAndHeaderFlipFails) {
  for (const Image& im : images_) {
    SCOPED_TRACE(im.v.name);
    for (size_t len = 0; len < im.bytes.size(); len += (len < 200 ? 1 : 7)) {
      expect_fail(im.v, std::vector<uint8_t>(im.bytes.begin(),
                                             im.bytes.begin() + static_cast<ptrdiff_t>(len)));
    }
    for (size_t i = 0; i < kSessionHeaderBytes; ++i) {
      std::vector<uint8_t> img = im.bytes;
      img[i] ^= 0x01;
      expect_fail(im.v, img);
    }
  }
}

TEST_F(KvVariantCorrupt, NamedNewHeaderFields) {
  const Image& im = images_[0];  // q8_0
  std::vector<uint8_t> img = im.bytes;
  img[72] = 9;  // V type code
  expect_fail(im.v, img, "header.kv_type_v");
  img = im.bytes;
  img[76] = 0x80;  // unknown flag
  expect_fail(im.v, img, "header.flags");
  img = im.bytes;
  img[76] = 0x02;  // MLA flag on a K/V file: V row bytes must then be 0
  expect_fail(im.v, img, "header.v_row_bytes");
  img = im.bytes;
  img[80] ^= 0x01;  // V row bytes
  expect_fail(im.v, img, "header.v_row_bytes");
}

TEST_F(KvVariantCorrupt, CrossVariantLoadsNameTheField) {
  for (const Image& from : images_) {
    for (const Variant& into : kVariants) {
      const bool same = from.v.mla == into.mla && from.v.k == into.k && from.v.v == into.v &&
                        from.v.hadamard == into.hadamard;
      if (same) continue;  // (flash or not: same rows)
      SCOPED_TRACE(std::string(from.v.name) + " -> " + into.name);
      std::string field;
      if (from.v.mla != into.mla) {
        field = "header.n_vocab";  // other model first: deepseek2 vs llama shapes
      } else if (from.v.k != into.k) {
        field = "header.kv_type";
      } else if (from.v.v != into.v) {
        field = "header.kv_type_v";
      } else {
        field = "header.flags";
      }
      Error e = expect_fail(into, from.bytes);
      if (from.v.mla == into.mla) {
        EXPECT_NE(e.where.find(field), std::string::npos) << e.message();
        EXPECT_EQ(e.code, Errc::invalid_argument);
        EXPECT_NE(e.hint.find("--cache-type"), std::string::npos) << e.hint;
      }
    }
  }
}

// A version 1 file (72-byte header, f16 K = V) still loads.
TEST(KvVariantSessionFile, ReadsVersion1Files) {
  auto model = make_model(false, 64, "v1.gguf");
  SessionOptions o;
  o.n_ctx = 64;
  o.n_ubatch = 4;
  auto a = make_session(*model, o);
  auto la = a->eval(prompt(7));
  ASSERT_TRUE(la.ok());
  const std::string path = temp_path("v1.efsession");
  ASSERT_TRUE(a->save(path).ok());
  std::vector<uint8_t> img = read_file(path);
  std::filesystem::remove(path);
  // Version 2 -> 1: drop the fields at 72..87, recompute the checksum.
  img.erase(img.begin() + 72, img.begin() + 88);
  img[4] = 1;
  img.resize(img.size() - 8);
  Hash64 h;
  h.update(img.data(), img.size());
  const uint64_t d = h.digest();
  img.insert(img.end(), reinterpret_cast<const uint8_t*>(&d),
             reinterpret_cast<const uint8_t*>(&d) + 8);
  auto b = make_session(*model, o);
  auto lb = b->load_from_bytes(img);
  ASSERT_TRUE(lb.ok()) << lb.error().message();
  EXPECT_TRUE(copy(*lb) == copy(*la));
  const std::vector<int32_t> next = {5, 77, 301};
  auto ra = a->eval(next, true);
  std::vector<float> want = copy(*ra);
  auto rb = b->eval(next, true);
  EXPECT_TRUE(copy(*rb) == want);
}

// ---- memory budgets ----

// Budget well below the unbudgeted plan: offload with few resident rows.
SessionOptions budget_options(const Model& m, const Variant& v, int64_t n_ctx) {
  SessionOptions o = options_for(v, n_ctx);
  o.n_ubatch = 64;
  o.flash_attn = false;  // the planner forces it on for offload
  SessionOptions full = o;
  full.flash_attn = true;
  full.n_ubatch = 1;  // below the smallest resident plan, so offload it is
  const MemoryPlan p = plan_memory(m, full).value();
  o.mem_budget = p.total() - p.kv_resident * 3 / 5;
  return o;
}

TEST(KvVariantBudget, OffloadedLogitsEqualUnbudgetedRun) {
  // 2100 positions: three flash pieces; the first wholly on disk at the end
  // of the prompt, the second partly.
  constexpr int64_t n_ctx = 2100;
  for (const Variant& v : kVariants) {
    if (!v.flash) continue;  // offload runs flash; the resident reference too
    SCOPED_TRACE(v.name);
    auto model = make_model(v.mla, n_ctx, "budget.gguf");
    ASSERT_TRUE(model);
    const SessionOptions bo = budget_options(*model, v, n_ctx);
    auto plan = plan_memory(*model, bo);
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    ASSERT_TRUE(plan->offload);
    EXPECT_TRUE(plan->flash_forced);
    EXPECT_LE(plan->total(), bo.mem_budget);
    EXPECT_LT(plan->kv_resident_positions, 2000 - 1024);
    SessionOptions ro = options_for(v, n_ctx);
    ro.n_ubatch = 64;
    auto ref = make_session(*model, ro);
    auto off = make_session(*model, bo);
    ASSERT_TRUE(ref && off);
    ASSERT_TRUE(off->memory_plan().offload);
    const auto p = prompt(2000);
    auto a = ref->eval(p, true);
    ASSERT_TRUE(a.ok());
    const std::vector<float> ra = copy(*a);
    auto b = off->eval(p, true);
    ASSERT_TRUE(b.ok()) << b.error().message();
    EXPECT_TRUE(ra == copy(*b));
    for (int step = 0; step < 12; ++step) {
      const int32_t t = (step * 53 + 5) % 400;
      auto la = ref->eval(std::span<const int32_t>(&t, 1));
      const std::vector<float> va = copy(*la);
      auto lb = off->eval(std::span<const int32_t>(&t, 1));
      ASSERT_TRUE(lb.ok());
      ASSERT_TRUE(va == copy(*lb)) << "decode step " << step;
    }
    // Session files cross offloaded and resident sessions.
    const std::string path = temp_path("budget.efsession");
    ASSERT_TRUE(off->save(path).ok());
    auto into = make_session(*model, ro);
    ASSERT_TRUE(into->load(path).ok());
    const std::vector<int32_t> next = {9, 99};
    auto r0 = ref->eval(next, true);
    const std::vector<float> want = copy(*r0);
    auto r1 = into->eval(next, true);
    EXPECT_TRUE(copy(*r1) == want);
    std::filesystem::remove(path);
  }
}

TEST(KvVariantBudget, StagingIsOnePieceWhateverTheContext) {
  for (bool mla : {false, true}) {
    auto model = make_model(mla, 8192, "staging.gguf");
    const Variant v = mla ? kVariants[11] : kVariants[0];  // q8_0
    uint64_t staging = 0;
    for (int64_t n_ctx : {2048, 4096, 8192}) {
      const SessionOptions bo = budget_options(*model, v, n_ctx);
      auto plan = plan_memory(*model, bo);
      ASSERT_TRUE(plan.ok()) << plan.error().message();
      ASSERT_TRUE(plan->offload);
      if (staging == 0) staging = plan->kv_staging;
      EXPECT_EQ(plan->kv_staging, staging) << "n_ctx " << n_ctx;
    }
    // One piece of 1024 rows (K + V; MLA: the latent row alone).
    const uint64_t row = mla ? kv_row_bytes(KvType::q8_0, 64) : 2 * kv_row_bytes(KvType::q8_0, 64);
    EXPECT_EQ(staging, 1024 * row);
  }
}

TEST(KvVariantBudget, PlanMatchesTrackedAllocations) {
  // The planner's numbers for MLA and quantized caches are the bytes the
  // session allocates (Buffer-tracked), with and without offload.
  for (const Variant& v : kVariants) {
    if (!v.flash) continue;
    SCOPED_TRACE(v.name);
    auto model = make_model(v.mla, 1500, "plan.gguf");
    for (bool budget : {false, true}) {
      SessionOptions o = budget ? budget_options(*model, v, 1500) : options_for(v, 1500);
      const MemoryPlan plan = plan_memory(*model, o).value();
      EXPECT_EQ(plan.offload, budget);
      const uint64_t base = memory_stats().current_bytes;
      auto s = make_session(*model, o);
      ASSERT_TRUE(s);
      const uint64_t held = memory_stats().current_bytes - base;
      EXPECT_EQ(s->kv_cache_bytes(), plan.kv_resident);
      EXPECT_EQ(held, plan.kv_resident + plan.kv_staging + plan.scratch - plan.matmul_scratch);
    }
  }
}

}  // namespace
}  // namespace ef
