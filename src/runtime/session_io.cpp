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
#include "runtime/session_rows.h"
#include "runtime/session_state.h"

namespace ef {
namespace {

constexpr int64_t kMaxFileCtx = int64_t{1} << 24;  // Session::create's limit
constexpr size_t kIoChunk = size_t{1} << 20;

// File codes are KvType's enumerator values (f32 = 0, f16 = 1); new cache
// types append to the enum and raise kKvTypeCodes. Rows are opaque bytes
// (KvCache::row_bytes()), so nothing else depends on the element type.
constexpr uint32_t kKvTypeCodes = 2;
uint32_t kv_type_code(KvType t) { return static_cast<uint32_t>(t); }
// Whether this format can hold the cache's rows: one f16/f32 type for K and
// V, unrotated (quantized, mixed or Hadamard caches are not supported yet).
bool format_holds(const KvCache& cache) {
  return cache.type_k() == cache.type_v() && kv_type_code(cache.type()) < kKvTypeCodes &&
         !cache.hadamard();
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Bytes in: a memory image or a file read sequentially through a buffer.
class Source {
 public:
  explicit Source(std::span<const uint8_t> bytes) : mem_(bytes), size_(bytes.size()) {}
  Source(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const { return size_; }

  // Copies [off, off + n) (caller checked the range); false on a read error.
  bool read(uint64_t off, void* dst, size_t n) {
    if (fd_ < 0) {
      std::memcpy(dst, mem_.data() + off, n);
      return true;
    }
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      if (off < buf_off_ || off >= buf_off_ + buf_len_) {
        if (buf_.empty()) buf_.resize(kIoChunk);
        const size_t want = static_cast<size_t>(std::min<uint64_t>(kIoChunk, size_ - off));
        size_t got = 0;
        while (got < want) {
          const ssize_t r =
              ::pread(fd_, buf_.data() + got, want - got, static_cast<off_t>(off + got));
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) return false;
          got += static_cast<size_t>(r);
        }
        buf_off_ = off;
        buf_len_ = got;
      }
      const size_t at = static_cast<size_t>(off - buf_off_);
      const size_t take = std::min(n, buf_len_ - at);
      std::memcpy(out, buf_.data() + at, take);
      out += take;
      off += take;
      n -= take;
    }
    return true;
  }

 private:
  std::span<const uint8_t> mem_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::vector<uint8_t> buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
};

// Sequential reads that hash what they read and name the field on failure.
struct Cursor {
  Source& src;
  std::string path;
  uint64_t off = 0;
  Hash64 hash;

