// GGUF reader: maps the file, then validates the whole layout before any
// caller sees it (header -> metadata -> tensor infos -> data placement).
//
// Defence against malformed files: each count is compared with the bytes that
// are left *before* anything is reserved (count * smallest possible record),
// every length goes through Cursor (bounds-checked), and every shape/offset
// product goes through checked_mul/checked_add/align_up.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "core/checked.h"
#include "core/memory.h"
#include "io/gguf.h"
#include "io/gguf_cursor.h"
#include "io/gguf_scalar.h"

namespace ef::gguf {
namespace {

using detail::Cursor;
using detail::kMaxNameBytes;

// Smallest possible encodings, used to reject absurd counts up front.
// kv: key length (8) + empty key is rejected, so >= 1 byte + type (4) + 1-byte value.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
// tensor: name length (8) + 1 byte + n_dims (4) + one ne (8) + type (4) + offset (8).
constexpr uint64_t kMinTensorBytes = 8 + 1 + 4 + 8 + 4 + 8;

constexpr uint32_t kMaxValueType = static_cast<uint32_t>(ValueType::f64);

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

// Reads a value type id and checks it is one of the 13 defined types.
Result<ValueType> read_value_type(Cursor& c, std::string_view field, const char* what_for) {
  const uint64_t at = c.pos();
  EF_ASSIGN_OR_RETURN(uint32_t raw, c.read<uint32_t>(field, what_for));
  if (raw > kMaxValueType) {
    return c.error(std::string(field) + ": invalid " + what_for + " " + std::to_string(raw) +
                       " (valid types are 0..12)",
                   field, at, "the file is corrupt or uses a newer GGUF revision");
  }
  return static_cast<ValueType>(raw);
}

Status parse_array(Cursor& c, std::string_view key, Value& v) {
  EF_ASSIGN_OR_RETURN(v.array_type, read_value_type(c, key, "array element type"));
  const uint64_t count_at = c.pos();
  if (v.array_type == ValueType::array) {
    return make_error(Errc::unsupported, std::string(key) + ": nested arrays are not supported",
                      detail::where_at(key, count_at - 4, c.path()));
  }
  EF_ASSIGN_OR_RETURN(v.array_count, c.read<uint64_t>(key, "array count"));
  const uint64_t elem = value_type_size(v.array_type);
  // Strings need at least their 8-byte length each.
  const auto min_bytes = checked_mul(v.array_count, elem == 0 ? 8 : elem);
  if (!min_bytes || *min_bytes > c.remaining()) {
    return c.error(std::string(key) + ": array of " + std::to_string(v.array_count) + " " +
                       value_type_name(v.array_type) + " runs past the end of the file (" +
                       std::to_string(c.remaining()) + " bytes remain)",
                   key, count_at, "the file is truncated or the array count is corrupt");
  }
  if (v.array_type != ValueType::string) {
    v.array_data = c.base() + c.pos();
    if (v.array_type == ValueType::boolean) {
      for (uint64_t j = 0; j < v.array_count; ++j) {
        if (v.array_data[j] > 1) {
          return c.error(std::string(key) + ": bool element " + std::to_string(j) + " is " +
                             std::to_string(v.array_data[j]) + " (must be 0 or 1)",
                         key, c.pos() + j);
        }
      }
    }
    c.skip(*min_bytes);
    return Status::success();
  }
  v.array_strings.reserve(static_cast<size_t>(v.array_count));  // bounded by file size / 8
  std::string field;
  for (uint64_t j = 0; j < v.array_count; ++j) {
    auto s = c.read_string(key);
    if (!s.ok()) {
      // Rebuild the field name only on failure: vocabularies have 100k+ entries.
      field = std::string(key) + "[" + std::to_string(j) + "]";
      Error e = s.take_error();
      e.what = field + ": " + e.what;
      e.where = detail::where_at(field, c.pos(), c.path());
      return e;
    }
    v.array_strings.push_back(*s);
  }
  return Status::success();
}

Status parse_value(Cursor& c, std::string_view key, Value& v) {
  EF_ASSIGN_OR_RETURN(v.type, read_value_type(c, key, "value type"));
  if (v.type == ValueType::string) {
    EF_ASSIGN_OR_RETURN(v.str, c.read_string(key));
    return Status::success();
  }
  if (v.type == ValueType::array) return parse_array(c, key, v);
  const uint64_t n = value_type_size(v.type);
  EF_TRY(c.need(n, key, value_type_name(v.type)));
  const uint8_t* p = c.base() + c.pos();
  if (v.type == ValueType::boolean && p[0] > 1) {
    return c.error(
        std::string(key) + ": bool value is " + std::to_string(p[0]) + " (must be 0 or 1)", key,
        c.pos());
  }
  detail::decode_scalar(v.type, p, v);
  c.skip(n);
  return Status::success();
}

std::string tensor_field(std::string_view name, const char* part) {
  return "tensor '" + std::string(name) + "' " + part;
}

// Large files (the weights) are read into anonymous memory backed by 2 MiB
// transparent huge pages instead of being mapped from the page cache in 4 KiB
// pages. Decode streams every weight once per token; with 4 KiB pages that
// is a TLB miss (a page walk, nested under a hypervisor) every 4 KiB, which
// measured 1.5-2x below the bandwidth of the same loop over huge pages.
// Costs: one copy at load, and the weights count as private memory
// instead of shared page cache. Files below kHugeCopyMin stay mmap'd.
constexpr size_t kHugeCopyMin = size_t{32} << 20;
constexpr size_t kHuge = size_t{2} << 20;

const uint8_t* align_up_2m(uint8_t* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<const uint8_t*>((v + kHuge - 1) & ~uintptr_t{kHuge - 1});
}

// Up to 8 KiB of a /proc or /sys file ("" if unreadable).
std::string read_small_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out(8192, '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

// Whether to copy a file of `size` bytes into huge pages: THP must be
// allowed for madvise'd regions ("always" or "madvise" mode) and the copy
// must fit twice into MemAvailable.
// EDGEFORMER_HUGEPAGES=0 keeps the plain file mapping; =all copies files of
// any size (tests).
bool use_huge_pages(size_t size) {
  const char* env = std::getenv("EDGEFORMER_HUGEPAGES");
  const std::string mode = env != nullptr ? env : "";
  if (mode == "0") return false;
  if (size < kHugeCopyMin && mode != "all") return false;
  const std::string thp = read_small_file("/sys/kernel/mm/transparent_hugepage/enabled");
  if (thp.empty() || thp.find("[never]") != std::string::npos) return false;
  // Unlike page-cache pages, the copy cannot be dropped under memory
  // pressure: only make it when it leaves plenty of room.
  const std::string mi = read_small_file("/proc/meminfo");
  const size_t at = mi.find("MemAvailable:");
  if (at == std::string::npos) return false;
  const uint64_t avail_kb = std::strtoull(mi.c_str() + at + 13, nullptr, 10);
  return size / 1024 * 2 < avail_kb;
}

// The whole file copied into a 2 MiB-aligned anonymous region (read-only
// afterwards); nullptr on any failure (the caller falls back to mmap).
void* read_into_huge_pages(int fd, size_t size, size_t* len) {
  const size_t total = ((size + kHuge - 1) & ~(kHuge - 1)) + kHuge;
  void* raw = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto* dst = const_cast<uint8_t*>(align_up_2m(static_cast<uint8_t*>(raw)));
  ::madvise(dst, total - kHuge, MADV_HUGEPAGE);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, dst + done, std::min<size_t>(size - done, size_t{1} << 30),
                              static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::munmap(raw, total);
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  ::mprotect(raw, total, PROT_READ);
  *len = total;
  return raw;
}

}  // namespace

Result<std::unique_ptr<File>> File::open(const std::string& path, bool allow_huge_copy) {
  // O_NONBLOCK: opening a FIFO by mistake must not hang; no effect on files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return make_error(Errc::io, std::string("cannot open GGUF file: ") + std::strerror(errno), path,
                      "check the path and its permissions");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return make_error(Errc::io, std::string("cannot stat GGUF file: ") + std::strerror(err), path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::io,
                      S_ISDIR(st.st_mode) ? "is a directory, not a GGUF file"
                                          : "not a regular file, cannot be a GGUF file",
                      path);
  }
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    const auto size = static_cast<size_t>(f->size_);
    if (allow_huge_copy && use_huge_pages(size)) {
      if (void* raw = read_into_huge_pages(fd, size, &f->map_len_)) {
        f->map_addr_ = raw;
        f->base_ = align_up_2m(static_cast<uint8_t*>(raw));
        f->huge_copy_ = true;
      }
    }
    if (f->base_ == nullptr) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        return make_error(Errc::io, std::string("cannot map GGUF file: ") + std::strerror(err),
                          path);
      }
      f->base_ = static_cast<const uint8_t*>(p);
      f->map_addr_ = p;
      f->map_len_ = size;
    }
    f->mapped_ = true;
    memory_track_map(static_cast<int64_t>(f->size_));
  }
  ::close(fd);  // the mapping keeps the file alive
  EF_TRY(f->parse());
  return f;
}

