// libFuzzer target for session files (Session::load_from_bytes) against
// fixed tiny models, one session per KV cache variant: f16 (with a sliding-
// window layer), q8_0, k q8_0 / v q4_0 with the Hadamard rotation, bf16, and
// deepseek2's MLA latent cache in f16 and q8_0. Each input is loaded into
// every session twice: as is, and with its trailing checksum recomputed, so
// mutations also reach the payload checks behind the checksum (token ids,
// layer headers, row copies) of every variant. A successful load is
// followed by one eval so ASan sees any bad row the validator let through.
//
// Seeds: at start-up a valid session file of each variant is written into
// every corpus directory on the command line (valid_<i>.efsession), so the
// seeds always match the models.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edgeformer/model.h"
#include "edgeformer/session.h"
#include "model/tiny_deepseek2.h"
#include "model/tiny_model.h"
#include "runtime/session_file.h"

namespace {

std::unique_ptr<ef::Model> g_llama, g_mla;
std::vector<std::unique_ptr<ef::Session>> g_sessions;
volatile float g_sink;

void try_load(ef::Session& session, std::span<const uint8_t> bytes) {
  auto r = session.load_from_bytes(bytes);
  if (!r.ok()) {
    if (session.n_past() != 0) __builtin_trap();  // failed loads leave it empty
    return;
  }
  if (!r->empty()) g_sink = (*r)[0] + (*r)[r->size() - 1];
  if (session.n_past() < session.n_ctx()) {
    const int32_t t = 3;
    auto l = session.eval(std::span<const int32_t>(&t, 1));
    if (!l.ok()) __builtin_trap();
    g_sink = (*l)[0];
  }
  session.reset();
}

void try_all(std::span<const uint8_t> bytes) {
  for (auto& s : g_sessions) try_load(*s, bytes);
}

std::unique_ptr<ef::Model> load_model(const std::string& path) {
  auto m = ef::Model::load(path);
  ::unlink(path.c_str());
  if (!m.ok()) __builtin_trap();
  return std::move(m).value();
}

void add_session(const ef::Model& model, ef::KvType k, ef::KvType v, bool hadamard) {
  ef::SessionOptions o;
  o.n_threads = 1;
  o.n_ubatch = 4;
  o.type_k = k;
  o.type_v = v;
  o.kv_type = k;
  o.kv_hadamard = hadamard;
  auto s = ef::Session::create(model, o);
  if (!s.ok()) __builtin_trap();
  g_sessions.push_back(std::move(s).value());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  using ef::KvType;
  ef::TinyModelSpec spec;
  spec.n_embd = 64;  // head_dim 32: whole blocks for q8_0 / q4_0
  spec.n_layer = 2;
  spec.n_head = 2;
  spec.n_head_kv = 1;
  spec.n_ff = 64;
  spec.n_ctx = 32;
  spec.n_vocab_synthetic = 330;
  spec.sliding_window = 3;  // layer 0 windowed, layer 1 global
  spec.swa_pattern = 2;
  const std::string pid = std::to_string(::getpid());
  const std::string lpath = "/tmp/ef_session_fuzz_" + pid + ".gguf";
  if (!ef::write_tiny_llama(lpath, spec).ok()) __builtin_trap();
  g_llama = load_model(lpath);
  ef::TinyDeepseek2Spec d;
  d.n_embd = 32;
  d.n_layer = 2;
  d.n_head = 2;
  d.n_ff = 64;
  d.n_ctx = 32;
  d.kv_lora_rank = 32;
  d.nope_dim = 16;
  d.rope_dim = 32;
  d.v_dim = 16;
  d.n_vocab_synthetic = 330;
  const std::string dpath = "/tmp/ef_session_fuzz_mla_" + pid + ".gguf";
  if (!ef::write_tiny_deepseek2(dpath, d).ok()) __builtin_trap();
  g_mla = load_model(dpath);
  add_session(*g_llama, KvType::f16, KvType::f16, false);
  add_session(*g_llama, KvType::q8_0, KvType::q8_0, false);
  add_session(*g_llama, KvType::q8_0, KvType::q4_0, true);
  add_session(*g_llama, KvType::bf16, KvType::bf16, false);
  add_session(*g_mla, KvType::f16, KvType::f16, false);
  add_session(*g_mla, KvType::q8_0, KvType::q8_0, false);

  // Valid seeds: 6 tokens with logits per variant, written into each corpus
  // directory.
  const int32_t prompt[6] = {1, 40, 41, 42, 300, 7};
  for (size_t v = 0; v < g_sessions.size(); ++v) {
    ef::Session& s = *g_sessions[v];
    if (!s.eval(prompt).ok()) __builtin_trap();
    for (int i = 1; i < *argc; ++i) {
      const char* arg = (*argv)[i];
      struct stat st {};
      if (arg[0] == '-' || ::stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      const std::string seed = std::string(arg) + "/valid_" + std::to_string(v) + ".efsession";
      if (!s.save(seed).ok()) __builtin_trap();
    }
    s.reset();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_all(std::span<const uint8_t>(data, size));
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    ef::Hash64 h;
    h.update(fixed.data(), size - 8);
    const uint64_t d = h.digest();
    std::memcpy(fixed.data() + size - 8, &d, 8);
    try_all(fixed);
  }
  return 0;
}
