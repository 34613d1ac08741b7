// KV offload to an unlinked temp file (see kv_offload.h).
#include "runtime/kv_offload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/checked.h"
#include "model/flash_attention.h"
#include "runtime/kv_cache.h"

namespace ef {
namespace {

bool pwrite_all(int fd, const void* p, size_t n, uint64_t off) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, b, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    off += static_cast<uint64_t>(w);
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool pread_all(int fd, void* p, size_t n, uint64_t off) {
  auto* b = static_cast<uint8_t*>(p);
  while (n > 0) {
    const ssize_t r = ::pread(fd, b, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    off += static_cast<uint64_t>(r);
    n -= static_cast<size_t>(r);
  }
  return true;
}

Error io_error(const char* what) {
  return make_error(Errc::io, std::string("KV offload file: ") + what + ": " + std::strerror(errno),
                    "KvOffload", "check free space in the offload directory ($TMPDIR)");
}

}  // namespace

uint64_t KvOffload::staging_bytes_for(int64_t n_ctx, uint64_t k_row, uint64_t v_row) {
  return static_cast<uint64_t>(std::min(n_ctx, kFlashKvChunk)) * (k_row + v_row);
}

Result<std::unique_ptr<KvOffload>> KvOffload::create(const KvCache& cache,
                                                     std::vector<bool> offloaded, int64_t resident,
                                                     const std::string& dir) {
  std::unique_ptr<KvOffload> o(new KvOffload());
  o->n_layer_ = cache.n_layer();
  o->n_ctx_ = cache.n_ctx();
  o->resident_ = resident;
  o->k_row_ = cache.k_row_bytes();
  o->v_row_ = cache.v_row_bytes();
  o->stage_rows_ = std::min(o->n_ctx_, kFlashKvChunk);
  o->offloaded_ = std::move(offloaded);
  if (cache.v_transposed() || resident <= 0 ||
      static_cast<int64_t>(o->offloaded_.size()) != o->n_layer_) {
    return make_error(Errc::internal, "KV offload needs a flash-layout cache and R > 0",
                      "KvOffload::create");
  }
  auto rows = checked_mul(static_cast<uint64_t>(o->n_layer_), static_cast<uint64_t>(o->n_ctx_));
  auto file_bytes = rows ? checked_mul(*rows, o->k_row_ + o->v_row_) : std::nullopt;
  if (!file_bytes || *file_bytes > (uint64_t{1} << 46)) {
    return make_error(Errc::out_of_range, "KV offload file size overflows", "n_ctx");
  }
  std::string d = dir;
  if (d.empty()) {
    const char* t = std::getenv("TMPDIR");
    d = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  std::string tmpl = d + "/edgeformer-kv-XXXXXX";
  o->fd_ = ::mkstemp(tmpl.data());
  if (o->fd_ < 0) {
    return make_error(Errc::io,
                      std::string("cannot create the KV offload file: ") + std::strerror(errno), d,
                      "pass a writable directory (SessionOptions::offload_dir / $TMPDIR)");
  }
  ::unlink(tmpl.c_str());  // gone when the fd closes, even after a crash
  const size_t n = static_cast<size_t>(o->stage_rows_);
  EF_ASSIGN_OR_RETURN(o->k_stage_, Buffer::allocate(n * o->k_row_));
  EF_ASSIGN_OR_RETURN(o->v_stage_, Buffer::allocate(n * o->v_row_));
  return o;
}

KvOffload::~KvOffload() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t KvOffload::k_off(int64_t il, int64_t pos) const {
  return (static_cast<uint64_t>(il) * static_cast<uint64_t>(n_ctx_) + static_cast<uint64_t>(pos)) *
         k_row_;
}
uint64_t KvOffload::v_off(int64_t il, int64_t pos) const {
  const uint64_t k_total = static_cast<uint64_t>(n_layer_) * static_cast<uint64_t>(n_ctx_) * k_row_;
  return k_total +
         (static_cast<uint64_t>(il) * static_cast<uint64_t>(n_ctx_) + static_cast<uint64_t>(pos)) *
             v_row_;
}

Status KvOffload::before_store(const KvCache& cache, int64_t n_past, int64_t n) {
  const int64_t target = std::max(on_disk_, n_past + n - resident_);
  if (target <= on_disk_) return Status::success();
  // Positions [on_disk_, target) are still in the ring (target <= n_past);
  // copy them out contiguously through the staging buffers (free between
  // forward passes), at most stage_rows_ positions per write.
  char* kb = k_stage_.as<char>();
  char* vb = v_stage_.as<char>();
  for (int64_t il = 0; il < n_layer_; ++il) {
    if (!offloaded(il)) continue;
    for (int64_t p0 = on_disk_; p0 < target; p0 += stage_rows_) {
      const int64_t p1 = std::min(target, p0 + stage_rows_);
      for (int64_t p = p0; p < p1; ++p) {
        const size_t i = static_cast<size_t>(p - p0);
        cache.get_rows(il, p, kb + i * k_row_, vb == nullptr ? nullptr : vb + i * v_row_);
      }
      const size_t count = static_cast<size_t>(p1 - p0);
      if (!pwrite_all(fd_, kb, count * k_row_, k_off(il, p0)) ||
          !pwrite_all(fd_, vb, count * v_row_, v_off(il, p0))) {
        return io_error("write");
      }
    }
  }
  on_disk_ = target;
  return Status::success();
}

KvRows KvOffload::chunk(const KvCache& cache, int64_t il, int64_t c0, int64_t c1) {
  const char* ring_v = v_row_ > 0 ? static_cast<const char*>(cache.v_pos(il, 0)) : nullptr;
  if (c0 >= on_disk_) {  // all resident: read the ring in place
    return KvRows{static_cast<const char*>(cache.k_row(il, 0)), ring_v, resident_};
  }
  // Staged row of position p: p - c0 = p % stage_rows_ (c0 is a multiple of
  // the piece size, and the pieces never exceed stage_rows_ rows).
  char* kb = k_stage_.as<char>();
  char* vb = v_stage_.as<char>();
  const int64_t disk = std::min(on_disk_, c1);
  const size_t dk = static_cast<size_t>(disk - c0) * k_row_;
  const size_t dv = static_cast<size_t>(disk - c0) * v_row_;
  if (!pread_all(fd_, kb, dk, k_off(il, c0)) || !pread_all(fd_, vb, dv, v_off(il, c0))) {
    if (error_.ok()) error_ = io_error("read");
    std::memset(kb, 0, dk);
    if (dv > 0) std::memset(vb, 0, dv);
  }
  // Ring part: positions [disk, c1) in runs of contiguous slots.
  for (int64_t p = disk; p < c1;) {
    const int64_t slot = p % resident_;
    const int64_t run = std::min(c1 - p, resident_ - slot);
    const size_t at = static_cast<size_t>(p - c0);
    std::memcpy(kb + at * k_row_, cache.k_row(il, p), static_cast<size_t>(run) * k_row_);
    if (v_row_ > 0) {
      std::memcpy(vb + at * v_row_, cache.v_pos(il, p), static_cast<size_t>(run) * v_row_);
    }
    p += run;
  }
  return KvRows{kb, vb, stage_rows_};
}

Status KvOffload::get_rows(const KvCache& cache, int64_t il, int64_t pos, void* k, void* v) const {
  if (!offloaded(il) || pos >= on_disk_) {
    cache.get_rows(il, pos, k, v);
    return Status::success();
  }
  if (!pread_all(fd_, k, k_row_, k_off(il, pos)) || !pread_all(fd_, v, v_row_, v_off(il, pos))) {
    return io_error("read");
  }
  return Status::success();
}

Status KvOffload::put_rows(KvCache& cache, int64_t il, int64_t pos, const void* k, const void* v) {
  cache.put_rows(il, pos, k, v);
  if (!offloaded(il)) return Status::success();
  if (!pwrite_all(fd_, k, k_row_, k_off(il, pos)) || !pwrite_all(fd_, v, v_row_, v_off(il, pos))) {
    return io_error("write");
  }
  return Status::success();
}

}  // namespace ef
