// libFuzzer target for session files (Session::load_from_bytes) against a
// fixed tiny model. Each input is loaded twice: as is, and with its trailing
// checksum recomputed, so mutations also reach the payload checks behind the
// checksum (token ids, layer headers, row copies). A successful load is
// followed by one eval so ASan sees any bad row the validator let through.
//
// Seeds: at start-up a valid session file of this model is written into
// every corpus directory on the command line (valid.efsession), so the seed
// always matches the model; fuzz/corpus/session_fuzz/ holds a copy.
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
#include "model/tiny_model.h"
#include "runtime/session_file.h"

namespace {

std::unique_ptr<ef::Model> g_model;
std::unique_ptr<ef::Session> g_session;
volatile float g_sink;

void try_load(std::span<const uint8_t> bytes) {
  auto r = g_session->load_from_bytes(bytes);
  if (!r.ok()) {
    if (g_session->n_past() != 0) __builtin_trap();  // failed loads leave it empty
    return;
  }
  if (!r->empty()) g_sink = (*r)[0] + (*r)[r->size() - 1];
  if (g_session->n_past() < g_session->n_ctx()) {
    const int32_t t = 3;
    auto l = g_session->eval(std::span<const int32_t>(&t, 1));
    if (!l.ok()) __builtin_trap();
    g_sink = (*l)[0];
  }
  g_session->reset();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  ef::TinyModelSpec spec;
  spec.n_embd = 32;
  spec.n_layer = 2;
  spec.n_head = 2;
  spec.n_head_kv = 1;
  spec.n_ff = 64;
  spec.n_ctx = 32;
  spec.n_vocab_synthetic = 330;
  spec.sliding_window = 3;  // layer 0 windowed, layer 1 global
  spec.swa_pattern = 2;
  const std::string path = "/tmp/ef_session_fuzz_" + std::to_string(::getpid()) + ".gguf";
  if (!ef::write_tiny_llama(path, spec).ok()) __builtin_trap();
  auto m = ef::Model::load(path);
  ::unlink(path.c_str());
  if (!m.ok()) __builtin_trap();
  g_model = std::move(m).value();
  ef::SessionOptions o;
  o.n_threads = 1;
  o.n_ubatch = 4;
  auto s = ef::Session::create(*g_model, o);
  if (!s.ok()) __builtin_trap();
  g_session = std::move(s).value();

  // A valid seed: 6 tokens with logits, written into each corpus directory.
  const int32_t prompt[6] = {1, 40, 41, 42, 300, 7};
  if (!g_session->eval(prompt).ok()) __builtin_trap();
  for (int i = 1; i < *argc; ++i) {
    const char* arg = (*argv)[i];
    struct stat st {};
    if (arg[0] == '-' || ::stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (!g_session->save(std::string(arg) + "/valid.efsession").ok()) __builtin_trap();
  }
  g_session->reset();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_load(std::span<const uint8_t>(data, size));
  if (size >= 8) {
    std::vector<uint8_t> fixed(data, data + size);
    ef::Hash64 h;
    h.update(fixed.data(), size - 8);
    const uint64_t d = h.digest();
    std::memcpy(fixed.data() + size - 8, &d, 8);
    try_load(fixed);
  }
  return 0;
}
