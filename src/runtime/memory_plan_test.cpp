// The memory planner against the allocations Buffer tracks, its choices
// under a budget (smaller micro-batch, then KV offload, then a clear error),
// and KV offload: logits bit-identical to the unbudgeted flash run, session
// files across offloaded and resident sessions.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "io/gguf.h"
#include "model/tiny_model.h"

namespace ef {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ef_plan_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TinyModelSpec spec(int64_t swa = 0) {
  TinyModelSpec s;
  s.n_embd = 64;
  s.n_layer = swa > 0 ? 4 : 3;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 128;
  s.n_ctx = 256;
  s.n_vocab_synthetic = 400;
  s.sliding_window = swa;
  if (swa > 0) s.swa_pattern = 2;  // layers 0, 2 windowed; 1, 3 global
  return s;
}

std::unique_ptr<Model> make_model(const TinyModelSpec& sp, const std::string& name) {
  const std::string path = temp_path(name);
  Status st = write_tiny_llama(path, sp);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  std::filesystem::remove(path);
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<int32_t> tokens(int n, int salt = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11 + salt * 13) % 400);
  return t;
}

bool bit_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

TEST(MemoryPlan, MatchesTrackedAllocations) {
  for (int64_t swa : {0, 7}) {
    auto model = make_model(spec(swa), "alloc.gguf");
    ASSERT_TRUE(model);
    struct Case {
      int64_t ctx, ub;
      int threads;
      KvType kv;
      bool flash;
    };
    for (Case k : {Case{64, 512, 1, KvType::f16, false}, Case{200, 7, 2, KvType::f32, true},
                   Case{256, 1, 3, KvType::f16, true}, Case{100, 32, 1, KvType::f32, false}}) {
      SessionOptions o;
      o.n_ctx = k.ctx;
      o.n_ubatch = k.ub;
      o.n_threads = k.threads;
      o.kv_type = k.kv;
      o.flash_attn = k.flash;
      auto plan = plan_memory(*model, o);
      ASSERT_TRUE(plan.ok()) << plan.error().message();
      const uint64_t before = memory_stats().current_bytes;
      auto s = Session::create(*model, o);
      ASSERT_TRUE(s.ok()) << s.error().message();
      const uint64_t tracked = memory_stats().current_bytes - before;
      EXPECT_EQ(tracked,
                plan->kv_resident + plan->kv_staging + plan->scratch - plan->matmul_scratch)
          << "swa " << swa << " ctx " << k.ctx << " ub " << k.ub;
      EXPECT_EQ((*s)->kv_cache_bytes(), plan->kv_resident);
      EXPECT_EQ((*s)->scratch_bytes(), plan->scratch);
      EXPECT_EQ(plan->n_ubatch, std::min(k.ub, k.ctx));
      EXPECT_EQ(plan->weights, model->file().file_size());
      EXPECT_FALSE(plan->offload);
      // Independent check of the KV formula: 2 (K, V) x layers x rows x kv_dim x elem.
      if (swa == 0) {
        const uint64_t eb = k.kv == KvType::f16 ? 2 : 4;
        EXPECT_EQ(plan->kv_resident, 2ull * 3 * static_cast<uint64_t>(k.ctx) * 32 * eb);
      }
    }
  }
}

TEST(MemoryPlan, PlansTheLogitsRowsTheCallerAsksFor) {
  // perplexity asks for all logits in pieces of logits_rows tokens: the
  // buffer is in the plan, allocated up front, and such requests stay in it.
  auto model = make_model(spec(), "logits.gguf");
  SessionOptions o;
  o.n_ctx = 128;
  o.n_ubatch = 16;
  o.n_threads = 1;
  const MemoryPlan one = plan_memory(*model, o).value();
  o.logits_rows = 40;
  const MemoryPlan forty = plan_memory(*model, o).value();
  EXPECT_EQ(forty.scratch - one.scratch, 39ull * 400 * sizeof(float));
  const uint64_t before = memory_stats().current_bytes;
  auto s = Session::create(*model, o).value();
  EXPECT_EQ(memory_stats().current_bytes - before,
            forty.kv_resident + forty.scratch - forty.matmul_scratch);
  memory_reset_peak();
  const uint64_t held = memory_stats().current_bytes;
  ASSERT_TRUE(s->eval(tokens(40), /*all_logits=*/true).ok());
  EXPECT_EQ(memory_stats().peak_bytes, held);  // no growth
  EXPECT_EQ(s->scratch_bytes(), forty.scratch);
  o.logits_rows = 0;
  EXPECT_EQ(plan_memory(*model, o).error().code, Errc::invalid_argument);
}

