#!/usr/bin/env bash
# Before (commit 4bd5646, before nested tasks and the executor seam) vs after, alternating
# runs, 1 s trials, both modes. Usage: ab.sh BEFORE_RLLIB AFTER_RLLIB [first_pair] [last_pair]
set -euo pipefail
before="$1"; after="$2"; first="${3:-1}"; last="${4:-2}"
out="$(dirname "$0")"
for i in $(seq "$first" "$last"); do
  "$before" microbenchmark --mode both --duration 1 > "$out/before_$i.txt" 2>&1
  "$after" microbenchmark --mode both --duration 1 > "$out/after_$i.txt" 2>&1
done
