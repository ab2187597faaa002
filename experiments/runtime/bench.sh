#!/bin/sh
# Runs the runtime microbenchmark pinned to two cores (the machine Ray's figures came from had 2),
# both worker modes, then the timeline's cost on the task rows (on/off, alternated).
# Usage: experiments/runtime/bench.sh [binary] [outdir]
B=${1:-target/release/examples/microbenchmark}
OUT=${2:-.}
CORES=${CORES:-0,1}
nproc; lscpu | grep "Model name"
taskset -c $CORES $B both 1 2>&1 | tee $OUT/both.txt
for i in 1 2; do
  taskset -c $CORES $B thread 1 --only "tasks async" 2>&1 | tee -a $OUT/timeline_on.txt
  taskset -c $CORES $B thread 1 --only "tasks async" --no-timeline 2>&1 | tee -a $OUT/timeline_off.txt
done
