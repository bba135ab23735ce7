#!/usr/bin/env bash
# WebSocket subscription benchmark (issue 6, "Benchmark"): one carehub instance, N concurrent
# subscribers of reportRaised(regionCode), createReport mutations at a fixed rate; delivery
# latency per (event, subscriber), events delivered vs expected, server peak RSS and CPU.
#
#   bench/ws/run.sh                 10,000 subscribers, 50 mutations/s for 30 s; appends to RESULTS.md
#   bench/ws/run.sh --smoke         200 subscribers, 50/s for 5 s; results stay in the scratch folder
#   bench/ws/run.sh --subs 5000 --rate 20 --duration 60 --procs 2
#   bench/ws/run.sh --counties 20   spread mode: each subscriber watches one of the 20 largest counties
#
# The server runs on a fresh SQLite file with the seeded demo data, on a free port of 127.0.0.1,
# and is stopped on exit. See bench/README.md ("WebSocket subscribers") for the method.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; cat <<'EOF'
Options:
  --smoke            200 subscribers, 5 s of mutations, RESULTS.md untouched (unless --results)
  --subs N           subscribers (default 10000)
  --rate R           mutations per second (default 50)
  --duration S       seconds of mutations (default 30)
  --procs P          client worker processes holding the subscribers (default 1)
  --region CODE      regionCode subscribed to and where the reported children live (default 450102,
                     the seeded county with the most children); with --counties, the region the
                     counties are chosen in (default 45, the province)
  --counties K       spread mode: the K seeded counties with the most children (`all`: every county
                     with a child); subscriber i watches county i mod K with the token of a case
                     officer of that county, the mutations go round-robin over the K counties, so an
                     event reaches about N/K subscribers. Default 1: every subscriber on --region,
                     every event to every subscriber (the worst case)
  --proto P          transport | legacy | mixed (default mixed: half graphql-transport-ws, half graphql-ws)
  --users U          distinct subscriber tokens (users), used round-robin (default 100; spread mode:
                     spread over the counties, at least one per county)
  --children C       children seeded on first start (default 2000)
  --postgres URL     run the server on PostgreSQL (the production footprint) instead of a fresh
                     SQLite file: URL names a database the script drops, creates, migrates and
                     seeds (C children, seed 42), e.g. postgres://postgres@127.0.0.1:5432/carehub_wsbench
  --debug|--release  carehub build to run (default: release if target/release/carehub exists and
                     is newer than target/debug/carehub, else debug); never builds
  --no-subscribe     connect and connection_init only, no subscription and no mutations (memory of
                     bare connections)
  --server-env K=V   extra server setting (repeatable), e.g. CAREHUB_AUDIT=off for an ablation
  --drain S          longest wait for late events after the last mutation (default 30)
  --results FILE     where to append the section (default bench/ws/RESULTS.md; smoke: none)
Environment: BENCH_SCRATCH (/tmp/carehub-bench), RUST_LOG (warn).
EOF
}

PG_URL=""
SUBS=10000 RATE=50 DURATION=30 PROCS=1 REGION=450102 REGION_SET=0 COUNTIES=1 PROTO=mixed USERS=100
CHILDREN=2000 EXTRA_ENV=() DRAIN=30 CLIENT_EXTRA=()
PROFILE="" SMOKE=0 RESULTS="$HERE/RESULTS.md" RESULTS_SET=0
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; SUBS=200; DURATION=5; USERS=20 ;;
    --subs) SUBS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --procs) PROCS=$2; shift ;;
    --region) REGION=$2; REGION_SET=1; shift ;;
    --counties) COUNTIES=$2; shift ;;
    --proto) PROTO=$2; shift ;;
    --users) USERS=$2; shift ;;
    --children) CHILDREN=$2; shift ;;
    --server-env) EXTRA_ENV+=("$2"); shift ;;
    --postgres) PG_URL=$2; shift ;;
    --drain) DRAIN=$2; shift ;;
    --no-subscribe) CLIENT_EXTRA=(--subscribe 0); RATE=0 ;;
    --debug) PROFILE=debug ;;
    --release) PROFILE=release ;;
    --results) RESULTS=$2; RESULTS_SET=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$SMOKE" = 1 ] && [ "$RESULTS_SET" = 0 ] && RESULTS=""
case "$COUNTIES" in
  all) SPREAD=1 ;;
  ''|*[!0-9]*|0) echo "--counties takes a positive number or all, not '$COUNTIES'" >&2; exit 2 ;;
  1) SPREAD=0 ;;
  *) SPREAD=1 ;;
esac

# --- binary
DBG="$ROOT/target/debug/carehub" REL="$ROOT/target/release/carehub"
if [ -z "$PROFILE" ]; then
  if [ -x "$REL" ] && { [ ! -x "$DBG" ] || [ "$REL" -nt "$DBG" ]; }; then PROFILE=release; else PROFILE=debug; fi
