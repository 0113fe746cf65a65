#!/usr/bin/env bash
# Routing benchmark on recorded outcomes (routing-data dev split, 5-fold cross-validation):
# every report prompt goes through an in-process Switchyard in front of switchyard-sim
# --replay. Writes routing_bench.{md,svg,json} into $OUT. Takes minutes on 2 cores.
# Quick run: scripts/routing-bench.sh --max-prompts 300
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ROUTING_DATA:-/work/shared/routing-data}
OUT=${OUT:-target/routing-bench}
if [ ! -f "$DATA/outcomes.jsonl" ]; then
  echo "routing-data not found at $DATA: skipping (set ROUTING_DATA)"; exit 0
fi
mkdir -p "$OUT"
cargo run --release -q -p switchyard-eval --example routing_bench -- --data "$DATA" --out "$OUT" "$@"
