#!/usr/bin/env bash
# The proxy benchmark (bench/README.md explains every figure).
#
#   scripts/bench.sh [--runs N] [--quick] [--out DIR]
#
# In one run, for non-streamed and streamed chat completions at concurrency 1, 16 and 64:
#   direct      client -> switchyard-sim
#   proxy       client -> bench-proxy (a bare hyper reverse proxy: the floor) -> sim
#   switchyard  client -> switchyard serve --config bench/gateway.toml -> sim
#   stack-pass, stack-json (JSON at c=1 and 64 only)  client -> bench-stack -> sim: axum + reqwest
#               forwarding bytes, and also parsing and re-writing both JSON bodies: the floor of
#               the stack the gateway is built on, before any gateway work
# then Switchyard at concurrency 64 with the request log and metrics on vs off (interleaved),
# then 1,000 concurrent streams through each proxy with RSS sampled during and after.
# The process under test runs on core 0; the simulator and the load generator on core 1.
# Each run writes DIR/runN.jsonl; bench/report.py turns them into the README's table.
#
# Environment: BENCH_DURATION (s, default 5), BENCH_WARMUP (s, default 1), CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUNS=1
QUICK=0
OUT="$ROOT/bench/results"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--runs N] [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
done
DUR="${BENCH_DURATION:-5}"
WARM="${BENCH_WARMUP:-1}"
STREAMS=1000
STREAM_DUR=10
if [ "$QUICK" = 1 ]; then DUR=1; WARM=0.3; STREAMS=100; STREAM_DUR=3; fi

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release -q -p switchyard -p switchyard-sim -p bench-proxy -p bench-load
BIN="$TARGET/release"
LOAD="$BIN/bench-load"
CLK_TCK="$(getconf CLK_TCK)"
SIM=127.0.0.1:4301 PROXY=127.0.0.1:4302 GW=127.0.0.1:4303 GW_OFF=127.0.0.1:4304
STACK_PASS=127.0.0.1:4306 STACK_JSON=127.0.0.1:4307
mkdir -p "$OUT"
SCRATCH="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
# 1,000 client connections plus 1,000 upstream ones per proxy.
ulimit -n 20000 2>/dev/null || true

now_ns() { date +%s%N; }
# start NAME CORE READY_ADDR READY_PATH CMD...: spawns on CORE, prints the time to ready as JSON.
start() {
  local name="$1" core="$2" addr="$3" path="$4"; shift 4
  # Something already answering there would be measured instead of the process we start.
  if "$LOAD" ready --addr "$addr" --path "$path" --start-ns 0 --timeout-ms 0 >/dev/null 2>&1; then
    echo "port of $addr is taken by another process; stop it first" >&2; exit 1; fi
  local t0; t0="$(now_ns)"
  taskset -c "$core" "$@" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_${name//-/_}=$pid"
  local r; r="$(taskset -c 1 "$LOAD" ready --addr "$addr" --path "$path" --start-ns "$t0")" || {
    echo "$name did not become ready; its stderr:" >&2; cat "$SCRATCH/$name.err" >&2; exit 1; }
  kill -0 "$pid" 2>/dev/null || { echo "$name exited; its stderr:" >&2; cat "$SCRATCH/$name.err" >&2; exit 1; }
  echo "{\"kind\":\"ready\",\"label\":\"$name\",\"result\":$r}" >>"$RESULTS"
}
# load LABEL PID MODEL CONCURRENCY [extra bench-load args...]
load() {
  local label="$1" pid="$2" model="$3" conc="$4"; shift 4
  local addr
  case "$label" in direct) addr=$SIM ;; proxy) addr=$PROXY ;; switchyard) addr=$GW ;; switchyard-off) addr=$GW_OFF ;;
    stack-pass) addr=$STACK_PASS ;; stack-json) addr=$STACK_JSON ;; esac
  local pidarg=()
  [ -n "$pid" ] && pidarg=(--pid "$pid")
  taskset -c 1 "$LOAD" run --addr "$addr" --label "$label" --model "$model" --concurrency "$conc" \
    --warmup-s "$WARM" --duration-s "$DUR" --clk-tck "$CLK_TCK" --aux-pid "$PID_sim" \
    "${pidarg[@]}" "$@" | sed 's/^/{"kind":"load","result":/; s/$/}/' >>"$RESULTS"
  tail -n 1 "$RESULTS" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print("  %-15s c=%-4s stream=%-5s %8.1f rps  p50 %6s us  p99 %6s us  cpu/req %s us  errors %s" % (r["label"], r["concurrency"], r["stream"], r["rps"], r["p50_us"], r["p99_us"], r.get("cpu_us_per_req", "-"), r["errors"]))' >&2
}

