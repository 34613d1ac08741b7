// The llama forward pass, read top to bottom (after llama.cpp's llama graph):
//
//   x = token_embd[tokens]
//   for each layer:
//     xb = rmsnorm(x) * attn_norm
//     q, k, v = xb Wq^T, xb Wk^T, xb Wv^T ; rope(q), rope(k)
//     cache[pos] = k, v
//     x += attention(q, cache) Wo^T
//     xb = rmsnorm(x) * ffn_norm
//     x += (silu(xb Wgate^T) * (xb Wup^T)) Wdown^T
//   logits = (rmsnorm(x) * output_norm) Wout^T   (only rows that need them)
//
// Shapes: n tokens per micro-batch; rows are tokens, row-major.
// Every matrix product goes through kernels::matmul (threaded over output
// rows); row ops are threaded over tokens; attention over (token, head).
#include "model/llama_forward.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/checked.h"
#include "core/thread_pool.h"
#include "kernels/hadamard.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/row_ops.h"
#include "model/attention.h"
#include "model/flash_attention.h"
#include "model/llama_weights.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_offload.h"

namespace ef {
namespace {

Status alloc_floats(Buffer& b, int64_t rows, int64_t cols, const char* what) {
  auto elems = checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols));
  auto bytes = elems ? checked_mul(*elems, sizeof(float)) : std::nullopt;
  if (!bytes) {
    return make_error(Errc::out_of_range, std::string("scratch size overflows: ") + what,
                      "ForwardScratch", "use a smaller n_ubatch or n_ctx");
  }
  EF_ASSIGN_OR_RETURN(b, Buffer::allocate(static_cast<size_t>(*bytes)));
  return Status::success();
}

// Runs fn(t) for every token row t in [0, n), in tasks of consecutive rows:
// about 8 per thread, enough for the dynamic claiming to even out a thread
// that is descheduled, without one claim per (often sub-microsecond) row.
// Each row is computed by the same code whoever runs it.
template <class Fn>
void for_rows(ThreadPool& pool, int64_t n, Fn&& fn) {
  const int64_t chunk = std::max<int64_t>(1, n / (8 * int64_t{pool.n_threads()}));
  pool.run((n + chunk - 1) / chunk, [&](int64_t task, int) {
    const int64_t end = std::min(n, (task + 1) * chunk);
    for (int64_t t = task * chunk; t < end; ++t) fn(t);
  });
}

}  // namespace

namespace {

// Every float buffer of ForwardScratch as [rows][cols]: the one place their
// sizes are defined, used by create() and by planned_bytes() (the memory
// planner), so the two cannot disagree.
struct ScratchBuffer {
  Buffer ForwardScratch::*member;
  int64_t rows, cols;
  const char* what;
};

// Per thread: one flash task's scratch (a KV tile plus the rows of one (KV
// head, token block)), then its rows' pieces (out | lse) and merged lse.
size_t flash_task_floats(const ModelConfig& c) {
  const int64_t flash_rows = (c.n_head / c.n_head_kv) * kFlashQueryBlock;
  return flash_scratch_floats(c.head_dim, c.head_dim, flash_rows) +
         static_cast<size_t>(flash_rows * (c.head_dim + 2));
}

std::vector<ScratchBuffer> scratch_layout(const ModelConfig& c, int64_t ub, int64_t n_ctx,
                                          int64_t threads) {
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  using S = ForwardScratch;
  return {
      {&S::x, ub, c.n_embd, "x"},
      {&S::xb, ub, c.n_embd, "xb"},
      {&S::q, ub, q_dim, "q"},
      {&S::k, ub, kv_dim, "k"},
      {&S::v, ub, kv_dim, "v"},
      {&S::att, ub, q_dim, "att"},
      {&S::proj, ub, c.n_embd, "proj"},
      {&S::gate, ub, c.n_ff, "gate"},
      {&S::up, ub, c.n_ff, "up"},
      {&S::rope_cs, ub, 2 * c.n_rot, "rope cache"},
      {&S::att_f32, threads, n_ctx, "attention scores"},
      // F16 half of the attention scratch: [n_threads][n_ctx + head_dim] uint16.
      {&S::att_f16, threads, (n_ctx + c.head_dim + 1) / 2, "attention f16"},
      {&S::flash, threads, static_cast<int64_t>(flash_task_floats(c)), "flash"},
      {&S::flash_parts, c.n_head * (n_ctx / kFlashKvChunk + 2), c.head_dim + 1, "flash pieces"},
      {&S::flash_lse, ub, c.n_head, "flash lse"},
  };
}

// Activations converted to a weight's vec_dot type: the largest (inputs of
// width n_embd, q_dim or n_ff, n_ubatch rows), reserved once.
size_t matmul_scratch_reserve(const ModelConfig& c, int64_t ub) {
  size_t mm = 0;
  for (int64_t k : {c.n_embd, c.n_head * c.head_dim, c.n_ff}) {
    for (DType t : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
      mm = std::max(mm, kernels::matmul_scratch_bytes(t, k, ub));
    }
  }
  return mm;
}

}  // namespace

