#!/usr/bin/env bash
# Headless-Chromium test of the /ui dashboard. Starts the observe crate's ui_demo example (a
# server over a seeded SQLite log), runs dashboard.mjs against it, writes
# artifacts/dashboard.png. Needs `chromium` (Debian) and node; installs playwright-core from npm.
# Exit 0 on pass; 1 on failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if ! command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1; then
  echo "chromium missing: apt-get install -y chromium" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm install --no-audit --no-fund --silent)
fi

# UI_DEMO_BIN: a prebuilt ui_demo (skips the cargo build).
bin="${UI_DEMO_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p switchyard-observe --example ui_demo
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/ui_demo"
fi
key="test-admin-$RANDOM$RANDOM"
out="$(mktemp)"
"$bin" --listen 127.0.0.1:0 --admin-key "$key" >"$out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; exit 1; }
  sleep 0.1
done
base="$(sed -n 's/^listening on //p' "$out" | head -1)"
[ -n "$base" ] || { echo "ui_demo did not start" >&2; cat "$out" >&2; exit 1; }

mkdir -p "$root/artifacts"
BASE_URL="$base" ADMIN_KEY="$key" SCREENSHOT="$root/artifacts/dashboard.png" \
  node "$here/dashboard.mjs"
