// The EdgeFormer side of the cross-check (same modes as llama_side.cpp):
//   ef_side logits MODEL TOKENS OUT.bin THREADS UBATCH KV(f16|f32)
//   ef_side greedy MODEL TOKENS N_GEN THREADS
//   ef_side make OUT.gguf TYPE N_EMBD N_LAYER N_HEAD N_HEAD_KV N_FF N_VOCAB TIED [SEED]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_model.h"

static std::vector<int32_t> read_tokens(const char* path) {
  std::vector<int32_t> toks;
  FILE* f = std::fopen(path, "r");
  int t;
  while (f && std::fscanf(f, "%d", &t) == 1) toks.push_back(t);
  if (f) std::fclose(f);
  return toks;
}

static int fail(const ef::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: see the header of ef_side.cpp\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "make") {
    ef::TinyModelSpec s;
    auto type = ef::dtype_from_name(argv[3]);
    if (!type || argc < 11) return 2;
    s.weight_type = *type;
    s.n_embd = std::atoi(argv[4]);
    s.n_layer = std::atoi(argv[5]);
    s.n_head = std::atoi(argv[6]);
    s.n_head_kv = std::atoi(argv[7]);
    s.n_ff = std::atoi(argv[8]);
    s.n_vocab_synthetic = std::atoi(argv[9]);
    s.tied_output = std::atoi(argv[10]) != 0;
    s.n_ctx = 4096;
    if (argc > 11) s.seed = std::strtoull(argv[11], nullptr, 10);
    auto st = ef::write_tiny_llama(argv[2], s);
    return st.ok() ? 0 : fail(st.error());
  }
  const std::vector<int32_t> toks = read_tokens(argv[3]);
  auto model = ef::Model::load(argv[2]);
  if (!model.ok()) return fail(model.error());
  ef::SessionOptions o;
  o.n_threads = std::atoi(argv[5]);
  o.n_ctx = 4096;
  // llama_side runs with -fa off (flash_attn_type disabled): compare like with like.
  o.flash_attn = false;
  if (mode == "logits") {
    o.n_ubatch = std::atoi(argv[6]);
    o.kv_type = argc > 7 && std::strcmp(argv[7], "f32") == 0 ? ef::KvType::f32 : ef::KvType::f16;
  }
  auto session = ef::Session::create(**model, o);
  if (!session.ok()) return fail(session.error());
  auto r = (*session)->eval(toks, mode == "logits");
  if (!r.ok()) return fail(r.error());
  if (mode == "logits") {
    FILE* out = std::fopen(argv[4], "wb");
    std::fwrite(r->data(), 4, r->size(), out);
    std::fclose(out);
    return 0;
  }
  const int n_gen = std::atoi(argv[4]);
  for (int i = 0; i < n_gen; ++i) {
    int32_t best = 0;
    for (size_t v = 1; v < r->size(); ++v) if ((*r)[v] > (*r)[best]) best = static_cast<int32_t>(v);
    std::printf("%d ", best);
    r = (*session)->eval(std::span<const int32_t>(&best, 1));
    if (!r.ok()) return fail(r.error());
  }
  std::printf("\n");
  return 0;
}
