// Kernel dispatch. No model knowledge here: only dtypes, rows and vectors.
//
// For each weight dtype the table holds the functions of the matrix product
//   Y[t][r] = dot(W[r], X[t])   (W: n_rows x k in `type`, X: n_tokens x k)
// in ggml's style: activations are first converted to the weight type's
// `vec_dot_type` (F32->F32, F16->F16, BF16->BF16, Q8_0->Q8_0, Q4_0->Q8_0),
// exactly as ggml does, so results match llama.cpp's.
//
// ref/ holds the scalar oracles; x86/ and arm/ hold per-ISA versions. The
// table is filled once at start-up from the best ISA the CPU supports (or
// EDGEFORMER_ISA=scalar|avx2|avx512|amx|neon|neon_dotprod); a faster kernel is added by adding
// a file and one line in dispatch.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "edgeformer/error.h"

namespace ef {
class ThreadPool;
}

namespace ef::kernels {

// Converts n floats (n multiple of the block size) into `type`'s layout.
using FromFloatFn = void (*)(const float* x, void* y, int64_t n);
// Converts n elements of `type` back to float.
using ToFloatFn = void (*)(const void* x, float* y, int64_t n);
// Dot product of one weight row (type) with one activation row (vec_dot_type).
using VecDotFn = float (*)(int64_t k, const void* w_row, const void* x_row);
// Block of the product: for r in [row_begin,row_end), t in [0,n_tokens):
//   y[t*ldy + r] = dot(w + r*w_row_bytes, x + t*x_row_bytes)
using GemmFn = void (*)(int64_t k, const void* w, size_t w_row_bytes, int64_t row_begin,
                        int64_t row_end, const void* x, size_t x_row_bytes, int64_t n_tokens,
                        float* y, int64_t ldy);

// Packs n_rows rows of `type` (stride w_row_bytes) into the layout of
// kernels/packed.h (packed_bytes(type, n_rows, k) bytes at `out`).
using RepackFn = void (*)(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k,
                          void* out);
// gemm on packed weights: rows [row_begin, row_end) of the packed matrix
// (row_begin a multiple of 16), tokens [0, n_tokens) of the q8_0 activation
// rows x (stride x_row_bytes) with their per-block info
// (x_info[t * (k / 32) + b], kernels/packed.h):
//   y[t*ldy + r] = ref::vec_dot_*_blockfma(w row r, x row t)   bit for bit.
struct ActBlockInfo;
// from_float_act and act_block_info (kernels/packed.h) in one pass over a q8_0
// activation row: y = from_float_act(x), info[b] = {fp16->fp32 of y[b].d,
// sum of y[b].qs}, bit for bit (n a multiple of 32).
using FromFloatActInfoFn = void (*)(const float* x, void* y, ActBlockInfo* info, int64_t n);
using PackedGemmFn = void (*)(int64_t k, const void* packed, int64_t row_begin, int64_t row_end,
                              const void* x, size_t x_row_bytes, const ActBlockInfo* x_info,
                              int64_t n_tokens, float* y, int64_t ldy);

struct TypeKernels {
  DType vec_dot_type = DType::F32;
  FromFloatFn from_float = nullptr;  // float -> this type (weights: quantize command, factories)
  ToFloatFn to_float = nullptr;      // this type -> float (dequantize)
  VecDotFn vec_dot = nullptr;        // this type . vec_dot_type
  GemmFn gemm = nullptr;             // may be null: generic loop over vec_dot
  // float -> this type for *activations* (what matmul feeds vec_dot when this
  // is a vec_dot_type). Equal to from_float except for Q8_0, where ggml-cpu's
  // x86 quantizer differs from the reference one: id = 127/amax and round
  // half to even (quantize_row_q8_0 in ggml-cpu/arch/x86/quants.c), while
  // llama-quantize uses id = 1/(amax/127) and roundf. Every ISA's version is
  // bit-identical to ref::quantize_row_q8_0_act for finite inputs.
  FromFloatFn from_float_act = nullptr;
  // from_float_act + the per-block info of the packed gemms, in one pass
  // (q8_0 only, every ISA; null for the other types).
  FromFloatActInfoFn from_float_act_info = nullptr;
  // Packed weights (kernels/packed.h), both null where an ISA has none:
  // weights are repacked at model load only when the active table has them.
  RepackFn repack = nullptr;
  PackedGemmFn gemm_packed = nullptr;
};

// neon: AArch64 Advanced SIMD; neon_dotprod: + SDOT (ARMv8.2-A dotprod).
enum class Isa { scalar, avx2, avx512, avx512_vnni, amx, neon, neon_dotprod };
const char* isa_name(Isa isa);

struct KernelTable {
  Isa isa = Isa::scalar;
  TypeKernels f32, f16, bf16, q8_0, q4_0;
  const TypeKernels& for_type(DType type) const;
};

// The active table (chosen on first use; thread-safe). On first use it reads
// EDGEFORMER_ISA; a bad or unsupported value falls back to the best ISA and
// leaves a message in active_isa_warning() (library code never prints; the CLI
// shows it).
const KernelTable& active();
// Empty unless EDGEFORMER_ISA was set to something unusable.
std::string active_isa_warning();
// What active() does with an EDGEFORMER_ISA value (nullptr/empty = unset):
// the requested ISA if usable, else best_isa() with *warning set.
Isa resolve_isa_request(const char* value, std::string* warning);
// Best ISA this build + CPU supports (what active() picks without the env var).
Isa best_isa();
// Whether this build has kernels for `isa` and this CPU can run them.
bool isa_supported(Isa isa);
// The table for a given ISA, or an error if this CPU/build lacks it.
Result<const KernelTable*> table_for(Isa isa);
// ISAs this build has and this CPU supports, best last. scalar is always there.
std::vector<Isa> available_isas();
// Forces the active table (tests, --isa, EDGEFORMER_ISA).
Status select_isa(Isa isa);
Result<Isa> parse_isa(const std::string& name);

// Y (n_tokens x n_rows, row stride ldy floats) = X (n_tokens x k floats) * W^T.
// W is a 2-D tensor, ne = {k, n_rows}. `scratch` receives X converted to the
// vec_dot type (resized as needed). Rows are split across the pool's threads;
// each output element is computed by one thread in a fixed order, so results
// do not depend on the thread count.
// Checks that matmul can take `w` as its weight: a 2-D (or flattened) tensor
// of a supported type whose ne[0] is a multiple of the block size of both
// its type and its vec_dot_type, with rows of at least that many bytes.
// matmul itself assumes this (it returns without writing y otherwise):
// validate once at model load, not per call.
Status validate_matmul_weight(const Tensor& w);
// Bytes of the scratch matmul needs for n_tokens rows of k (0 for F32 weights).
size_t matmul_scratch_bytes(DType weight_type, int64_t k, int64_t n_tokens);
//
// If w.packed is set (kernels/packed.h) and the table has a packed gemm for
// w.type, that gemm reads w.packed; otherwise the gemm reads w.data.
void matmul(const Tensor& w, const float* x, int64_t n_tokens, float* y, int64_t ldy,
            std::vector<uint8_t>& scratch, ThreadPool& pool,
            const KernelTable& table = active());

// One input X (n_tokens x k floats) shared by several matmuls (q/k/v,
// gate/up): converted to a vec_dot type once, on first use, and reused by
// the next matmul of the same vec_dot type (a different type converts
// again). The conversion lives in `scratch`; X must not change while the
// MatmulInput is in use. Results are the same as matmul(w, x, ...).
class MatmulInput {
 public:
  MatmulInput(const float* x, int64_t n_tokens, int64_t k, std::vector<uint8_t>& scratch)
      : x_(x), n_tokens_(n_tokens), k_(k), scratch_(&scratch) {}
  // An input already in q8_0, as from_float_act makes it (or a fused
  // producer such as RowOps::rmsnorm_q8_0): n_tokens rows of k / 32 BlockQ8_0
  // back to back at xq, and their per-block info (x_info[t * (k / 32) + b],
  // or nullptr: then computed into `scratch` the first time a packed gemm
  // needs it). Only for weights with matmul_takes_q8_0(w, table): there are
  // no floats to convert for another vec_dot type (matmul writes nothing
  // then). The q8_0 bytes of every ISA's from_float_act are the same, so the
  // input serves any table.
  MatmulInput(const void* xq, const ActBlockInfo* x_info, int64_t n_tokens, int64_t k,
              std::vector<uint8_t>& scratch)
      : x_(nullptr), n_tokens_(n_tokens), k_(k), scratch_(&scratch), xq_(xq), xq_info_(x_info) {}

