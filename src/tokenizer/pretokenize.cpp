// Pre-tokenizer pipelines per family, and the generic "regex stage" for the
// simpler regexes (character-class runs and friends).
//
// A regex stage behaves like std::regex_iterator over each piece, which is
// what llama.cpp uses for regexes without a custom splitter: find the
// leftmost match, emit the unmatched text before it (if any) and the match,
// continue after the match; emit the unmatched rest at the end.
//
// Character classes follow llama.cpp's std::regex set-up: for regexes with
// \p{..} every non-ASCII codepoint is "collapsed" to its category (so \p{L}
// is exactly the letter category and \s the White_Space property); for
// regexes with literal ranges, non-ASCII whitespace is first replaced by a
// vertical tab, so it matches \s but never a literal range (U+3000 in
// deepseek-llm's [　-。] included).
#include <algorithm>

#include "tokenizer/pretokenize.h"

namespace ef::tok {
namespace {

struct Range {
  uint32_t lo, hi;
};

// Literal codepoint set, as written in a regex character class.
template <size_t N>
bool in_ranges(const Range (&ranges)[N], uint32_t cp, uint8_t flags) {
  if (cp > 0x7F && (flags & kCpWhitespace)) return false;  // became '\v' first
  for (const Range& r : ranges)
    if (cp >= r.lo && cp <= r.hi) return true;
  return false;
}

// deepseek-llm's letter class (tokenizer.json of deepseek-llm, as in
// llama.cpp): [A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-Ֆ...].
// Written as numbers because several of its characters (U+1F7D, U+1FBE,
// U+2126, U+212A, ...) are silently replaced by their canonical equivalents
// when text is normalized.
constexpr Range kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// deepseek-llm's punctuation class [!-/:-~！-／：-～‘-‟　-。].
constexpr Range kDeepseekPunct[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
                                    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
// deepseek's CJK class [一-龥ࠀ-一가-퟿] (note: U+0800..U+4E00 spans many scripts).
constexpr Range kDeepseekCjk[] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

bool is_ascii_in(uint32_t cp, const char* set) {
  if (cp > 0x7F) return false;
  for (const char* s = set; *s; ++s)
    if (static_cast<uint32_t>(static_cast<unsigned char>(*s)) == cp) return true;
  return false;
}

// A match function: length of the regex match starting at p within [b, e), 0 if none.
using MatchFn = size_t (*)(const CpText& t, size_t p, size_t e);

template <class Pred>
size_t run_of(const CpText& t, size_t p, size_t e, Pred&& in_class) {
  size_t q = p;
  while (q < e && in_class(t.cps[q], t.flags[q])) ++q;
  return q - p;
}

// '\s?[class]+' (the class never contains whitespace, so no backtracking
// into the optional \s is needed beyond the one check).
template <class Pred>
size_t opt_space_run(const CpText& t, size_t p, size_t e, Pred&& in_class) {
  if ((t.flags[p] & kCpWhitespace) && p + 1 < e && in_class(t.cps[p + 1], t.flags[p + 1]))
    return 1 + run_of(t, p + 1, e, in_class);
  return run_of(t, p, e, in_class);
}

bool punct_or(uint32_t cp, uint8_t f, const char* ascii_extra) {
  return (f & kCpPunct) || is_ascii_in(cp, ascii_extra);
}

// [\p{P}\$\+<=>\^~\|]+  (default)
size_t m_default_punct(const CpText& t, size_t p, size_t e) {
  return run_of(t, p, e, [](uint32_t cp, uint8_t f) { return punct_or(cp, f, "$+<=>^~|"); });
}
// [\p{P}\$\+<=>\^~\|`]+  (falcon)
size_t m_falcon_punct(const CpText& t, size_t p, size_t e) {
  return run_of(t, p, e, [](uint32_t cp, uint8_t f) { return punct_or(cp, f, "$+<=>^~|`"); });
}
// \p{N}+
size_t m_numbers(const CpText& t, size_t p, size_t e) {
  return run_of(t, p, e, [](uint32_t, uint8_t f) { return (f & kCpNumber) != 0; });
}
// \p{N}
size_t m_number(const CpText& t, size_t p, size_t) { return (t.flags[p] & kCpNumber) ? 1 : 0; }
// [0-9][0-9][0-9]
size_t m_three_digits(const CpText& t, size_t p, size_t e) {
  if (p + 3 > e) return 0;
  for (size_t k = 0; k < 3; ++k)
    if (t.cps[p + k] < '0' || t.cps[p + k] > '9') return 0;
  return 3;
}
// [\r\n]
size_t m_newline(const CpText& t, size_t p, size_t) {
  return t.cps[p] == '\r' || t.cps[p] == '\n' ? 1 : 0;
}
// \s?\p{L}+
size_t m_space_letters(const CpText& t, size_t p, size_t e) {
  return opt_space_run(t, p, e, [](uint32_t, uint8_t f) { return (f & kCpLetter) != 0; });
}
// \s?\p{P}+
size_t m_space_punct(const CpText& t, size_t p, size_t e) {
  return opt_space_run(t, p, e, [](uint32_t, uint8_t f) { return (f & kCpPunct) != 0; });
}
// \s?[A-Za-zµÀ-Ö...]+  (deepseek-llm)
size_t m_deepseek_letters(const CpText& t, size_t p, size_t e) {
  return opt_space_run(
      t, p, e, [](uint32_t cp, uint8_t f) { return in_ranges(kDeepseekLetters, cp, f); });
}
// \s?[!-/:-~！-／：-～‘-‟　-。]+  (deepseek-llm)
size_t m_deepseek_punct(const CpText& t, size_t p, size_t e) {
  return opt_space_run(t, p, e,
                       [](uint32_t cp, uint8_t f) { return in_ranges(kDeepseekPunct, cp, f); });
}
// \s+$  (only a whitespace run that reaches the end of the piece)
size_t m_trailing_space(const CpText& t, size_t p, size_t e) {
  const size_t n = run_of(t, p, e, [](uint32_t, uint8_t f) { return (f & kCpWhitespace) != 0; });
  return n > 0 && p + n == e ? n : 0;
}
// [一-龥ࠀ-一가-퟿]+
size_t m_deepseek_cjk(const CpText& t, size_t p, size_t e) {
  return run_of(t, p, e, [](uint32_t cp, uint8_t f) { return in_ranges(kDeepseekCjk, cp, f); });
}

void regex_stage(const CpText& t, MatchFn match, const std::vector<uint32_t>& in,
                 std::vector<uint32_t>& out) {
  size_t start = 0;
  for (const uint32_t len : in) {
    const size_t e = start + len;
    size_t gap = start;
    for (size_t p = start; p < e;) {
      const size_t n = match(t, p, e);
      if (n == 0) {
        ++p;
        continue;
      }
      if (p > gap) out.push_back(static_cast<uint32_t>(p - gap));
      out.push_back(static_cast<uint32_t>(n));
      p += n;
      gap = p;
    }
    if (e > gap) out.push_back(static_cast<uint32_t>(e - gap));
    start = e;
  }
}

// One step of a family's pipeline.
enum class Stage { kGpt2, kLlama3, kQwen2, kRegex };
struct Step {
  Stage stage;
  MatchFn match = nullptr;
};

std::vector<Step> pipeline(PreType type) {
  switch (type) {
    case PreType::kDefault:
      return {{Stage::kRegex, m_default_punct},
              {Stage::kGpt2},
              {Stage::kRegex, m_numbers},
              {Stage::kRegex, m_three_digits}};
    case PreType::kGpt2:
      return {{Stage::kGpt2}};
    case PreType::kLlama3:
      return {{Stage::kLlama3}};
    case PreType::kQwen2:
      return {{Stage::kQwen2}};
    case PreType::kDeepseekLlm:
      return {{Stage::kRegex, m_newline},        {Stage::kRegex, m_deepseek_letters},
              {Stage::kRegex, m_deepseek_punct}, {Stage::kRegex, m_trailing_space},
              {Stage::kRegex, m_deepseek_cjk},   {Stage::kRegex, m_numbers}};
    case PreType::kDeepseekCoder:
      return {{Stage::kRegex, m_newline},
              {Stage::kRegex, m_space_letters},
              {Stage::kRegex, m_space_punct},
              {Stage::kRegex, m_deepseek_cjk},
              {Stage::kRegex, m_number}};
    case PreType::kFalcon:
      return {{Stage::kRegex, m_falcon_punct}, {Stage::kGpt2}, {Stage::kRegex, m_three_digits}};
    case PreType::kStarcoder:
      return {{Stage::kRegex, m_number}, {Stage::kGpt2}};
  }
  return {{Stage::kGpt2}};
}

struct NameMap {
  const char* name;
  PreType type;
  bool ignore_merges;
  bool add_bos;
};

// tokenizer.ggml.pre values, grouped as in llama.cpp's llama_vocab::load.
constexpr NameMap kNames[] = {
    {"default", PreType::kDefault, false, false},
    {"llama3", PreType::kLlama3, true, true},
    {"llama-v3", PreType::kLlama3, true, true},
    {"llama-bpe", PreType::kLlama3, true, true},
    {"falcon3", PreType::kLlama3, true, true},
    {"falcon-h1", PreType::kLlama3, true, true},
    {"pixtral", PreType::kLlama3, true, true},
    {"midm-2.0", PreType::kLlama3, true, true},
    {"lfm2", PreType::kLlama3, true, true},
    {"dbrx", PreType::kLlama3, false, false},
    {"smaug-bpe", PreType::kLlama3, false, false},
    {"deepseek-llm", PreType::kDeepseekLlm, false, false},
    {"deepseek-coder", PreType::kDeepseekCoder, false, false},
    {"falcon", PreType::kFalcon, false, false},
    {"mpt", PreType::kGpt2, false, false},
    {"gpt-2", PreType::kGpt2, false, false},
    {"gpt2", PreType::kGpt2, false, false},      // accepted spelling of our --pre flag
    {"gpt-neox", PreType::kGpt2, false, false},  // GPT-NeoX vocabularies use the GPT-2 regex
    {"phi-2", PreType::kGpt2, false, false},
    {"jina-es", PreType::kGpt2, false, false},
    {"jina-de", PreType::kGpt2, false, false},
    {"gigachat", PreType::kGpt2, false, false},
    {"jina-v2-es", PreType::kGpt2, false, false},
    {"jina-v2-de", PreType::kGpt2, false, false},
    {"jina-v1-en", PreType::kGpt2, false, false},
    {"jina-v2-code", PreType::kGpt2, false, false},
    {"roberta-bpe", PreType::kGpt2, false, false},
    {"a.x-4.0", PreType::kGpt2, false, false},
    {"mellum", PreType::kGpt2, false, false},
    {"modern-bert", PreType::kGpt2, false, false},
    {"olmo", PreType::kGpt2, false, false},
    {"jais", PreType::kGpt2, false, false},
    {"exaone4", PreType::kGpt2, false, false},
    {"trillion", PreType::kGpt2, false, false},
    {"granite-docling", PreType::kGpt2, false, false},
    {"starcoder", PreType::kStarcoder, false, false},
    {"refact", PreType::kStarcoder, false, false},
    {"command-r", PreType::kStarcoder, false, false},
    {"smollm", PreType::kStarcoder, false, false},
    {"codeshell", PreType::kStarcoder, false, false},
    {"exaone", PreType::kStarcoder, false, false},
    {"minerva-7b", PreType::kStarcoder, false, false},
    {"qwen2", PreType::kQwen2, false, false},
    {"deepseek-r1-qwen", PreType::kQwen2, false, false},
    {"stablelm2", PreType::kQwen2, false, false},
    {"megrez", PreType::kQwen2, false, false},
    {"hunyuan", PreType::kQwen2, false, false},
};

}  // namespace

std::optional<PreInfo> pre_info_from_name(std::string_view name) {
  if (name.empty()) return PreInfo{PreType::kDefault, false, false};
  for (const NameMap& m : kNames)
    if (name == m.name) return PreInfo{m.type, m.ignore_merges, m.add_bos};
  return std::nullopt;
}

const char* pre_type_name(PreType type) {
  switch (type) {
    case PreType::kDefault:
      return "default";
    case PreType::kGpt2:
      return "gpt-2";
    case PreType::kLlama3:
      return "llama3";
    case PreType::kQwen2:
      return "qwen2";
    case PreType::kDeepseekLlm:
      return "deepseek-llm";
    case PreType::kDeepseekCoder:
      return "deepseek-coder";
    case PreType::kFalcon:
      return "falcon";
    case PreType::kStarcoder:
      return "starcoder";
  }
  return "default";
}

void pretokenize(PreType type, const CpText& text, std::vector<uint32_t>& out) {
  out.clear();
  if (text.cps.empty()) return;
  // Single-stage families (the common ones) write straight into `out`.
  thread_local std::vector<uint32_t> cur, next;
  cur.assign(1, static_cast<uint32_t>(text.cps.size()));
  for (const Step& step : pipeline(type)) {
    next.clear();
    switch (step.stage) {
      case Stage::kGpt2:
        split_gpt2(text, cur, next);
        break;
      case Stage::kLlama3:
        split_llama3(text, cur, next, 3);
        break;
      case Stage::kQwen2:
        split_llama3(text, cur, next, 1);
        break;
      case Stage::kRegex:
        regex_stage(text, step.match, cur, next);
        break;
    }
    cur.swap(next);
  }
  out.assign(cur.begin(), cur.end());
}

std::vector<std::string> pretokenize_words(PreType type, std::string_view text) {
  CpText t;
  decode_lenient(text, t);
  std::vector<uint32_t> lens;
  pretokenize(type, t, lens);
  std::vector<std::string> words;
  size_t start = 0;
  for (const uint32_t n : lens) {
    words.push_back(t.utf8.substr(t.offs[start], t.offs[start + n] - t.offs[start]));
    start += n;
  }
  return words;
}

}  // namespace ef::tok
