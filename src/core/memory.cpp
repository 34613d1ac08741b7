#include "core/memory.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace ef {
namespace {
std::atomic<uint64_t> g_current{0};
std::atomic<uint64_t> g_peak{0};
std::atomic<int64_t> g_mapped{0};
constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

MemoryStats memory_stats() {
  return {g_current.load(), g_peak.load(), static_cast<uint64_t>(g_mapped.load())};
}

void memory_track_alloc(uint64_t bytes) {
  uint64_t now = g_current.fetch_add(bytes) + bytes;
  uint64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

void memory_track_free(uint64_t bytes) { g_current.fetch_sub(bytes); }
void memory_track_map(int64_t delta_bytes) { g_mapped.fetch_add(delta_bytes); }
void memory_reset_peak() { g_peak.store(g_current.load()); }

uint64_t process_peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      kb = std::strtoull(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}

Result<Buffer> Buffer::allocate(size_t size_bytes) {
  return allocate_aligned(size_bytes, kAlignment);
}

Result<Buffer> Buffer::allocate_huge_pages(size_t size_bytes) {
  return allocate_aligned(size_bytes, kHugePage);
}

Result<Buffer> Buffer::allocate_aligned(size_t size_bytes, size_t alignment) {
  Buffer b;
  if (size_bytes == 0) return b;
  const size_t rounded = (size_bytes + alignment - 1) / alignment * alignment;
  if (rounded < size_bytes) {
    return make_error(Errc::out_of_memory, "allocation size overflows", std::to_string(size_bytes));
  }
  void* p = std::aligned_alloc(alignment, rounded);
  if (!p) {
    return make_error(Errc::out_of_memory,
                      "cannot allocate " + std::to_string(size_bytes) + " bytes", "",
                      "reduce --ctx or use a smaller model");
  }
  // Before the first touch, so the pages are faulted in as huge pages.
  if (alignment == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);
  std::memset(p, 0, rounded);
  b.data_ = p;
  b.size_ = size_bytes;
  memory_track_alloc(size_bytes);
  return b;
}

Buffer::~Buffer() {
  if (data_) {
    std::free(data_);
    memory_track_free(size_);
  }
}

Buffer::Buffer(Buffer&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    if (data_) {
      std::free(data_);
      memory_track_free(size_);
    }
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

}  // namespace ef