Result<ForwardScratch> ForwardScratch::create(const ModelConfig& c, int64_t n_ubatch,
                                              int64_t n_ctx, int n_threads) {
  ForwardScratch s;
  s.n_ubatch = n_ubatch;
  s.n_ctx = n_ctx;
  s.n_threads = std::max(1, n_threads);
  s.flash_floats = flash_task_floats(c);
  for (const ScratchBuffer& b : scratch_layout(c, n_ubatch, n_ctx, s.n_threads)) {
    EF_TRY(alloc_floats(s.*b.member, b.rows, b.cols, b.what));
  }
  s.matmul_scratch.reserve(matmul_scratch_reserve(c, n_ubatch));
  return s;
}

uint64_t ForwardScratch::planned_bytes(const ModelConfig& c, int64_t n_ubatch, int64_t n_ctx,
                                       int n_threads, uint64_t* matmul_part) {
  uint64_t total = 0;
  for (const ScratchBuffer& b : scratch_layout(c, n_ubatch, n_ctx, std::max(1, n_threads))) {
    total += static_cast<uint64_t>(b.rows) * static_cast<uint64_t>(b.cols) * sizeof(float);
  }
  const size_t mm = matmul_scratch_reserve(c, n_ubatch);
  if (matmul_part != nullptr) *matmul_part = mm;
  return total + mm;
}

uint64_t ForwardScratch::bytes() const {
  return x.size_bytes() + xb.size_bytes() + q.size_bytes() + k.size_bytes() + v.size_bytes() +
         att.size_bytes() + proj.size_bytes() + gate.size_bytes() + up.size_bytes() + rope_cs.size_bytes() +
         att_f32.size_bytes() + att_f16.size_bytes() + flash.size_bytes() + flash_parts.size_bytes() + flash_lse.size_bytes() +
         matmul_scratch.capacity();
}

