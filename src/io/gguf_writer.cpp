// GGUF v3 writer. Layout written (all little-endian):
//   header {magic, version=3, tensor_count u64, kv_count u64}
//   kv_count  x {key string, type u32, value}
//   tensor_count x {name string, n_dims u32, ne[n_dims] u64, ggml_type u32, offset u64}
//   zero padding to `alignment`, then each tensor's data padded to `alignment`.
// write() goes through "<path>.tmp.<pid>" + fsync + rename so readers never
// see a half-written file and a failure never clobbers an existing one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/checked.h"
#include "io/gguf.h"
#include "io/gguf_cursor.h"

namespace ef::gguf {
namespace {

constexpr std::string_view kAlignmentKey = "general.alignment";

bool valid_alignment(uint64_t a) { return a != 0 && (a & (a - 1)) == 0 && a % 8 == 0; }


// Writes everything or reports failure; retries on EINTR and short writes.
bool write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = EIO;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Writer::Writer() = default;

Writer::PendingKv& Writer::slot(std::string key, ValueType type) {
  for (auto& kv : kv_) {
    if (kv.key == key) {  // replace in place, keeping the original position
      kv = PendingKv{};
      kv.key = std::move(key);
      kv.type = type;
      return kv;
    }
  }
  kv_.push_back(PendingKv{});
  kv_.back().key = std::move(key);
  kv_.back().type = type;
  return kv_.back();
}

void Writer::set_scalar(std::string key, ValueType type, uint64_t bits, int bytes) {
  if (std::string_view(key) == kAlignmentKey) {
    // The data layout depends on this key, so it is owned by set_alignment().
    const bool is_signed = type == ValueType::i8 || type == ValueType::i16 ||
                           type == ValueType::i32 || type == ValueType::i64;
    // Sign bit of a `bytes`-wide two's complement value.
    const bool negative = is_signed && ((bits >> (8 * bytes - 1)) & 1) != 0;
    if (type == ValueType::f32 || type == ValueType::f64 || type == ValueType::boolean ||
        negative || bits > UINT32_MAX) {
      deferred_error_ = "general.alignment must be a u32 power of two";
      return;
    }
    set_alignment(static_cast<uint32_t>(bits));
    return;
  }
  PendingKv& kv = slot(std::move(key), type);
  kv.scalar = bits;
  kv.scalar_bytes = bytes;
}

void Writer::set_u8(std::string key, uint8_t v) { set_scalar(std::move(key), ValueType::u8, v, 1); }
void Writer::set_u32(std::string key, uint32_t v) {
  set_scalar(std::move(key), ValueType::u32, v, 4);
}
void Writer::set_i32(std::string key, int32_t v) {
  set_scalar(std::move(key), ValueType::i32, static_cast<uint32_t>(v), 4);
}
void Writer::set_u64(std::string key, uint64_t v) {
  set_scalar(std::move(key), ValueType::u64, v, 8);
}
void Writer::set_f32(std::string key, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  set_scalar(std::move(key), ValueType::f32, bits, 4);
}
void Writer::set_bool(std::string key, bool v) {
  set_scalar(std::move(key), ValueType::boolean, v ? 1 : 0, 1);
}

void Writer::set_i8(std::string key, int8_t v) {
  set_scalar(std::move(key), ValueType::i8, static_cast<uint8_t>(v), 1);
}
void Writer::set_u16(std::string key, uint16_t v) {
  set_scalar(std::move(key), ValueType::u16, v, 2);
}
void Writer::set_i16(std::string key, int16_t v) {
  set_scalar(std::move(key), ValueType::i16, static_cast<uint16_t>(v), 2);
}
void Writer::set_i64(std::string key, int64_t v) {
  set_scalar(std::move(key), ValueType::i64, static_cast<uint64_t>(v), 8);
}
void Writer::set_f64(std::string key, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  set_scalar(std::move(key), ValueType::f64, bits, 8);
}

void Writer::set_raw_array(std::string key, ValueType elem_type, uint64_t count,
                           std::vector<uint8_t> raw) {
  const auto need = checked_mul(count, value_type_size(elem_type));
  if (value_type_size(elem_type) == 0 || !need || *need != raw.size()) {
    deferred_error_ = key + ": raw array needs " + std::to_string(count) + " fixed-size " +
                      value_type_name(elem_type) + " elements, got " + std::to_string(raw.size()) +
                      " bytes";
    return;
  }
  PendingKv& kv = slot(std::move(key), ValueType::array);
  kv.array_type = elem_type;
  kv.array_count = count;
  kv.raw = std::move(raw);
}

void Writer::set_string(std::string key, std::string v) {
  slot(std::move(key), ValueType::string).str = std::move(v);
}

void Writer::set_string_array(std::string key, std::vector<std::string> v) {
  PendingKv& kv = slot(std::move(key), ValueType::array);
  kv.array_type = ValueType::string;
  kv.array_count = v.size();
  kv.strings = std::move(v);
}

void Writer::set_f32_array(std::string key, std::vector<float> v) {
  PendingKv& kv = slot(std::move(key), ValueType::array);
  kv.array_type = ValueType::f32;
  kv.array_count = v.size();
  kv.raw.resize(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(kv.raw.data(), v.data(), kv.raw.size());
}

void Writer::set_i32_array(std::string key, std::vector<int32_t> v) {
  PendingKv& kv = slot(std::move(key), ValueType::array);
  kv.array_type = ValueType::i32;
  kv.array_count = v.size();
  kv.raw.resize(v.size() * sizeof(int32_t));
  if (!v.empty()) std::memcpy(kv.raw.data(), v.data(), kv.raw.size());
}

void Writer::set_alignment(uint32_t alignment) {
  if (!valid_alignment(alignment)) {
    deferred_error_ = "alignment " + std::to_string(alignment) +
                      " is invalid: must be a power of two and a multiple of 8";
    return;
  }
  alignment_ = alignment;
  if (alignment == kDefaultAlignment) {
    // Default alignment is implied; drop an explicit key set earlier.
    for (auto it = kv_.begin(); it != kv_.end(); ++it) {
      if (it->key == kAlignmentKey) {
        kv_.erase(it);
        break;
      }
    }
    return;
  }
  PendingKv& kv = slot(std::string(kAlignmentKey), ValueType::u32);
  kv.scalar = alignment;
  kv.scalar_bytes = 4;
}

void Writer::copy_metadata(const File& file, bool (*skip)(std::string_view key)) {
  for (const KeyValue& src : file.metadata()) {
    if (skip != nullptr && skip(src.key)) continue;
    const Value& v = src.value;
    if (src.key == kAlignmentKey) {  // parser guarantees a valid u32
      set_alignment(static_cast<uint32_t>(v.u));
      continue;
    }
    PendingKv& kv = slot(src.key, v.type);
    switch (v.type) {
      case ValueType::string:
        kv.str = std::string(v.str);
        break;
      case ValueType::array:
        kv.array_type = v.array_type;
        kv.array_count = v.array_count;
        if (v.array_type == ValueType::string) {
          kv.strings.assign(v.array_strings.begin(), v.array_strings.end());
        } else if (v.array_count > 0) {
          // Bounded by the file size: the parser checked count * size.
          const uint64_t n = v.array_count * value_type_size(v.array_type);
          kv.raw.assign(v.array_data, v.array_data + n);
        }
        break;
      case ValueType::f32: {
        const float f = static_cast<float>(v.f);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        kv.scalar = bits;
        kv.scalar_bytes = 4;
        break;
      }
      case ValueType::f64:
        std::memcpy(&kv.scalar, &v.f, 8);
        kv.scalar_bytes = 8;
        break;
      case ValueType::i8:
      case ValueType::i16:
      case ValueType::i32:
      case ValueType::i64:
        kv.scalar = static_cast<uint64_t>(v.i);
        kv.scalar_bytes = static_cast<int>(value_type_size(v.type));
        break;
      default:  // unsigned integers and bool
        kv.scalar = v.u;
        kv.scalar_bytes = static_cast<int>(value_type_size(v.type));
        break;
    }
  }
}

Status Writer::check_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                            size_t data_bytes) const {
  const std::string where = "tensor '" + name + "'";
  if (name.empty() || name.size() > detail::kMaxNameBytes) {
    return make_error(Errc::invalid_argument, "tensor name must be 1..65535 bytes", where);
  }
  for (const auto& t : tensors_) {
    if (t.name == name) return make_error(Errc::invalid_argument, "duplicate tensor name", where);
  }
  if (ne.empty() || ne.size() > 4) {
    return make_error(Errc::invalid_argument,
                      "tensor must have 1..4 dimensions, got " + std::to_string(ne.size()), where);
  }
  uint64_t n = 1;
  for (int64_t d : ne) {
    const auto p = d > 0 ? checked_mul(n, static_cast<uint64_t>(d)) : std::nullopt;
    if (!p || *p > static_cast<uint64_t>(INT64_MAX)) {
      return make_error(Errc::invalid_argument, "dimensions must be positive and not overflow",
                        where);
    }
    n = *p;
  }
  const auto row = row_size_bytes(type, static_cast<uint64_t>(ne[0]));
  if (!row) {
    return make_error(Errc::invalid_argument,
                      "ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
                          dtype_name(type) + " block size",
                      where);
  }
  const auto bytes = checked_mul(*row, n / static_cast<uint64_t>(ne[0]));
  if (!bytes || *bytes != data_bytes) {
    return make_error(Errc::invalid_argument,
                      "data is " + std::to_string(data_bytes) + " bytes, shape needs " +
                          (bytes ? std::to_string(*bytes) : std::string("overflow")),
                      where);
  }
  return Status::success();
}

Status Writer::add_tensor(std::string name, DType type, std::vector<int64_t> ne,
                          std::span<const uint8_t> data) {
  EF_TRY(check_tensor(name, type, ne, data.size()));
  tensors_.push_back(
      PendingTensor{std::move(name), type, std::move(ne), {data.begin(), data.end()}, {}});
  return Status::success();
}

Status Writer::add_tensor_view(std::string name, DType type, std::vector<int64_t> ne,
                               std::span<const uint8_t> data) {
  EF_TRY(check_tensor(name, type, ne, data.size()));
  tensors_.push_back(PendingTensor{std::move(name), type, std::move(ne), {}, data});
  return Status::success();
}

bool Writer::serialize(const PutFn& put) const {
  uint64_t pos = 0;
  auto raw = [&](const void* p, size_t n) {
    pos += n;
    return n == 0 || put(p, n);
  };
  auto u32 = [&](uint32_t v) { return raw(&v, 4); };
  auto u64 = [&](uint64_t v) { return raw(&v, 8); };
  auto str = [&](std::string_view s) { return u64(s.size()) && raw(s.data(), s.size()); };
  static const uint8_t kZeros[64] = {};
  auto pad = [&]() {
    uint64_t n = (alignment_ - pos % alignment_) % alignment_;
    while (n > 0) {
      const uint64_t k = n < sizeof(kZeros) ? n : sizeof(kZeros);
      if (!raw(kZeros, k)) return false;
      n -= k;
    }
    return true;
  };

  bool ok = u32(kMagic) && u32(3) && u64(tensors_.size()) && u64(kv_.size());
  for (const auto& kv : kv_) {
    if (!ok) return false;
    ok = str(kv.key) && u32(static_cast<uint32_t>(kv.type));
    if (kv.type == ValueType::string) {
      ok = ok && str(kv.str);
    } else if (kv.type == ValueType::array) {
      ok = ok && u32(static_cast<uint32_t>(kv.array_type)) && u64(kv.array_count);
      if (kv.array_type == ValueType::string) {
        for (const auto& s : kv.strings) ok = ok && str(s);
      } else {
        ok = ok && raw(kv.raw.data(), kv.raw.size());
      }
    } else {
      ok = ok && raw(&kv.scalar, static_cast<size_t>(kv.scalar_bytes));
    }
  }
  uint64_t offset = 0;  // relative to the data section, each tensor aligned
  for (const auto& t : tensors_) {
    if (!ok) return false;
    ok = str(t.name) && u32(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) ok = ok && u64(static_cast<uint64_t>(d));
    ok = ok && u32(static_cast<uint32_t>(t.type)) && u64(offset);
    const auto next = align_up(offset + t.bytes().size(), alignment_);
    if (!next) return false;
    offset = *next;
  }
  ok = ok && pad();
  for (const auto& t : tensors_) {
    ok = ok && raw(t.bytes().data(), t.bytes().size()) && pad();
  }
  return ok;
}

std::vector<uint8_t> Writer::to_bytes() const {
  std::vector<uint8_t> out;
  (void)serialize([&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
    return true;
  });
  return out;
}

Status Writer::write(const std::string& path) const {
  if (!deferred_error_.empty()) {
    return make_error(Errc::invalid_argument, deferred_error_, path);
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  auto fail = [&](const char* step, int err, int fd) -> Error {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return make_error(Errc::io,
                      std::string("cannot write GGUF file: ") + step + ": " + std::strerror(err),
                      path, "check that the directory exists, is writable and has free space");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return make_error(
        Errc::io,
        std::string("cannot write GGUF file: create temporary file: ") + std::strerror(err), path,
        "check that the directory exists and is writable");
  }
  // Small pieces (keys, infos, vocab strings) are batched; tensor data goes
  // straight to the file.
  std::vector<uint8_t> buf;
  buf.reserve(1 << 20);
  auto flush = [&]() {
    const bool ok = write_all(fd, buf.data(), buf.size());
    buf.clear();
    return ok;
  };
  const bool ok = serialize([&](const void* p, size_t n) {
    if (buf.size() + n > buf.capacity()) {
      if (!flush()) return false;
      if (n >= buf.capacity()) return write_all(fd, p, n);
    }
    const auto* b = static_cast<const uint8_t*>(p);
    buf.insert(buf.end(), b, b + n);
    return true;
  });
  if (!ok || !flush()) return fail("write", errno, fd);
  if (::fsync(fd) != 0) return fail("fsync", errno, fd);
  if (::close(fd) != 0) return fail("close", errno, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename", errno, -1);
  // Persist the rename itself; best effort (some filesystems refuse fsync on dirs).
  const int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::success();
}

}  // namespace ef::gguf
