#include "tokenizer/bpe_merges.h"

namespace ef::tok {

void BpeMerges::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  const size_t cap = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(cap, Slot{0, -1});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.rank < 0) continue;
    size_t i = mix(s.key) & mask_;
    while (slots_[i].rank >= 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void BpeMerges::add(int32_t rank, int32_t left_id, int32_t right_id, std::string_view left,
                    std::string_view right) {
  if (left_id < 0 || right_id < 0) {
    if (by_text_.emplace(text_key(left, right), rank).second) ++count_;
    return;
  }
  if ((used_ + 1) * 2 > slots_.size()) grow();
  const uint64_t k = key(left_id, right_id);
  size_t i = mix(k) & mask_;
  for (; slots_[i].rank >= 0; i = (i + 1) & mask_)
    if (slots_[i].key == k) return;  // duplicate pair: keep the first rank
  slots_[i] = Slot{k, rank};
  ++used_;
  ++count_;
}

}  // namespace ef::tok
