#include "cli_common.h"

#include <unistd.h>

#include <cctype>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>

#include "kernels/kernels.h"

namespace ef::cli {

int exit_code_for(const Error& error) {
  return error.code == Errc::invalid_argument ? kExitUsage : kExitFailure;
}

Error usage_error(std::string what, std::string where, std::string hint) {
  return make_error(Errc::invalid_argument, std::move(what), std::move(where), std::move(hint));
}

std::string active_isa_name() { return kernels::isa_name(kernels::active().isa); }

std::string strprintf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return strprintf("%llu B", static_cast<unsigned long long>(bytes));
  if (bytes < 1024ull * 1024) return strprintf("%.2f KiB", b / 1024.0);
  if (bytes < 1024ull * 1024 * 1024) return strprintf("%.2f MiB", b / 1024.0 / 1024.0);
  return strprintf("%.2f GiB", b / 1024.0 / 1024.0 / 1024.0);
}

std::string format_params(uint64_t n) {
  if (n < 1000ull * 1000 * 1000) return strprintf("%.2f M", static_cast<double>(n) / 1e6);
  return strprintf("%.2f B", static_cast<double>(n) / 1e9);
}

std::string format_seconds(double seconds) {
  if (seconds < 1.0) return strprintf("%.2f ms", seconds * 1e3);
  return strprintf("%.3f s", seconds);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- Progress -----------------------------------------------------------------

namespace {
std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return strprintf("%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return strprintf("%lld:%02lld", s / 60, s % 60);
}
}  // namespace

Progress::Progress(std::string label, int64_t total, bool forced, bool allow_auto)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  enabled_ = (tty_ && allow_auto) || forced;
}

void Progress::update(int64_t done) {
  if (!enabled_ || finished_) return;
  last_done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  // A TTY redraws cheaply; a log file gets at most one line per second, and
  // its last line comes from finish().
  if (!tty_ && done >= total_) return;
  if (since_draw < (tty_ ? 0.1 : 1.0) && done < total_) return;
  last_draw_ = now;
  draw(done, false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  draw(last_done_ < total_ ? total_ : last_done_, true);
  finished_ = true;
}

void Progress::draw(int64_t done, bool final) {
  const double elapsed = seconds_since(start_);
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double pct =
      total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  std::string line =
      strprintf("%s: %lld/%lld (%5.1f%%) %.2f/s", label_.c_str(), static_cast<long long>(done),
                static_cast<long long>(total_), pct, rate);
  if (final) {
    line += " done in " + format_duration(elapsed);
  } else {
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1.0;
    line += " ETA " + format_duration(eta);
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ef::cli

namespace ef::cli {

Result<uint64_t> parse_byte_size(const std::string& text) {
  auto bad = [&text]() {
    return make_error(Errc::invalid_argument, "bad byte size '" + text + "'", "",
                      "use a number with an optional K, M, G or T suffix, e.g. 512M");
  };
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) {
    return bad();
  }
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  std::string unit(end);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'I')) unit.pop_back();
  double scale = 1;
  if (unit.size() == 1) {
    switch (unit[0]) {
      case 'k': case 'K': scale = 1024.0; break;
      case 'm': case 'M': scale = 1024.0 * 1024; break;
      case 'g': case 'G': scale = 1024.0 * 1024 * 1024; break;
      case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
      default: return bad();
    }
  } else if (!unit.empty()) {
    return bad();
  }
  const double bytes = value * scale;
  if (!(bytes >= 1) || bytes > 1.8e19) return bad();
  return static_cast<uint64_t>(bytes);
}

}  // namespace ef::cli
