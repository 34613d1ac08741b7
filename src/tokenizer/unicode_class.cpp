#include "tokenizer/unicode_class.h"

#include <utf8proc.h>

#include "tokenizer/utf8.h"

namespace ef::tok {
namespace {

// The Unicode White_Space property (PropList.txt): the 25 codepoints Python's
// `regex` module matches with \s, which is how llama.cpp defines whitespace.
bool is_white_space(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

uint8_t compute_flags(uint32_t cp) {
  uint8_t f = 0;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      f = kCpLetter;
      break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      f = kCpMark;
      break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      f = kCpNumber;
      break;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      f = kCpPunct;
      break;
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
      f = kCpSymbol;
      break;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      f = kCpSeparator;
      break;
    default:  // Cc Cf Cs Co Cn
      f = kCpControl;
      break;
  }
  if (is_white_space(cp)) f |= kCpWhitespace;
  return f;
}

// Flags of the Basic Multilingual Plane, computed once (64 KiB); the rare
// astral codepoints ask utf8proc directly.
const std::vector<uint8_t>& bmp_flags() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(0x10000);
    for (uint32_t cp = 0; cp < 0x10000; ++cp) t[cp] = compute_flags(cp);
    return t;
  }();
  return table;
}

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 324> to_byte;  // codepoints 0..323 cover the whole image
};

const ByteTables& byte_tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    t.to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : next++;
      append_utf8(t.to_unicode[static_cast<size_t>(b)], cp);
      t.to_byte[cp] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

uint8_t cp_flags(uint32_t cp) {
  if (cp < 0x10000) return bmp_flags()[cp];
  if (cp > 0x10FFFF) return 0;
  return compute_flags(cp);
}

void decode_lenient(std::string_view s, CpText& out) {
  out.utf8.clear();
  out.cps.clear();
  out.flags.clear();
  out.offs.clear();
  out.cps.reserve(s.size());
  out.offs.reserve(s.size() + 1);
  const std::vector<uint8_t>& bmp = bmp_flags();
  auto cont = [&](size_t k) { return k < s.size() && (static_cast<uint8_t>(s[k]) & 0xC0) == 0x80; };
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      if (cont(i + 1)) {
        cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
        len = 2;
      }
    } else if ((b0 & 0xF0) == 0xE0) {
      if (cont(i + 1) && cont(i + 2)) {
        cp = ((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) |
             (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
        len = 3;
      }
    } else if ((b0 & 0xF8) == 0xF0) {
      if (cont(i + 1) && cont(i + 2) && cont(i + 3)) {
        cp = ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
             ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
        len = 4;
        if (cp > 0x10FFFF) {
          cp = 0xFFFD;
          len = 1;
        }
      }
    }
    out.offs.push_back(static_cast<uint32_t>(out.utf8.size()));
    out.cps.push_back(cp);
    out.flags.push_back(cp < 0x10000 ? bmp[cp] : compute_flags(cp));
    if (cp < 0x80) {
      out.utf8 += static_cast<char>(cp);
    } else {
      append_utf8(out.utf8, cp);
    }
    i += len;
  }
  out.offs.push_back(static_cast<uint32_t>(out.utf8.size()));
}

const std::array<std::string, 256>& byte_to_unicode() { return byte_tables().to_unicode; }

int unicode_to_byte(uint32_t cp) {
  const ByteTables& t = byte_tables();
  return cp < t.to_byte.size() ? t.to_byte[cp] : -1;
}

void append_byte_encoded(std::string& out, std::string_view bytes) {
  const auto& table = byte_tables().to_unicode;
  for (char c : bytes) out += table[static_cast<uint8_t>(c)];
}

}  // namespace ef::tok