void llama_forward(const ModelConfig& c, const LlamaWeights& w, KvCache& cache,
                   ForwardScratch& s, ThreadPool& pool, const int32_t* tokens, int64_t n,
                   int64_t n_past, int64_t out_begin, float* logits, KvOffload* offload) {
  const kernels::KernelTable& kt = kernels::active();
  // Element-wise and row ops, vectorised for the table's ISA (kernels/row_ops.h).
  const kernels::RowOps& ro = kernels::row_ops(kt);
  const int64_t n_embd = c.n_embd;
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  const int64_t n_ff = c.n_ff;
  float* x = s.x.as<float>();        // [n][n_embd]
  float* xb = s.xb.as<float>();      // [n][n_embd]
  float* q = s.q.as<float>();        // [n][q_dim]
  float* k = s.k.as<float>();        // [n][kv_dim]
  float* v = s.v.as<float>();        // [n][kv_dim]
  float* att = s.att.as<float>();    // [n][q_dim]
  float* proj = s.proj.as<float>();  // [n][n_embd]
  float* gate = s.gate.as<float>();  // [n][n_ff]
  float* up = s.up.as<float>();      // [n][n_ff]
  float* rope_cs = s.rope_cs.as<float>();  // [n][cs_n]
  const int64_t cs_n = 2 * c.n_rot;
  auto& mm = s.matmul_scratch;

  // x[t] = token_embd[tokens[t]]   (dequantized row: [n_embd]);
  // rope_cs[t] = cos/sin of position n_past + t, shared by every layer.
  const kernels::ToFloatFn embd_to_float = kt.for_type(w.token_embd.type).to_float;
  // Layer 0's attention norm runs here too; every later layer's runs in the
  // pass that ends the layer before (x += ffn output), see below.
  const float* norm0 = c.n_layer > 0 ? w.layers[0].attn_norm.row<const float>(0) : nullptr;
  for_rows(pool, n, [&](int64_t t) {
    embd_to_float(w.token_embd.row<const void>(tokens[t]), x + t * n_embd, n_embd);
    ops::rope_cache(rope_cs + t * cs_n, c.n_rot, n_past + t, c.rope_freq_base);
    if (norm0 != nullptr) ro.rmsnorm(xb + t * n_embd, x + t * n_embd, norm0, n_embd, c.rms_eps);
  });

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LlamaLayer& L = w.layers[static_cast<size_t>(il)];

    // ---- attention block ----
    // xb = rmsnorm(x) * attn_norm                        [n][n_embd]
    // (already computed: with the embedding for layer 0, else at the end of
    // the previous layer)
    // q = xb Wq^T [n][q_dim];  k = xb Wk^T, v = xb Wv^T [n][kv_dim]
    // (xb quantized once for the three: one MatmulInput)
    {
      kernels::MatmulInput in(xb, n, n_embd, mm);
      kernels::matmul(L.attn_q, in, q, q_dim, pool, kt);
      kernels::matmul(L.attn_k, in, k, kv_dim, pool, kt);
      kernels::matmul(L.attn_v, in, v, kv_dim, pool, kt);
    }
    // Per token, in one parallel region: rotate q and k by their absolute
    // positions; Hadamard cache: q, k, v <- H q, H k, H v per head (H
    // orthogonal, so q.k is unchanged and the output is rotated back below);
    // then cache[il][n_past + t] = k[t], v[t]. Tokens write distinct cache
    // rows, except in a ring smaller than the micro-batch (later tokens
    // overwrite earlier ones; offloaded layers keep their resident rows in
    // a ring too): those rows are stored in token order after.
    const bool store_in_parallel = cache.ring(il) == 0;
    for_rows(pool, n, [&](int64_t t) {
      ro.rope_apply(q + t * q_dim, c.n_head, c.head_dim, c.n_rot, rope_cs + t * cs_n);
      ro.rope_apply(k + t * kv_dim, c.n_head_kv, c.head_dim, c.n_rot, rope_cs + t * cs_n);
      if (cache.hadamard()) {
        kernels::hadamard_heads(q + t * q_dim, c.n_head, c.head_dim);
        kernels::hadamard_heads(k + t * kv_dim, c.n_head_kv, c.head_dim);
        kernels::hadamard_heads(v + t * kv_dim, c.n_head_kv, c.head_dim);
      }
      if (store_in_parallel) cache.store(il, n_past + t, k + t * kv_dim, v + t * kv_dim);
    });
    if (!store_in_parallel) {
      for (int64_t t = 0; t < n; ++t) cache.store(il, n_past + t, k + t * kv_dim, v + t * kv_dim);
    }
    // att = softmax(q k^T / sqrt(head_dim)) v per head      [n][q_dim]
    // (offloaded layers: piece by piece from disk + ring)
    if (offload != nullptr && offload->offloaded(il)) {
      attention_offloaded(c, cache, *offload, il, q, att, n, n_past, s, pool, kt);
    } else {
      attention(c, cache, il, q, att, n, n_past, s, pool, kt);
    }
    // Hadamard cache: att = sum_p w_p H v_p = H (sum_p w_p v_p); H H = I.
    if (cache.hadamard()) {
      for_rows(pool, n, [&](int64_t t) {
        kernels::hadamard_heads(att + t * q_dim, c.n_head, c.head_dim);
      });
    }
    // proj = att Wo^T                                        [n][n_embd]
    kernels::matmul(L.attn_output, att, n, proj, n_embd, mm, pool, kt);

    // ---- feed-forward block ----
    // x += proj; xb = rmsnorm(x) * ffn_norm  (one pass per row)  [n][n_embd]
    for_rows(pool, n, [&](int64_t t) {
      ro.add(x + t * n_embd, proj + t * n_embd, n_embd);
      ro.rmsnorm(xb + t * n_embd, x + t * n_embd, L.ffn_norm.row<const float>(0), n_embd,
                 c.rms_eps);
    });
    // gate = xb Wgate^T, up = xb Wup^T                       [n][n_ff]
    {
      kernels::MatmulInput in(xb, n, n_embd, mm);
      kernels::matmul(L.ffn_up, in, up, n_ff, pool, kt);
      kernels::matmul(L.ffn_gate, in, gate, n_ff, pool, kt);
    }
    // gate = silu(gate) * up                                 [n][n_ff]
    for_rows(pool, n, [&](int64_t t) {
      ro.swiglu(gate + t * n_ff, gate + t * n_ff, up + t * n_ff, n_ff);
    });
    // x += gate Wdown^T                                      [n][n_embd]
    kernels::matmul(L.ffn_down, gate, n, proj, n_embd, mm, pool, kt);
    // and, in the same pass per row, the next layer's xb = rmsnorm(x) * attn_norm
    const float* next_norm =
        il + 1 < c.n_layer ? w.layers[static_cast<size_t>(il + 1)].attn_norm.row<const float>(0)
                           : nullptr;
    for_rows(pool, n, [&](int64_t t) {
      ro.add(x + t * n_embd, proj + t * n_embd, n_embd);
      if (next_norm != nullptr) {
        ro.rmsnorm(xb + t * n_embd, x + t * n_embd, next_norm, n_embd, c.rms_eps);
      }
    });
  }

  // ---- output: only the rows whose logits are requested ----
  const int64_t n_out = n - out_begin;
  if (n_out <= 0) return;
  // xb[r] = rmsnorm(x[out_begin + r]) * output_norm         [n_out][n_embd]
  for_rows(pool, n_out, [&](int64_t r) {
    ro.rmsnorm(xb + r * n_embd, x + (out_begin + r) * n_embd, w.output_norm.row<const float>(0),
               n_embd, c.rms_eps);
  });
  // logits = xb Wout^T                                       [n_out][n_vocab]
  kernels::matmul(w.output, xb, n_out, logits, c.n_vocab, mm, pool, kt);
}

}  // namespace ef