Result<std::unique_ptr<File>> File::from_bytes(std::span<const uint8_t> bytes) {
  std::unique_ptr<File> f(new File());
  f->owned_.assign(bytes.begin(), bytes.end());
  f->base_ = f->owned_.data();
  f->size_ = f->owned_.size();
  EF_TRY(f->parse());
  return f;
}

File::~File() {
  if (mapped_ && map_addr_ != nullptr) {
    ::munmap(map_addr_, map_len_);
    memory_track_map(-static_cast<int64_t>(size_ - released_));
  }
}

void File::note_released(uint64_t bytes) {
  bytes = std::min(bytes, size_ - released_);
  released_ += bytes;
  if (mapped_) memory_track_map(-static_cast<int64_t>(bytes));
}

Status File::parse() {
  Cursor c(base_, size_, path_);

  // ---- header: magic u32, version u32, tensor_count u64, kv_count u64 ----
  EF_ASSIGN_OR_RETURN(uint32_t magic, c.read<uint32_t>("header.magic", "magic"));
  if (magic != kMagic) {
    return c.error("not a GGUF file: magic is " + hex32(magic) + ", expected 0x46554747 (\"GGUF\")",
                   "header.magic", 0);
  }
  EF_ASSIGN_OR_RETURN(version_, c.read<uint32_t>("header.version", "version"));
  if (version_ != 2 && version_ != 3) {
    std::string what = "GGUF version " + std::to_string(version_) + " is not supported";
    std::string hint = "only versions 2 and 3 are read";
    if (version_ == 1)
      hint = "version 1 is obsolete; re-convert the model with a current llama.cpp";
    if ((version_ & 0xffff) == 0 && version_ != 0) {
      what = "big-endian GGUF files are not supported (version field reads " +
             std::to_string(version_) + ")";
      hint = "convert the file to little-endian";
    }
    return make_error(Errc::unsupported, what, detail::where_at("header.version", 4, path_), hint);
  }
  EF_ASSIGN_OR_RETURN(uint64_t tensor_count,
                      c.read<uint64_t>("header.tensor_count", "tensor count"));
  EF_ASSIGN_OR_RETURN(uint64_t kv_count, c.read<uint64_t>("header.kv_count", "kv count"));

  // Reject impossible counts before reserving anything.
  const auto kv_min = checked_mul(kv_count, kMinKvBytes);
  if (!kv_min || *kv_min > c.remaining()) {
    return c.error("kv_count " + std::to_string(kv_count) + " cannot fit in the " +
                       std::to_string(c.remaining()) + " bytes after the header",
                   "header.kv_count", 16, "the header is corrupt");
  }
  const auto tensor_min = checked_mul(tensor_count, kMinTensorBytes);
  const auto both_min = tensor_min ? checked_add(*tensor_min, *kv_min) : std::nullopt;
  if (!both_min || *both_min > c.remaining()) {
    return c.error("tensor_count " + std::to_string(tensor_count) + " cannot fit in the " +
                       std::to_string(c.remaining()) + " bytes after the header",
                   "header.tensor_count", 8, "the header is corrupt");
  }

  // ---- metadata ----
  kv_.reserve(static_cast<size_t>(kv_count));
  std::unordered_map<std::string_view, uint64_t> seen_keys;  // key -> offset
  seen_keys.reserve(static_cast<size_t>(kv_count));
  for (uint64_t i = 0; i < kv_count; ++i) {
    const uint64_t at = c.pos();
    const std::string field = "kv[" + std::to_string(i) + "].key";
    EF_ASSIGN_OR_RETURN(std::string_view key, c.read_string(field, kMaxNameBytes));
    if (key.empty()) return c.error(field + ": empty key", field, at);
    auto [it, inserted] = seen_keys.emplace(key, at);
    if (!inserted) {
      return c.error("duplicate key '" + std::string(key) + "'", key, at,
                     "first defined at offset " + std::to_string(it->second));
    }
    KeyValue kv{std::string(key), Value{}, at};
    EF_TRY(parse_value(c, key, kv.value));
    kv_.push_back(std::move(kv));
  }

  if (const KeyValue* a = find("general.alignment")) {
    if (a->value.type != ValueType::u32) {
      return c.error(
          std::string("general.alignment must be u32, got ") + value_type_name(a->value.type),
          a->key, a->offset);
    }
    const uint64_t v = a->value.u;
    if (v == 0 || (v & (v - 1)) != 0 || v % 8 != 0) {
      return c.error("general.alignment " + std::to_string(v) +
                         " is invalid: must be a power of two and a multiple of 8",
                     a->key, a->offset, "the GGUF spec requires a multiple of 8; default is 32");
    }
    alignment_ = v;
  }

  // ---- tensor infos ----
  tensors_.reserve(static_cast<size_t>(tensor_count));
  std::vector<uint64_t> offset_field_at;  // file offset of each tensor's `offset` field
  offset_field_at.reserve(static_cast<size_t>(tensor_count));
  std::unordered_map<std::string_view, uint64_t> seen_names;
  seen_names.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo t;
    t.info_offset = c.pos();
    const std::string name_field = "tensor[" + std::to_string(i) + "].name";
    EF_ASSIGN_OR_RETURN(std::string_view name, c.read_string(name_field, kMaxNameBytes));
    if (name.empty()) return c.error(name_field + ": empty tensor name", name_field, t.info_offset);
    auto [it, inserted] = seen_names.emplace(name, t.info_offset);
    if (!inserted) {
      return c.error("duplicate tensor name '" + std::string(name) + "'",
                     tensor_field(name, "name"), t.info_offset,
                     "first defined at offset " + std::to_string(it->second));
    }
    t.name = std::string(name);

    const std::string dims_field = tensor_field(name, "n_dims");
    const uint64_t dims_at = c.pos();
    EF_ASSIGN_OR_RETURN(uint32_t n_dims, c.read<uint32_t>(dims_field, "n_dims"));
    if (n_dims == 0 || n_dims > 4) {
      return c.error(dims_field + " is " + std::to_string(n_dims) + " (must be 1..4)", dims_field,
                     dims_at);
    }
    t.n_dims = static_cast<int>(n_dims);
    const std::string ne_field = tensor_field(name, "ne");
    const uint64_t ne_at = c.pos();
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t at = c.pos();
      EF_ASSIGN_OR_RETURN(uint64_t ne, c.read<uint64_t>(ne_field, "dimension"));
      if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX)) {
        return c.error(ne_field + "[" + std::to_string(d) + "] is " +
                           std::to_string(static_cast<int64_t>(ne)) + " (must be positive)",
                       ne_field, at);
      }
      const auto prod = checked_mul(n_elements, ne);
      if (!prod || *prod > static_cast<uint64_t>(INT64_MAX)) {
        return c.error(ne_field + ": element count overflows", ne_field, at);
      }
      n_elements = *prod;
      t.ne[d] = static_cast<int64_t>(ne);
    }

    const std::string type_field = tensor_field(name, "type");
    const uint64_t type_at = c.pos();
    EF_ASSIGN_OR_RETURN(t.ggml_type, c.read<uint32_t>(type_field, "ggml type"));
    const auto tr = dtype_traits(t.ggml_type);
    if (!tr) {
      const std::string tname = ggml_type_name(t.ggml_type);
      Error e = c.error("tensor '" + t.name + "' has " +
                            (tname == "unknown" ? "unknown ggml type " + std::to_string(t.ggml_type)
                                                : "unsupported type " + tname + " (ggml type " +
                                                      std::to_string(t.ggml_type) + ")"),
                        type_field, type_at,
                        "supported types: f32, f16, bf16, q8_0, q4_0; re-quantize the model");
      if (tname != "unknown") e.code = Errc::unsupported;
      return e;
    }
    t.type = tr->type;
    const auto row = row_size_bytes(t.type, static_cast<uint64_t>(t.ne[0]));
    if (t.ne[0] % tr->block_size != 0) {
      return c.error(ne_field + "[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                         tr->name + " block size " + std::to_string(tr->block_size),
                     ne_field, ne_at);
    }
    const auto size =
        row ? checked_mul(*row, n_elements / static_cast<uint64_t>(t.ne[0])) : std::nullopt;
    if (!size) {
      return c.error(ne_field + ": byte size of " + std::to_string(n_elements) + " " + tr->name +
                         " elements overflows",
                     ne_field, ne_at);
    }
    t.size_bytes = *size;

    offset_field_at.push_back(c.pos());
    EF_ASSIGN_OR_RETURN(t.offset, c.read<uint64_t>(tensor_field(name, "offset"), "data offset"));
    tensors_.push_back(std::move(t));
  }

  // ---- data placement: aligned, inside the file, non-overlapping ----
  const auto data_offset = align_up(c.pos(), alignment_);
  if (!data_offset) return c.error("data section offset overflows", "tensor data", c.pos());
  data_offset_ = *data_offset;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    TensorInfo& t = tensors_[i];
    const std::string field = tensor_field(t.name, "offset");
    if (t.offset % alignment_ != 0) {
      return c.error(field + " " + std::to_string(t.offset) +
                         " is not a multiple of the alignment " + std::to_string(alignment_),
                     field, offset_field_at[i]);
    }
    const auto begin = checked_add(data_offset_, t.offset);
    const auto end = begin ? checked_add(*begin, t.size_bytes) : std::nullopt;
    if (!end || *end > size_) {
      return c.error("tensor '" + t.name + "' data (" + std::to_string(t.size_bytes) +
                         " bytes at data offset " + std::to_string(t.offset) +
                         ") runs past the end of the file (" + std::to_string(size_) + " bytes)",
                     field, offset_field_at[i], "the file is truncated");
    }
    t.data = base_ + *begin;
  }
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& cur = tensors_[order[k]];
    if (cur.offset < prev.offset + prev.size_bytes) {  // no overflow: both end inside the file
      const std::string field = tensor_field(cur.name, "offset");
      return c.error("tensor '" + cur.name + "' data overlaps tensor '" + prev.name + "'", field,
                     offset_field_at[order[k]]);
    }
  }
  return Status::success();
}

}  // namespace ef::gguf
