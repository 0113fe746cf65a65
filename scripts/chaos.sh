#!/usr/bin/env bash
# Bounded chaos run: simulator + gateway in one release process, N requests (default 20000) at
# concurrency C (default 64), streamed and not, ~20% of upstream calls faulty (every fault kind
# but bad keys). Exits non-zero if any request hung, was truncated silently, was recorded
# other than exactly once, if the simulator's call count differs from the records', or if
# memory grew in the second half. `--short` runs the CI version (1,000 requests, debug test).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
if [[ "${1:-}" == "--short" ]]; then
  exec cargo nextest run -p switchyard-testkit --test reliability_chaos --no-capture
fi
exec cargo run --release -p switchyard-testkit --example chaos -- "${1:-20000}" "${2:-64}"
