// KV offload to disk: when the KV cache does not fit the memory budget,
// global-attention layers keep only their newest R positions in memory (a
// KvCache ring of R rows, R >= n_ubatch) and the older rows go to an
// unlinked temporary file (pwrite/pread, so the kernel's page cache, not our
// RSS, holds them).
//
// Per micro-batch (positions [n_past, n_past + n)):
//   before_store: rows the batch's stores will overwrite in the ring
//                 (positions [on_disk, n_past + n - R)) are written out;
//   stage(il):    for attention, layer il's positions [0, hi) are gathered
//                 into one linear staging buffer (disk part read back, ring
//                 part copied), and flash attention runs over it exactly as
//                 over a resident cache, so logits are bit-identical to an
//                 unbudgeted flash run.
// File layout: K of (il, p) at (il * n_ctx + p) * row_bytes, V of (il, p)
// at ((n_layer + il) * n_ctx + p) * row_bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"

namespace ef {
class KvCache;

class KvOffload {
 public:
  // `offloaded[il]`: layer il is a ring of `resident` rows whose older rows
  // live on disk. The file is created in `dir` ("" = $TMPDIR or /tmp) and
  // unlinked at once.
  static Result<std::unique_ptr<KvOffload>> create(const KvCache& cache,
                                                   std::vector<bool> offloaded, int64_t resident,
                                                   const std::string& dir);
  ~KvOffload();
  KvOffload(const KvOffload&) = delete;
  KvOffload& operator=(const KvOffload&) = delete;

  bool offloaded(int64_t il) const { return offloaded_[static_cast<size_t>(il)]; }
  int64_t resident() const { return resident_; }
  int64_t on_disk() const { return on_disk_; }  // positions [0, on_disk) are on disk
  uint64_t staging_bytes() const { return k_stage_.size_bytes() + v_stage_.size_bytes(); }

  // Spills the rows positions [n_past, n_past + n) will evict (n <= R).
  Status before_store(const KvCache& cache, int64_t n_past, int64_t n);
  // Gathers layer il's positions [0, hi) into the staging buffers. An I/O
  // error is kept (error()) and the staging zeroed, so the forward pass
  // (which cannot fail) finishes; the session then reports it.
  void stage(const KvCache& cache, int64_t il, int64_t hi);
  const char* staged_k() const { return k_stage_.as<const char>(); }
  const char* staged_v() const { return v_stage_.as<const char>(); }
  const Status& error() const { return error_; }

  // Rows of any position < n_past (save) and writes of restored rows (load:
  // written to disk and ring; then set_on_disk(n_past - R)).
  Status get_rows(const KvCache& cache, int64_t il, int64_t pos, void* k, void* v) const;
  Status put_rows(KvCache& cache, int64_t il, int64_t pos, const void* k, const void* v);
  void set_on_disk(int64_t n) { on_disk_ = n; }
  void reset() {
    on_disk_ = 0;
    error_ = Status::success();
  }

 private:
  KvOffload() = default;
  uint64_t k_off(int64_t il, int64_t pos) const;
  uint64_t v_off(int64_t il, int64_t pos) const;

  int fd_ = -1;
  int64_t n_layer_ = 0, n_ctx_ = 0, resident_ = 0, on_disk_ = 0;
  size_t row_bytes_ = 0;
  std::vector<bool> offloaded_;
  Buffer k_stage_;  // [n_ctx][row_bytes]
  Buffer v_stage_;
  Status error_;
};

}  // namespace ef
