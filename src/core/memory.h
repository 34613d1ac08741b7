// Every byte the engine allocates for tensors, caches and scratch goes
// through Buffer, so peak memory is a number we know (the CLI reports it).
// Mapped model files are accounted separately (they are page cache, shared).
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgeformer/error.h"

namespace ef {

struct MemoryStats {
  uint64_t current_bytes;  // live Buffer bytes now
  uint64_t peak_bytes;     // high-water mark of current_bytes
  uint64_t mapped_bytes;   // bytes of files currently mmap'd
};

MemoryStats memory_stats();
void memory_track_alloc(uint64_t bytes);
void memory_track_free(uint64_t bytes);
void memory_track_map(int64_t delta_bytes);
void memory_reset_peak();
// Resident set high-water mark of this process (VmHWM), 0 if unknown.
uint64_t process_peak_rss_bytes();

// Owned, 64-byte aligned, zero-initialised memory. Movable, not copyable.
class Buffer {
 public:
  Buffer() = default;
  static Result<Buffer> allocate(size_t size_bytes);
  // The same, 2 MiB aligned and advised for transparent huge pages (weights
  // streamed once per token: one TLB entry per 2 MiB instead of per 4 KiB).
  static Result<Buffer> allocate_huge_pages(size_t size_bytes);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size_bytes() const { return size_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  static Result<Buffer> allocate_aligned(size_t size_bytes, size_t alignment);
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ef
