// Roofline benchmark of the reference workload (issue #4).
//
// 1. Measures this machine's limits (bench/machine_limits.h): read bandwidth
//    at 1 and 2 threads, peak ops/s of each arithmetic unit.
// 2. For each weight type writes a random model of SmolLM2-135M's shape
//    (n_embd 576, 30 layers, 9 heads, 3 kv heads, ffn 1536, ctx 8192, vocab
//    32000, tied output) to a temp dir, loads it and runs, through
//    ef::Session as llama-bench does, pp512 (one 512-token prompt from an
//    empty cache) and tg128 (128 single-token evals from an empty cache).
// 3. Prints tokens/s beside llama.cpp's figures from the issue (2 threads,
//    AVX-512 VNNI/BF16 build without AMX), the ratio, and the percentage of
//    the roofline:
//      tg: (weight bytes read per token / measured bandwidth) -> max tokens/s,
//          twice: with the bandwidth of a 1 GiB buffer (DRAM: more than this
//          machine's last-level cache) and with the bandwidth of a buffer the
//          size of the weights read per token (what decode streams; on a CPU
//          whose last-level cache holds the model, e.g. 480 MiB here, that is
//          cache bandwidth, and the DRAM figure is not a ceiling).
//      pp: flops per prompt (2 * matmul params * 512 + attention) / peak of
//          the unit the active kernels use for that type.
//
// Usage: roofline [--types f32,f16,bf16,q8_0,q4_0] [--threads 1,2]
//                 [--pp 512] [--tg 128] [--reps 1] [--no-limits]
//                 [--flash-attn on|off]   (default on, as the CLI and library)
// The kernel ISA is the active one (EDGEFORMER_ISA=avx512 disables AMX).
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "kernels/kernels.h"
#include "machine_limits.h"
#include "model/tiny_model.h"

