// Load-time repacking (see weight_pack.h).
#include "model/weight_pack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/packed.h"

namespace ef {
namespace {

// madvise on the whole pages inside [p, p + n); bytes advised (0 on error).
uint64_t advise(const void* p, size_t n, int advice) {
  const long page_l = ::sysconf(_SC_PAGESIZE);
  const auto page = static_cast<uintptr_t>(page_l > 0 ? page_l : 4096);
  const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (end <= begin) return 0;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, advice) != 0) return 0;
  return end - begin;
}

// Drops the whole pages inside [p, p + n) from the resident set.
uint64_t release_pages(const void* p, size_t n) { return advise(p, n, MADV_DONTNEED); }

}  // namespace

bool weight_packing_enabled() {
  const char* v = std::getenv("EDGEFORMER_PACK");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

Result<PackReport> pack_matmul_weights(const std::vector<Tensor*>& tensors,
                                       const kernels::KernelTable& table,
                                       std::vector<Buffer>& storage, bool release_source) {
  const auto t0 = std::chrono::steady_clock::now();
  PackReport report;
  // One allocation for all packed copies, on 2 MiB pages (decode streams
  // them every token), each copy at a 64-byte aligned offset.
  std::vector<std::pair<Tensor*, size_t>> todo;  // tensor, offset in the arena
  size_t total = 0;
  for (Tensor* t : tensors) {
    const kernels::TypeKernels& tk = table.for_type(t->type);
    if (tk.repack == nullptr || tk.gemm_packed == nullptr || !kernels::packable(t->type) ||
        t->data == nullptr || t->packed != nullptr) {
      continue;
    }
    todo.emplace_back(t, total);
    total += (kernels::packed_bytes(t->type, t->rows(), t->ne[0]) + 63) & ~size_t{63};
  }
  if (todo.empty()) return report;
  EF_ASSIGN_OR_RETURN(Buffer arena, Buffer::allocate_huge_pages(total));
  auto* base = static_cast<uint8_t*>(arena.data());
  for (const auto& [t, offset] : todo) {
    const int64_t k = t->ne[0];
    const int64_t rows = t->rows();
    // The source pages are read once, in order: ask for them ahead (fewer,
    // larger faults than touching a cold mapping page by page).
    if (release_source) advise(t->data, t->size_bytes(), MADV_WILLNEED);
    table.for_type(t->type).repack(t->data, t->nb[1], rows, k, base + offset);
    t->packed = base + offset;
    report.tensors += 1;
    report.packed_bytes += kernels::packed_bytes(t->type, rows, k);
  }
  // Dropped page-cache pages come back from the file if read again (a tied
  // output's rows are token_embd's, which lookups still read).
  if (release_source) {
    for (const auto& [t, offset] : todo)
      report.released_bytes += release_pages(t->data, t->size_bytes());
  }
  storage.push_back(std::move(arena));
  report.ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ef
