// GGUF v3 (llama.cpp's model format): reader and writer.
//
// The reader maps the file and validates everything before anything else uses
// it: every count, length, shape and offset is range-checked with checked
// arithmetic against the file size, so a malformed file yields an Error that
// names the field and byte offset, never a crash or a huge allocation.
// Tensor data is exposed as zero-copy views into the mapping.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "edgeformer/error.h"

namespace ef::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
const char* value_type_name(ValueType t);
// Encoded bytes of a fixed-size value type; 0 for string and array.
uint64_t value_type_size(ValueType t);

// One metadata value. Scalars are stored decoded; arrays keep their element
// type and either decoded strings or a view of the raw little-endian payload.
struct Value {
  ValueType type = ValueType::u8;
  uint64_t u = 0;        // unsigned integers and bool
  int64_t i = 0;         // signed integers
  double f = 0;          // f32 / f64
  std::string_view str;  // string (view into the mapping)
  ValueType array_type = ValueType::u8;
  uint64_t array_count = 0;
  std::vector<std::string_view> array_strings;  // array of string
  const uint8_t* array_data = nullptr;          // array of numbers, raw
};

// Human-readable rendering for listings (`edgeformer info`): numbers in full,
// strings quoted (long ones cut), arrays as `[count x type: a, b, ...]` with at
// most `max_elems` elements shown.
std::string format_value(const Value& v, size_t max_elems = 8);

struct KeyValue {
  std::string key;
  Value value;
  uint64_t offset;  // byte offset of the key in the file (for messages)
};

struct TensorInfo {
  std::string name;
  uint32_t ggml_type = 0;   // raw id as stored
  DType type = DType::F32;  // valid only if the id is supported
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t size_bytes = 0;
  const void* data = nullptr;
  uint64_t info_offset = 0;  // where this tensor's info record starts in the file

  Tensor view() const;  // requires a supported type
};

class File {
 public:
  // Maps and validates `path`. Large files are copied onto 2 MiB pages
  // (gguf_reader.cpp) unless `allow_huge_copy` is false: a caller that will
  // repack most weights wants the page-cache mapping, whose pages it can
  // drop after packing.
  static Result<std::unique_ptr<File>> open(const std::string& path, bool allow_huge_copy = true);
  // Parses an in-memory image (copied); used by tests and the fuzzer.
  static Result<std::unique_ptr<File>> from_bytes(std::span<const uint8_t> bytes);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  // True when the bytes come from open() (an mmap of the file, or its copy
  // on huge pages), false for from_bytes() images.
  bool mapped() const { return mapped_; }
  // True only for the page-cache mapping: its pages can be dropped
  // (MADV_DONTNEED) and come back from the file when touched again. The
  // huge-page copy is anonymous memory: dropped pages would read as zeros.
  bool page_cache_backed() const { return mapped_ && !huge_copy_; }
  // Records that `bytes` of the page-cache mapping were dropped (they no
  // longer count in memory_stats().mapped_bytes).
  void note_released(uint64_t bytes);
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const KeyValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed accessors. They fail with a message naming key, actual type and
  // offset when the key is missing or has an incompatible type. Integer
  // accessors accept any integer type whose value fits; floats accept f32/f64.
  Result<int64_t> get_int(std::string_view key) const;
  Result<uint32_t> get_u32(std::string_view key) const;
  Result<float> get_f32(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;  // i32/u32/i8/u8...
  // Same, but `fallback` when the key is absent (still fails on a bad type).
  Result<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
  Result<float> get_f32_or(std::string_view key, float fallback) const;
  Result<bool> get_bool_or(std::string_view key, bool fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  Status parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  bool huge_copy_ = false;    // bytes are an anonymous copy on 2 MiB pages
  uint64_t released_ = 0;     // bytes counted out of mapped_bytes (note_released)
  void* map_addr_ = nullptr;  // what munmap releases (base_ may sit inside it)
  size_t map_len_ = 0;
  std::vector<uint8_t> owned_;  // from_bytes copy
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
};

// Builds a GGUF v3 file in memory order and writes it atomically: temp file in
// the same directory, fsync, rename. A failure leaves no partial output.
class Writer {
 public:
  Writer();
  void set_u8(std::string key, uint8_t v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_f32(std::string key, float v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  void set_string_array(std::string key, std::vector<std::string> v);
  void set_f32_array(std::string key, std::vector<float> v);
  void set_i32_array(std::string key, std::vector<int32_t> v);
  // Less common scalar types (all GGUF value types can be written).
  void set_i8(std::string key, int8_t v);
  void set_u16(std::string key, uint16_t v);
  void set_i16(std::string key, int16_t v);
  void set_i64(std::string key, int64_t v);
  void set_f64(std::string key, double v);
  // Array of fixed-size elements given as raw little-endian bytes
  // (raw.size() == count * element size; otherwise write() fails).
  void set_raw_array(std::string key, ValueType elem_type, uint64_t count,
                     std::vector<uint8_t> raw);
  // Setting an existing key replaces its value in place (order is kept).
  // Writes general.alignment only for a non-default value; must be a power of
  // two and a multiple of 8 (otherwise write() fails).
  void set_alignment(uint32_t alignment);
  // Copies every key of `file` except those for which skip(key) is true.
  void copy_metadata(const File& file, bool (*skip)(std::string_view key) = nullptr);

  // Adds a tensor; data is copied. ne[0] must be a multiple of the block size.
  Status add_tensor(std::string name, DType type, std::vector<int64_t> ne,
                    std::span<const uint8_t> data);
  // Same, without copying: `data` must stay valid until the last write() /
  // to_bytes() (e.g. a view into a mapped source File). Saves a full copy of
  // the model when re-writing large files.
  Status add_tensor_view(std::string name, DType type, std::vector<int64_t> ne,
                         std::span<const uint8_t> data);

  // Serialises to `path` atomically.
  Status write(const std::string& path) const;
  // Serialises to memory (tests, fuzz seeds).
  std::vector<uint8_t> to_bytes() const;

 private:
  // One metadata entry as it will be serialised. Scalars keep their bit
  // pattern in `scalar` (little-endian, `scalar_bytes` long); number arrays
  // keep their raw little-endian payload in `raw`.
  struct PendingKv {
    std::string key;
    ValueType type = ValueType::u8;
    uint64_t scalar = 0;
    int scalar_bytes = 0;
    std::string str;  // string
    ValueType array_type = ValueType::u8;
    uint64_t array_count = 0;
    std::vector<std::string> strings;  // array of string
    std::vector<uint8_t> raw;          // array of numbers / bool
  };
  struct PendingTensor {
    std::string name;
    DType type = DType::F32;
    std::vector<int64_t> ne;
    std::vector<uint8_t> owned;     // add_tensor: a copy of the bytes
    std::span<const uint8_t> data;  // add_tensor_view: the caller's bytes
    // Tensors always have >= 1 element, so an empty `owned` means a view.
    std::span<const uint8_t> bytes() const {
      return owned.empty() ? data : std::span<const uint8_t>(owned);
    }
  };
  Status check_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                      size_t data_bytes) const;
  // Byte destination for serialize(): appends to memory or to a file.
  using PutFn = std::function<bool(const void* data, size_t size)>;

  PendingKv& slot(std::string key, ValueType type);
  void set_scalar(std::string key, ValueType type, uint64_t bits, int bytes);
  bool serialize(const PutFn& put) const;

  std::vector<PendingKv> kv_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = kDefaultAlignment;
  std::string deferred_error_;  // e.g. a bad set_alignment(); reported by write()
};

}  // namespace ef::gguf