TEST(MemoryPlan, BudgetShrinksMicroBatchFirst) {
  auto model = make_model(spec(), "ub.gguf");
  SessionOptions o;
  o.n_ctx = 256;
  o.n_threads = 1;
  o.n_ubatch = 64;
  SessionOptions at16 = o;
  at16.n_ubatch = 16;
  const uint64_t need16 = plan_memory(*model, at16)->total();
  o.mem_budget = need16;
  auto p = plan_memory(*model, o);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->n_ubatch, 16);
  EXPECT_FALSE(p->offload);
  EXPECT_LE(p->total(), need16);
  o.mem_budget = need16 - 1;  // 16 no longer fits: 8 does
  EXPECT_EQ(plan_memory(*model, o)->n_ubatch, 8);
  // The session follows the plan.
  auto s = Session::create(*model, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->options().n_ubatch, 8);
}

TEST(MemoryPlan, TooSmallBudgetSaysWhatFits) {
  auto model = make_model(spec(), "small.gguf");
  SessionOptions o;
  o.n_ctx = 256;
  o.n_threads = 1;
  o.mem_budget = model->file().file_size();  // the weights alone
  auto p = plan_memory(*model, o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::out_of_memory);
  EXPECT_NE(p.error().hint.find("at least"), std::string::npos) << p.error().message();
  EXPECT_FALSE(Session::create(*model, o).ok());
  // The error's "max context without offload" really fits, and one more does not.
  o.mem_budget = plan_memory(*model,
                             [&] {
                               SessionOptions q = o;
                               q.mem_budget = 0;
                               q.n_ctx = 40;
                               q.n_ubatch = 40;
                               return q;
                             }())
                     ->total();
  o.n_ctx = 4096;
  auto e = plan_memory(*model, o);
  if (!e.ok()) {
    EXPECT_NE(e.error().hint.find("--ctx 40"), std::string::npos) << e.error().message();
  } else {
    EXPECT_TRUE(e->offload);  // offload may rescue it: then it must fit
    EXPECT_LE(e->total(), o.mem_budget);
  }
}

// A budget just below "everything resident at n_ubatch 1" forces offload.
SessionOptions offload_options(const Model& model, KvType kv, int64_t ub) {
  SessionOptions o;
  o.n_ctx = 256;
  o.n_threads = 2;
  o.n_ubatch = 1;
  o.kv_type = kv;
  o.flash_attn = true;
  o.mem_budget = plan_memory(model, o)->total() - 1;
  o.n_ubatch = ub;
  o.flash_attn = false;  // the planner must force it on
  return o;
}

TEST(KvOffload, LogitsEqualUnbudgetedFlashRun) {
  for (int64_t swa : {0, 9}) {
    for (KvType kv : {KvType::f16, KvType::f32}) {
      SCOPED_TRACE(testing::Message() << "swa " << swa << " kv " << int(kv));
      auto model = make_model(spec(swa), "off.gguf");
      ASSERT_TRUE(model);
      SessionOptions bo = offload_options(*model, kv, 8);
      auto plan = plan_memory(*model, bo);
      ASSERT_TRUE(plan.ok()) << plan.error().message();
      ASSERT_TRUE(plan->offload);
      EXPECT_TRUE(plan->flash_forced);
      EXPECT_LT(plan->kv_resident_positions, 256);
      EXPECT_GE(plan->kv_resident_positions, plan->n_ubatch);
      EXPECT_LE(plan->total(), bo.mem_budget);

      SessionOptions ro;
      ro.n_ctx = 256;
      ro.n_threads = 2;
      ro.kv_type = kv;
      ro.flash_attn = true;
      ro.n_ubatch = 8;
      auto ref = Session::create(*model, ro).value();
      auto off = Session::create(*model, bo).value();
      ASSERT_TRUE(off->memory_plan().offload);
      // Prefill well past the resident window, then decode.
      const auto p = tokens(200);
      auto a = ref->eval(p, true);
      ASSERT_TRUE(a.ok());
      std::vector<float> ra(a->begin(), a->end());
      auto b = off->eval(p, true);
      ASSERT_TRUE(b.ok()) << b.error().message();
      EXPECT_TRUE(bit_equal(ra, *b));
      for (int step = 0; step < 30; ++step) {
        const int32_t t = (step * 53 + 5) % 400;
        auto la = ref->eval(std::span<const int32_t>(&t, 1));
        std::vector<float> va(la->begin(), la->end());
        auto lb = off->eval(std::span<const int32_t>(&t, 1));
        ASSERT_TRUE(lb.ok());
        ASSERT_TRUE(bit_equal(va, *lb)) << "decode step " << step;
      }
    }
  }
}

