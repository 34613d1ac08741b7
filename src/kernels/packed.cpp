// Packing q8_0 / q4_0 rows into the 16-row interleave (see packed.h), and
// the per-block activation sums the packed gemms use.
#include "kernels/packed.h"

#include <cstring>

#include "core/fp16.h"

namespace ef::kernels {

bool packable(DType type) { return type == DType::Q8_0 || type == DType::Q4_0; }

size_t packed_quant_bytes(DType type) { return type == DType::Q8_0 ? 512 : 256; }

size_t packed_group_bytes(DType type, int64_t k) {
  const auto nb = static_cast<size_t>(k / kQK8_0);
  // Scales padded to whole 64-byte lines so every group starts aligned.
  const size_t scale_bytes = (nb * kPackRows * sizeof(uint16_t) + 63) & ~size_t{63};
  return nb * packed_quant_bytes(type) + scale_bytes;
}

size_t packed_bytes(DType type, int64_t n_rows, int64_t k) {
  const auto groups = static_cast<size_t>((n_rows + kPackRows - 1) / kPackRows);
  return groups * packed_group_bytes(type, k);
}

namespace {

// One function for both types: the quants of row n, block b, dword i go to
// vector i, dword n; q8_0 flips the sign bit (x + 128 as uint8). Padded rows
// get zero quants (q8_0: byte 128 = value 0) and scale 0.
template <class Block, int kDwords, uint8_t kFlip>
void repack(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k, void* out) {
  const int64_t nb = k / kQK8_0;
  constexpr size_t kQuantBytes = kDwords * 64;
  const size_t group_bytes =
      packed_group_bytes(kDwords == 8 ? DType::Q8_0 : DType::Q4_0, k);
  const auto* src = static_cast<const uint8_t*>(w);
  auto* dst = static_cast<uint8_t*>(out);
  std::memset(dst, 0, packed_bytes(kDwords == 8 ? DType::Q8_0 : DType::Q4_0, n_rows, k));
  for (int64_t g = 0; g * kPackRows < n_rows; ++g) {
    uint8_t* quants = dst + static_cast<size_t>(g) * group_bytes;
    auto* scales = reinterpret_cast<uint16_t*>(quants + static_cast<size_t>(nb) * kQuantBytes);
    for (int64_t n = 0; n < kPackRows; ++n) {
      const int64_t r = g * kPackRows + n;
      const auto* row = r < n_rows ? reinterpret_cast<const Block*>(src + r * w_row_bytes) : nullptr;
      for (int64_t b = 0; b < nb; ++b) {
        uint8_t* qb = quants + b * kQuantBytes;
        for (int i = 0; i < kDwords; ++i) {
          uint32_t q = 0;
          if (row) std::memcpy(&q, row[b].qs + 4 * i, 4);
          q ^= kFlip * 0x01010101u;
          std::memcpy(qb + 64 * i + 4 * n, &q, 4);
        }
        uint16_t d = 0;
        if (row) std::memcpy(&d, &row[b].d, sizeof d);
        scales[b * kPackRows + n] = d;
      }
    }
  }
}

}  // namespace

void repack_q8_0(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k, void* out) {
  repack<BlockQ8_0, 8, 0x80>(w, w_row_bytes, n_rows, k, out);
}

void repack_q4_0(const void* w, size_t w_row_bytes, int64_t n_rows, int64_t k, void* out) {
  repack<BlockQ4_0, 4, 0x00>(w, w_row_bytes, n_rows, k, out);
}

void act_block_info(const void* xq, int64_t k, ActBlockInfo* info) {
  const auto* blocks = static_cast<const BlockQ8_0*>(xq);
  for (int64_t b = 0; b < k / kQK8_0; ++b) {
    int32_t s = 0;
    for (int j = 0; j < kQK8_0; ++j) s += blocks[b].qs[j];
    info[b].d = fp16_to_fp32(blocks[b].d);
    info[b].sum = s;
  }
}

}  // namespace ef::kernels
