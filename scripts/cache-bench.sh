#!/usr/bin/env bash
# Cache-hit latency end to end (issue 5): 16 connections send the same deterministic chat
# request (temperature 0) to a gateway whose exact cache holds the answer; latency is measured
# from sending the request to the last body byte (bench/load, exact nearest-rank percentiles).
#
# The gateway is pinned to core 0; the simulator and the load generator to core 1 (`taskset`).
# Per body kind (JSON, streamed), three loads at concurrency 16:
# - paced at 1,000 and 4,000 requests/s in total: each connection sends on a fixed schedule
#   and latency counts from the scheduled start (no coordinated omission). This is the latency
#   a hit adds for a client when the gateway is not saturated.
# - closed loop: each connection sends its next request as soon as the answer is read, so the
#   gateway's one core is saturated and latency is mostly queueing behind the other 15
#   requests (p50 is about 16 x the CPU time of one hit).
# After the runs the simulator must have been called exactly twice (the JSON and the streamed
# miss that filled the cache): everything else was a hit.
#
# The floor, measured first in the same run, before the gateway starts: a simulator pinned to
# core 0 in the gateway's place, answering the same request from memory with the same answer,
# under the same loads. It is what any HTTP server costs end to end on this machine (two cross-core wake-ups,
# loopback TCP, the load generator), so `hit / floor` is the figure that travels between
# machines; the absolute p99 swings by half between sessions here.
#
# Usage: scripts/cache-bench.sh [SECONDS]   (default 5 per load; BENCH_BIN_DIR=DIR to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-5}"
TARGET="${CARGO_TARGET_DIR:-$(pwd)/target}"
# BENCH_BIN_DIR: run already-built binaries instead (e.g. to compare two builds in one session).
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  BIN="$BENCH_BIN_DIR"
else
  cargo build --release -q -p switchyard -p switchyard-sim -p bench-load
  BIN="$TARGET/release"
fi
SCRATCH="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
cp bench/sim.toml bench/gateway-cache.toml "$SCRATCH/"
# wait_for URL: until it answers (10 s at most).
wait_for() {
  for _ in $(seq 1 200); do
    curl -sf "$1" >/dev/null 2>&1 && return
    sleep 0.05
  done
}
# load ADDR PID ARGS...: one bench-load run against ADDR, CPU read from PID.
load() {
  local addr="$1" pid="$2"; shift 2
  taskset -c 1 "$BIN/bench-load" run --addr "$addr" --model gpt-4o-mini --temperature 0 \
    --pid "$pid" --clk-tck "$(getconf CLK_TCK)" "$@"
}
# loads TARGET ADDR PID STREAM: the three loads at concurrency 16, one table row each.
loads() {
  local target="$1" addr="$2" pid="$3" stream="$4" kind=json
  [ -n "$stream" ] && kind=stream
  for shape in "paced 1000/s:--rate 62.5" "paced 4000/s:--rate 250" "closed loop:"; do
    name="${shape%%:*}"; args="${shape#*:}"
    # shellcheck disable=SC2086
    out=$(load "$addr" "$pid" $stream $args --concurrency 16 --warmup-s 1 --duration-s "$SECS")
    echo "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("%-6s %-8s %-14s %9.0f %9d %9d %9d %12s %8d" % (sys.argv[1], sys.argv[2], sys.argv[3], r["rps"], r["p50_us"], r["p99_us"], r["p999_us"], r.get("cpu_us_per_req", "-"), r["errors"]))
' "$target" "$kind" "$name"
  done
}
printf '%-6s %-8s %-14s %9s %9s %9s %9s %12s %8s\n' target body load rps p50_us p99_us p99.9_us cpu_us/req errors
# The floor, before the gateway starts: the simulator alone on the gateway's core.
taskset -c 0 "$BIN/switchyard-sim" --listen 127.0.0.1:4312 --config "$SCRATCH/sim.toml" >"$SCRATCH/floor.out" 2>&1 &
FLOOR=$!
wait_for http://127.0.0.1:4312/sim/stats
for stream in "" "--stream"; do loads floor 127.0.0.1:4312 "$FLOOR" "$stream"; done
kill "$FLOOR"; wait "$FLOOR" 2>/dev/null || true
taskset -c 1 "$BIN/switchyard-sim" --listen 127.0.0.1:4311 --config "$SCRATCH/sim.toml" >"$SCRATCH/sim.out" 2>&1 &
RUST_LOG=warn taskset -c 0 "$BIN/switchyard" serve --config "$SCRATCH/gateway-cache.toml" >"$SCRATCH/gw.out" 2>&1 &
GW=$!
wait_for http://127.0.0.1:4311/sim/stats
wait_for http://127.0.0.1:4313/ready
for stream in "" "--stream"; do
  # Fill the cache (one miss), then everything after is a hit.
  load 127.0.0.1:4313 "$GW" $stream --duration-s 0.2 --warmup-s 0 --concurrency 1 >/dev/null
  sleep 0.2
  loads hit 127.0.0.1:4313 "$GW" "$stream"
done
calls=$(curl -sf http://127.0.0.1:4311/sim/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
echo "simulator calls during the whole run: $calls (expected 2: the JSON and the streamed miss)"
# Every hit is logged too: the request log must have dropped none (it may still be writing the
# tail of the closed-loop load, so give it a moment).
sleep 1
curl -sf http://127.0.0.1:4313/metrics | grep -E '^switchyard_log_records_(written|spilled|dropped)_total' || true
# The gateway's own share of a hit, from its request log: `total_ms` runs from the chat
# handler's start (request body read, not yet parsed) to the answer being ready to send
# (parse, key, route, cache lookup, the answer cloned, the record built). It leaves out the HTTP
# framing, serializing the answer and the socket write, and the wake-ups and loopback that make
# most of the end-to-end figure (see the floor). All hits of all three loads; exact nearest rank.
python3 - "$SCRATCH/bench-cache-log.sqlite" <<'PY'
import math, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for stream, kind in ((0, "json"), (1, "stream")):
    v = [r[0] for r in db.execute(
        "SELECT total_ms FROM switchyard_requests WHERE cache = 'hit' AND stream = ? ORDER BY total_ms", (stream,))]
    if v:
        q = lambda p: v[max(0, math.ceil(p * len(v)) - 1)] * 1000
        print("inside the gateway, %-6s hits %7d: p50 %5.0f us, p99 %5.0f us, p99.9 %5.0f us" % (kind, len(v), q(0.5), q(0.99), q(0.999)))
PY
dropped=$(curl -sf http://127.0.0.1:4313/metrics | awk '/^switchyard_log_records_dropped_total/ {print $2}')
[ "$calls" = 2 ] && [ "${dropped:-0}" = 0 ]
