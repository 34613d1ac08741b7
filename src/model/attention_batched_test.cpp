// attention_batched (queries of a KV head batched into two gemm calls) vs the
// per-(token, head) path: bit-identical outputs for F16 and F32 caches, MHA /
// GQA / MQA, prompts and decode steps, block-boundary token counts, and on
// every kernel table this machine supports.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "edgeformer/model.h"
#include "kernels/kernels.h"
#include "model/attention.h"
#include "model/llama_forward.h"
#include "runtime/kv_cache.h"

namespace ef {
namespace {

struct Case {
  int64_t n_head, n_head_kv, head_dim;
  int64_t n_past, n;  // tokens already cached, tokens evaluated now
  KvType kv;
};

std::string name(const Case& c) {
  return "heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_head_kv) + " hd " +
         std::to_string(c.head_dim) + " n_past " + std::to_string(c.n_past) + " n " +
         std::to_string(c.n) + (c.kv == KvType::f16 ? " f16" : " f32");
}

void check(const Case& cs, const kernels::KernelTable& table, int threads) {
  ModelConfig c;
  c.n_head = cs.n_head;
  c.n_head_kv = cs.n_head_kv;
  c.head_dim = cs.head_dim;
  c.n_embd = cs.n_head * cs.head_dim;
  c.n_layer = 2;
  c.n_ff = 64;
  const int64_t n_ctx = cs.n_past + cs.n + 3;
  const int64_t kv_dim = cs.n_head_kv * cs.head_dim;
  const int64_t q_dim = cs.n_head * cs.head_dim;
  auto cache = KvCache::create(c.n_layer, n_ctx, kv_dim, cs.kv);
  ASSERT_TRUE(cache.ok()) << cache.error().message();
  std::mt19937 rng(static_cast<uint32_t>(cs.n_past * 131 + cs.n * 7 + cs.n_head));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(kv_dim)), v(k.size());
  const int64_t il = 1;
  for (int64_t p = 0; p < cs.n_past + cs.n; ++p) {
    for (auto& x : k) x = dist(rng);
    for (auto& x : v) x = dist(rng);
    cache.value().store(il, p, k.data(), v.data());
  }
  std::vector<float> q(static_cast<size_t>(cs.n * q_dim));
  for (auto& x : q) x = 2.0f * dist(rng);  // peaked softmax rows, too
  auto scratch = ForwardScratch::create(c, cs.n, n_ctx, threads);
  ASSERT_TRUE(scratch.ok()) << scratch.error().message();
  ThreadPool pool(threads);
  std::vector<float> want(q.size(), -1.0f), got(q.size(), -2.0f);
  attention_per_row(c, cache.value(), il, q.data(), want.data(), cs.n, cs.n_past,
                    scratch.value(), pool, table);
  attention_batched(c, cache.value(), il, q.data(), got.data(), cs.n, cs.n_past, pool, table);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&want[i], &got[i], sizeof(float)))
        << kernels::isa_name(table.isa) << " " << name(cs) << " at " << i << ": " << want[i]
        << " vs " << got[i];
  }
}

TEST(AttentionBatched, BitIdenticalToPerRowPath) {
  const Case cases[] = {
      {4, 4, 16, 0, 1, KvType::f16},   {4, 4, 16, 0, 17, KvType::f32},
      {9, 3, 64, 0, 33, KvType::f16},  {9, 3, 64, 5, 16, KvType::f16},
      {9, 3, 64, 40, 1, KvType::f16},  {9, 3, 64, 40, 1, KvType::f32},
      {6, 1, 24, 3, 20, KvType::f32},  {6, 2, 40, 17, 31, KvType::f16},
  };
  for (kernels::Isa isa : kernels::available_isas()) {
    auto table = kernels::table_for(isa);
    ASSERT_TRUE(table.ok());
    for (const Case& cs : cases) {
      for (int threads : {1, 2}) check(cs, *table.value(), threads);
    }
  }
}

}  // namespace
}  // namespace ef
