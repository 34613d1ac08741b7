// BPE merge ranks (tokenizer.ggml.merges): "left right" strings whose index
// is the rank; a lower rank merges first. llama.cpp keys its map by the two
// strings; we key by the two token ids (one integer hash probe per candidate
// pair) and keep a string-keyed map only for the odd merge whose halves are
// not both vocabulary entries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ef::tok {

class BpeMerges {
 public:
  // Adds merge `rank` of halves (left, right) with token ids (-1: not a
  // token). Like llama.cpp (map emplace), the first rank of a pair wins.
  void add(int32_t rank, int32_t left_id, int32_t right_id, std::string_view left,
           std::string_view right);
  // Rank of merging these two adjacent symbols, or -1.
  int32_t rank(int32_t left_id, int32_t right_id, std::string_view left,
               std::string_view right) const {
    if (left_id >= 0 && right_id >= 0) return find_ids(key(left_id, right_id));
    if (by_text_.empty()) return -1;
    auto it = by_text_.find(text_key(left, right));
    return it == by_text_.end() ? -1 : it->second;
  }
  size_t size() const { return count_; }

 private:
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static std::string text_key(std::string_view l, std::string_view r) {
    std::string k;
    k.reserve(l.size() + r.size() + 1);
    k.append(l).push_back('\0');
    k.append(r);
    return k;
  }
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  int32_t find_ids(uint64_t k) const {
    if (slots_.empty()) return -1;
    for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].rank < 0) return -1;
      if (slots_[i].key == k) return slots_[i].rank;
    }
  }
  void grow();

  struct Slot {
    uint64_t key;
    int32_t rank;  // -1: empty
  };
  std::vector<Slot> slots_;  // open addressing, linear probing, load <= 1/2
  size_t mask_ = 0;
  size_t used_ = 0;
  size_t count_ = 0;
  std::unordered_map<std::string, int32_t> by_text_;
};

}  // namespace ef::tok