TEST(KvOffload, TrackedPeakStaysInPlan) {
  // Buffers tracked while an offloaded session fills its whole context: no
  // more than the plan's KV + staging + scratch (the disk rows are not ours).
  auto model = make_model(spec(), "peak.gguf");
  SessionOptions bo = offload_options(*model, KvType::f16, 16);
  const MemoryPlan plan = plan_memory(*model, bo).value();
  ASSERT_TRUE(plan.offload);
  const uint64_t base = memory_stats().current_bytes;
  memory_reset_peak();
  {
    auto off = Session::create(*model, bo).value();
    ASSERT_TRUE(off->eval(tokens(250)).ok());
    for (int i = 0; i < 6; ++i) {
      const int32_t t = i;
      ASSERT_TRUE(off->eval(std::span<const int32_t>(&t, 1)).ok());
    }
    EXPECT_EQ(off->n_past(), 256);
  }
  const uint64_t peak = memory_stats().peak_bytes - base;
  EXPECT_LE(peak, plan.kv_resident + plan.kv_staging + plan.scratch - plan.matmul_scratch);
  EXPECT_GT(peak, plan.kv_resident);  // it did allocate what it planned
  EXPECT_LE(plan.total(), bo.mem_budget);
}

TEST(KvOffload, SessionFilesCrossOffloadedAndResident) {
  auto model = make_model(spec(), "offsave.gguf");
  SessionOptions bo = offload_options(*model, KvType::f16, 4);
  SessionOptions ro;
  ro.n_ctx = 256;
  ro.flash_attn = true;
  ro.n_ubatch = 4;
  auto off = Session::create(*model, bo).value();
  ASSERT_TRUE(off->memory_plan().offload);
  auto ref = Session::create(*model, ro).value();
  const auto p = tokens(180, 1);
  ASSERT_TRUE(off->eval(p).ok());
  ASSERT_TRUE(ref->eval(p).ok());
  const std::string f_off = temp_path("off.efsession"), f_ref = temp_path("ref.efsession");
  ASSERT_TRUE(off->save(f_off).ok());
  ASSERT_TRUE(ref->save(f_ref).ok());
  // Same state, same bytes.
  EXPECT_EQ(std::filesystem::file_size(f_off), std::filesystem::file_size(f_ref));
  auto into_ref = Session::create(*model, ro).value();
  auto into_off = Session::create(*model, bo).value();
  ASSERT_TRUE(into_ref->load(f_off).ok());
  auto lo = into_off->load(f_ref);
  ASSERT_TRUE(lo.ok()) << lo.error().message();
  const std::vector<int32_t> next = {9, 99, 199};
  auto r0 = ref->eval(next, true);
  std::vector<float> want(r0->begin(), r0->end());
  auto r1 = into_ref->eval(next, true);
  EXPECT_TRUE(bit_equal(want, *r1));
  auto r2 = into_off->eval(next, true);
  EXPECT_TRUE(bit_equal(want, *r2));
  std::filesystem::remove(f_off);
  std::filesystem::remove(f_ref);
}

}  // namespace
}  // namespace ef
