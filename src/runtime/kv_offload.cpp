// KV offload to an unlinked temp file (see kv_offload.h).
#include "runtime/kv_offload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/checked.h"
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

Result<std::unique_ptr<KvOffload>> KvOffload::create(const KvCache& cache,
                                                     std::vector<bool> offloaded, int64_t resident,
                                                     const std::string& dir) {
  std::unique_ptr<KvOffload> o(new KvOffload());
  o->n_layer_ = cache.n_layer();
  o->n_ctx_ = cache.n_ctx();
  o->resident_ = resident;
  o->row_bytes_ = cache.row_bytes();
  o->offloaded_ = std::move(offloaded);
  if (cache.v_transposed() || resident <= 0 ||
      static_cast<int64_t>(o->offloaded_.size()) != o->n_layer_) {
    return make_error(Errc::internal, "KV offload needs a flash-layout cache and R > 0",
                      "KvOffload::create");
  }
  auto elems =
      checked_mul(static_cast<uint64_t>(o->n_layer_) * 2, static_cast<uint64_t>(o->n_ctx_));
  auto file_bytes = elems ? checked_mul(*elems, o->row_bytes_) : std::nullopt;
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
  const size_t stage = static_cast<size_t>(o->n_ctx_) * o->row_bytes_;
  EF_ASSIGN_OR_RETURN(o->k_stage_, Buffer::allocate(stage));
  EF_ASSIGN_OR_RETURN(o->v_stage_, Buffer::allocate(stage));
  return o;
}

KvOffload::~KvOffload() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t KvOffload::k_off(int64_t il, int64_t pos) const {
  return (static_cast<uint64_t>(il) * static_cast<uint64_t>(n_ctx_) + static_cast<uint64_t>(pos)) *
         row_bytes_;
}
uint64_t KvOffload::v_off(int64_t il, int64_t pos) const { return k_off(n_layer_ + il, pos); }

Status KvOffload::before_store(const KvCache& cache, int64_t n_past, int64_t n) {
  const int64_t target = std::max(on_disk_, n_past + n - resident_);
  if (target <= on_disk_) return Status::success();
  // Positions [on_disk_, target) are still in the ring (target <= n_past);
  // copy them out contiguously (staging is free between forward passes).
  const int64_t count = target - on_disk_;
  char* kb = k_stage_.as<char>();
  char* vb = v_stage_.as<char>();
  for (int64_t il = 0; il < n_layer_; ++il) {
    if (!offloaded(il)) continue;
    for (int64_t p = on_disk_; p < target; ++p) {
      const size_t at = static_cast<size_t>(p - on_disk_) * row_bytes_;
      cache.get_rows(il, p, kb + at, vb + at);
    }
    const size_t bytes = static_cast<size_t>(count) * row_bytes_;
    if (!pwrite_all(fd_, kb, bytes, k_off(il, on_disk_)) ||
        !pwrite_all(fd_, vb, bytes, v_off(il, on_disk_))) {
      return io_error("write");
    }
  }
  on_disk_ = target;
  return Status::success();
}

void KvOffload::stage(const KvCache& cache, int64_t il, int64_t hi) {
  char* kb = k_stage_.as<char>();
  char* vb = v_stage_.as<char>();
  const int64_t disk = std::min(on_disk_, hi);
  if (disk > 0) {
    const size_t bytes = static_cast<size_t>(disk) * row_bytes_;
    if (!pread_all(fd_, kb, bytes, k_off(il, 0)) || !pread_all(fd_, vb, bytes, v_off(il, 0))) {
      if (error_.ok()) error_ = io_error("read");
      std::memset(kb, 0, bytes);
      std::memset(vb, 0, bytes);
    }
  }
  // Ring part: positions [disk, hi) in runs of contiguous slots.
  for (int64_t p = disk; p < hi;) {
    const int64_t slot = p % resident_;
    const int64_t run = std::min(hi - p, resident_ - slot);
    const size_t at = static_cast<size_t>(p) * row_bytes_;
    const size_t bytes = static_cast<size_t>(run) * row_bytes_;
    std::memcpy(kb + at, cache.k_row(il, p), bytes);
    std::memcpy(vb + at, cache.v_pos(il, p), bytes);
    p += run;
  }
}

Status KvOffload::get_rows(const KvCache& cache, int64_t il, int64_t pos, void* k, void* v) const {
  if (!offloaded(il) || pos >= on_disk_) {
    cache.get_rows(il, pos, k, v);
    return Status::success();
  }
  if (!pread_all(fd_, k, row_bytes_, k_off(il, pos)) ||
      !pread_all(fd_, v, row_bytes_, v_off(il, pos))) {
    return io_error("read");
  }
  return Status::success();
}

Status KvOffload::put_rows(KvCache& cache, int64_t il, int64_t pos, const void* k, const void* v) {
  cache.put_rows(il, pos, k, v);
  if (!offloaded(il)) return Status::success();
  if (!pwrite_all(fd_, k, row_bytes_, k_off(il, pos)) ||
      !pwrite_all(fd_, v, row_bytes_, v_off(il, pos))) {
    return io_error("write");
  }
  return Status::success();
}

}  // namespace ef
