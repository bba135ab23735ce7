#!/usr/bin/env bash
# Browser test of /dashboard: starts an already built `carehub serve` on a free port with a fresh
# SQLite file seeded with demo data, runs dashboard.spec.mjs in headless Chromium, stops the
# server. Builds nothing: run `cargo build -p carehub-api` first.
#
# Needs: node (>= 18), Debian's chromium and a CJK font (apt-get install -y chromium
# fonts-noto-cjk). Env: CAREHUB_BIN (default target/debug/carehub), CHROMIUM_PATH
# (default /usr/bin/chromium), ARTIFACTS_DIR (default tests/browser/artifacts).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${CAREHUB_BIN:-$ROOT/target/debug/carehub}"
ARTIFACTS_DIR="${ARTIFACTS_DIR:-$HERE/artifacts}"
export ARTIFACTS_DIR

[ -x "$BIN" ] || { echo "run.sh: $BIN not found; run 'cargo build -p carehub-api' first" >&2; exit 2; }
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || { echo "run.sh: chromium not found; apt-get install -y chromium fonts-noto-cjk" >&2; exit 2; }
if [ ! -d "$HERE/node_modules/playwright-core" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$ARTIFACTS_DIR"

WORK="$(mktemp -d /tmp/carehub-browser.XXXXXX)"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "run.sh: starting $BIN serve on 127.0.0.1:$PORT (log: $ARTIFACTS_DIR/server.log)"
env CAREHUB_ENV=development \
    DATABASE_URL="sqlite://$WORK/carehub.db?mode=rwc" \
    CAREHUB_BIND="127.0.0.1:$PORT" \
    CAREHUB_SEED_CHILDREN="${CAREHUB_SEED_CHILDREN:-600}" \
    CAREHUB_SEED=42 \
    CAREHUB_METRICS_BIND= \
    "$BIN" serve >"$ARTIFACTS_DIR/server.log" 2>&1 &
SERVER_PID=$!

# Ready once migrated and seeded (seeding happens before the port is bound).
for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "run.sh: the server exited:" >&2; tail -n 30 "$ARTIFACTS_DIR/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "run.sh: the server did not become ready" >&2; tail -n 30 "$ARTIFACTS_DIR/server.log" >&2; exit 1; }

CAREHUB_URL="http://127.0.0.1:$PORT" node "$HERE/dashboard.spec.mjs"
