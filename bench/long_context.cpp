// The long-context table (issue #5): tokens/s and peak memory against
// sequence length for four attention variants of (nearly) equal parameter
// count, so one can see where each variant pays off.
//
//   MHA  8 heads, 8 KV heads (head_dim 32)
//   GQA  8 heads, 2 KV heads
//   MLA  deepseek2 layout: latent 64 + 16 shared RoPE dims per token
//   SWA  GQA with a 512-token sliding window on every layer (ring cache)
//
// All have n_embd 256, 4 layers, F32 weights, F16 KV cache, flash attention
// (the library default); n_ff is adjusted so the parameter counts agree to
// within a few percent (printed). For each length L the bench, in a fresh
// session with n_ctx = L + tg, (1) evaluates an L-token prompt (ppL: L / the
// prompt's wall time), (2) then generates `tg` single tokens at depth L
// (tg@L), and (3) reads the process's resident-set high-water mark (VmHWM,
// reset before each run by writing 5 to /proc/self/clear_refs) and the KV
// cache bytes the session allocated. Each point runs in a fresh process
// (this binary re-executed with --point), so one point's freed memory never
// shows up in the next one's peak.
//
// Usage: long_context [--lengths 128,512,...] [--tg 16] [--threads 2]
//                     [--variants mha,gqa,mla,swa] [--svg out.svg]
// Prints a markdown table; --svg writes a two-panel chart (decode tokens/s
// and peak memory against length, log2 x axis).
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/memory.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_deepseek2.h"
#include "model/tiny_model.h"

namespace {

struct Point {
  int64_t length = 0;
  double pp_tps = 0, tg_tps = 0;
  double peak_mib = 0, kv_mib = 0;
  bool ok = false;
};

struct Variant {
  std::string name;
  std::string path;
  uint64_t n_params = 0;
  std::vector<Point> points;
};

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(std::strtoll(item.c_str(), nullptr, 10));
  }
  return out;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false if not possible.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  return static_cast<bool>(f);
}

ef::Status write_variant(const std::string& name, const std::string& path, int64_t max_ctx) {
  if (name == "mla") {
    ef::TinyDeepseek2Spec s;
    s.n_embd = 256;
    s.n_layer = 4;
    s.n_head = 8;
    s.n_ff = 832;
    s.n_ctx = max_ctx;
    s.kv_lora_rank = 64;
    s.nope_dim = 32;
    s.rope_dim = 16;
    s.v_dim = 32;
    s.n_vocab_synthetic = 2048;
    s.seed = 7;
    return ef::write_tiny_deepseek2(path, s);
  }
  ef::TinyModelSpec s;
  s.n_embd = 256;
  s.n_layer = 4;
  s.n_head = 8;
  s.n_head_kv = name == "mha" ? 8 : 2;
  // wk + wv shrink by 2 x 256 x 192 per layer with 2 KV heads; n_ff grows by
  // that / (3 x 256) = 128 to keep the parameter count.
  s.n_ff = name == "mha" ? 768 : 896;
  s.n_ctx = max_ctx;
  s.n_vocab_synthetic = 2048;
  s.seed = 7;
  if (name == "swa") {
    s.sliding_window = 512;
    s.swa_pattern = 0;
  }
  return ef::write_tiny_llama(path, s);
}

Point run_point(const ef::Model& model, int64_t length, int tg, int threads) {
  Point p;
  p.length = length;
  ef::SessionOptions opt;
  opt.n_ctx = length + tg;
  opt.n_threads = threads;
  reset_peak_rss();
  auto session = ef::Session::create(model, opt);
  if (!session.ok()) {
    std::fprintf(stderr, "  L=%lld: %s\n", static_cast<long long>(length),
                 session.error().message().c_str());
    return p;
  }
  std::mt19937 rng(1234);
  const int64_t n_vocab = model.config().n_vocab;
  std::vector<int32_t> prompt(static_cast<size_t>(length));
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
  double t0 = now_s();
  if (!(*session)->eval(prompt).ok()) return p;
  p.pp_tps = static_cast<double>(length) / (now_s() - t0);
  t0 = now_s();
  for (int i = 0; i < tg; ++i) {
    const int32_t tok = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
    if (!(*session)->eval(std::span<const int32_t>(&tok, 1)).ok()) return p;
  }
  p.tg_tps = tg / (now_s() - t0);
  p.kv_mib = static_cast<double>((*session)->kv_cache_bytes()) / (1024.0 * 1024.0);
  p.peak_mib = static_cast<double>(ef::process_peak_rss_bytes()) / (1024.0 * 1024.0);
  p.ok = true;
  return p;
}

