// The deepseek2 forward pass, read top to bottom (after llama.cpp's
// deepseek2 graph and the DeepSeek-V2 paper):
//
//   x = token_embd[tokens]
//   for each layer:
//     xb = rmsnorm(x) * attn_norm
//     q  = xb Wq^T, or (rmsnorm(xb Wq_a^T) * q_a_norm) Wq_b^T     [n][n_head][nope | rope]
//     kv = xb Wkv_a^T                                             [n][r | rope]
//     rope(q_pe), rope(k_pe)    NORM (adjacent pairs), all rope dims, per position
//     c  = rmsnorm(kv[:r]) * kv_a_norm                            latent [n][r]
//     cache[pos] = c, k_pe                                        (nothing else)
//     x += MLA(q, cache) Wo^T
//     xb = rmsnorm(x) * ffn_norm
//     x += (silu(xb Wgate^T) * (xb Wup^T)) Wdown^T                dense FFN
//   logits = (rmsnorm(x) * output_norm) Wout^T
#include "model/deepseek2_forward.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/checked.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "model/deepseek2_cache.h"
#include "model/deepseek2_weights.h"
#include "model/flash_attention.h"

namespace ef {
namespace {

Status alloc_floats(Buffer& b, int64_t rows, int64_t cols, const char* what) {
  auto elems = checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols));
  auto bytes = elems ? checked_mul(*elems, sizeof(float)) : std::nullopt;
  if (!bytes) {
    return make_error(Errc::out_of_range, std::string("scratch size overflows: ") + what,
                      "Deepseek2Scratch", "use a smaller n_ubatch or n_ctx");
  }
  EF_ASSIGN_OR_RETURN(b, Buffer::allocate(static_cast<size_t>(*bytes)));
  return Status::success();
}

template <class Fn>
void for_rows(ThreadPool& pool, int64_t n, Fn&& fn) {
  pool.run(n, [&](int64_t t, int) { fn(t); });
}

}  // namespace

