// Token files, corpus tokenization and window sampling (see token_file.h).
#include "train/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgeformer/tokenizer.h"

namespace ef::train {
namespace {

constexpr char kMagic[8] = {'E', 'F', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr size_t kHeader = 32;

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

uint64_t fnv1a64(const void* data, size_t size, uint64_t hash) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

Status write_file_atomic(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(Errc::io, "cannot create file: " + errno_text(), path,
                      "check that the directory exists and is writable");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(Errc::io, "write failed: " + why, path, "is the disk full?");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return make_error(Errc::io, "fsync/close failed: " + why, path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return make_error(Errc::io, "rename failed: " + why, path);
  }
  // Make the rename itself durable.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return Status::success();
}

Status write_token_file(const std::string& path, std::span<const int32_t> ids, int64_t n_vocab) {
  std::vector<uint8_t> out;
  out.reserve(kHeader + ids.size() * 4);
  out.insert(out.end(), kMagic, kMagic + 8);
  put<uint32_t>(out, 1);
  put<uint32_t>(out, static_cast<uint32_t>(n_vocab));
  put<uint64_t>(out, ids.size());
  put<uint64_t>(out, fnv1a64(ids.data(), ids.size() * 4));
  const auto* p = reinterpret_cast<const uint8_t*>(ids.data());
  out.insert(out.end(), p, p + ids.size() * 4);
  return write_file_atomic(path, out);
}

bool is_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  return in && std::memcmp(magic, kMagic, 8) == 0;
}

Result<TokenData> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return make_error(Errc::io, "cannot open token file", path);
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  uint8_t h[kHeader];
  if (size < kHeader || !in.read(reinterpret_cast<char*>(h), kHeader)) {
    return make_error(Errc::format, "token file shorter than its 32-byte header", path);
  }
  uint32_t version, vocab;
  uint64_t count, checksum;
  std::memcpy(&version, h + 8, 4);
  std::memcpy(&vocab, h + 12, 4);
  std::memcpy(&count, h + 16, 8);
  std::memcpy(&checksum, h + 24, 8);
  if (std::memcmp(h, kMagic, 8) != 0) return make_error(Errc::format, "not a token file (bad magic)", path);
  if (version != 1) {
    return make_error(Errc::unsupported, "token file version " + std::to_string(version), path);
  }
  if (vocab == 0 || count > (size - kHeader) / 4 || kHeader + count * 4 != size) {
    return make_error(Errc::format,
                      "token file size " + std::to_string(size) + " does not match its header (" +
                          std::to_string(count) + " tokens)",
                      path, "the file is truncated or corrupt; re-create it");
  }
  TokenData data;
  data.n_vocab = vocab;
  data.ids.resize(static_cast<size_t>(count));
  if (!in.read(reinterpret_cast<char*>(data.ids.data()), static_cast<std::streamsize>(count * 4))) {
    return make_error(Errc::io, "cannot read token file", path);
  }
  if (fnv1a64(data.ids.data(), count * 4) != checksum) {
    return make_error(Errc::format, "token file checksum mismatch", path, "the file is corrupt");
  }
  for (uint64_t i = 0; i < count; ++i) {
    if (data.ids[i] < 0 || static_cast<uint32_t>(data.ids[i]) >= vocab) {
      return make_error(Errc::format,
                        "token " + std::to_string(data.ids[i]) + " at index " + std::to_string(i) +
                            " is outside the vocabulary of " + std::to_string(vocab),
                        path);
    }
  }
  return data;
}

Result<std::vector<int32_t>> tokenize_text_files(const Tokenizer& tokenizer,
                                                 const std::vector<std::string>& paths) {
  std::vector<int32_t> all;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(Errc::io, "cannot open text file", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.empty()) continue;
    const std::vector<int32_t> ids = tokenizer.encode(text, tokenizer.add_bos_default());
    all.insert(all.end(), ids.begin(), ids.end());
  }
  if (all.empty()) {
    return make_error(Errc::invalid_argument, "the corpus is empty (no tokens)",
                      paths.empty() ? std::string("--data") : paths.front(),
                      "pass non-empty text files or token files");
  }
  return all;
}

int64_t WindowSampler::start(uint64_t window_index) const {
  uint64_t z = seed_ ^ (window_index * 0x9e3779b97f4a7c15ull);
  z += 0x9e3779b97f4a7c15ull;  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  const uint64_t span = static_cast<uint64_t>(n_ - T_);  // starts in [0, n - T)
  return static_cast<int64_t>(z % span);
}

}  // namespace ef::train