// --- SVG ---------------------------------------------------------------------

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

void svg_panel(std::ostream& o, const std::vector<Variant>& vs, double x0, const char* title,
               const char* unit, bool memory) {
  const double w = 440, h = 300, left = 60, top = 40, pw = w - left - 20, ph = h - top - 50;
  double lmin = 1e300, lmax = 0, ymax = 0;
  for (const Variant& v : vs) {
    for (const Point& p : v.points) {
      if (!p.ok) continue;
      lmin = std::min(lmin, std::log2(static_cast<double>(p.length)));
      lmax = std::max(lmax, std::log2(static_cast<double>(p.length)));
      ymax = std::max(ymax, memory ? p.peak_mib : p.tg_tps);
    }
  }
  if (lmax <= lmin) lmax = lmin + 1;
  ymax = ymax <= 0 ? 1 : ymax * 1.1;
  auto X = [&](double l) { return x0 + left + (l - lmin) / (lmax - lmin) * pw; };
  auto Y = [&](double y) { return top + ph - y / ymax * ph; };
  o << "<text x='" << x0 + w / 2 << "' y='22' text-anchor='middle' font-size='15'>" << title
    << "</text>\n";
  o << "<rect x='" << x0 + left << "' y='" << top << "' width='" << pw << "' height='" << ph
    << "' fill='none' stroke='#888'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double y = ymax * i / 4;
    o << "<text x='" << x0 + left - 6 << "' y='" << Y(y) + 4
      << "' text-anchor='end' font-size='11'>" << static_cast<long long>(std::lround(y))
      << "</text>\n";
  }
  for (double l = std::ceil(lmin); l <= lmax + 1e-9; l += 1) {
    o << "<text x='" << X(l) << "' y='" << top + ph + 16 << "' text-anchor='middle' font-size='11'>"
      << static_cast<long long>(std::llround(std::exp2(l))) << "</text>\n";
  }
  o << "<text x='" << x0 + left + pw / 2 << "' y='" << top + ph + 36
    << "' text-anchor='middle' font-size='12'>context length (tokens, log scale)</text>\n";
  o << "<text x='" << x0 + 14 << "' y='" << top + ph / 2 << "' font-size='12' transform='rotate(-90 "
    << x0 + 14 << " " << top + ph / 2 << ")' text-anchor='middle'>" << unit << "</text>\n";
  for (size_t i = 0; i < vs.size(); ++i) {
    std::string pts;
    for (const Point& p : vs[i].points) {
      if (!p.ok) continue;
      const double x = X(std::log2(static_cast<double>(p.length)));
      const double y = Y(memory ? p.peak_mib : p.tg_tps);
      pts += std::to_string(x) + "," + std::to_string(y) + " ";
      o << "<circle cx='" << x << "' cy='" << y << "' r='3' fill='" << kColors[i % 5] << "'/>\n";
    }
    o << "<polyline fill='none' stroke-width='2' stroke='" << kColors[i % 5] << "' points='" << pts
      << "'/>\n";
    o << "<text x='" << x0 + left + 10 << "' y='" << top + 16 + 15 * static_cast<double>(i)
      << "' font-size='12' fill='" << kColors[i % 5] << "'>" << vs[i].name << "</text>\n";
  }
}

bool write_svg(const std::string& path, const std::vector<Variant>& vs, int threads) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp);
    if (!o) return false;
    o << "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='330' "
         "font-family='sans-serif'>\n<rect width='900' height='330' fill='white'/>\n";
    const std::string t = "decode tokens/s at depth L (" + std::to_string(threads) + " threads)";
    svg_panel(o, vs, 0, t.c_str(), "tokens/s", false);
    svg_panel(o, vs, 450, "peak resident memory (VmHWM)", "MiB", true);
    o << "</svg>\n";
    if (!o.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

// Child mode: long_context --point MODEL L TG THREADS prints one line
// "point pp tg kv_mib peak_mib" (or nothing on failure).
int run_child(const std::string& path, int64_t length, int tg, int threads) {
  auto model = ef::Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.error().message().c_str());
    return 1;
  }
  const Point p = run_point(**model, length, tg, threads);
  if (!p.ok) return 1;
  std::printf("point %.3f %.3f %.4f %.3f\n", p.pp_tps, p.tg_tps, p.kv_mib, p.peak_mib);
  return 0;
}

