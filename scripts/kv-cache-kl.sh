#!/bin/sh
# KL divergence of the next-token distributions with a quantized / BF16 KV
# cache against an F16 cache (edgeformer perplexity --kl-divergence), for
# every cache type with and without the Hadamard rotation. Prints one
# markdown table row per configuration (the table in bench/README.md).
#   scripts/kv-cache-kl.sh [model.gguf] [text] [chunks]
set -eu
B=${B:-build/release/bin/edgeformer}
M=${1:-models/default.gguf}
T=${2:-../shared/data/wikitext-2/test.txt}
N=${3:-200}
echo "| test cache | bytes/token | PPL (f16 base) | PPL (test) | mean KLD | 99% KLD | max KLD | same top-1 |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for cfg in "f32" "f16 --kv-hadamard" "bf16" "bf16 --kv-hadamard" "q8_0" "q8_0 --kv-hadamard" \
           "q4_0" "q4_0 --kv-hadamard"; do
  set -- $cfg
  t=$1
  shift
  "$B" perplexity -m "$M" -f "$T" --ctx 256 --chunks "$N" --kl-divergence --cache-type "$t" "$@" \
      2>/dev/null | awk -v name="$t${1:+ + hadamard}" '
    /^PPL\(base\)/ {pb = $3} /^PPL\(test\)/ {pt = $3}
    /^KV bytes\/token/ {bt = $NF}
    /^Mean KLD/ {mk = $4} /^99.0% KLD/ {k99 = $4} /^Max KLD/ {mx = $4} /^Same top-1/ {top = $4}
    END {printf "| %s | %s | %s | %s | %s | %s | %s | %s %% |\n", name, bt, pb, pt, mk, k99, mx, top}'
done
