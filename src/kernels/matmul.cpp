// Y = X * W^T over the thread pool.
//
// Work split: the output (n_tokens x n_rows) is cut into tiles of
// kTokenChunk tokens x row_chunk rows. Both chunk sizes depend only on the
// shape, never on the thread count, and every output element is computed by
// exactly one gemm call, so the result is bit-identical for any number of
// threads. Tiles are numbered token-chunk-major so that consecutive tasks
// reuse the same activation rows (cache) while streaming weight rows.
#include <algorithm>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/ref/ref.h"

namespace ef::kernels {
namespace {

constexpr int64_t kRowGrain = 16;       // rows per chunk are a multiple of this
constexpr int64_t kMaxRowChunks = 256;  // bounds per-task overhead on huge outputs
constexpr int64_t kPrefillRows = 64;    // min rows per task when n_tokens > 1
constexpr int64_t kTokenChunk = 256;    // activation rows kept hot per tile (L2)
// Decode (one token) reads each weight once, so it is a stream: few long
// chunks (each a contiguous, linearly prefetched range of rows) beat many
// short ones that interleave the threads' streams. Still several per thread
// so a descheduled thread's share is picked up by the others.
constexpr int64_t kDecodeTasks = 8;

size_t vec_row_bytes(DType type, int64_t k) {
  const auto bytes = row_size_bytes(type, static_cast<uint64_t>(k));
  return bytes ? static_cast<size_t>(*bytes) : 0;
}

// Scratch: [n_tokens rows of the vec_dot type][ActBlockInfo per (token,
// block) when the type is q8_0 (packed gemms), 8-byte aligned].
size_t info_offset(size_t converted_bytes) { return (converted_bytes + 7) & ~size_t{7}; }

}  // namespace

Status validate_matmul_weight(const Tensor& w) {
  const auto type_id = static_cast<uint32_t>(w.type);
  if (!dtype_traits(type_id)) {
    return make_error(Errc::unsupported, "matmul: unsupported weight type", w.name);
  }
  const DType vt = active().for_type(w.type).vec_dot_type;
  const int64_t k = w.ne[0];
  const auto wb = row_size_bytes(w.type, static_cast<uint64_t>(k));
  if (k <= 0 || !wb || !row_size_bytes(vt, static_cast<uint64_t>(k))) {
    return make_error(Errc::format,
                      "matmul: row length " + std::to_string(k) + " is not a multiple of the " +
                          dtype_name(w.type) + "/" + dtype_name(vt) + " block size",
                      w.name);
  }
  if (w.nb[1] < *wb || w.data == nullptr) {
    return make_error(Errc::internal, "matmul: weight rows are not laid out contiguously", w.name);
  }
  return Status::success();
}

size_t matmul_scratch_bytes(DType weight_type, int64_t k, int64_t n_tokens) {
  const DType vt = active().for_type(weight_type).vec_dot_type;
  if (vt == DType::F32) return 0;
  const auto n = static_cast<size_t>(std::max<int64_t>(0, n_tokens));
  size_t bytes = vec_row_bytes(vt, k) * n;
  if (vt == DType::Q8_0) {
    bytes = info_offset(bytes) + n * static_cast<size_t>(k / kQK8_0) * sizeof(ActBlockInfo);
  }
  return bytes;
}

bool matmul_takes_q8_0(const Tensor& w, const KernelTable& table) {
  return table.for_type(w.type).vec_dot_type == DType::Q8_0;
}

bool matmul_uses_act_info(const Tensor& w, const KernelTable& table) {
  const TypeKernels& tk = table.for_type(w.type);
  return w.packed != nullptr && tk.gemm_packed != nullptr && tk.vec_dot_type == DType::Q8_0;
}

void matmul(const Tensor& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
            std::vector<uint8_t>& scratch, ThreadPool& pool, const KernelTable& table) {
  MatmulInput in(x, n_tokens, w.ne[0], scratch);
  matmul(w, in, y, ldy, pool, table);
}

void matmul(const Tensor& w, MatmulInput& in, float* y, int64_t ldy, ThreadPool& pool,
            const KernelTable& table) {
  const int64_t k = w.ne[0];
  const int64_t n_rows = w.rows();
  const int64_t n_tokens = in.n_tokens_;
  const float* x = in.x_;
  if (n_tokens <= 0 || n_rows <= 0 || k != in.k_) return;

  const TypeKernels& tk = table.for_type(w.type);
  const DType vt = tk.vec_dot_type;
  // Precondition (validate_matmul_weight): rows are whole blocks. Never
  // write out of bounds if a caller skipped the check.
  if (!row_size_bytes(w.type, static_cast<uint64_t>(k)) ||
      !row_size_bytes(vt, static_cast<uint64_t>(k))) {
    return;
  }
  const bool packed = matmul_uses_act_info(w, table);
  const int64_t nb = k / kQK8_0;
  const size_t q8_row_bytes = static_cast<size_t>(nb) * sizeof(BlockQ8_0);

  // 1. Activations -> vec_dot_type, once per token (not once per row), and
  //    once per MatmulInput for all weights of the same vec_dot type.
  const void* xq = x;
  size_t x_row_bytes = static_cast<size_t>(k) * sizeof(float);
  const ActBlockInfo* x_info = nullptr;
  if (in.xq_ != nullptr) {
    // Pre-quantized q8_0 rows: nothing to convert, the info made on demand.
    if (vt != DType::Q8_0) return;
    xq = in.xq_;
    x_row_bytes = q8_row_bytes;
    if (packed && in.xq_info_ == nullptr) {
      std::vector<uint8_t>& scratch = *in.scratch_;
      const size_t need = static_cast<size_t>(n_tokens * nb) * sizeof(ActBlockInfo);
      if (scratch.size() < need) scratch.resize(need);
      auto* info = reinterpret_cast<ActBlockInfo*>(scratch.data());
      const auto* rows = static_cast<const uint8_t*>(in.xq_);
      auto fill = [&](int64_t t) {
        act_block_info(rows + static_cast<size_t>(t) * q8_row_bytes, k, info + t * nb);
      };
      if (n_tokens == 1) {
        fill(0);
      } else {
        pool.run(n_tokens, [&](int64_t t, int) { fill(t); });
      }
      in.xq_info_ = info;
    }
    x_info = in.xq_info_;
  } else if (vt != DType::F32) {
    x_row_bytes = vec_row_bytes(vt, k);
    const size_t conv_bytes = x_row_bytes * static_cast<size_t>(n_tokens);
    const size_t info_at = info_offset(conv_bytes);
    std::vector<uint8_t>& scratch = *in.scratch_;
    const bool have = in.table_ == &table && in.type_ == vt;
    const bool want_info = packed && !(have && in.has_info_);
    const size_t need = want_info || (have && in.has_info_)
                            ? info_at + static_cast<size_t>(n_tokens * nb) * sizeof(ActBlockInfo)
                            : conv_bytes;
    if (scratch.size() < need) scratch.resize(need);
    uint8_t* dst = scratch.data();
    auto* info = reinterpret_cast<ActBlockInfo*>(dst + info_at);
    const FromFloatFn convert = table.for_type(vt).from_float_act;
    // Quants and info in one pass when both are wanted (same bytes as the
    // two passes below, see FromFloatActInfoFn).
    const FromFloatActInfoFn convert_info = table.for_type(vt).from_float_act_info;
    auto prepare = [&](int64_t t) {
      uint8_t* row = dst + static_cast<size_t>(t) * x_row_bytes;
      if (!have && want_info && convert_info != nullptr) {
        convert_info(x + t * k, row, info + t * nb, k);
        return;
      }
      if (!have) convert(x + t * k, row, k);
      if (want_info) act_block_info(row, k, info + t * nb);
    };
    if (!have || want_info) {
      if (n_tokens == 1) {
        prepare(0);
      } else {
        pool.run(n_tokens, [&](int64_t t, int) { prepare(t); });
      }
      in.table_ = &table;
      in.type_ = vt;
      in.has_info_ = (have && in.has_info_) || want_info;
    }
    xq = dst;
    if (packed) x_info = info;
  }

  // 2. Tiles of the output.
  // Prefill tasks get at least kPrefillRows rows so per-call set-up in the
  // kernels (activation scales, tile configuration) is amortized.
  const int64_t min_grains = n_tokens > 1 ? kPrefillRows / kRowGrain : 1;
  const int64_t max_chunks = n_tokens > 1 ? kMaxRowChunks : kDecodeTasks;
  const int64_t row_chunk =
      kRowGrain * std::max<int64_t>(min_grains, (n_rows + kRowGrain * max_chunks - 1) /
                                                    (kRowGrain * max_chunks));
  const int64_t n_row_chunks = (n_rows + row_chunk - 1) / row_chunk;
  const int64_t n_tok_chunks = (n_tokens + kTokenChunk - 1) / kTokenChunk;
  const size_t w_row_bytes = w.nb[1];
  const auto* xbytes = static_cast<const uint8_t*>(xq);

  auto run_tile = [&](int64_t task, int) {
    const int64_t tc = task / n_row_chunks;
    const int64_t rc = task % n_row_chunks;
    const int64_t r0 = rc * row_chunk;
    const int64_t r1 = std::min(n_rows, r0 + row_chunk);
    const int64_t t0 = tc * kTokenChunk;
    const int64_t nt = std::min(n_tokens, t0 + kTokenChunk) - t0;
    const void* xt = xbytes + static_cast<size_t>(t0) * x_row_bytes;
    float* yt = y + t0 * ldy;
    if (packed) {
      tk.gemm_packed(k, w.packed, r0, r1, xt, x_row_bytes, x_info + t0 * nb, nt, yt, ldy);
    } else if (tk.gemm != nullptr) {
      tk.gemm(k, w.data, w_row_bytes, r0, r1, xt, x_row_bytes, nt, yt, ldy);
    } else {
      ref::gemm_via_vec_dot(tk.vec_dot, k, w.data, w_row_bytes, r0, r1, xt, x_row_bytes, nt, yt,
                            ldy);
    }
  };
  pool.run(n_row_chunks * n_tok_chunks, run_tile);
}

}  // namespace ef::kernels
