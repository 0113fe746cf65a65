#!/usr/bin/env bash
# Every test Switchyard has, on a fresh machine: installs what the tests need (the Python venv
# with pinned SDKs, Chromium and playwright-core for the dashboard test), then runs formatting
# and lint gates, the Rust suites (cargo nextest), the official-SDK tests, the dashboard test
# in headless Chromium, a short chaos run and the demo.
#
# Tests that need PostgreSQL or Redis read DATABASE_URL / REDIS_URL and skip (saying why)
# when those are unset; .ci/run sets them.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
failed=()
passed=()
# A cold build needs several GB; a full disk shows up later as linker bus errors, so say it first.
free_kb=$(df -Pk "$root" | awk 'NR==2 {print $4}')
echo "free disk at $root: $((free_kb / 1024 / 1024)) GB"
if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
  echo "WARNING: under 6 GB free; the build may fail with 'No space left on device'"
fi
step() {
  local name="$1"; shift
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then
    passed+=("$name"); echo "--- ok: $name ($((SECONDS - t0)) s)"
  else
    failed+=("$name"); echo "--- FAILED: $name ($((SECONDS - t0)) s)"
  fi
}

step "rustfmt" cargo fmt --all --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "build binaries" cargo build --workspace --bins --locked
step "rust tests (nextest)" cargo nextest run --workspace --locked --no-fail-fast

python_env() {
  # A venv left half-made (a full disk, an interrupted run) is rebuilt rather than reused.
  if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
  fi
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || return 1
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
}
step "python venv (pinned SDKs)" python_env
step "official SDKs: openai vs gateway, anthropic + google-genai vs simulator" \
  env SWITCHYARD_BIN="$target/debug/switchyard" SWITCHYARD_SIM_BIN="$target/debug/switchyard-sim" \
  .venv/bin/python -m pytest -q tests/python

browser_env() {
  if ! command -v chromium >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || return 1
  fi
  command -v node >/dev/null 2>&1
}
if browser_env; then
  step "dashboard in headless Chromium (seeded log)" bash tests/browser/run.sh
  step "dashboard in headless Chromium (after a simulator run through the gateway)" \
    env SWITCHYARD_BIN="$target/debug/switchyard" bash tests/browser/gateway.sh
else
  echo "=== dashboard in headless Chromium: SKIPPED (chromium or node could not be installed)"
fi

if [ -x scripts/chaos.sh ]; then
  step "chaos (short)" bash scripts/chaos.sh --short
fi

demo_smoke() {
  timeout 120 "$target/debug/switchyard" demo --listen 127.0.0.1:0 --sim-listen 127.0.0.1:0 --exit-after-workload >"$target/demo.out" 2>"$target/demo.err"
  local rc=$?
  cat "$target/demo.out"
  [ $rc -eq 0 ] && grep -q "saved" "$target/demo.out" && ! grep -q "failed with" "$target/demo.out"
}
step "demo" demo_smoke

echo
echo "steps: ${#passed[@]} passed, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "  failed: $f"; done
[ ${#failed[@]} -eq 0 ]
