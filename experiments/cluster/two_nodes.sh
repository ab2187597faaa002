#!/usr/bin/env bash
# Ray's two-node figures, measured on this project the same way: a head and nodes as separate
# daemons on this machine (1 CPU each), a driver joined over TCP with the cluster token.
#
#   cargo build --release -p rllib -p runtime --examples --bins
#   experiments/cluster/two_nodes.sh [repetitions]
#
# Prints: `rllib start --head` time, idle memory (PSS of head, node and an idle driver),
# `rllib microbenchmark --address` cross-node rows, and the failover timings (kill -9 of the
# node running a 30 s task and an actor with max_restarts=1). Everything it starts is stopped
# on exit; HOME is a temporary directory, so the user's ~/.rllib is not touched.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
reps="${1:-3}"
rllib="$root/target/release/rllib"
driver="$root/target/release/examples/cluster_failover"
for b in "$rllib" "$root/target/release/rllib-train" "$root/target/release/rllib-daemon" "$driver"; do
  [ -x "$b" ] || { echo "missing $b: cargo build --release -p rllib -p runtime --examples --bins" >&2; exit 1; }
done
work="$(mktemp -d)"
export HOME="$work/home"
mkdir -p "$HOME"
unset RLLIB_AUTH_TOKEN RLLIB_ADDRESS
dirs=()
cleanup() {
  for d in "${dirs[@]}"; do "$rllib" stop --temp-dir "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

start_cluster() { # name nodes resources
  local name="$1" n="$2" res="$3"
  port="$(free_port)"
  local t0 t1
  t0=$(date +%s.%N)
  "$rllib" start --head --port "$port" --num-cpus 1 --temp-dir "$work/$name-head" >/dev/null
  t1=$(date +%s.%N)
  dirs+=("$work/$name-head")
  head_start=$(python3 -c "print(f'{$t1-$t0:.3f}')")
  head="127.0.0.1:$port"
  for i in $(seq 1 "$n"); do
    "$rllib" start --address "$head" --num-cpus 1 --resources "$res" --temp-dir "$work/$name-node$i" >/dev/null
    dirs+=("$work/$name-node$i")
  done
}

stop_cluster() {
  for d in "${dirs[@]}"; do "$rllib" stop --temp-dir "$d" >/dev/null 2>&1 || true; done
  dirs=()
}

for r in $(seq 1 "$reps"); do
  echo "== repetition $r"
  start_cluster "r$r" 1 '{}'
  echo "rllib start --head returned after ${head_start} s"
  "$driver" idle "$head" 4 > "$work/idle.out" &
  dpid=$!
  for _ in $(seq 1 100); do grep -q ready "$work/idle.out" 2>/dev/null && break; sleep 0.05; done
  sleep 1
  hp=$(cat "$work/r$r-head/daemon.pid"); np=$(cat "$work/r$r-node1/daemon.pid")
  total=$(( $(pss_kb "$hp") + $(pss_kb "$np") + $(pss_kb "$dpid") ))
  echo "idle 2-node cluster + driver: PSS head $(pss_kb "$hp") kB, node $(pss_kb "$np") kB, driver $(pss_kb "$dpid") kB, total $((total / 1024)) MiB"
  wait "$dpid"
  "$rllib" microbenchmark --mode thread --duration 1 --address "$head" 2>/dev/null | sed -n '/cross-node/,$p'
  stop_cluster
  start_cluster "f$r" 2 '{"work": 1}'
  "$driver" failover "$head" 30
  stop_cluster
done
