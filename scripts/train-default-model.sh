#!/usr/bin/env bash
# Reproduces models/default.gguf, the model `make demo` runs, from the shared
# corpora with nothing but the built CLI:
#   1. learn a 4096-token byte-level BPE vocabulary on WikiText-2 valid +
#      Tiny Shakespeare,
#   2. train a 3.4M-parameter llama (6 layers, n_embd 192, 6 heads / 2 KV
#      heads, FFN 512, context 256) for 1500 AdamW steps of 8 x 256 tokens
#      (3.1M tokens, ~4.5 epochs), evaluating on WikiText-2 test,
#   3. quantize it to Q8_0 (the committed file) and report held-out loss and
#      perplexity of both.
# Training is deterministic for a given seed and independent of the thread
# count, so the result is the same file on any x86-64 machine with the same
# kernels. About 15-20 minutes on 2 idle cores.
#
# Usage: scripts/train-default-model.sh [OUT_DIR]   (default: build/default-model)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${EDGEFORMER:-$root/build/release/bin/edgeformer}"
data="$root/../shared/data"
out="${1:-$root/build/default-model}"
mkdir -p "$out"
cd "$out"

"$bin" tokenizer train --vocab 4096 \
  --input "$data/wikitext-2/valid.txt" "$data/tinyshakespeare/input.txt" -o vocab4k.gguf

"$bin" train --vocab vocab4k.gguf \
  --data "$data/wikitext-2/valid.txt" "$data/tinyshakespeare/input.txt" \
  --val "$data/wikitext-2/test.txt" \
  --n-embd 192 --n-layer 6 --n-head 6 --n-head-kv 2 --n-ff 512 --seq 256 --batch 8 \
  --steps 1500 --warmup 100 --lr 2e-3 --min-lr 2e-4 --eval-interval 250 --eval-windows 32 \
  --checkpoint-interval 250 --log-interval 25 --seed 1234 -t 2 -o default-f32.gguf

"$bin" quantize default-f32.gguf default.gguf q8_0

for m in default-f32.gguf default.gguf; do
  echo "== held-out WikiText-2 test, $m"
  "$bin" eval -m "$m" -f "$data/wikitext-2/test.txt" -t 2
done
echo "Model: $out/default.gguf (copy it to models/default.gguf)"