fi
BIN="$ROOT/target/$PROFILE/carehub"
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build -p carehub-api [--release])" >&2; exit 1; }
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }

# --- scratch folder and the load client's dependency (never installed into the repository)
. "$HERE/node.sh"
ws_node_setup ws
cp "$HERE/client.mjs" "$NODEDIR/client.mjs"   # resolves `ws` from $NODEDIR/node_modules

# --- file descriptors: the server and the client each hold one socket per subscriber
NEED=$(( SUBS + 4096 ))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$NEED" ]; then
  ulimit -Hn "$NEED" 2>/dev/null || { echo "ulimit -Hn is $HARD < $NEED needed for $SUBS subscribers" >&2; exit 1; }
fi
ulimit -n "$NEED"

# --- server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DB="$RUN/carehub.db"
SERVER_ENV=(
  "DATABASE_URL=${PG_URL:-sqlite://$DB?mode=rwc}"
  "CAREHUB_BIND=127.0.0.1:$PORT"
  "CAREHUB_SEED_CHILDREN=$CHILDREN"
  "CAREHUB_SWEEP_INTERVAL_SECS=0"
  "CAREHUB_RATE_LIMIT_PER_MINUTE=1000000"
  "CAREHUB_RATE_LIMIT_BURST=1000000"
  "RUST_LOG=${RUST_LOG:-warn}"
  ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}
)
if [ -n "$PG_URL" ]; then
  # A fresh database each run (the server seeds only the embedded SQLite by itself).
  PG_DB=${PG_URL##*/}; PG_DB=${PG_DB%%\?*}
  PG_ADMIN=${PG_URL%/*}/postgres
  case "$PG_DB" in carehub_ws*) ;; *) echo "--postgres: the database name must start with carehub_ws (it is dropped)" >&2; exit 2 ;; esac
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null
  env "DATABASE_URL=$PG_URL" "$BIN" migrate up >"$RUN/migrate.log" 2>&1
  env "DATABASE_URL=$PG_URL" "$BIN" seed --children "$CHILDREN" --seed 42 >"$RUN/seed.log" 2>&1
  echo "PostgreSQL database $PG_DB: $(tail -1 "$RUN/seed.log" | cut -c1-60)…"
fi
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
env "${SERVER_ENV[@]}" "$BIN" serve >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
echo "carehub ($PROFILE build, $BIN) pid $SERVER_PID on 127.0.0.1:$PORT, database ${PG_URL:-$DB}"
for i in $(seq 300); do
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; tail -20 "$RUN/server.log" >&2; exit 1; }
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
# The answering process must be ours (the port was free a moment ago; make sure).
ss -ltnp 2>/dev/null | grep -q ":$PORT .*pid=$SERVER_PID," || {
  echo "127.0.0.1:$PORT is not served by pid $SERVER_PID" >&2; exit 1; }

# --- tokens and the children reported on
# mint REGION SUB: a development token of a civil-affairs case officer of REGION.
mint() {
  env "${SERVER_ENV[@]}" "$BIN" token --agency CIVIL_AFFAIRS --role civil_affairs.case_officer \
    --region "$1" --sub "$2" --ttl 2h 2>/dev/null
}
# list_children PREFIX GROUP: "REGION CHILD_ID" lines of every child living under PREFIX, as the
# mutator sees them; REGION is PREFIX itself (GROUP=prefix) or the child's county (GROUP=county,
# the first 6 digits of its residence code, the region its reports are published under).
list_children() {
  python3 - "http://127.0.0.1:$PORT/graphql" "$RUN/mutator.txt" "$1" "$2" <<'PY'
import json, sys, urllib.request
url, token_file, prefix, group = sys.argv[1:]
token = open(token_file).read().strip()
query = ("query($a: String, $r: String) { children(first: 500, after: $a, filter: {regionCode: $r})"
         " { edges { node { id residenceRegionCode } } pageInfo { hasNextPage endCursor } } }")
after = None
while True:
    body = json.dumps({"query": query, "variables": {"a": after, "r": prefix}}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json",
                                             "authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=120) as r:
        page = json.load(r)
    if page.get("errors") or not page.get("data", {}).get("children"):
        sys.exit(f"children under {prefix}: {json.dumps(page)[:400]}")
    conn = page["data"]["children"]
    for e in conn["edges"]:
        node = e["node"]
        region = prefix if group == "prefix" else (node["residenceRegionCode"] or "")[:6]
        if group == "prefix" or len(region) == 6:  # (a masked residence code has no county)
            print(region, node["id"])
    if not conn["pageInfo"]["hasNextPage"]:
        break
    after = conn["pageInfo"]["endCursor"]
PY
}
: >"$RUN/tokens.txt"
if [ "$SPREAD" = 0 ]; then
  # USERS case officers of the county for the subscribers, one more for the mutations.
  NUSERS=$USERS
  for i in $(seq 0 $(( NUSERS - 1 ))); do mint "$REGION" "wsbench-sub-$i" >>"$RUN/tokens.txt"; done
  mint "$REGION" wsbench-mutator >"$RUN/mutator.txt"
  list_children "$REGION" prefix >"$RUN/children.txt"
  [ -s "$RUN/children.txt" ] || { echo "no children in region $REGION" >&2; exit 1; }
  echo "$(wc -l <"$RUN/tokens.txt") subscriber tokens, $(wc -l <"$RUN/children.txt") children in $REGION"
  REGION_ARGS=(--region "$REGION")
else
  # The K counties with the most children (ties by code), found by one mutator over all of them.
  [ "$REGION_SET" = 1 ] || REGION=45
  mint "$REGION" wsbench-mutator >"$RUN/mutator.txt"
  list_children "$REGION" county >"$RUN/children-all.txt"
  cut -d' ' -f1 "$RUN/children-all.txt" | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2,2 \
    | awk '{ print $2, $1 }' >"$RUN/counties-all.txt"   # "COUNTY CHILDREN", most first
  if [ "$COUNTIES" = all ]; then cp "$RUN/counties-all.txt" "$RUN/counties.txt"
  else head -n "$COUNTIES" "$RUN/counties-all.txt" >"$RUN/counties.txt"; fi
  K=$(wc -l <"$RUN/counties.txt")
  [ "$K" -gt 0 ] || { echo "no children under region $REGION" >&2; exit 1; }
  [ "$COUNTIES" = all ] || [ "$K" = "$COUNTIES" ] \
    || echo "only $K counties under $REGION have children; using those" >&2
  mapfile -t COUNTY < <(cut -d' ' -f1 "$RUN/counties.txt")
  awk 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$RUN/counties.txt" "$RUN/children-all.txt" >"$RUN/children.txt"
  # USERS case officers (at least one per county), user j in county j mod K; subscriber i of
  # county c then uses c's users in turn (client.mjs).
  NUSERS=$(( USERS > K ? USERS : K ))
  for j in $(seq 0 $(( NUSERS - 1 ))); do
    c=${COUNTY[$(( j % K ))]}
    printf '%s %s\n' "$c" "$(mint "$c" "wsbench-sub-$c-$(( j / K ))")" >>"$RUN/tokens.txt"
  done
  echo "$(wc -l <"$RUN/tokens.txt") subscriber tokens, $(wc -l <"$RUN/children.txt") children in $K counties" \
    "under $REGION: $(awk 'NR <= 3 { printf "%s%s (%s)", (NR > 1 ? ", " : ""), $1, $2 } END { if (NR > 3) printf ", ..." }' "$RUN/counties.txt")"
  REGION_ARGS=(--regions "$(IFS=,; echo "${COUNTY[*]}")")
fi
# `carehub token` failing leaves an empty token: check every line has one.
if [ ! -s "$RUN/mutator.txt" ] || [ "$(awk -v n=$(( SPREAD + 1 )) 'NF == n' "$RUN/tokens.txt" | wc -l)" != "$NUSERS" ]; then
  echo "minting tokens failed (see: env DATABASE_URL=... $BIN token --help)" >&2; exit 1
fi

# --- the load
CMD=(node "$NODEDIR/client.mjs" --http "http://127.0.0.1:$PORT" --tokens "$RUN/tokens.txt"
  --mutator-token "$RUN/mutator.txt" --children "$RUN/children.txt" --subs "$SUBS" --procs "$PROCS"
  --rate "$RATE" --duration "$DURATION" "${REGION_ARGS[@]}" --proto "$PROTO"
  --drain "$DRAIN" ${CLIENT_EXTRA[@]+"${CLIENT_EXTRA[@]}"} --server-pid "$SERVER_PID" --clk-tck "$(getconf CLK_TCK)" --out "$RUN/result.json")
printf '%q ' "${CMD[@]}" >"$RUN/command.txt"
"${CMD[@]}" 2>&1 | tee "$RUN/client.log" | grep -v '^{' || true
[ -s "$RUN/result.json" ] || { echo "the load client failed; see $RUN/client.log" >&2; exit 1; }
WS_ERRORS=$(grep -ci 'error\|panic' "$RUN/server.log" || true)

# --- report
COMMAND="bench/ws/run.sh ${ARGS[*]}"
SECTION=$(node - "$RUN/result.json" "$PROFILE" "$COMMAND" "$(nproc)" "$WS_ERRORS" "$RUN" "$(printf '%s ' "${SERVER_ENV[@]}" | sed "s#$RUN#<run>#g")" <<'EOF'
const [file, profile, command, nproc, serverErrors, run, settings] = process.argv.slice(2);
const r = JSON.parse(require('fs').readFileSync(file, 'utf8'));
const f = (x, d = 1) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
const ok = (c) => (c ? 'yes' : '**no**');
const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const cpu = require('os').cpus()[0]?.model ?? '?';
const spread = r.counties > 1;
const counties = spread
  ? `${r.counties} counties (${r.regions.slice(0, 5).join(', ')}${r.counties > 5 ? ', …' : ''}), `
    + `${r.ackedPerCountyMin}${r.ackedPerCountyMax > r.ackedPerCountyMin ? `–${r.ackedPerCountyMax}` : ''} `
    + 'subscribers each; mutations round-robin over them'
  : `one county (${r.regions[0]}): every subscriber gets every event, the worst case`;
console.log(`## ${when}: ${r.subs} subscribers${spread ? ` over ${r.counties} counties` : ''}, ${r.rate} mutations/s for ${r.duration} s (${profile} build)

Machine: ${nproc} CPUs (${cpu}); server, load client and anything else running share them.
Command: \`${command}\` (raw output: \`${run}\`).
Server settings for the bench: ${settings}.

| | figure | target (issue 6) |
| --- | --- | --- |
| subscribers acknowledged (connection_ack, then subscribed) | ${r.acked} of ${r.subs} (connect took ${f(r.connectSeconds)} s; server gauge \`carehub_ws_subscribers\`: ${r.serverSubscribers}) | 10,000 |
| subscribers per event (counties) | ${f(r.subscribersPerEvent)} on average; ${counties} | |
| mutations ok / failed | ${r.mutationsOk} / ${r.mutationsFailed} (HTTP p50 ${f(r.mutationP50Ms)} ms, p99 ${f(r.mutationP99Ms)} ms) | 50/s |
| events delivered / expected | ${r.delivered} / ${r.expectedDeliveries} (${f(r.deliveredPct, 2)} %); ${f(r.deliveriesPerSec, 0)} deliveries/s; events reaching every subscriber ${r.eventsWithAllSubscribers} of ${r.mutationsOk}; waited ${f(r.drainSeconds)} s after the last mutation | all |
| delivery latency p50 / p90 / p99 / max | ${f(r.p50Ms)} / ${f(r.p90Ms)} / ${f(r.p99Ms)} / ${f(r.maxMs)} ms | p99 < 200 ms: ${ok(r.p99Ms !== null && r.p99Ms < 200 && r.deliveredPct >= 99.99)} |
| server RSS: idle / subscribers connected / peak (VmHWM) | ${f(r.serverRssIdleMb, 0)} / ${f(r.serverRssConnectedMb, 0)} / ${f(r.serverRssPeakMb, 0)} MB | < 300 MB: ${ok(r.serverRssPeakMb < 300)} |
| server CPU during the mutations | ${f(r.serverCpuPct, 0)} % of one core (machine busy ${f(r.machineBusyPct, 0)} % of ${nproc} cores; load client ${f(r.clientWorkerCpuSeconds)} CPU-s in its subscriber process(es) over the whole run) | |
| event errors / sockets closed early | ${r.eventErrors} / ${r.closedDuringRun}${r.misrouted ? ` (and ${r.misrouted} events delivered to another county's subscriber)` : ''}${r.firstError ? ` (first: \`${String(r.firstError).replace(/`/g, "'").slice(0, 200)}\`)` : ''} | 0 |
| server log lines with error/panic | ${serverErrors} | |

Beside Hasura's published figure (5,000 live queries on 1 vCPU at 60 % CPU): ${r.acked} subscriptions
here took ${f(r.serverCpuPct, 0)} % of one core while ${r.rate} reports/s were pushed to ${spread
  ? `the ${f(r.subscribersPerEvent, 0)} subscribers of their county each`
  : 'each of them'}
(a Hasura live query re-runs its query on a 1 s poll; here every event is pushed, checked
against the subscriber's current scope and field mask, and its sensitive fields audited).
`);
EOF
)
echo
echo "$SECTION"
if [ -n "$RESULTS" ]; then
  # shellcheck disable=SC2016 # the backquotes are Markdown
  [ -s "$RESULTS" ] || printf '# WebSocket subscription benchmark: results\n\nWritten by `bench/ws/run.sh` (method in `bench/README.md`, "WebSocket subscribers"); newest last.\n' >"$RESULTS"
  printf '\n%s\n' "$SECTION" >>"$RESULTS"
  echo "appended to $RESULTS"
fi
