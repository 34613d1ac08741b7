// Load-time repacking of matmul weights into the kernels' packed layout
// (src/kernels/packed.h), for kernel tables that have a packed gemm.
#pragma once

#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "core/tensor.h"
#include "edgeformer/error.h"
#include "kernels/kernels.h"

namespace ef {

struct PackReport {
  int64_t tensors = 0;          // tensors packed
  uint64_t packed_bytes = 0;    // bytes of the packed copies (Buffers)
  uint64_t released_bytes = 0;  // mapped source bytes dropped from the RSS
  double ms = 0;                // wall time of the repacking
};

// For each tensor whose type has a repack in `table`: allocates its packed
// copy in `storage` and points t->packed at it. When `release_source`, the
// whole pages of the source rows are dropped from this process's resident
// set (madvise MADV_DONTNEED on the read-only private file mapping: clean
// file pages, re-read from the page cache if anything reads them later, e.g.
// row lookups in a tied token_embd or a table without packed kernels).
// Only pass release_source for tensors inside a file mapping.
Result<PackReport> pack_matmul_weights(const std::vector<Tensor*>& tensors,
                                       const kernels::KernelTable& table,
                                       std::vector<Buffer>& storage, bool release_source);

// Whether load-time packing is enabled: on unless EDGEFORMER_PACK=0 (for
// A/B measurements of the packed kernels).
bool weight_packing_enabled();

}  // namespace ef
