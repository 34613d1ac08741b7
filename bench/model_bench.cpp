// End-to-end speed of the llama forward pass on a random model:
//   pp<N>: one eval() of an N-token prompt (prefill, micro-batches of n_ubatch)
//   tg<M>: M single-token eval() calls after it (decode)
// Usage: model_bench [--model PATH | --shape smollm2-135m|tiny] [--type f32|f16|q8_0|q4_0]
//                    [--threads N] [--pp 512] [--tg 128] [--reps 1] [--flash on|off]
//                    [--cache f16|f32]
// tg runs after the pp prompt, i.e. at depth pp (--pp 4096 --tg 64: decode
// at depth 4096).
// Without --model, a random model of the given shape is written to /tmp first.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "kernels/kernels.h"
#include "model/tiny_model.h"

namespace {
double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
// CPU seconds used by the whole process (all threads): on a shared machine
// tokens per CPU-second is steadier than wall-clock tokens/s.
double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  std::string model_path, shape = "smollm2-135m", type_name = "q8_0";
  int threads = 2, pp = 512, tg = 128, reps = 1;
  bool flash = true, kv_f32 = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") model_path = v;
    else if (a == "--shape") shape = v;
    else if (a == "--type") type_name = v;
    else if (a == "--threads") threads = std::atoi(v.c_str());
    else if (a == "--pp") pp = std::atoi(v.c_str());
    else if (a == "--tg") tg = std::atoi(v.c_str());
    else if (a == "--reps") reps = std::atoi(v.c_str());
    else if (a == "--flash") flash = v == "on";
    else if (a == "--cache") kv_f32 = v == "f32";
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (model_path.empty()) {
    auto type = ef::dtype_from_name(type_name);
    if (!type) {
      std::fprintf(stderr, "bad --type %s\n", type_name.c_str());
      return 2;
    }
    ef::TinyModelSpec spec;
    if (shape == "smollm2-135m") {
      spec.n_embd = 576;
      spec.n_layer = 30;
      spec.n_head = 9;
      spec.n_head_kv = 3;
      spec.n_ff = 1536;
      spec.n_ctx = 8192;
      spec.rope_freq_base = 100000.0f;
      spec.n_vocab_synthetic = 32000;
      spec.tied_output = true;  // as SmolLM2
    }
    spec.weight_type = *type;
    model_path = "/tmp/ef_bench_" + shape + "_" + type_name + ".gguf";
    const double t0 = now_s();
    auto st = ef::write_tiny_llama(model_path, spec);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.error().message().c_str());
      return 1;
    }
    std::printf("wrote %s in %.1f s\n", model_path.c_str(), now_s() - t0);
  }
  auto model = ef::Model::load(model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "error: %s\n", model.error().message().c_str());
    return 1;
  }
  const auto& c = (*model)->config();
  std::printf("model: %lld params, %s, isa %s, %d threads\n",
              static_cast<long long>((*model)->n_params()), (*model)->type_summary().c_str(),
              ef::kernels::isa_name(ef::kernels::active().isa), threads);
  ef::SessionOptions opt;
  opt.n_threads = threads;
  opt.n_ctx = pp + tg;
  opt.flash_attn = flash;
  opt.kv_type = kv_f32 ? ef::KvType::f32 : ef::KvType::f16;
  std::printf("flash attention %s, %s cache\n", flash ? "on" : "off", kv_f32 ? "f32" : "f16");
  auto session = ef::Session::create(**model, opt);
  if (!session.ok()) {
    std::fprintf(stderr, "error: %s\n", session.error().message().c_str());
    return 1;
  }
  std::vector<int32_t> prompt(static_cast<size_t>(pp));
  for (int i = 0; i < pp; ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % c.n_vocab);
  for (int r = 0; r < reps; ++r) {
    (*session)->reset();
    double t0 = now_s(), c0 = cpu_s();
    auto out = (*session)->eval(prompt);
    const double t_pp = now_s() - t0, c_pp = cpu_s() - c0;
    if (!out.ok()) return 1;
    t0 = now_s();
    c0 = cpu_s();
    int32_t tok = 1;
    for (int i = 0; i < tg; ++i) {
      auto o = (*session)->eval(std::span<const int32_t>(&tok, 1));
      if (!o.ok()) return 1;
      tok = static_cast<int32_t>((tok * 31 + 7) % c.n_vocab);
    }
    const double t_tg = now_s() - t0, c_tg = cpu_s() - c0;
    std::printf("pp%d: %.1f tok/s (%.1f tok/cpu-s)   tg%d: %.1f tok/s (%.1f tok/cpu-s)\n", pp,
                pp / t_pp, pp / c_pp, tg, tg / t_tg, tg / c_tg);
  }
  return 0;
}