namespace {

// Every float buffer of Deepseek2Scratch as [rows][cols]: the one place
// their sizes are defined, read by create() and by planned_bytes() (the
// memory planner), so the two cannot disagree.
struct ScratchBuffer {
  Buffer Deepseek2Scratch::*member;
  int64_t rows, cols;
  const char* what;
};

// Per thread: flash_attend's scratch for one task (kMlaFlashTokens tokens x
// all heads), then those rows' pieces (latent output | lse).
size_t mla_flash_floats(const ModelConfig& c) {
  const int64_t r = c.kv_lora_rank, rows = c.n_head * kMlaFlashTokens;
  return flash_scratch_floats(r + c.n_rot, r, rows) + static_cast<size_t>(rows * (r + 1));
}

std::vector<ScratchBuffer> scratch_layout(const ModelConfig& c, int64_t ub, int64_t n_ctx,
                                          int64_t threads, bool decompressed) {
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, hv = c.head_dim_v;
  using S = Deepseek2Scratch;
  std::vector<ScratchBuffer> l = {
      {&S::x, ub, c.n_embd, "x"},
      {&S::xb, ub, c.n_embd, "xb"},
      {&S::qa, ub, std::max<int64_t>(c.q_lora_rank, 1), "qa"},
      {&S::q, ub, c.n_head * hk, "q"},
      {&S::kva, ub, r + rope, "kva"},
      {&S::qn, ub, hk - rope, "qn"},
      {&S::q_abs, ub, c.n_head * (r + rope), "q_abs"},
      {&S::lat, ub, c.n_head * r, "lat"},
      {&S::lat_lse, ub, c.n_head, "lat lse"},
      {&S::att, ub, c.n_head * hv, "att"},
      {&S::proj, ub, c.n_embd, "proj"},
      {&S::gate, ub, c.n_ff, "gate"},
      {&S::up, ub, c.n_ff, "up"},
      {&S::att_f32, threads, n_ctx + r, "attention scores"},
      {&S::att_f16, threads, (n_ctx + r + rope + 1) / 2, "attention f16"},
      {&S::flash, threads, static_cast<int64_t>(mla_flash_floats(c)), "flash"},
  };
  if (decompressed) {
    l.push_back({&S::dec_c, n_ctx, r, "decompressed latents"});
    l.push_back({&S::dec_k, n_ctx, c.n_head * hk, "decompressed keys"});
    l.push_back({&S::dec_v, n_ctx, c.n_head * hv, "decompressed values"});
  }
  return l;
}

size_t matmul_scratch_reserve(const ModelConfig& c, int64_t mm_rows) {
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim, hv = c.head_dim_v;
  size_t mm = 0;
  for (int64_t k : {c.n_embd, c.q_lora_rank, hk - rope, r, c.n_head * hv, c.n_ff}) {
    for (DType t : {DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
      mm = std::max(mm, kernels::matmul_scratch_bytes(t, k, mm_rows));
    }
  }
  return mm;
}

}  // namespace

Result<Deepseek2Scratch> Deepseek2Scratch::create(const ModelConfig& c, int64_t n_ubatch,
                                                  int64_t n_ctx, int n_threads,
                                                  bool decompressed) {
  Deepseek2Scratch s;
  s.n_ubatch = n_ubatch;
  s.n_ctx = n_ctx;
  s.n_threads = std::max(1, n_threads);
  s.flash_floats = mla_flash_floats(c);
  for (const ScratchBuffer& b : scratch_layout(c, n_ubatch, n_ctx, s.n_threads, decompressed)) {
    EF_TRY(alloc_floats(s.*b.member, b.rows, b.cols, b.what));
  }
  s.matmul_scratch.reserve(
      matmul_scratch_reserve(c, decompressed ? std::max(n_ubatch, n_ctx) : n_ubatch));
  return s;
}

uint64_t Deepseek2Scratch::planned_bytes(const ModelConfig& c, int64_t n_ubatch, int64_t n_ctx,
                                         int n_threads, uint64_t* matmul_part) {
  uint64_t total = 0;
  for (const ScratchBuffer& b :
       scratch_layout(c, n_ubatch, n_ctx, std::max(1, n_threads), false)) {
    total += static_cast<uint64_t>(b.rows) * static_cast<uint64_t>(b.cols) * sizeof(float);
  }
  const size_t mm = matmul_scratch_reserve(c, n_ubatch);
  if (matmul_part != nullptr) *matmul_part = mm;
  return total + mm;
}

uint64_t Deepseek2Scratch::bytes() const {
  uint64_t total = matmul_scratch.capacity();
  for (const Buffer* b : {&x, &xb, &qa, &q, &kva, &qn, &q_abs, &lat, &lat_lse, &att, &proj, &gate,
                          &up, &att_f32, &att_f16, &flash, &dec_c, &dec_k, &dec_v}) {
    total += b->size_bytes();
  }
  return total;
}

void deepseek2_forward(const ModelConfig& c, const Deepseek2Weights& w, MlaCache& cache,
                       Deepseek2Scratch& s, ThreadPool& pool, const int32_t* tokens, int64_t n,
                       int64_t n_past, int64_t out_begin, float* logits, MlaMode mode,
                       KvOffload* offload) {
  const kernels::KernelTable& kt = kernels::active();
  const int64_t n_embd = c.n_embd, n_ff = c.n_ff;
  const int64_t r = c.kv_lora_rank, rope = c.n_rot, hk = c.head_dim;
  const int64_t nope = hk - rope;
  const int64_t q_dim = c.n_head * hk;
  const int64_t kv_a_dim = r + rope;
  float* x = s.x.as<float>();        // [n][n_embd]
  float* xb = s.xb.as<float>();      // [n][n_embd]
  float* qa = s.qa.as<float>();      // [n][q_lora_rank]
  float* q = s.q.as<float>();        // [n][n_head][nope | rope]
  float* kva = s.kva.as<float>();    // [n][r | rope]
  float* att = s.att.as<float>();    // [n][n_head * hv]
  float* proj = s.proj.as<float>();  // [n][n_embd]
  float* gate = s.gate.as<float>();  // [n][n_ff]
  float* up = s.up.as<float>();      // [n][n_ff]
  auto& mm = s.matmul_scratch;

  const kernels::ToFloatFn embd_to_float = kt.for_type(w.token_embd.type).to_float;
  for (int64_t t = 0; t < n; ++t) {
    embd_to_float(w.token_embd.row<const void>(tokens[t]), x + t * n_embd, n_embd);
  }

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const Deepseek2Layer& L = w.layers[static_cast<size_t>(il)];

    // ---- attention block ----
    for_rows(pool, n, [&](int64_t t) {
      ops::rmsnorm(xb + t * n_embd, x + t * n_embd, L.attn_norm.row<const float>(0), n_embd,
                   c.rms_eps);
    });
    // q [n][n_head * hk]: one projection, or low rank with a norm between.
    if (c.q_lora_rank > 0) {
      const int64_t ql = c.q_lora_rank;
      kernels::matmul(L.attn_q_a, xb, n, qa, ql, mm, pool, kt);
      for_rows(pool, n, [&](int64_t t) {
        ops::rmsnorm(qa + t * ql, qa + t * ql, L.attn_q_a_norm.row<const float>(0), ql,
                     c.rms_eps);
      });
      kernels::matmul(L.attn_q_b, qa, n, q, q_dim, mm, pool, kt);
    } else {
      kernels::matmul(L.attn_q, xb, n, q, q_dim, mm, pool, kt);
    }
    // kva = xb Wkv_a^T   [n][r + rope]: latent (pre-norm) | shared k_pe
    kernels::matmul(L.attn_kv_a_mqa, xb, n, kva, kv_a_dim, mm, pool, kt);
    for_rows(pool, n, [&](int64_t t) {
      // q_pe: the last `rope` dims of every head (head stride hk);
      // k_pe: one shared head after the latent.
      ops::rope(q + t * q_dim + nope, c.n_head, hk, rope, n_past + t, c.rope_freq_base);
      ops::rope(kva + t * kv_a_dim + r, 1, rope, rope, n_past + t, c.rope_freq_base);
      // latent c = rmsnorm(kv[:r]) * kv_a_norm, in place
      ops::rmsnorm(kva + t * kv_a_dim, kva + t * kv_a_dim, L.attn_kv_a_norm.row<const float>(0),
                   r, c.rms_eps);
    });
    // cache[il][n_past + t] = c | k_pe   (the whole per-token state)
    for (int64_t t = 0; t < n; ++t) {
      cache.store(il, n_past + t, kva + t * kv_a_dim, kva + t * kv_a_dim + r);
    }
    // att = MLA(q, cache)   [n][n_head * hv]
    mla_attention(c, w, cache, il, q, att, n, n_past, s, pool, mode, offload);
    // x += att Wo^T
    kernels::matmul(L.attn_output, att, n, proj, n_embd, mm, pool, kt);
    ops::add(x, proj, n * n_embd);

    // ---- dense feed-forward block ----
    for_rows(pool, n, [&](int64_t t) {
      ops::rmsnorm(xb + t * n_embd, x + t * n_embd, L.ffn_norm.row<const float>(0), n_embd,
                   c.rms_eps);
    });
    {
      kernels::MatmulInput in(xb, n, n_embd, mm);  // xb quantized once for both
      kernels::matmul(L.ffn_up, in, up, n_ff, pool, kt);
      kernels::matmul(L.ffn_gate, in, gate, n_ff, pool, kt);
    }
    for_rows(pool, n, [&](int64_t t) {
      ops::swiglu(gate + t * n_ff, gate + t * n_ff, up + t * n_ff, n_ff);
    });
    kernels::matmul(L.ffn_down, gate, n, proj, n_embd, mm, pool, kt);
    ops::add(x, proj, n * n_embd);
  }

  const int64_t n_out = n - out_begin;
  if (n_out <= 0) return;
  for_rows(pool, n_out, [&](int64_t r_) {
    ops::rmsnorm(xb + r_ * n_embd, x + (out_begin + r_) * n_embd,
                 w.output_norm.row<const float>(0), n_embd, c.rms_eps);
  });
  kernels::matmul(w.output, xb, n_out, logits, c.n_vocab, mm, pool, kt);
}

}  // namespace ef
