// The llama.cpp side of the cross-check: runs real llama.cpp (prebuilt
// shared libraries, see run.sh) through its public C API only.
//   llama_side logits MODEL TOKENS OUT.bin THREADS UBATCH FA(0|1) KV(f16|f32)
//       all logits of the token list (one batch), as raw float32 rows
//   llama_side greedy MODEL TOKENS N_GEN THREADS
//       N_GEN greedy tokens after the prompt, printed space separated
//   llama_side bench MODEL TOKENS N_GEN THREADS
//       prefill of the token list, then N_GEN decode steps: tokens/s of each
// LLBK=path/libggml-cpu-VARIANT.so picks one CPU backend variant (else the
// best one in LLBK_DIR is loaded).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

static std::vector<llama_token> read_tokens(const char* path) {
  std::vector<llama_token> toks;
  FILE* f = std::fopen(path, "r");
  int t;
  while (f && std::fscanf(f, "%d", &t) == 1) toks.push_back(t);
  if (f) std::fclose(f);
  return toks;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: see the header of llama_side.cpp\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::vector<llama_token> toks = read_tokens(argv[3]);
  if (toks.empty()) return 2;
  llama_backend_init();
  if (const char* bk = std::getenv("LLBK")) {
    ggml_backend_load(bk);
  } else {
    ggml_backend_load_all_from_path(std::getenv("LLBK_DIR"));
  }
  llama_model* model = llama_model_load_from_file(argv[2], llama_model_default_params());
  if (!model) return 1;
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024;
  while (cp.n_ctx < toks.size() + 256) cp.n_ctx *= 2;
  cp.n_batch = cp.n_ctx;
  if (mode == "logits") {
    cp.n_ubatch = std::atoi(argv[6]);
    cp.n_threads = cp.n_threads_batch = std::atoi(argv[5]);
    cp.flash_attn_type =
        std::atoi(argv[7]) ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = cp.type_v = std::strcmp(argv[8], "f32") == 0 ? GGML_TYPE_F32 : GGML_TYPE_F16;
  } else {
    cp.n_threads = cp.n_threads_batch = std::atoi(argv[5]);
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 1;
  if (mode == "logits") {
    llama_batch b = llama_batch_init(static_cast<int32_t>(toks.size()), 0, 1);
    for (size_t i = 0; i < toks.size(); ++i) {
      b.token[i] = toks[i];
      b.pos[i] = static_cast<llama_pos>(i);
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = 1;
    }
    b.n_tokens = static_cast<int32_t>(toks.size());
    if (llama_decode(ctx, b) != 0) return 1;
    FILE* out = std::fopen(argv[4], "wb");
    for (size_t i = 0; i < toks.size(); ++i) {
      std::fwrite(llama_get_logits_ith(ctx, static_cast<int32_t>(i)), 4, n_vocab, out);
    }
    std::fclose(out);
    llama_batch_free(b);
  } else if (mode == "bench") {
    using clk = std::chrono::steady_clock;
    std::vector<llama_token> prompt = toks;
    auto t0 = clk::now();
    if (llama_decode(ctx, llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))))
      return 1;
    const double t_pp = std::chrono::duration<double>(clk::now() - t0).count();
    const int n_gen = std::atoi(argv[4]);
    llama_token tok = 1;
    t0 = clk::now();
    for (int i = 0; i < n_gen; ++i) {
      if (llama_decode(ctx, llama_batch_get_one(&tok, 1))) return 1;
      tok = (tok * 31 + 7) % n_vocab;
    }
    const double t_tg = std::chrono::duration<double>(clk::now() - t0).count();
    std::printf("llama.cpp pp%zu: %.1f tok/s   tg%d: %.1f tok/s\n", prompt.size(),
                prompt.size() / t_pp, n_gen, n_gen / t_tg);
  } else {
    std::vector<llama_token> prompt = toks;
    if (llama_decode(ctx, llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))))
      return 1;
    const int n_gen = std::atoi(argv[4]);
    for (int i = 0; i < n_gen; ++i) {
      const float* lg = llama_get_logits_ith(ctx, -1);
      llama_token best = 0;
      for (int v = 1; v < n_vocab; ++v) if (lg[v] > lg[best]) best = v;
      std::printf("%d ", best);
      if (llama_decode(ctx, llama_batch_get_one(&best, 1))) return 1;
    }
    std::printf("\n");
  }
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
