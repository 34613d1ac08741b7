// Training throughput of src/train: tokens/s and achieved GFLOP/s
// (6 x params x tokens/s, the usual forward+backward estimate) for a ~1M and
// a ~10M parameter llama model at 1 and 2 threads. One step = forward +
// backward + AdamW on a (batch, seq) batch of random tokens.
// Also reports tokens per CPU-second (meaningful on a shared machine) and the
// forward / backward / optimizer split.
// Usage: train_bench [--shape 1m|10m|all] [--threads 1,2] [--steps 5]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "train/optimizer.h"
#include "train/train_model.h"

namespace {

double wall() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Shape {
  const char* name;
  int64_t vocab, embd, layers, heads, kv_heads, ff, batch, seq;
};

constexpr Shape kShapes[] = {
    {"1m", 1024, 128, 4, 4, 4, 384, 8, 128},    // ~0.98M params (tied)
    {"10m", 8192, 256, 10, 8, 4, 768, 8, 256},  // ~10.3M params (tied)
};

int run(const Shape& s, int threads, int steps) {
  ef::ModelConfig c;
  c.n_vocab = s.vocab;
  c.n_ctx_train = s.seq;
  c.n_embd = s.embd;
  c.n_layer = s.layers;
  c.n_ff = s.ff;
  c.n_head = s.heads;
  c.n_head_kv = s.kv_heads;
  c.head_dim = s.embd / s.heads;
  c.n_rot = c.head_dim;
  c.tied_output = true;
  auto m_or = ef::train::TrainModel::create(c, s.batch, s.seq, threads);
  if (!m_or.ok()) {
    std::fprintf(stderr, "error: %s\n", m_or.error().message().c_str());
    return 1;
  }
  auto& m = **m_or;
  m.init_random(1);
  auto opt = ef::train::AdamW::create(m.n_params(), ef::train::AdamWConfig{});
  if (!opt.ok()) return 1;
  std::mt19937 rng(5);
  const int64_t n = s.batch * s.seq;
  std::vector<int32_t> ids(static_cast<size_t>(n)), tg(ids.size());
  double t_fwd = 0, t_bwd = 0, t_opt = 0, w0 = 0, c0 = 0;
  float loss = 0;
  for (int i = -1; i < steps; ++i) {  // step -1 warms up
    if (i == 0) {
      t_fwd = t_bwd = t_opt = 0;
      w0 = wall();
      c0 = cpu();
    }
    for (auto& t : ids) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.vocab));
    for (auto& t : tg) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.vocab));
    const double a = wall();
    m.zero_grad();
    loss = m.forward(ids.data(), tg.data());
    const double b = wall();
    m.backward(1.0f);
    const double d = wall();
    opt->step(m.params(), m.grads(), m.layout(), 1e-3f, m.pool());
    const double e = wall();
    t_fwd += b - a;
    t_bwd += d - b;
    t_opt += e - d;
  }
  const double w = wall() - w0, cs = cpu() - c0;
  const double tokens = static_cast<double>(n) * steps;
  const double tps = tokens / w;
  const double params = static_cast<double>(m.n_params());
  std::printf(
      "%-4s params %6.2fM  batch %lldx%lld  threads %d | %8.0f tok/s  %6.2f GFLOP/s | "
      "%8.0f tok/CPU-s %6.2f GFLOP/CPU-s | fwd %.0f%% bwd %.0f%% adamw %.0f%% | loss %.3f\n",
      s.name, params / 1e6, static_cast<long long>(s.batch), static_cast<long long>(s.seq), threads,
      tps, 6.0 * params * tps / 1e9, tokens / cs, 6.0 * params * tokens / cs / 1e9,
      100 * t_fwd / w, 100 * t_bwd / w, 100 * t_opt / w, loss);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "all", thread_list = "1,2";
  int steps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--shape") shape = v;
    else if (a == "--threads") thread_list = v;
    else if (a == "--steps") steps = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "usage: train_bench [--shape 1m|10m|all] [--threads 1,2] [--steps 5]\n");
      return 2;
    }
  }
  std::vector<int> threads;
  std::stringstream ss(thread_list);
  for (std::string t; std::getline(ss, t, ',');) threads.push_back(std::atoi(t.c_str()));
  for (const Shape& s : kShapes) {
    if (shape != "all" && shape != s.name) continue;
    for (int t : threads) {
      if (run(s, t, steps) != 0) return 1;
    }
  }
  return 0;
}
