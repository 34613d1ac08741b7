// Session::save / load / peek: the session file format of session_file.h.
//
// Reading is validated like the GGUF reader: every header field is checked
// against the model and the session before anything is touched, the exact
// file size is derived with checked arithmetic and compared with the real
// one, and only then are rows copied (through a fixed 1 MiB read buffer, so
// no allocation depends on a file value). Errors say which field at which
// byte offset.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/checked.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "runtime/session_file.h"
#include "runtime/session_reader.h"
#include "runtime/session_rows.h"
#include "runtime/session_state.h"

namespace ef {
namespace {

constexpr size_t kIoChunk = SessionSource::kIoChunk;

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Header checked; reads tokens, logits and rows into the (reset) session.
Status read_payload(SessionCursor& c, const SessionHeader& h, SessionState& s) {
  const ModelConfig& m = s.model->config();
  const int64_t n_past = static_cast<int64_t>(h.n_past);
  s.tokens.resize(static_cast<size_t>(n_past));
  for (int64_t i = 0; i < n_past; ++i) {
    const uint64_t at = c.off;
    const std::string field = "tokens[" + std::to_string(i) + "]";
    EF_TRY(c.read(&s.tokens[static_cast<size_t>(i)], 4, field));
    const int32_t id = s.tokens[static_cast<size_t>(i)];
    if (id < 0 || id >= m.n_vocab) {
      return c.bad(
          Errc::format,
          "token id " + std::to_string(id) + " is outside [0, " + std::to_string(m.n_vocab) + ")",
          field, at);
    }
  }
  if (h.n_logits > 0) EF_TRY(c.read(s.logits.data(), h.n_logits * 4, "logits"));
  // Row sizes equal this session's cache (checked): a small, known buffer.
  std::vector<uint8_t> row(static_cast<size_t>(h.k_row_bytes + h.v_row_bytes));
  for (int64_t il = 0; il < m.n_layer; ++il) {
    const std::string layer = "layer[" + std::to_string(il) + "]";
    const int64_t rows = session_live_rows(m, il, n_past);
    const uint64_t at = c.off;
    EF_ASSIGN_OR_RETURN(uint64_t first, c.u64(layer + ".first_pos"));
    if (first != static_cast<uint64_t>(n_past - rows)) {
      return c.bad(Errc::format,
                   "first stored position " + std::to_string(first) + ", expected " +
                       std::to_string(n_past - rows),
                   layer + ".first_pos", at);
    }
    EF_ASSIGN_OR_RETURN(uint64_t count, c.u64(layer + ".n_rows"));
    if (count != static_cast<uint64_t>(rows)) {
      return c.bad(Errc::format,
                   "row count " + std::to_string(count) + ", expected " + std::to_string(rows),
                   layer + ".n_rows", at + 8);
    }
    const std::string rows_field = layer + ".rows";  // sizes were checked: cannot end early
    for (int64_t p = n_past - rows; p < n_past; ++p) {
      EF_TRY(c.read(row.data(), row.size(), rows_field));
      EF_TRY(session_put_rows(s, il, p, row.data(), row.data() + h.k_row_bytes));
    }
  }
  const uint64_t at = c.off;
  const uint64_t digest = c.hash.digest();
  uint64_t stored = 0;
  EF_TRY(c.read(&stored, 8, "checksum"));
  if (stored != digest) {
    return c.bad(Errc::format, "checksum mismatch: the file is corrupt", "checksum", at,
                 "save the session again");
  }
  return Status::success();
}

Result<std::span<const float>> load_from(SessionState& s, SessionSource& src,
                                         const std::string& path) {
  SessionCursor c{src, path, 0, {}};
  // Any failure leaves the session empty: one rule, whatever step failed.
  session_clear(s);
  auto h = read_session_header(c);
  if (!h.ok()) return h.take_error();
  Status st = check_session_header(c, *h, s);
  if (st.ok()) st = read_payload(c, *h, s);
  if (!st.ok()) {
    session_clear(s);
    return st.take_error();
  }
  const SessionHeader& hd = *h;
  s.n_past = static_cast<int64_t>(hd.n_past);
  if (s.offload) {  // every row went to disk too; the ring holds the newest R
    s.offload->set_on_disk(std::max<int64_t>(0, s.n_past - s.offload->resident()));
  }
  if (hd.n_logits == 0) return std::span<const float>();
  s.last_logits_row = 0;
  return std::span<const float>(s.logits.as<float>(), static_cast<size_t>(hd.n_logits));
}

bool write_all(int fd, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Buffered, hashed writes to a file descriptor.
struct Sink {
  int fd;
  Hash64 hash;
  std::vector<uint8_t> buf;
  bool ok = true;
  void put(const void* p, size_t n) {
    hash.update(p, n);
    const auto* b = static_cast<const uint8_t*>(p);
    if (buf.size() + n > kIoChunk && !flush()) return;
    if (n > kIoChunk) {
      ok = write_all(fd, b, n);
      return;
    }
    buf.insert(buf.end(), b, b + n);
  }
  bool flush() {
    ok = ok && write_all(fd, buf.data(), buf.size());
    buf.clear();
    return ok;
  }
};

}  // namespace

Status Session::save(const std::string& path) const {
  const SessionState& s = *state_;
  const ModelConfig& m = s.model->config();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  auto fail = [&](const char* step, int err, int fd) -> Error {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return make_error(Errc::io,
                      std::string("cannot write session file: ") + step + ": " + std::strerror(err),
                      path, "check that the directory exists, is writable and has free space");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("create temporary file", errno, -1);
  Sink out{fd, {}, {}, true};
  out.buf.reserve(kIoChunk);
  const SessionHeader ch = session_cache_header(s);
  const uint64_t n_past = static_cast<uint64_t>(s.n_past);
  const uint64_t n_logits = s.last_logits_row >= 0 ? static_cast<uint64_t>(m.n_vocab) : 0;
  const uint32_t head32[4] = {kSessionMagic, kSessionVersion, static_cast<uint32_t>(ch.type_k),
                              static_cast<uint32_t>(m.n_layer)};
  out.put(head32, sizeof head32);
  const uint64_t head64[7] = {static_cast<uint64_t>(m.n_vocab),
                              ch.k_row_bytes,
                              static_cast<uint64_t>(s.options.n_ctx),
                              n_past,
                              n_logits,
                              session_config_hash(m),
                              session_weights_hash(*s.model)};
  out.put(head64, sizeof head64);
  const uint32_t head_v2[2] = {static_cast<uint32_t>(ch.type_v), ch.flags};
  out.put(head_v2, sizeof head_v2);
  out.put(&ch.v_row_bytes, sizeof ch.v_row_bytes);
  out.put(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
  if (n_logits > 0) {
    out.put(s.logits.as<float>() + s.last_logits_row * m.n_vocab, n_logits * sizeof(float));
  }
  std::vector<uint8_t> row(static_cast<size_t>(ch.k_row_bytes + ch.v_row_bytes));
  for (int64_t il = 0; il < m.n_layer && out.ok; ++il) {
    const int64_t rows = session_live_rows(m, il, s.n_past);
    const uint64_t layer_head[2] = {static_cast<uint64_t>(s.n_past - rows),
                                    static_cast<uint64_t>(rows)};
    out.put(layer_head, sizeof layer_head);
    for (int64_t p = s.n_past - rows; p < s.n_past && out.ok; ++p) {
      Status got = session_get_rows(s, il, p, row.data(), row.data() + ch.k_row_bytes);
      if (!got.ok()) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return got;
      }
      out.put(row.data(), row.size());
    }
  }
  const uint64_t digest = out.hash.digest();
  out.put(&digest, sizeof digest);
  if (!out.flush()) return fail("write", errno, fd);
  if (::fsync(fd) != 0) return fail("fsync", errno, fd);
  if (::close(fd) != 0) return fail("close", errno, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename", errno, -1);
  const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);  // persist the rename; best effort
    ::close(dfd);
  }
  return Status::success();
}

Result<std::span<const float>> Session::load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::io, std::string("cannot open session file: ") + std::strerror(errno),
                      path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::io, "session file is not a regular file", path);
  }
  SessionSource src(fd, static_cast<uint64_t>(st.st_size));
  auto r = load_from(*state_, src, path);
  ::close(fd);
  return r;
}

Result<std::span<const float>> Session::load_from_bytes(std::span<const uint8_t> bytes) {
  SessionSource src(bytes);
  return load_from(*state_, src, "");
}

Result<SessionFileInfo> Session::peek(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::io, std::string("cannot open session file: ") + std::strerror(errno),
                      path);
  }
  struct stat st {};
  const uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  SessionSource src(fd, size);
  SessionCursor c{src, path, 0, {}};
  auto h = read_session_header(c);
  ::close(fd);
  if (!h.ok()) return h.take_error();
  SessionFileInfo info;
  info.kv_type = h->type_k;
  info.type_v = h->type_v;
  info.hadamard = (h->flags & kSessionFlagHadamard) != 0;
  info.mla = (h->flags & kSessionFlagMla) != 0;
  info.n_ctx = static_cast<int64_t>(h->n_ctx);
  info.n_past = static_cast<int64_t>(h->n_past);
  info.has_logits = h->n_logits > 0;
  return info;
}

}  // namespace ef