Point run_in_child(const char* self, const std::string& path, int64_t length, int tg,
                   int threads) {
  Point p;
  p.length = length;
  const std::string cmd = std::string("'") + self + "' --point '" + path + "' " +
                          std::to_string(length) + " " + std::to_string(tg) + " " +
                          std::to_string(threads);
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return p;
  char line[256] = {0};
  const bool got = std::fgets(line, sizeof line, f) != nullptr;
  const int rc = ::pclose(f);
  if (got && rc == 0 &&
      std::sscanf(line, "point %lf %lf %lf %lf", &p.pp_tps, &p.tg_tps, &p.kv_mib, &p.peak_mib) ==
          4) {
    p.ok = true;
  }
  return p;
}

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--point") {
    return run_child(argv[2], std::strtoll(argv[3], nullptr, 10), std::atoi(argv[4]),
                     std::atoi(argv[5]));
  }
  std::vector<int64_t> lengths = {128, 512, 1024, 2048, 4096, 8192, 16384};
  std::vector<std::string> names = {"mha", "gqa", "mla", "swa"};
  int tg = 16, threads = 2;
  std::string svg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--lengths" && has_value) {
      lengths = parse_list(argv[++i]);
    } else if (a == "--tg" && has_value) {
      tg = std::atoi(argv[++i]);
    } else if (a == "--threads" && has_value) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--svg" && has_value) {
      svg = argv[++i];
    } else if (a == "--variants" && has_value) {
      names.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) names.push_back(item);
    } else {
      std::fprintf(stderr,
                   "usage: long_context [--lengths 128,512,...] [--tg 16] [--threads 2] "
                   "[--variants mha,gqa,mla,swa] [--svg out.svg]\n");
      return 2;
    }
  }
  if (lengths.empty() || tg < 1 || threads < 1) {
    std::fprintf(stderr, "error: need at least one length, --tg >= 1 and --threads >= 1\n");
    return 2;
  }
  const int64_t max_ctx = *std::max_element(lengths.begin(), lengths.end()) + tg;
  const auto dir = std::filesystem::temp_directory_path() / ("ef_long_context_" +
                                                              std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    std::fprintf(stderr, "error: cannot find this executable (/proc/self/exe)\n");
    return 1;
  }
  std::vector<Variant> variants;
  for (const std::string& name : names) {
    if (name != "mha" && name != "gqa" && name != "mla" && name != "swa") {
      std::fprintf(stderr, "error: unknown variant '%s' (mha, gqa, mla, swa)\n", name.c_str());
      return 2;
    }
    Variant v{name, (dir / (name + ".gguf")).string(), 0, {}};
    if (ef::Status st = write_variant(name, v.path, max_ctx); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error().message().c_str());
      return 1;
    }
    auto model = ef::Model::load(v.path);
    if (!model.ok()) {
      std::fprintf(stderr, "error: %s\n", model.error().message().c_str());
      return 1;
    }
    v.n_params = (*model)->n_params();
    std::fprintf(stderr, "%s: %.2fM params\n", name.c_str(), static_cast<double>(v.n_params) / 1e6);
    for (int64_t length : lengths) {
      const Point p = run_in_child(self.c_str(), v.path, length, tg, threads);
      if (p.ok) {
        std::fprintf(stderr, "  L=%-6lld pp %8.1f t/s  tg %7.1f t/s  peak %7.1f MiB  kv %7.2f MiB\n",
                     static_cast<long long>(length), p.pp_tps, p.tg_tps, p.peak_mib, p.kv_mib);
      }
      v.points.push_back(p);
    }
    variants.push_back(std::move(v));
  }
  std::filesystem::remove_all(dir);

  std::printf("| variant | params | L | ppL t/s | tg%d@L t/s | KV cache MiB | peak RSS MiB |\n", tg);
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const Variant& v : variants) {
    for (const Point& p : v.points) {
      if (!p.ok) {
        std::printf("| %s | %.2fM | %lld | failed | | | |\n", v.name.c_str(),
                    static_cast<double>(v.n_params) / 1e6, static_cast<long long>(p.length));
        continue;
      }
      std::printf("| %s | %.2fM | %lld | %.1f | %.1f | %.2f | %.1f |\n", v.name.c_str(),
                  static_cast<double>(v.n_params) / 1e6, static_cast<long long>(p.length),
                  p.pp_tps, p.tg_tps, p.kv_mib, p.peak_mib);
    }
  }
  if (!svg.empty()) {
    if (!write_svg(svg, variants, threads)) {
      std::fprintf(stderr, "error: cannot write %s\n", svg.c_str());
      return 1;
    }
    std::fprintf(stderr, "wrote %s\n", svg.c_str());
  }
  return 0;
}