  Status read(void* dst, size_t n, const std::string& field) {
    auto end = checked_add(off, n);
    if (!end || *end > src.size()) {
      return make_error(Errc::format,
                        "session file ends inside " + field + " (needs " + std::to_string(n) +
                            " bytes, file has " + std::to_string(src.size()) + ")",
                        session_where(field, off, path), "the file is truncated");
    }
    if (!src.read(off, dst, n)) {
      return make_error(Errc::io, std::string("cannot read session file: ") + std::strerror(errno),
                        session_where(field, off, path));
    }
    hash.update(dst, n);
    off += n;
    return Status::success();
  }
  Result<uint64_t> u64(const std::string& field) {
    uint64_t v = 0;
    EF_TRY(read(&v, 8, field));
    return v;
  }
  Result<uint32_t> u32(const std::string& field) {
    uint32_t v = 0;
    EF_TRY(read(&v, 4, field));
    return v;
  }
  Error bad(Errc code, std::string what, const std::string& field, uint64_t at,
            std::string hint = {}) const {
    return make_error(code, std::move(what), session_where(field, at, path), std::move(hint));
  }
};

struct Header {
  KvType kv_type = KvType::f16;
  uint32_t n_layer = 0;
  uint64_t n_vocab = 0, row_bytes = 0, n_ctx = 0, n_past = 0, n_logits = 0;
  uint64_t config_hash = 0, weights_hash = 0;
};

// The model-independent part: magic, version, enum and range checks.
Result<Header> read_header(Cursor& c) {
  Header h;
  EF_ASSIGN_OR_RETURN(uint32_t magic, c.u32("header.magic"));
  if (magic != kSessionMagic) {
    return c.bad(Errc::format, "not an EdgeFormer session file (bad magic)", "header.magic", 0,
                 "pass a file written by --save-session / Session::save");
  }
  EF_ASSIGN_OR_RETURN(uint32_t version, c.u32("header.version"));
  if (version != kSessionVersion) {
    return c.bad(Errc::unsupported,
                 "session file version " + std::to_string(version) +
                     " is not supported (expected " + std::to_string(kSessionVersion) + ")",
                 "header.version", 4, "save the session again with this build");
  }
  EF_ASSIGN_OR_RETURN(uint32_t type, c.u32("header.kv_type"));
  if (type >= kKvTypeCodes) {
    return c.bad(Errc::format, "unknown KV cache type code " + std::to_string(type),
                 "header.kv_type", 8);
  }
  h.kv_type = static_cast<KvType>(type);
  EF_ASSIGN_OR_RETURN(h.n_layer, c.u32("header.n_layer"));
  EF_ASSIGN_OR_RETURN(h.n_vocab, c.u64("header.n_vocab"));
  EF_ASSIGN_OR_RETURN(h.row_bytes, c.u64("header.kv_row_bytes"));
  EF_ASSIGN_OR_RETURN(h.n_ctx, c.u64("header.n_ctx"));
  if (h.n_ctx == 0 || h.n_ctx > static_cast<uint64_t>(kMaxFileCtx)) {
    return c.bad(Errc::format,
                 "context size " + std::to_string(h.n_ctx) + " is outside [1, " +
                     std::to_string(kMaxFileCtx) + "]",
                 "header.n_ctx", 32);
  }
  EF_ASSIGN_OR_RETURN(h.n_past, c.u64("header.n_past"));
  if (h.n_past > h.n_ctx) {
    return c.bad(Errc::format,
                 "n_past " + std::to_string(h.n_past) + " exceeds the file's n_ctx " +
                     std::to_string(h.n_ctx),
                 "header.n_past", 40);
  }
  EF_ASSIGN_OR_RETURN(h.n_logits, c.u64("header.n_logits"));
  if (h.n_logits != 0 && h.n_logits != h.n_vocab) {
    return c.bad(Errc::format,
                 "n_logits " + std::to_string(h.n_logits) + " must be 0 or n_vocab " +
                     std::to_string(h.n_vocab),
                 "header.n_logits", 48);
  }
  if (h.n_logits != 0 && h.n_past == 0) {
    return c.bad(Errc::format, "logits stored for an empty session", "header.n_logits", 48);
  }
  EF_ASSIGN_OR_RETURN(h.config_hash, c.u64("header.config_hash"));
  EF_ASSIGN_OR_RETURN(h.weights_hash, c.u64("header.weights_hash"));
  return h;
}

// Checks the header against the model and the session, then the exact size.
Status check_against(Cursor& c, const Header& h, const SessionState& s) {
  const ModelConfig& m = s.model->config();
  if (!format_holds(s.cache)) {
    return make_error(Errc::unsupported,
                      "session files restore into f16 or f32 KV caches (same type for K and V, "
                      "no Hadamard rotation) so far",
                      "session options", "load with --cache-type f16 or f32");
  }
  auto mismatch = [&](const std::string& what, const std::string& field, uint64_t at,
                      uint64_t file_v, uint64_t want) {
    return c.bad(Errc::invalid_argument,
                 "session file was saved for a different model: " + what + " " +
                     std::to_string(file_v) + ", this model has " + std::to_string(want),
                 field, at, "load it with the model that saved it");
  };
  if (h.n_layer != static_cast<uint64_t>(m.n_layer)) {
    return mismatch("n_layer", "header.n_layer", 12, h.n_layer, static_cast<uint64_t>(m.n_layer));
  }
  if (h.n_vocab != static_cast<uint64_t>(m.n_vocab)) {
    return mismatch("n_vocab", "header.n_vocab", 16, h.n_vocab, static_cast<uint64_t>(m.n_vocab));
  }
  if (h.kv_type != s.cache.type()) {
    return c.bad(Errc::invalid_argument,
                 "session file holds a " + std::string(kv_type_name(h.kv_type)) +
                     " KV cache, this session uses " + std::string(kv_type_name(s.cache.type())),
                 "header.kv_type", 8, "use --cache-type " + std::string(kv_type_name(h.kv_type)));
  }
  if (h.row_bytes != s.cache.row_bytes()) {
    return mismatch("KV row bytes", "header.kv_row_bytes", 24, h.row_bytes, s.cache.row_bytes());
  }
  if (h.config_hash != session_config_hash(m)) {
    return c.bad(Errc::invalid_argument,
                 "session file was saved for a model with other hyper-parameters",
                 "header.config_hash", 56, "load it with the model that saved it");
  }
  if (h.weights_hash != session_weights_hash(*s.model)) {
    return c.bad(Errc::invalid_argument, "session file was saved for a model with other weights",
                 "header.weights_hash", 64, "load it with the model that saved it");
  }
  if (h.n_past > static_cast<uint64_t>(s.options.n_ctx)) {
    return c.bad(Errc::out_of_range,
                 "session file holds " + std::to_string(h.n_past) +
                     " tokens but this session's context is " + std::to_string(s.options.n_ctx),
                 "header.n_past", 40, "raise --ctx to at least " + std::to_string(h.n_past));
  }
  // Exact size: header + tokens + logits + per layer (16 + rows * 2 * row) + checksum.
  std::optional<uint64_t> size = kSessionHeaderBytes;
  size = size ? checked_add(*size, h.n_past * 4) : size;  // n_past <= 2^24
  size = size ? checked_add(*size, h.n_logits * 4) : size;
  for (int64_t il = 0; il < m.n_layer && size; ++il) {
    const uint64_t rows =
        static_cast<uint64_t>(session_live_rows(m, il, static_cast<int64_t>(h.n_past)));
    auto bytes = checked_mul(rows, 2 * h.row_bytes);
    size = bytes ? checked_add(*size, 16 + *bytes) : std::nullopt;
  }
  size = size ? checked_add(*size, 8) : size;
  if (!size) return c.bad(Errc::format, "session size overflows", "header.n_past", 40);
  if (c.src.size() != *size) {
    return c.bad(Errc::format,
                 "session file is " + std::to_string(c.src.size()) + " bytes but its header (" +
                     std::to_string(h.n_past) + " tokens) implies " + std::to_string(*size),
                 "file size", c.src.size(),
                 c.src.size() < *size ? "the file is truncated" : "the file has trailing bytes");
  }
  return Status::success();
}

// Header checked; reads tokens, logits and rows into the (reset) session.
Status read_payload(Cursor& c, const Header& h, SessionState& s) {
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
  std::vector<uint8_t> row(2 * static_cast<size_t>(h.row_bytes));
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
      EF_TRY(session_put_rows(s, il, p, row.data(), row.data() + h.row_bytes));
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

Result<std::span<const float>> load_from(SessionState& s, Source& src, const std::string& path) {
  if (s.mla) {
    return make_error(Errc::unsupported, "session files are not implemented for deepseek2 (MLA)",
                      path);
  }
  Cursor c{src, path, 0, {}};
  // Any failure leaves the session empty: one rule, whatever step failed.
  session_clear(s);
  auto h = read_header(c);
  if (!h.ok()) return h.take_error();
  Status st = check_against(c, *h, s);
  if (st.ok()) st = read_payload(c, *h, s);
  if (!st.ok()) {
    session_clear(s);
    return st.take_error();
  }
  const Header& hd = *h;
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
  if (s.mla) {
    return make_error(Errc::unsupported, "session files are not implemented for deepseek2 (MLA)",
                      path);
  }
  if (!format_holds(s.cache)) {
    return make_error(Errc::unsupported,
                      "session files hold f16 or f32 KV caches (same type for K and V, no "
                      "Hadamard rotation) so far",
                      path, "save from a session with --cache-type f16 or f32");
  }
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
  const uint64_t row_bytes = s.cache.row_bytes();
  const uint64_t n_past = static_cast<uint64_t>(s.n_past);
  const uint64_t n_logits = s.last_logits_row >= 0 ? static_cast<uint64_t>(m.n_vocab) : 0;
  const uint32_t head32[4] = {kSessionMagic, kSessionVersion, kv_type_code(s.cache.type()),
                              static_cast<uint32_t>(m.n_layer)};
  out.put(head32, sizeof head32);
  const uint64_t head64[7] = {static_cast<uint64_t>(m.n_vocab),
                              row_bytes,
                              static_cast<uint64_t>(s.options.n_ctx),
                              n_past,
                              n_logits,
                              session_config_hash(m),
                              session_weights_hash(*s.model)};
  out.put(head64, sizeof head64);
  out.put(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
  if (n_logits > 0) {
    out.put(s.logits.as<float>() + s.last_logits_row * m.n_vocab, n_logits * sizeof(float));
  }
  std::vector<uint8_t> row(2 * row_bytes);
  for (int64_t il = 0; il < m.n_layer && out.ok; ++il) {
    const int64_t rows = session_live_rows(m, il, s.n_past);
    const uint64_t layer_head[2] = {static_cast<uint64_t>(s.n_past - rows),
                                    static_cast<uint64_t>(rows)};
    out.put(layer_head, sizeof layer_head);
    for (int64_t p = s.n_past - rows; p < s.n_past && out.ok; ++p) {
      Status got = session_get_rows(s, il, p, row.data(), row.data() + row_bytes);
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
  Source src(fd, static_cast<uint64_t>(st.st_size));
  auto r = load_from(*state_, src, path);
  ::close(fd);
  return r;
}

Result<std::span<const float>> Session::load_from_bytes(std::span<const uint8_t> bytes) {
  Source src(bytes);
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
  Source src(fd, size);
  Cursor c{src, path, 0, {}};
  auto h = read_header(c);
  ::close(fd);
  if (!h.ok()) return h.take_error();
  SessionFileInfo info;
  info.kv_type = h->kv_type;
  info.n_ctx = static_cast<int64_t>(h->n_ctx);
  info.n_past = static_cast<int64_t>(h->n_past);
  info.has_logits = h->n_logits > 0;
  return info;
}

}  // namespace ef
