// Load-time repacking (see weight_pack.h).
#include "model/weight_pack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

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
  for (Tensor* t : tensors) {
    const kernels::TypeKernels& tk = table.for_type(t->type);
    if (tk.repack == nullptr || tk.gemm_packed == nullptr || !kernels::packable(t->type) ||
        t->data == nullptr || t->packed != nullptr) {
      continue;
    }
    const int64_t k = t->ne[0];
    const int64_t rows = t->rows();
    const size_t bytes = kernels::packed_bytes(t->type, rows, k);
    // The source pages are read once, in order: ask for them ahead (fewer,
    // larger faults than touching a cold mapping page by page).
    if (release_source) advise(t->data, t->size_bytes(), MADV_WILLNEED);
    EF_ASSIGN_OR_RETURN(Buffer buf, Buffer::allocate(bytes));
    tk.repack(t->data, t->nb[1], rows, k, buf.data());
    t->packed = buf.data();
    storage.push_back(std::move(buf));
    report.tensors += 1;
    report.packed_bytes += bytes;
    if (release_source) report.released_bytes += release_pages(t->data, t->size_bytes());
  }
  report.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ef
