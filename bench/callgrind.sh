#!/usr/bin/env bash
# Instructions per request of `switchyard serve`, counted by callgrind: repeatable on shared
# cores where CPU-time figures swing with the neighbours (bench/README.md, "instructions").
#
#   bench/callgrind.sh [BINARY] [--stream] [CONCURRENCY] [SECONDS]
#
# Starts the benchmark simulator and the gateway (bench/gateway.toml, request log and metrics
# on) on ports 4391/4393 (CG_SIM, CG_GW), sends a warm-up, zeroes the counters, drives `bench-load` for
# SECONDS (default 20), dumps, and divides the instructions (all threads, the log writer
# included) by the requests the simulator answered in between. The gateway runs ~50x slower
# under valgrind, so the load is a few hundred requests; the per-request figure is stable to
# about 1 % across runs. Needs valgrind and the release binaries in $CARGO_TARGET_DIR.
#
# CG_CACHE=1 measures exact-cache hits instead: bench/gateway-cache.toml (cache on), a
# deterministic request (temperature 0) filled once during the warm-up, and the requests
# counted by bench-load, since the simulator sees none of them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${1:-$TARGET/release/switchyard}"
STREAM=""
if [ "${2:-}" = "--stream" ]; then STREAM="--stream"; shift; fi
CONC="${2:-16}"
SECS="${3:-20}"
SIM="${CG_SIM:-127.0.0.1:4391}" GW="${CG_GW:-127.0.0.1:4393}"
for a in "$SIM" "$GW"; do
  if "$TARGET/release/bench-load" ready --addr "$a" --path /health --start-ns 0 --timeout-ms 0 >/dev/null 2>&1; then
    echo "$a is taken by another process; set CG_SIM / CG_GW" >&2; exit 1; fi
done
SCRATCH="$(mktemp -d /tmp/switchyard-cg.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
CONFIG=bench/gateway.toml
EXTRA=()
if [ -n "${CG_CACHE:-}" ]; then CONFIG=bench/gateway-cache.toml; EXTRA=(--temperature 0); fi
sed -e "s/127.0.0.1:43[01]1/$SIM/; s/127.0.0.1:43[01]3/$GW/" "$CONFIG" >"$SCRATCH/gateway.toml"
"$TARGET/release/switchyard-sim" --config "$ROOT/bench/sim.toml" --listen "$SIM" >"$SCRATCH/sim.log" 2>&1 &
PIDS+=($!)
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$SCRATCH/cg.out" \
  "$BIN" serve --config "$SCRATCH/gateway.toml" >"$SCRATCH/gw.log" 2>&1 &
GWPID=$!
PIDS+=($GWPID)
"$TARGET/release/bench-load" ready --addr "$GW" --start-ns 0 --timeout-ms 120000 >/dev/null
LOAD=("$TARGET/release/bench-load" run --addr "$GW" --model gpt-4o-mini --concurrency "$CONC" $STREAM "${EXTRA[@]}")
"${LOAD[@]}" --warmup-s 0 --duration-s 3 >/dev/null
total() { curl -s "http://$SIM/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
callgrind_control -z "$GWPID" >/dev/null
before="$(total)"
"${LOAD[@]}" --warmup-s 0 --duration-s "$SECS" >"$SCRATCH/load.json"
# Let the request log's writer commit what the run queued (flush_ms is 200 ms).
sleep 1
after="$(total)"
callgrind_control -d "$GWPID" >/dev/null
sleep 1
IR="$(grep -h '^summary:' "$SCRATCH"/cg.out* | awk '{s+=$2} END {print s}')"
# CG_OUT=FILE keeps the profile for callgrind_annotate.
[ -n "${CG_OUT:-}" ] && cat "$SCRATCH"/cg.out* >"$CG_OUT"
if [ -n "${CG_CACHE:-}" ]; then
  before=0; after="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$SCRATCH/load.json")"
fi
python3 -c "import sys; ir=int('$IR'); n=$after-$before; print(f'requests {n}  instructions {ir}  per request {ir/n:.0f}')"
