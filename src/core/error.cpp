#include "edgeformer/error.h"

namespace ef {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::io: return "I/O error";
    case Errc::format: return "format error";
    case Errc::unsupported: return "unsupported";
    case Errc::out_of_range: return "out of range";
    case Errc::out_of_memory: return "out of memory";
    case Errc::internal: return "internal error";
  }
  return "error";
}

std::string Error::message() const {
  std::string out = what;
  if (!where.empty()) out += " (" + where + ")";
  if (!hint.empty()) out += "; hint: " + hint;
  return out;
}

}  // namespace ef
