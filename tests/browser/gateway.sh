#!/usr/bin/env bash
# The dashboard as a user sees it after a simulator run: `switchyard demo` pushes its mixed
# workload through the gateway and the simulated providers, then headless Chromium loads the
# gateway's own /ui and checks that every chart drew data. Screenshot:
# artifacts/dashboard-gateway.png. SWITCHYARD_BIN: a prebuilt binary (default target/debug).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
bin="${SWITCHYARD_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/switchyard}"
[ -x "$bin" ] || { echo "no switchyard binary at $bin (cargo build --bin switchyard)" >&2; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi
out="$(mktemp)"
"$bin" demo --listen 127.0.0.1:0 --sim-listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 600); do
  grep -q "saved" "$out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; exit 1; }
  sleep 0.1
done
grep -q "saved" "$out" || { echo "the demo workload did not finish" >&2; cat "$out" >&2; exit 1; }
base="$(sed -n 's#^  gateway *\(http://[0-9.:]*\)/v1.*#\1#p' "$out" | head -1)"
[ -n "$base" ] || { echo "no gateway address in the demo output" >&2; cat "$out" >&2; exit 1; }
sleep 0.5 # the request log writes in batches every 200 ms
mkdir -p "$root/artifacts"
BASE_URL="$base" SCREENSHOT="$root/artifacts/dashboard-gateway.png" node "$here/dashboard.mjs"