 private:
  friend void matmul(const Tensor& w, MatmulInput& in, float* y, int64_t ldy, ThreadPool& pool,
                     const KernelTable& table);
  const float* x_;
  int64_t n_tokens_, k_;
  std::vector<uint8_t>* scratch_;
  const KernelTable* table_ = nullptr;  // table of the conversion held (null: none)
  DType type_ = DType::F32;             // its vec_dot type
  bool has_info_ = false;               // ActBlockInfo computed (q8_0, packed gemms)
  const void* xq_ = nullptr;            // pre-quantized q8_0 rows (x_ is null then)
  const ActBlockInfo* xq_info_ = nullptr;  // their info (given, or computed into scratch)
};
// Whether matmul feeds `w` q8_0 activations under `table` (q8_0 and q4_0
// weights), i.e. whether it can take a pre-quantized MatmulInput.
bool matmul_takes_q8_0(const Tensor& w, const KernelTable& table = active());
// Whether matmul on `w` uses a packed gemm under `table`, i.e. reads the
// activations' ActBlockInfo.
bool matmul_uses_act_info(const Tensor& w, const KernelTable& table = active());
void matmul(const Tensor& w, MatmulInput& in, float* y, int64_t ldy, ThreadPool& pool,
            const KernelTable& table = active());

}  // namespace ef::kernels