for run in $(seq 1 "$RUNS"); do
  RESULTS="$OUT/run$run.jsonl"
  : >"$RESULTS"
  echo "{\"kind\":\"meta\",\"run\":$run,\"date\":\"$(date -u +%FT%TZ)\",\"host\":\"$(uname -n)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"nproc\":$(nproc),\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"commit\":\"${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}\",\"duration_s\":$DUR,\"warmup_s\":$WARM,\"quick\":$QUICK}" >>"$RESULTS"
  echo "run $run/$RUNS -> $RESULTS" >&2
  cp bench/gateway.toml "$SCRATCH/gateway.toml"
  cp bench/gateway-nolog.toml "$SCRATCH/gateway-nolog.toml"
  rm -f "$SCRATCH"/bench-log.sqlite*
  start sim 1 "$SIM" /health "$BIN/switchyard-sim" --config bench/sim.toml --listen "$SIM"
  start proxy 0 "$PROXY" /health "$BIN/bench-proxy" "$PROXY" "$SIM"
  start stack-pass 0 "$STACK_PASS" /health "$BIN/bench-stack" pass "$STACK_PASS" "$SIM"
  start stack-json 0 "$STACK_JSON" /health "$BIN/bench-stack" json "$STACK_JSON" "$SIM"
  start switchyard 0 "$GW" /ready env RUST_LOG=warn "$BIN/switchyard" serve --config "$SCRATCH/gateway.toml"
  start switchyard-off 0 "$GW_OFF" /ready env RUST_LOG=warn "$BIN/switchyard" serve --config "$SCRATCH/gateway-nolog.toml" --listen "$GW_OFF"

  for stream in "" "--stream"; do
    for c in 1 16 64; do
      load direct "" gpt-4o-mini "$c" $stream
      load proxy "$PID_proxy" gpt-4o-mini "$c" $stream
      load switchyard "$PID_switchyard" gpt-4o-mini "$c" $stream
      if [ -z "$stream" ] && [ "$c" != 16 ]; then
        load stack-pass "$PID_stack_pass" gpt-4o-mini "$c"
        load stack-json "$PID_stack_json" gpt-4o-mini "$c"
      fi
    done
  done
  # Issue 7: request log + metrics on vs off, interleaved so a neighbour's load hits both alike.
  for i in 1 2; do
    load switchyard-off "$PID_switchyard_off" gpt-4o-mini 64
    load switchyard "$PID_switchyard" gpt-4o-mini 64
  done
  # 1,000 concurrent paced streams: RSS sampled every 250 ms, and 2 s after the load stops.
  for label in proxy switchyard; do
    pidvar="PID_$label"
    WARM_SAVED="$WARM" DUR_SAVED="$DUR"; WARM=3; DUR="$STREAM_DUR"
    load "$label" "${!pidvar}" bench-paced "$STREAMS" --stream --rss-sample-ms 250 --after-s 2
    WARM="$WARM_SAVED"; DUR="$DUR_SAVED"
  done
  echo "{\"kind\":\"sim_stats\",\"result\":$(curl -s "http://$SIM/sim/stats")}" >>"$RESULTS"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
done
python3 bench/report.py "$OUT"/run*.jsonl
