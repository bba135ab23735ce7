#!/usr/bin/env bash
# Staged memory probe (bench/README.md, "WebSocket subscribers"): the server's RSS idle, with N
# bare WebSocket connections, with each initialised, and with one subscription each.
#
#   bench/ws/memory.sh [N] [BINARY]     N defaults to 10000, BINARY to target/release/carehub
#   HEAPTRACK=FILE bench/ws/memory.sh   run the server under heaptrack (a build with
#                                       `--features system-alloc`: heaptrack sees malloc only)
#
# SQLite in a scratch folder, seeded demo data, 20 case-officer tokens of county 450102.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${1:-10000}
BIN=${2:-$ROOT/target/release/carehub}
. "$HERE/node.sh"
ws_node_setup ws-memory
cp "$HERE/memory.mjs" "$NODEDIR/memory.mjs"
ulimit -n "$(ulimit -Hn)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENVV=("DATABASE_URL=sqlite://$RUN/carehub.db?mode=rwc" "CAREHUB_BIND=127.0.0.1:$PORT"
  CAREHUB_SEED_CHILDREN=2000 CAREHUB_SWEEP_INTERVAL_SECS=0 RUST_LOG=warn)
WRAP=()
[ -n "${HEAPTRACK:-}" ] && WRAP=(heaptrack -o "$HEAPTRACK")
env "${ENVV[@]}" ${WRAP[@]+"${WRAP[@]}"} "$BIN" serve >"$RUN/server.log" 2>&1 &
LAUNCHED=$!
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait "$LAUNCHED" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
# The process listening (under heaptrack, not the one launched).
PID=$(ss -ltnp | grep ":$PORT " | sed -E 's/.*pid=([0-9]+),.*/\1/')
for i in $(seq 0 19); do
  env "${ENVV[@]}" "$BIN" token --agency CIVIL_AFFAIRS --role civil_affairs.case_officer \
    --region 450102 --sub "wsmem-$i" --ttl 2h 2>/dev/null
done >"$RUN/tokens.txt"
echo "carehub $BIN pid $PID on 127.0.0.1:$PORT; $N connections"
node "$NODEDIR/memory.mjs" --url "ws://127.0.0.1:$PORT/graphql/ws" --tokens "$RUN/tokens.txt" \
  --n "$N" --pid "$PID" 2>&1 | grep -v '^closed' || true
