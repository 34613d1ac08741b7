// Internal to src/io: a bounds-checked little-endian reader over an untrusted
// GGUF image. Every read checks the remaining byte count first and, on
// failure, produces an Error whose `where` names the field being read and its
// byte offset ("header.tensor_count, offset 8"), so messages point straight at
// the bad bytes.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "edgeformer/error.h"

namespace ef::gguf::detail {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; big-endian hosts need byte swapping");

// Longest key or tensor name we accept. The spec caps keys at 65535 bytes;
// anything longer is corruption, and rejecting it early bounds allocations.
constexpr uint64_t kMaxNameBytes = 65535;

// "field, offset N[ in path]".
inline std::string where_at(std::string_view field, uint64_t offset, std::string_view path) {
  std::string w(field);
  w += ", offset " + std::to_string(offset);
  if (!path.empty()) {
    w += " in ";
    w += path;
  }
  return w;
}

inline Error format_error(std::string what, std::string_view field, uint64_t offset,
                          std::string_view path, std::string hint = {}) {
  return make_error(Errc::format, std::move(what), where_at(field, offset, path), std::move(hint));
}

class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, std::string_view path)
      : base_(base), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const uint8_t* base() const { return base_; }
  std::string_view path() const { return path_; }

  Error error(std::string what, std::string_view field, uint64_t offset,
              std::string hint = {}) const {
    return format_error(std::move(what), field, offset, path_, std::move(hint));
  }

  // Fails unless `n` more bytes are available at the current position.
  Status need(uint64_t n, std::string_view field, std::string_view what_for) const {
    if (n <= remaining()) return Status::success();
    return error("unexpected end of file: " + std::string(what_for) + " needs " +
                     std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
                     " remain (file size " + std::to_string(size_) + ")",
                 field, pos_, "the file is truncated or a length field is corrupt");
  }

  template <class T>
  Result<T> read(std::string_view field, std::string_view what_for) {
    EF_TRY(need(sizeof(T), field, what_for));
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // Skips `n` bytes (already range-checked by the caller via need()).
  void skip(uint64_t n) { pos_ += n; }

  // GGUF string: u64 length + bytes (no NUL). `max_len` bounds names.
  Result<std::string_view> read_string(std::string_view field, uint64_t max_len = UINT64_MAX) {
    const uint64_t at = pos_;
    EF_ASSIGN_OR_RETURN(uint64_t len, read<uint64_t>(field, "string length"));
    if (len > max_len) {
      pos_ = at;
      return error("string length " + std::to_string(len) + " exceeds the limit of " +
                       std::to_string(max_len) + " bytes",
                   field, at, "the length field is corrupt");
    }
    if (len > remaining()) {
      const uint64_t left = remaining();
      pos_ = at;
      return error("string length " + std::to_string(len) + " runs past the end of the file (" +
                       std::to_string(left) + " bytes remain)",
                   field, at, "the file is truncated or the length field is corrupt");
    }
    std::string_view s(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  std::string_view path_;
  uint64_t pos_ = 0;
};

}  // namespace ef::gguf::detail
