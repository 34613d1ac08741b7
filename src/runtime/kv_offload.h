// KV offload to disk: when the KV cache does not fit the memory budget,
// global-attention layers keep only their newest R positions in memory (a
// KvCache ring of R rows, R >= n_ubatch) and the older rows go to an
// unlinked temporary file (pwrite/pread, so the kernel's page cache, not our
// RSS, holds them).
//
// Per micro-batch (positions [n_past, n_past + n)):
//   before_store: rows the batch's stores will overwrite in the ring
//                 (positions [on_disk, n_past + n - R)) are written out;
//   chunk(il, c0, c1): for attention, layer il's positions [c0, c1) of one
//                 flash piece (c0 a multiple of kFlashKvChunk, c1 - c0 <=
//                 kFlashKvChunk): straight from the ring when all of them
//                 are resident, else gathered into a staging buffer of one
//                 piece (disk part read back, ring part copied). Attention
//                 runs flash over each piece and merges the pieces by their
//                 log-sum-exp in position order, exactly as the resident
//                 flash path does, so logits are bit-identical to an
//                 unbudgeted flash run and staging memory does not grow with
//                 the context.
// Works for any row types (K and V rows of k_row_bytes / v_row_bytes; keys
// only for the MLA latent cache).
// File layout: K of (il, p) at (il * n_ctx + p) * k_row, V of (il, p) at
// n_layer * n_ctx * k_row + (il * n_ctx + p) * v_row.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/error.h"

namespace ef {
class KvCache;

// Rows of positions [c0, c1) of one layer: position p's key row at
// k + (ring > 0 ? p % ring : p) * k_row_bytes (V likewise; v is null for a
// keys-only cache).
struct KvRows {
  const char* k = nullptr;
  const char* v = nullptr;
  int64_t ring = 0;
};

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
  // Bytes of the staging buffers for a cache of these row sizes: one piece.
  static uint64_t staging_bytes_for(int64_t n_ctx, uint64_t k_row, uint64_t v_row);

  // Spills the rows positions [n_past, n_past + n) will evict (n <= R).
  Status before_store(const KvCache& cache, int64_t n_past, int64_t n);
  // Layer il's rows of positions [c0, c1) (one flash piece, see above).
  // An I/O error is kept (error()) and the staged rows zeroed, so the
  // forward pass (which cannot fail) finishes; the session then reports it.
  // The result is valid until the next chunk() call.
  KvRows chunk(const KvCache& cache, int64_t il, int64_t c0, int64_t c1);
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
  int64_t stage_rows_ = 0;  // min(n_ctx, kFlashKvChunk)
  size_t k_row_ = 0, v_row_ = 0;
  std::vector<bool> offloaded_;
  Buffer k_stage_;  // [stage_rows][k_row]
  Buffer v_stage_;  // [stage_rows][v_row] (empty for keys only)
  Status error_;
};

}  // namespace ef
