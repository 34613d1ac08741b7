// Session file header: parsing with range checks, and validation against
// the model and the session that loads it (see session_file.h for the
// layout). Every error names the field and its byte offset.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "core/checked.h"
#include "edgeformer/model.h"
#include "runtime/session_reader.h"
#include "runtime/session_state.h"

namespace ef {
namespace {
constexpr int64_t kMaxFileCtx = int64_t{1} << 24;  // Session::create's limit
// KvType codes are the enumerator values; version 1 knew only f32 and f16.
constexpr uint32_t kKvTypeCodes = 5;
constexpr uint32_t kKvTypeCodesV1 = 2;
constexpr uint32_t kKnownFlags = kSessionFlagHadamard | kSessionFlagMla;

std::string flag_names(uint32_t flags) {
  std::string s;
  if (flags & kSessionFlagMla) s += "MLA latent";
  if (flags & kSessionFlagHadamard) s += s.empty() ? "Hadamard" : ", Hadamard";
  return s.empty() ? "plain" : s;
}
}  // namespace

bool SessionSource::read(uint64_t off, void* dst, size_t n) {
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
        const ssize_t r = ::pread(fd_, buf_.data() + got, want - got, static_cast<off_t>(off + got));
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

Status SessionCursor::read(void* dst, size_t n, const std::string& field) {
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

Result<uint64_t> SessionCursor::u64(const std::string& field) {
  uint64_t v = 0;
  EF_TRY(read(&v, 8, field));
  return v;
}

Result<uint32_t> SessionCursor::u32(const std::string& field) {
  uint32_t v = 0;
  EF_TRY(read(&v, 4, field));
  return v;
}

Error SessionCursor::bad(Errc code, std::string what, const std::string& field, uint64_t at,
                         std::string hint) const {
  return make_error(code, std::move(what), session_where(field, at, path), std::move(hint));
}

SessionHeader session_cache_header(const SessionState& s) {
  const KvCache& kv = s.kv();
  SessionHeader h;
  h.type_k = kv.type_k();
  h.type_v = kv.keys_only() ? kv.type_k() : kv.type_v();
  h.flags = (kv.hadamard() ? kSessionFlagHadamard : 0) | (s.mla ? kSessionFlagMla : 0);
  h.k_row_bytes = kv.k_row_bytes();
  h.v_row_bytes = kv.v_row_bytes();
  return h;
}

Result<SessionHeader> read_session_header(SessionCursor& c) {
  SessionHeader h;
  EF_ASSIGN_OR_RETURN(uint32_t magic, c.u32("header.magic"));
  if (magic != kSessionMagic) {
    return c.bad(Errc::format, "not an EdgeFormer session file (bad magic)", "header.magic", 0,
                 "pass a file written by --save-session / Session::save");
  }
  EF_ASSIGN_OR_RETURN(h.version, c.u32("header.version"));
  if (h.version != kSessionVersion && h.version != 1) {
    return c.bad(Errc::unsupported,
                 "session file version " + std::to_string(h.version) +
                     " is not supported (expected 1 or " + std::to_string(kSessionVersion) + ")",
                 "header.version", 4, "save the session again with this build");
  }
  const uint32_t n_codes = h.version == 1 ? kKvTypeCodesV1 : kKvTypeCodes;
  EF_ASSIGN_OR_RETURN(uint32_t type, c.u32("header.kv_type"));
  if (type >= n_codes) {
    return c.bad(Errc::format, "unknown KV cache type code " + std::to_string(type),
                 "header.kv_type", 8);
  }
  h.type_k = h.type_v = static_cast<KvType>(type);
  EF_ASSIGN_OR_RETURN(h.n_layer, c.u32("header.n_layer"));
  EF_ASSIGN_OR_RETURN(h.n_vocab, c.u64("header.n_vocab"));
  EF_ASSIGN_OR_RETURN(h.k_row_bytes, c.u64("header.kv_row_bytes"));
  h.v_row_bytes = h.k_row_bytes;
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
  if (h.version == 1) return h;
  EF_ASSIGN_OR_RETURN(uint32_t type_v, c.u32("header.kv_type_v"));
  if (type_v >= kKvTypeCodes) {
    return c.bad(Errc::format, "unknown KV cache type code " + std::to_string(type_v),
                 "header.kv_type_v", 72);
  }
  h.type_v = static_cast<KvType>(type_v);
  EF_ASSIGN_OR_RETURN(h.flags, c.u32("header.flags"));
  if ((h.flags & ~kKnownFlags) != 0) {
    return c.bad(Errc::format, "unknown flag bits " + std::to_string(h.flags & ~kKnownFlags),
                 "header.flags", 76);
  }
  const bool mla = (h.flags & kSessionFlagMla) != 0;
  if (mla && ((h.flags & kSessionFlagHadamard) != 0 || h.type_v != h.type_k)) {
    return c.bad(Errc::format, "an MLA latent cache has one row type and no Hadamard rotation",
                 "header.flags", 76);
  }
  EF_ASSIGN_OR_RETURN(h.v_row_bytes, c.u64("header.v_row_bytes"));
  if (mla != (h.v_row_bytes == 0)) {
    return c.bad(Errc::format,
                 "V row bytes " + std::to_string(h.v_row_bytes) +
                     (mla ? " for an MLA latent cache (must be 0)" : " (must be > 0)"),
                 "header.v_row_bytes", 80);
  }
  return h;
}

Status check_session_header(SessionCursor& c, const SessionHeader& h, const SessionState& s) {
  const ModelConfig& m = s.model->config();
  const SessionHeader want = session_cache_header(s);
  auto mismatch = [&](const std::string& what, const std::string& field, uint64_t at,
                      uint64_t file_v, uint64_t have) {
    return c.bad(Errc::invalid_argument,
                 "session file was saved for a different model: " + what + " " +
                     std::to_string(file_v) + ", this model has " + std::to_string(have),
                 field, at, "load it with the model that saved it");
  };
  if (h.n_layer != static_cast<uint64_t>(m.n_layer)) {
    return mismatch("n_layer", "header.n_layer", 12, h.n_layer, static_cast<uint64_t>(m.n_layer));
  }
  if (h.n_vocab != static_cast<uint64_t>(m.n_vocab)) {
    return mismatch("n_vocab", "header.n_vocab", 16, h.n_vocab, static_cast<uint64_t>(m.n_vocab));
  }
  if ((h.flags & kSessionFlagMla) != (want.flags & kSessionFlagMla)) {
    return c.bad(Errc::invalid_argument,
                 std::string("session file holds ") +
                     (h.flags & kSessionFlagMla ? "an MLA latent cache" : "a K/V cache") +
                     ", this model uses " + (s.mla ? "an MLA latent cache" : "a K/V cache"),
                 "header.flags", 76, "load it with the model that saved it");
  }
  auto type_hint = [&]() {
    std::string hint = h.type_k == h.type_v
                           ? "use --cache-type " + std::string(kv_type_name(h.type_k))
                           : "use --cache-type-k " + std::string(kv_type_name(h.type_k)) +
                                 " --cache-type-v " + kv_type_name(h.type_v);
    if (h.flags & kSessionFlagHadamard) hint += " --kv-hadamard";
    return hint;
  };
  if (h.type_k != want.type_k) {
    return c.bad(Errc::invalid_argument,
                 "session file holds a " + std::string(kv_type_name(h.type_k)) +
                     (s.mla ? " latent" : " K") + " cache, this session uses " +
                     kv_type_name(want.type_k),
                 "header.kv_type", 8, type_hint());
  }
  if (h.type_v != want.type_v) {
    return c.bad(Errc::invalid_argument,
                 "session file holds a " + std::string(kv_type_name(h.type_v)) +
                     " V cache, this session uses " + kv_type_name(want.type_v),
                 h.version == 1 ? "header.kv_type" : "header.kv_type_v", h.version == 1 ? 8 : 72,
                 type_hint());
  }
  if (h.flags != want.flags) {
    return c.bad(Errc::invalid_argument,
                 "session file holds a " + flag_names(h.flags) + " cache, this session's is " +
                     flag_names(want.flags),
                 "header.flags", 76, type_hint());
  }
  if (h.k_row_bytes != want.k_row_bytes) {
    return mismatch("KV row bytes", "header.kv_row_bytes", 24, h.k_row_bytes, want.k_row_bytes);
  }
  if (h.v_row_bytes != want.v_row_bytes) {
    return mismatch("V row bytes", h.version == 1 ? "header.kv_row_bytes" : "header.v_row_bytes",
                    h.version == 1 ? 24 : 80, h.v_row_bytes, want.v_row_bytes);
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
  // Exact size: header + tokens + logits + per layer (16 + rows * (K + V
  // row)) + checksum. Row sizes equal this session's (checked above), so
  // they are small; n_past <= 2^24.
  std::optional<uint64_t> size =
      h.version == 1 ? kSessionHeaderBytesV1 : kSessionHeaderBytes;
  size = size ? checked_add(*size, h.n_past * 4) : size;
  size = size ? checked_add(*size, h.n_logits * 4) : size;
  for (int64_t il = 0; il < m.n_layer && size; ++il) {
    const uint64_t rows =
        static_cast<uint64_t>(session_live_rows(m, il, static_cast<int64_t>(h.n_past)));
    auto bytes = checked_mul(rows, h.k_row_bytes + h.v_row_bytes);
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

}  // namespace ef
