#!/usr/bin/env bash
# Cross-checks EdgeFormer's forward pass against real llama.cpp on random
# models written by EdgeFormer's tiny-model factory: all logits of a prompt
# (max difference, perplexity) and greedy generations.
#
# llama.cpp comes prebuilt from the npm packages @node-llama-cpp/linux-x64
# (CPU shared libraries) and node-llama-cpp (which bundles the matching
# llama.cpp source; only its headers are used). x86-64 Linux only; needs npm,
# git, g++, python3 and a release build of this repository.
#
# Environment: WORK (cache dir, default /tmp/ef_llama_cpp_check),
# NLC_VERSION (default 3.22.1), EDGEFORMER_ISA (our kernels),
# LLBK (one llama.cpp CPU backend .so, e.g. .../libggml-cpu-icelake.so).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/llama_cpp_check
WORK=${WORK:-/tmp/ef_llama_cpp_check}
VERSION=${NLC_VERSION:-3.22.1}
mkdir -p "$WORK"
cd "$WORK"

if [ ! -d bins ]; then
  npm pack --silent "@node-llama-cpp/linux-x64@$VERSION" "node-llama-cpp@$VERSION" >/dev/null
  mkdir -p x64 main
  tar xzf node-llama-cpp-linux-x64-"$VERSION".tgz -C x64
  tar xzf node-llama-cpp-"$VERSION".tgz -C main
  git clone -q main/package/llama/gitRelease.bundle llama-src
  ln -s x64/package/bins/linux-x64 bins
fi
BINS=$WORK/bins
export LLBK_DIR=$BINS
LIBLLAMA=$(cd "$BINS" && ls libllama.*so | head -1)
LIBGGML=$(cd "$BINS" && ls libggml.v*.so | head -1)
g++ -O2 -std=c++17 "$HERE/llama_side.cpp" -I llama-src/include -I llama-src/ggml/include \
  -L "$BINS" -l:"$LIBLLAMA" -l:"$LIBGGML" -l:libggml-base.so -Wl,-rpath,"$BINS" -o llama_side
g++ -O2 -std=c++20 "$HERE/ef_side.cpp" -I "$ROOT/include" -I "$ROOT/src" \
  "$ROOT/build/release/libedgeformer.a" -pthread -o ef_side

tokens() {  # tokens N VOCAB SEED
  python3 -c "import random; random.seed($3); print(' '.join(str(random.randrange(3, $2)) for _ in range($1)))"
}

# name type n_embd n_layer n_head n_head_kv n_ff n_vocab tied
CASES=(
  "tiny-f32    f32  64  2 4 2  128  400 0"
  "tiny-q8_0   q8_0 64  2 4 2  128  400 1"
  "small-f32   f32  576 4 9 3 1536 2000 0"
  "small-f16   f16  576 4 9 3 1536 2000 1"
  "small-q8_0  q8_0 576 4 9 3 1536 2000 1"
  "small-q4_0  q4_0 576 4 9 3 1536 2000 1"
)
for c in "${CASES[@]}"; do
  set -- $c
  name=$1 vocab=$8
  ./ef_side make "$name.gguf" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9"
  tokens 128 "$vocab" 7 > "$name.tok"
  for kv in f16 f32; do
    ./llama_side logits "$name.gguf" "$name.tok" ll.bin 2 512 0 "$kv" 2>/dev/null
    ./ef_side logits "$name.gguf" "$name.tok" ef.bin 2 512 "$kv"
    echo "$name kv=$kv: $(python3 "$HERE/cmp.py" ll.bin ef.bin "$vocab" "$name.tok")"
  done
  tokens 16 "$vocab" 8 > "$name.prompt"
  g_ll=$(./llama_side greedy "$name.gguf" "$name.prompt" 48 2 2>/dev/null)
  g_ef=$(./ef_side greedy "$name.gguf" "$name.prompt" 48 2)
  if [ "$g_ll" = "$g_ef" ]; then
    echo "$name greedy 48 tokens: identical"
  else
    echo "$name greedy 48 tokens: DIFFER"
    echo "  llama.cpp:  $g_ll"
    echo "  edgeformer: $g_ef"
  fi
done
