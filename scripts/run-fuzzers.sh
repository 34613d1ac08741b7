#!/usr/bin/env bash
# Runs every libFuzzer target in $1 for $2 seconds each, seeded from
# fuzz/corpus/<target>/ (if present). Any crash fails the run.
# Targets: gguf_fuzz (GGUF reader), tokenizer_fuzz, session_fuzz (session
# files; it also writes a valid session of its built-in model into the
# corpus directory at start-up, so the seed always matches the model).
set -euo pipefail
bin_dir=$1
seconds=${2:-20}
status=0
for fuzzer in "$bin_dir"/*_fuzz; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  work=$(mktemp -d)
  seeds="fuzz/corpus/$name"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -n 60 "$work.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -n 2 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
