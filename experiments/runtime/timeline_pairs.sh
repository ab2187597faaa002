#!/bin/bash
# Timeline cost on `single client tasks async`: PAIRS alternating on/off runs (order flipped
# each pair), trials of TRIAL s; prints "on off on/off" per pair (take the median ratio).
# Usage: experiments/runtime/timeline_pairs.sh [binary] [pairs] [trial]
b=${1:-target/release/examples/microbenchmark}; n=${2:-8}; t=${3:-0.5}
run() { taskset -c 0,1 $b thread $t --only 'tasks async' $1 | awk '/per/{print $7}'; }
for i in $(seq $n); do
  if [ $((i%2)) = 1 ]; then on=$(run); off=$(run --no-timeline); else off=$(run --no-timeline); on=$(run); fi
  echo "$on $off $(echo "$on $off" | awk '{printf "%.3f", $1/$2}')"
done
