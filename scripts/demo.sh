#!/usr/bin/env bash
# `make demo`: shows the engine end to end with the built CLI.
#
# Runs the committed default model (models/default.gguf, trained by
# scripts/train-default-model.sh): prints its summary, generates 64 tokens
# from a prompt and runs a short benchmark.
#
# Usage: scripts/demo.sh [path/to/edgeformer]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build/release/bin/edgeformer}"
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; build first (make build)" >&2
  exit 1
fi

model="$root/models/default.gguf"
if [ ! -f "$model" ]; then
  echo "demo: $model is missing (it is committed to the repository;" \
       "scripts/train-default-model.sh reproduces it)" >&2
  exit 1
fi

echo "== EdgeFormer demo"
echo "Model: models/default.gguf, a 3.4M-parameter llama trained by EdgeFormer itself"
echo "(scripts/train-default-model.sh) on WikiText-2 valid + Tiny Shakespeare, Q8_0;"
echo "held-out WikiText-2 test perplexity 63.8 (4096-token BPE vocabulary)."
echo "It is tiny: expect locally plausible English, not sense."
echo
echo "== 1. the model"
"$bin" info "$model" | sed -n 1,12p
echo
echo "== 2. generate 64 tokens"
prompt="ROMEO:"
echo "\$ edgeformer generate -m models/default.gguf -p \"$prompt\" -n 64 --seed 42"
"$bin" generate -m "$model" -p "$prompt" -n 64 --seed 42
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
echo "Next: 'edgeformer info models/default.gguf' lists its tensors; 'make test' runs the tests."
