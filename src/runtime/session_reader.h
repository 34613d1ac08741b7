// Reading side of session files (session_file.h), shared by session_io.cpp
// (load/peek) and session_header.cpp (header parsing and checks): a byte
// source, a hashing cursor that names fields in its errors, the header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "edgeformer/error.h"
#include "edgeformer/session.h"
#include "runtime/session_file.h"

namespace ef {
struct SessionState;

// Bytes in: a memory image or a file read sequentially through a 1 MiB
// buffer (so no allocation depends on the file).
class SessionSource {
 public:
  static constexpr size_t kIoChunk = size_t{1} << 20;
  explicit SessionSource(std::span<const uint8_t> bytes) : mem_(bytes), size_(bytes.size()) {}
  SessionSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const { return size_; }
  // Copies [off, off + n) (caller checked the range); false on a read error.
  bool read(uint64_t off, void* dst, size_t n);

 private:
  std::span<const uint8_t> mem_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::vector<uint8_t> buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
};

// Sequential reads that hash what they read and name the field on failure.
struct SessionCursor {
  SessionSource& src;
  std::string path;
  uint64_t off = 0;
  Hash64 hash;

  Status read(void* dst, size_t n, const std::string& field);
  Result<uint64_t> u64(const std::string& field);
  Result<uint32_t> u32(const std::string& field);
  Error bad(Errc code, std::string what, const std::string& field, uint64_t at,
            std::string hint = {}) const;
};

struct SessionHeader {
  uint32_t version = kSessionVersion;
  KvType type_k = KvType::f16;
  KvType type_v = KvType::f16;
  uint32_t flags = 0;
  uint32_t n_layer = 0;
  uint64_t n_vocab = 0, k_row_bytes = 0, v_row_bytes = 0, n_ctx = 0, n_past = 0, n_logits = 0;
  uint64_t config_hash = 0, weights_hash = 0;
};

// The model-independent part: magic, version, enum and range checks.
Result<SessionHeader> read_session_header(SessionCursor& c);
// Checks the header against the model and the session (cache types, row
// sizes, flags, hashes, n_past <= n_ctx), then the exact file size.
Status check_session_header(SessionCursor& c, const SessionHeader& h, const SessionState& s);

// Header fields of the cache a session would save (types, flags, row sizes).
SessionHeader session_cache_header(const SessionState& s);

}  // namespace ef
