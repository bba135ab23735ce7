# Sourced by run.sh and memory.sh: the scratch folder of a run and the load clients' one npm
# dependency (`ws`), installed there from package-lock.json, never into the repository.
# Needs HERE (bench/ws); sets NODEDIR and RUN ($SCRATCH/<kind>/<UTC time>). Usage: ws_node_setup KIND
ws_node_setup() {
  SCRATCH=${BENCH_SCRATCH:-/tmp/carehub-bench}
  NODEDIR="$SCRATCH/ws-node"
  RUN="$SCRATCH/$1/$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$NODEDIR" "$RUN"
  if ! cmp -s "$HERE/package-lock.json" "$NODEDIR/package-lock.json" || [ ! -d "$NODEDIR/node_modules/ws" ]; then
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NODEDIR/"
    (cd "$NODEDIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