namespace {

using ef::DType;
using ef::bench::Unit;

struct LlamaCppFigure {
  double pp, tg;
};
// Issue #4: llama-bench pp512 / tg128, 2 threads, this machine.
const std::map<DType, LlamaCppFigure> kLlamaCpp = {{DType::Q4_0, {624, 132}},
                                                   {DType::Q8_0, {512, 102}},
                                                   {DType::F16, {492, 56}},
                                                   {DType::F32, {657, 46}}};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

ef::TinyModelSpec reference_spec(DType type) {
  ef::TinyModelSpec spec;
  spec.n_embd = 576;
  spec.n_layer = 30;
  spec.n_head = 9;
  spec.n_head_kv = 3;
  spec.n_ff = 1536;
  spec.n_ctx = 8192;
  spec.rope_freq_base = 100000.0f;
  spec.n_vocab_synthetic = 32000;
  spec.tied_output = true;
  spec.weight_type = type;
  return spec;
}

// Matmul weights of one token's forward pass: {params, bytes}.
std::pair<double, double> matmul_weights(const ef::TinyModelSpec& s) {
  const int64_t head_dim = s.n_embd / s.n_head;
  const int64_t kv = head_dim * s.n_head_kv;
  struct M {
    int64_t k, rows, count;
  };
  const M mats[] = {{s.n_embd, s.n_embd, 2 * s.n_layer},  // wq, wo
                    {s.n_embd, kv, 2 * s.n_layer},        // wk, wv
                    {s.n_embd, s.n_ff, 2 * s.n_layer},    // gate, up
                    {s.n_ff, s.n_embd, s.n_layer},        // down
                    {s.n_embd, s.n_vocab_synthetic, 1}};  // output (tied)
  double params = 0, bytes = 0;
  for (const M& m : mats) {
    params += static_cast<double>(m.k * m.rows * m.count);
    bytes += static_cast<double>(*ef::row_size_bytes(s.weight_type, static_cast<uint64_t>(m.k))) *
             static_cast<double>(m.rows * m.count);
  }
  return {params, bytes};
}

// Flops of a prompt of n tokens from an empty cache: matmuls + QK^T and AV.
double prompt_flops(const ef::TinyModelSpec& s, int n) {
  const double mm = 2.0 * matmul_weights(s).first * n;
  const double attn = 4.0 * static_cast<double>(s.n_embd) * s.n_layer * (double(n) * (n + 1) / 2);
  return mm + attn;
}

// The arithmetic unit the active kernels use for prefill of `type`.
Unit prefill_unit(ef::kernels::Isa isa, DType type) {
  using ef::kernels::Isa;
  const bool quant = type == DType::Q8_0 || type == DType::Q4_0;
  if (isa == Isa::amx && quant) return Unit::amx_int8;
  // bf16 is on AMX tiles when the CPU has AMX-BF16 (see amx_table.cpp);
  // f32/f16 stay on AVX-512.
  if (isa == Isa::amx && type == DType::BF16 && ef::cpu_features().amx_bf16) return Unit::amx_bf16;
  if (isa == Isa::avx512 || isa == Isa::avx512_vnni || isa == Isa::amx) {
    if (quant) return Unit::vnni_avx512;
    return type == DType::BF16 ? Unit::bf16_avx512 : Unit::fma_avx512;
  }
  return Unit::fma_avx2;
}

struct RunResult {
  double pp = 0, tg = 0;  // tokens/s, wall clock (best of reps)
  // tokens/s if every thread had its core to itself: tokens * threads /
  // process CPU time (pool spinning counts as busy, so this is a lower bound
  // of the unloaded figure). The machine is shared; both are reported.
  double pp_cpu = 0, tg_cpu = 0;
  bool ok = false;
};

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Flash attention on by default, like the CLI and the library (llama-bench's
// default is flash attention on where supported, as on its CPU backend).
bool g_flash_attn = true;

RunResult run_model(const std::string& path, int threads, int pp, int tg, int reps) {
  RunResult res;
  auto model = ef::Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.error().message().c_str());
    return res;
  }
  ef::SessionOptions opt;
  opt.n_threads = threads;
  opt.n_ctx = std::max(pp, tg) + 8;
  opt.flash_attn = g_flash_attn;
  auto session = ef::Session::create(**model, opt);
  if (!session.ok()) {
    std::fprintf(stderr, "error: %s\n", session.error().message().c_str());
    return res;
  }
  const int64_t n_vocab = (*model)->config().n_vocab;
  std::vector<int32_t> prompt(static_cast<size_t>(pp));
  for (int i = 0; i < pp; ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % n_vocab);
  // Warm-up: touches every weight page and grows the scratch buffers.
  if (!(*session)->eval(std::span<const int32_t>(prompt.data(), std::min(pp, 16))).ok()) return res;
  for (int r = 0; r < reps; ++r) {
    (*session)->reset();
    double t0 = ef::bench::now_s(), c0 = process_cpu_s();
    if (!(*session)->eval(prompt).ok()) return res;
    res.pp = std::max(res.pp, pp / (ef::bench::now_s() - t0));
    res.pp_cpu = std::max(res.pp_cpu, pp * threads / (process_cpu_s() - c0));
    (*session)->reset();
    int32_t tok = 1;
    t0 = ef::bench::now_s();
    c0 = process_cpu_s();
    for (int i = 0; i < tg; ++i) {
      if (!(*session)->eval(std::span<const int32_t>(&tok, 1)).ok()) return res;
      tok = static_cast<int32_t>((tok * 31 + 7) % n_vocab);
    }
    res.tg = std::max(res.tg, tg / (ef::bench::now_s() - t0));
    res.tg_cpu = std::max(res.tg_cpu, tg * threads / (process_cpu_s() - c0));
  }
  res.ok = true;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> types = {"f32", "f16", "bf16", "q8_0", "q4_0"};
  std::vector<int> threads_list = {1, 2};
  int pp = 512, tg = 128, reps = 1;
  bool limits = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--types")
      types = split(v), ++i;
    else if (a == "--threads") {
      threads_list.clear();
      for (const auto& t : split(v)) threads_list.push_back(std::atoi(t.c_str()));
      ++i;
    } else if (a == "--pp")
      pp = std::atoi(v), ++i;
    else if (a == "--tg")
      tg = std::atoi(v), ++i;
    else if (a == "--reps")
      reps = std::max(1, std::atoi(v)), ++i;
    else if (a == "--no-limits")
      limits = false;
    else if (a == "--flash-attn")
      g_flash_attn = std::string(v) == "on", ++i;
    else {
      std::fprintf(stderr,
                   "usage: roofline [--types f32,f16,bf16,q8_0,q4_0] [--threads 1,2] "
                   "[--pp 512] [--tg 128] [--reps 1] [--no-limits] [--flash-attn on|off]\n");
      return 2;
    }
  }
  const auto& f = ef::cpu_features();
  const auto isa = ef::kernels::active().isa;
  std::printf("cpu: %s\nkernels: %s\n", f.summary().c_str(), ef::kernels::isa_name(isa));

  // ---- machine limits --------------------------------------------------------
  std::map<int, double> bw;                     // threads -> bytes/s
  std::map<std::pair<Unit, int>, double> peak;  // (unit, threads) -> ops/s
  std::vector<Unit> units;
  if (f.avx2 && f.fma) units.push_back(Unit::fma_avx2);
  if (f.avx512f) units.push_back(Unit::fma_avx512);
  if (f.avx512_vnni) units.push_back(Unit::vnni_avx512);
  if (f.avx512_bf16) units.push_back(Unit::bf16_avx512);
  if (f.amx_usable && f.amx_int8) units.push_back(Unit::amx_int8);
  if (f.amx_usable && f.amx_bf16) units.push_back(Unit::amx_bf16);
  if (limits) {
    std::printf("\nmachine limits (best of several runs):\n");
    for (int t : threads_list) {
      bw[t] = ef::bench::read_bandwidth(t, true, size_t{1} << 30);
      const double bw4k = ef::bench::read_bandwidth(t, false, size_t{1} << 30);
      std::printf(
          "  read bandwidth (1 GiB buffer), %d thread(s): %6.1f GB/s on 2 MiB pages "
          "(the weights'), %.1f GB/s on 4 KiB pages\n",
          t, bw[t] / 1e9, bw4k / 1e9);
    }
    for (Unit u : units) {
      std::printf("  %-16s", ef::bench::unit_name(u));
      for (int t : threads_list) {
        peak[{u, t}] = ef::bench::peak_ops(u, t);
        std::printf("  %d thr: %7.1f G%s/s", t, peak[{u, t}] / 1e9,
                    u == Unit::amx_int8 || u == Unit::vnni_avx512 ? "OP" : "FLOP");
      }
      std::printf("\n");
    }
  }

  // ---- the reference model per type ------------------------------------------
  char dir_template[] = "/tmp/ef_roofline_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = dir_template;
  struct Row {
    std::string type;
    int threads;
    RunResult r;
    double pp_roof, tg_roof;  // tokens/s at 100% of the limit (0 = unknown)
    double tg_roof_ws;        // the same with the working-set-sized bandwidth
    const char* unit;
    const LlamaCppFigure* ref;
  };
  std::vector<Row> rows;
  for (const auto& name : types) {
    auto type = ef::dtype_from_name(name);
    if (!type) {
      std::fprintf(stderr, "unknown type %s\n", name.c_str());
      continue;
    }
    const auto spec = reference_spec(*type);
    const std::string path = dir + "/smollm2-135m-shape-" + name + ".gguf";
    const double t0 = ef::bench::now_s();
    if (auto st = ef::write_tiny_llama(path, spec); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error().message().c_str());
      continue;
    }
    std::printf("\n%s: model written in %.1f s (%.1f MB of matmul weights)\n", name.c_str(),
                ef::bench::now_s() - t0, matmul_weights(spec).second / 1e6);
    for (int t : threads_list) {
      Row row{name, t, run_model(path, t, pp, tg, reps), 0, 0, 0, "", nullptr};
      const Unit u = prefill_unit(isa, *type);
      row.unit = ef::bench::unit_name(u);
      if (peak.count({u, t})) row.pp_roof = peak[{u, t}] / prompt_flops(spec, pp) * pp;
      if (bw.count(t)) {
        const double bytes = matmul_weights(spec).second;
        row.tg_roof = bw[t] / bytes;
        const double ws = ef::bench::read_bandwidth(t, true, static_cast<size_t>(bytes));
        row.tg_roof_ws = ws / bytes;
        std::printf(
            "  read bandwidth of a %.0f MB buffer (the weights read per token), %d "
            "thread(s): %.1f GB/s\n",
            bytes / 1e6, t, ws / 1e9);
      }
      if (t == 2 && kLlamaCpp.count(*type)) row.ref = &kLlamaCpp.at(*type);
      std::printf(
          "  %d thread(s): pp%d %7.1f t/s (cpu-time %7.1f)   tg%d %6.1f t/s (cpu-time %6.1f)\n", t,
          pp, row.r.pp, row.r.pp_cpu, tg, row.r.tg, row.r.tg_cpu);
      std::fflush(stdout);
      rows.push_back(row);
    }
    std::filesystem::remove(path);
  }
  std::filesystem::remove_all(dir);

  // ---- table -----------------------------------------------------------------
  std::printf("\nwall-clock t/s; [cpu-time estimate] = tokens x threads / process CPU time\n");
  std::printf(
      "| type | thr | pp%d t/s [cpu] | llama.cpp | ratio | %% of peak (unit) | tg%d t/s [cpu] | "
      "llama.cpp | ratio | %% of BW roofline: DRAM | working set |\n",
      pp, tg);
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const Row& r : rows) {
    char ppref[32] = "-", ppratio[32] = "-", tgref[32] = "-", tgratio[32] = "-";
    char pproof[64] = "-", tgroof[32] = "-", tgroof_ws[32] = "-";
    if (r.ref != nullptr) {
      std::snprintf(ppref, sizeof ppref, "%.0f", r.ref->pp);
      std::snprintf(ppratio, sizeof ppratio, "%.2fx", r.r.pp / r.ref->pp);
      std::snprintf(tgref, sizeof tgref, "%.0f", r.ref->tg);
      std::snprintf(tgratio, sizeof tgratio, "%.2fx", r.r.tg / r.ref->tg);
    }
    if (r.pp_roof > 0)
      std::snprintf(pproof, sizeof pproof, "%.0f%% (%s)", 100 * r.r.pp / r.pp_roof, r.unit);
    if (r.tg_roof > 0)
      std::snprintf(tgroof, sizeof tgroof, "%.0f%% (max %.0f)", 100 * r.r.tg / r.tg_roof,
                    r.tg_roof);
    if (r.tg_roof_ws > 0)
      std::snprintf(tgroof_ws, sizeof tgroof_ws, "%.0f%% (max %.0f)", 100 * r.r.tg / r.tg_roof_ws,
                    r.tg_roof_ws);
    std::printf("| %s | %d | %.1f [%.1f] | %s | %s | %s | %.1f [%.1f] | %s | %s | %s | %s |\n",
                r.type.c_str(), r.threads, r.r.pp, r.r.pp_cpu, ppref, ppratio, pproof, r.r.tg,
                r.r.tg_cpu, tgref, tgratio, tgroof, tgroof_ws);
  }
  return 0;
}
