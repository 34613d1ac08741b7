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
// For q8_0/q4_0 matmuls each rmsnorm writes xb directly as q8_0 rows (the
// bytes the matmul's quantizer would make from the float xb; NormedInput).
// Every matrix product goes through kernels::matmul (threaded over output
// rows); row ops are threaded over tokens; attention over (token, head).
#include "model/llama_forward.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/checked.h"
#include "core/thread_pool.h"
#include "kernels/hadamard.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
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

// xq's bytes per row in floats: n_embd / 32 BlockQ8_0 + as many
// ActBlockInfo, plus 8 bytes so the info part can start 8-byte aligned.
int64_t xq_row_floats(int64_t n_embd) {
  const int64_t nb = n_embd / kQK8_0;
  const int64_t bytes = nb * static_cast<int64_t>(sizeof(BlockQ8_0) + sizeof(kernels::ActBlockInfo));
  return (bytes + 3) / 4 + 2;
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
      {&S::xq, ub, xq_row_floats(c.n_embd), "q8_0 activations"},
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
         xq.size_bytes() + matmul_scratch.capacity();
}

bool norm_quant_fusion_enabled() {
  const char* v = std::getenv("EDGEFORMER_FUSE_NORM");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

namespace {

// Where the normed input of a group of matmuls (q/k/v, gate/up, output)
// goes. Unfused: float rows xb, converted by the MatmulInput. Fused, when
// every matmul of the group takes q8_0 activations: RowOps::rmsnorm_q8_0
// writes the q8_0 rows (and the packed gemms' block info, if one of them
// reads it) into s.xq directly -- the same bytes the conversion of xb would
// give, without writing and re-reading xb. Nothing else reads xb.
class NormedInput {
 public:
  NormedInput(std::initializer_list<const Tensor*> matmuls, bool fusion,
              const kernels::KernelTable& kt, const kernels::RowOps& ro, ForwardScratch& s,
              int64_t n_embd)
      : ro_(ro), xb_(s.xb.as<float>()), n_embd_(n_embd) {
    fused_ = fusion && ro.rmsnorm_q8_0 != nullptr && n_embd % kQK8_0 == 0;
    for (const Tensor* m : matmuls) {
      fused_ = fused_ && kernels::matmul_takes_q8_0(*m, kt);
      info_ = info_ || kernels::matmul_uses_act_info(*m, kt);
    }
    info_ = info_ && fused_;
    const int64_t nb = n_embd / kQK8_0;
    row_bytes_ = static_cast<size_t>(nb) * sizeof(BlockQ8_0);
    xq_ = s.xq.as<uint8_t>();
    const size_t info_at = (static_cast<size_t>(s.n_ubatch) * row_bytes_ + 7) & ~size_t{7};
    info_rows_ = reinterpret_cast<kernels::ActBlockInfo*>(xq_ + info_at);
    nb_ = nb;
  }

  // Row t = rmsnorm(x_row) * weight (x_row: [n_embd]).
  void norm(int64_t t, const float* x_row, const float* weight, float eps) const {
    if (fused_) {
      ro_.rmsnorm_q8_0(xq_ + static_cast<size_t>(t) * row_bytes_,
                       info_ ? info_rows_ + t * nb_ : nullptr, x_row, weight, n_embd_, eps);
    } else {
      ro_.rmsnorm(xb_ + t * n_embd_, x_row, weight, n_embd_, eps);
    }
  }

  // Rows [0, n) as the matmuls' shared input.
  kernels::MatmulInput input(int64_t n, std::vector<uint8_t>& mm) const {
    if (fused_) return kernels::MatmulInput(xq_, info_ ? info_rows_ : nullptr, n, n_embd_, mm);
    return kernels::MatmulInput(xb_, n, n_embd_, mm);
  }

 private:
  const kernels::RowOps& ro_;
  float* xb_;
  uint8_t* xq_ = nullptr;
  kernels::ActBlockInfo* info_rows_ = nullptr;
  int64_t n_embd_, nb_ = 0;
  size_t row_bytes_ = 0;
  bool fused_ = false, info_ = false;
};

}  // namespace

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
  // The normed inputs: attn_norm -> q/k/v, ffn_norm -> gate/up (fused with
  // their quantization where possible, see NormedInput).
  const bool fusion = norm_quant_fusion_enabled();
  auto attn_input = [&](const LlamaLayer& L) {
    return NormedInput({&L.attn_q, &L.attn_k, &L.attn_v}, fusion, kt, ro, s, n_embd);
  };
  auto ffn_input = [&](const LlamaLayer& L) {
    return NormedInput({&L.ffn_up, &L.ffn_gate}, fusion, kt, ro, s, n_embd);
  };
  const float* norm0 = c.n_layer > 0 ? w.layers[0].attn_norm.row<const float>(0) : nullptr;
  if (norm0 != nullptr) {
    const NormedInput in0 = attn_input(w.layers[0]);
    for_rows(pool, n, [&](int64_t t) {
      embd_to_float(w.token_embd.row<const void>(tokens[t]), x + t * n_embd, n_embd);
      ops::rope_cache(rope_cs + t * cs_n, c.n_rot, n_past + t, c.rope_freq_base);
      in0.norm(t, x + t * n_embd, norm0, c.rms_eps);
    });
  } else {
    for_rows(pool, n, [&](int64_t t) {
      embd_to_float(w.token_embd.row<const void>(tokens[t]), x + t * n_embd, n_embd);
      ops::rope_cache(rope_cs + t * cs_n, c.n_rot, n_past + t, c.rope_freq_base);
    });
  }

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LlamaLayer& L = w.layers[static_cast<size_t>(il)];

    // ---- attention block ----
    // xb = rmsnorm(x) * attn_norm                        [n][n_embd]
    // (already computed: with the embedding for layer 0, else at the end of
    // the previous layer)
    // q = xb Wq^T [n][q_dim];  k = xb Wk^T, v = xb Wv^T [n][kv_dim]
    // (xb quantized once for the three: one MatmulInput; q8_0 types: xb
    // was quantized by the norm itself, see NormedInput)
    {
      kernels::MatmulInput in = attn_input(L).input(n, mm);
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
    const NormedInput ffn_in = ffn_input(L);
    for_rows(pool, n, [&](int64_t t) {
      ro.add(x + t * n_embd, proj + t * n_embd, n_embd);
      ffn_in.norm(t, x + t * n_embd, L.ffn_norm.row<const float>(0), c.rms_eps);
    });
    // gate = xb Wgate^T, up = xb Wup^T                       [n][n_ff]
    {
      kernels::MatmulInput in = ffn_in.input(n, mm);
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
    if (il + 1 < c.n_layer) {
      const LlamaLayer& next = w.layers[static_cast<size_t>(il + 1)];
      const float* next_norm = next.attn_norm.row<const float>(0);
      const NormedInput next_in = attn_input(next);
      for_rows(pool, n, [&](int64_t t) {
        ro.add(x + t * n_embd, proj + t * n_embd, n_embd);
        next_in.norm(t, x + t * n_embd, next_norm, c.rms_eps);
      });
    } else {
      for_rows(pool, n, [&](int64_t t) { ro.add(x + t * n_embd, proj + t * n_embd, n_embd); });
    }
  }

  // ---- output: only the rows whose logits are requested ----
  const int64_t n_out = n - out_begin;
  if (n_out <= 0) return;
  // xb[r] = rmsnorm(x[out_begin + r]) * output_norm         [n_out][n_embd]
  const NormedInput out_in({&w.output}, fusion, kt, ro, s, n_embd);
  for_rows(pool, n_out, [&](int64_t r) {
    out_in.norm(r, x + (out_begin + r) * n_embd, w.output_norm.row<const float>(0), c.rms_eps);
  });
  // logits = xb Wout^T                                       [n_out][n_vocab]
  kernels::MatmulInput out = out_in.input(n_out, mm);
  kernels::matmul(w.output, out, logits, c.n_vocab, pool, kt);
}

}  // namespace ef
