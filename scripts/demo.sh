#!/usr/bin/env bash
# `make demo`: shows the engine end to end with the built CLI.
#
# Until a trained default model exists, this creates a small llama model with
# RANDOM weights (under build/demo/), generates ~48 tokens from a prompt and
# runs a short benchmark. The generated text is gibberish by construction;
# what the demo shows is that loading, tokenizing, prefill, sampling,
# streaming detokenization and the benchmark all run.
#
# Usage: scripts/demo.sh [path/to/edgeformer]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/release/bin/edgeformer}"
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; build first (make build)" >&2
  exit 1
fi

out="$root/build/demo"
mkdir -p "$out"
model="$out/random-llama.gguf"

# A real SentencePiece vocabulary makes the prompt tokenize like a real
# llama model's; fall back to the built-in synthetic vocabulary on a clone
# without the shared data directory.
vocab="$root/../shared/data/vocab/ggml-vocab-llama-spm.gguf"
vocab_args=()
if [ -f "$vocab" ]; then
  vocab_args=(--vocab "$vocab")
  vocab_note="llama SentencePiece vocabulary, $(basename "$vocab")"
else
  vocab_note="synthetic vocabulary"
fi

echo "== EdgeFormer demo"
echo "NOTE: there is no trained model yet. This demo builds an UNTRAINED model with"
echo "      random weights, so the generated text below is gibberish. It shows the"
echo "      engine running end to end, not model quality."
echo
echo "== 1. create the random-weight demo model ($vocab_note)"
"$bin" init-model -o "$model" --n-embd 256 --n-layer 4 --n-head 8 --n-head-kv 4 \
  --n-ff 768 --ctx 512 --type q8_0 --seed 42 "${vocab_args[@]}"
echo
echo "== 2. generate 48 tokens"
prompt="Once upon a time"
echo "\$ edgeformer generate -m $(basename "$model") -p \"$prompt\" -n 48 --seed 42"
"$bin" generate -m "$model" -p "$prompt" -n 48 --seed 42
echo
echo "== 3. benchmark (pp64 = prompt of 64 tokens, tg16 = 16 generated tokens)"
table="$("$bin" bench -m "$model" -p 64 -n 16 -r 3 -t 2)"
# Columns: | model | size | params | backend | threads | test | t/s |
summary="$(printf '%s\n' "$table" | awk -F'|' '
  $7 ~ /pp[0-9]/ { gsub(/^ +| +$/, "", $7); gsub(/^ +| +$/, "", $8); pp = $7 " " $8 " t/s" }
  $7 ~ /tg[0-9]/ { gsub(/^ +| +$/, "", $7); gsub(/^ +| +$/, "", $8); tg = $7 " " $8 " t/s";
                   gsub(/^ +| +$/, "", $5); be = $5; gsub(/^ +| +$/, "", $6); th = $6 }
  END { if (pp != "" && tg != "") printf "benchmark: %s, %s (%s, %s threads)\n", pp, tg, be, th }')"
if [ -z "$summary" ]; then
  echo "demo: could not read the benchmark table:" >&2
  printf '%s\n' "$table" >&2
  exit 1
fi
echo "$summary"
echo
echo "Next: 'edgeformer info $model' shows the model's tensors; 'make test' runs the tests."
