#!/usr/bin/env python3
"""Correctness check of the benchmark workloads, run once before any timing (standard library
plus the psql client only).

For every workload of bench/workloads.tsv and a few parameter lines (the first, the middle and
the last of its parameter file), it sends carehub's document -- and the peer's, when a peer URL
is given -- and runs the SQL baseline's script with the same parameter row through psql, then
asserts that both GraphQL answers hold no `errors`, return the same records in the same order
(same ids) and the same value for every field, nested lists included, as the SQL. A GraphQL
field the SQL does not return is a failure too (the SQL must be the full equivalent).
For the aggregates (kind `aggregate`, workload C) it compares counts instead of records: every
(group, category) -> count cell of carehub's answer, of the peer's and of the SQL's must be
equal (cells of 0 left out), and carehub's answer must hold no suppressed count.
For the mutations (kind `write`, `write-pool`) it compares what carehub wrote (the record, its
change events, its WRITE audit entries, workflow transitions) with what the SQL script writes
inside a transaction that is rolled back: the record field by field, the others by count, and
for the entities in CONTENT_CHECKED (the referral of workload F) also field by field. A
`write-pool` workload consumes its parameter line (a SENT referral can be received once), so
the SQL runs first (rolled back) and carehub then writes for real; the statement count uses
other lines of the pool.

With --stmt-log it also counts the SQL statements each side sends per request: the servers are
then connected as a role whose statements PostgreSQL logs (log_statement = all, set by
bench/run), and the lines of that role in the server log are counted over --stmt-requests
sequential requests.

Prints one line per (workload, side) and writes them as TSV to --out; exits 1 if any failed.
"""
import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request


def load_workloads(path):
    cols = ["name", "title", "params", "carehub_doc", "carehub_vars", "carehub_auth", "peer_doc", "peer_vars",
            "sql", "rows", "peer_rows", "kind"]
    out = []
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        if len(f) != len(cols):
            sys.exit(f"{path}: expected {len(cols)} tab-separated columns, got {len(f)}: {line!r}")
        out.append(dict(zip(cols, f)))
    return out


def read_params(path):
    with open(path, encoding="utf-8") as fh:
        return [l.rstrip("\n").split("\t") for l in fh if l.strip()]


def fill(template, row):
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    s = re.sub(r"\$(\d)", lambda m: row[int(m.group(1)) - 1] if int(m.group(1)) <= len(row) else "", template)
    s = s.replace("$now", now)
    if "$uuid" in s:
        import uuid
        s = s.replace("$uuid", str(uuid.uuid4()))
    return json.loads(s)


def post(url, doc, variables, auth=None, timeout=60):
    body = json.dumps({"query": doc, "variables": variables}).encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"errors": [{"message": text[:500]}]}


class Psql:
    def __init__(self, url):
        self.url = url

    def run(self, sql, variables=None):
        """Runs SQL text through psql; returns the rows of the last result set as dicts."""
        args = ["psql", self.url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"]
        for k, v in (variables or {}).items():
            args += ["-v", f"{k}={v}"]
        p = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr.strip()[:2000]}")
        # several result sets may be printed one after another, each with its header
        text = p.stdout
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return []
        header = rows[0]
        return [dict(zip(header, r)) for r in rows[1:]]


def sql_script(path):
    """A pgbench script as psql text: drop the \\set meta-commands (the caller sets k and n)."""
    lines = [l for l in open(path, encoding="utf-8") if not l.lstrip().startswith("\\set")]
    return "".join(lines)


# ----------------------------------------------------------------------------- comparison
TS = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)?$")


def parse_ts(s):
    s = s.replace(" ", "T", 1)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.search(r"([+-]\d\d)$", s)
    if m:
        s += ":00"
    m = re.search(r"\.(\d+)", s)
    if m and len(m.group(1)) != 6:
        s = s.replace("." + m.group(1), "." + (m.group(1) + "000000")[:6])
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t


def snake(k):
    return re.sub(r"([A-Z])", r"_\1", k).lower()


def unwrap(v):
    """GraphQL value -> plain: connection {nodes: [...]} -> list, keys snake_cased."""
    if isinstance(v, dict):
        if set(v) == {"nodes"}:
            return [unwrap(x) for x in (v["nodes"] or [])]
        return {snake(k): unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


def sql_cell(v):
    if v == "":
        return None
    if v and v[0] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def same(sql, gql, path, diffs):
    if isinstance(sql, str) and sql and sql[0] in "[{":
        try:
            sql = json.loads(sql)
        except ValueError:
            pass
    if sql is None or sql == []:
        if gql is None or gql == []:
            return
        diffs.append(f"{path}: SQL has null/empty, GraphQL has {json.dumps(gql)[:200]}")
        return
    if gql is None:
        diffs.append(f"{path}: GraphQL has null, SQL has {json.dumps(sql)[:200]}")
        return
    if isinstance(sql, list):
        if not isinstance(gql, list) or len(gql) != len(sql):
            diffs.append(f"{path}: SQL has {len(sql)} items, GraphQL has "
                         f"{len(gql) if isinstance(gql, list) else type(gql).__name__}")
            return
        for i, (a, b) in enumerate(zip(sql, gql)):
            same(a, b, f"{path}[{i}]", diffs)
        return
    if isinstance(sql, dict):
        if not isinstance(gql, dict):
            diffs.append(f"{path}: SQL has an object, GraphQL has {json.dumps(gql)[:200]}")
            return
        for k, v in sql.items():
            if k not in gql:
                diffs.append(f"{path}.{k}: not in the GraphQL answer")
            else:
                same(v, gql[k], f"{path}.{k}", diffs)
        for k in gql:
            if k not in sql:
                diffs.append(f"{path}.{k}: GraphQL field not returned by the SQL (the SQL is not equivalent)")
        return
    if isinstance(gql, bool):
        if str(sql).lower() not in (("t", "true") if gql else ("f", "false")):
            diffs.append(f"{path}: SQL {sql!r} != GraphQL {gql!r}")
        return
    if isinstance(gql, (int, float)) or isinstance(sql, (int, float)):
        try:
            if abs(float(sql) - float(gql)) <= 1e-6 * max(1.0, abs(float(sql))):
                return
        except (TypeError, ValueError):
            pass
        diffs.append(f"{path}: SQL {sql!r} != GraphQL {gql!r}")
        return
    a, b = str(sql), str(gql)
    if a == b:
        return
    if TS.match(a) and TS.match(b):
        try:
            if parse_ts(a) == parse_ts(b):
                return
        except ValueError:
            pass
    diffs.append(f"{path}: SQL {a!r} != GraphQL {b!r}")


def dig(data, path):
    """Walks `a.b.c` through objects; a list on the way maps over its items; the result is a list."""
    cur = [data]
    for part in path.split("."):
        nxt = []
        for x in cur:
            if x is None:
                continue
            v = x.get(part) if isinstance(x, dict) else None
            if isinstance(v, list):
                nxt.extend(v)
            elif v is not None:
                nxt.append(v)
        cur = nxt
    return cur


def gql_problem(status, resp):
    if status < 200 or status > 299:
        return f"HTTP {status}: {json.dumps(resp)[:800]}"
    if resp.get("errors"):
        return "GraphQL errors: " + json.dumps(resp["errors"], ensure_ascii=False)[:1500]
    if not resp.get("data") or all(v is None for v in resp["data"].values()):
        return "no data: " + json.dumps(resp)[:500]
    return None


def compare_rows(sql_rows, gql_rows):
    diffs = []
    sql_rows = [{k: sql_cell(v) for k, v in r.items()} for r in sql_rows]
    gql_rows = [unwrap(r) for r in gql_rows]
    if not sql_rows:
        diffs.append("the SQL baseline returned no rows (pick parameters with data)")
    sids = [str(r.get("id")) for r in sql_rows]
    gids = [str(r.get("id")) for r in gql_rows]
    if sids != gids:
        diffs.append(f"ids differ: SQL {len(sids)} rows {sids[:5]}..., GraphQL {len(gids)} rows {gids[:5]}...")
        return diffs
    for i, (s, g) in enumerate(zip(sql_rows, gql_rows)):
        same(s, g, f"row[{i}]", diffs)
    return diffs


# ----------------------------------------------------------------------------- aggregates
# kind `aggregate` (workload C): the answer is counts, compared cell by cell -- (group,
# category) -> count -- with the cells whose count is 0 left out (carehub lists every county of
# the directory, the SQL's GROUP BY only those with children). The SQL baseline and the peer
# return flat rows (group, category, count), in that column order; carehub's answer is read
# with the entry of AGGREGATES for the workload's `rows` path:
#   group   field of each record holding the group's code
#   nested  field holding one object per category, each with the count in `value`
#   expect  (path, value) pairs the answer must hold, e.g. no disclosure control (counts exact)
AGGREGATES = {
    "indicators.subregions": {
        "group": "regionCode",
        "nested": "riskDistribution",
        "value": "count",
        "expect": [("indicators.disclosureControl", False)],
    },
}


def cells_of_rows(rows, where):
    """Flat rows (group, category, count) -> {(group, category): count}, zero counts left out."""
    cells, problems = {}, []
    for r in rows:
        vals = list(r.values())
        if len(vals) != 3:
            problems.append(f"{where}: expected rows of (group, category, count), got {json.dumps(r)[:200]}")
            continue
        g, cat, n = vals
        try:
            n = int(n)
        except (TypeError, ValueError):
            problems.append(f"{where}: count {n!r} of ({g}, {cat}) is not a number")
            continue
        key = (str(g), str(cat))
        if key in cells:
            problems.append(f"{where}: ({g}, {cat}) appears twice")
        if n:
            cells[key] = cells.get(key, 0) + n
    return cells, problems


def cells_of_carehub(data, rows_path):
    spec = AGGREGATES[rows_path]
    cells, problems = {}, []
    for path, want in spec.get("expect", []):
        got = dig(data, path)
        if got != [want]:
            problems.append(f"{path} is {json.dumps(got[0] if len(got) == 1 else got)}, expected {json.dumps(want)}")
    for rec in dig(data, rows_path):
        g = rec.get(spec["group"])
        nested = rec.get(spec["nested"])
        if g is None or not isinstance(nested, dict):
            problems.append(f"record without {spec['group']} or {spec['nested']}: {json.dumps(rec)[:200]}")
            continue
        for cat, cell in nested.items():
            n = cell.get(spec["value"]) if isinstance(cell, dict) else None
            if not isinstance(n, int):
                problems.append(f"({g}, {cat}): count is {json.dumps(n)} (suppressed or missing)")
                continue
            if n:
                cells[(str(g), str(cat))] = n
    return cells, problems


def compare_cells(sql_cells, got_cells):
    diffs = []
    if not sql_cells:
        diffs.append("the SQL baseline returned no counts (pick parameters with data)")
    for key in sorted(set(sql_cells) | set(got_cells)):
        a, b = sql_cells.get(key, 0), got_cells.get(key, 0)
        if a != b:
            diffs.append(f"{key[0]} {key[1]}: SQL {a} != GraphQL {b}")
    if diffs and sql_cells:
        diffs.append(f"(totals: SQL {sum(sql_cells.values())} children in {len(sql_cells)} cells, "
                     f"GraphQL {sum(got_cells.values())} in {len(got_cells)})")
    return diffs


# ----------------------------------------------------------------------------- the mutation
WRITE_KINDS = ("write", "write-pool")
# the mutation field (workloads.tsv `rows`) -> (table, entity name in change events/transitions)
WRITE_TABLES = {"recordVisit": ("visits", "Visit"), "transitionReferral": ("referrals", "Referral")}
# entities whose transitions, change events and audit entries are compared field by field
# (the others by count: D's SQL baseline writes a change event of the same size, not shape)
CONTENT_CHECKED = {"Referral"}
WRITE_STATE = """
SELECT (SELECT row_to_json(x) FROM public.{table} x WHERE x.id = :'id') AS record,
       (SELECT count(*) FROM public.change_events WHERE entity = '{entity}' AND record_id = :'id') AS change_events,
       (SELECT count(*) FROM public.audit_entries WHERE action = 'WRITE' AND record_ids::text LIKE '%' || :'id' || '%') AS audit_writes,
       (SELECT count(*) FROM public.workflow_transitions WHERE record_id = :'id') AS transitions,
       (SELECT json_agg(json_build_object('child_id', child_id, 'from_status', from_status, 'to_status', to_status,
                                          'actor', actor, 'actor_org', actor_org, 'note', note) ORDER BY at, to_status)
        FROM public.workflow_transitions WHERE entity = '{entity}' AND record_id = :'id') AS transition_rows,
       (SELECT json_agg(json_build_object('entity', entity, 'child_id', child_id, 'op', op, 'changed', changed,
                                          'actor', actor, 'actor_agency', actor_agency, 'actor_org', actor_org,
                                          'purpose', purpose, 'region_code', region_code) ORDER BY id)
        FROM public.change_events WHERE entity = '{entity}' AND record_id = :'id') AS change_event_rows,
       (SELECT json_agg(json_build_object('sub', sub, 'agency', agency, 'role', role, 'org', org,
                                          'purpose', purpose, 'lawful_basis', lawful_basis, 'action', action,
                                          'operation', operation, 'entity', entity, 'record_ids', record_ids,
                                          'child_id', child_id, 'fields', fields, 'groups', groups,
                                          'decision', decision, 'region_code', region_code, 'reason', reason) ORDER BY id)
        FROM public.audit_entries WHERE action = 'WRITE' AND record_ids::text LIKE '%' || :'id' || '%') AS audit_rows;
"""
VOLATILE = {"id", "created_at", "updated_at", "done_at"}


def write_state_sql(rows_path):
    table, entity = WRITE_TABLES[rows_path.split(".")[0]]
    return WRITE_STATE.format(table=table, entity=entity), entity


def canon(v):
    return json.dumps(v, sort_keys=True)


def compare_write(state_gql, state_sql, entity):
    diffs = []
    for k in ("change_events", "audit_writes", "transitions"):
        if str(state_gql.get(k)) != str(state_sql.get(k)):
            diffs.append(f"{k}: carehub wrote {state_gql.get(k)}, the SQL writes {state_sql.get(k)}")
    vg, vs = sql_cell(state_gql.get("record") or ""), sql_cell(state_sql.get("record") or "")
    name = entity.lower()
    if not vg:
        diffs.append(f"carehub's {name} row is not in the database")
    if not vs:
        diffs.append(f"the SQL script wrote no {name} row")
    if vg and vs:
        for k in sorted(set(vg) | set(vs)):
            if k in VOLATILE:
                continue
            if canon(vg.get(k)) != canon(vs.get(k)):
                diffs.append(f"{name}.{k}: carehub {vg.get(k)!r} != SQL {vs.get(k)!r}")
    if entity in CONTENT_CHECKED:
        for k in ("transition_rows", "change_event_rows", "audit_rows"):
            lg, ls = sql_cell(state_gql.get(k) or "") or [], sql_cell(state_sql.get(k) or "") or []
            if len(lg) != len(ls):
                continue                      # reported by the counts above
            for i, (a, b) in enumerate(zip(lg, ls)):
                for f in sorted(set(a) | set(b)):
                    if canon(a.get(f)) != canon(b.get(f)):
                        diffs.append(f"{k}[{i}].{f}: carehub {a.get(f)!r} != SQL {b.get(f)!r}")
    return diffs


# ----------------------------------------------------------------------------- statements per request
class StmtCounter:
    """Counts the statements one database role sends, from the PostgreSQL log (log_statement =
    all for that role). Transactions of carehub's outbox relay (background, on a timer: they
    take an advisory lock and number change events) are left out, and whatever else runs while no request is
    in flight is measured first and subtracted."""
    BACKGROUND = re.compile(r"pg_try_advisory_xact_lock|UPDATE change_events SET cursor")

    def __init__(self, log_path, user, db):
        self.log_path = log_path
        self.idle_rate = None
        self.line = re.compile(r"\[(\d+)\] " + re.escape(f"{user}@{db} ") + r"LOG:  (statement: |execute [^:]*: )(.*)")

    def offset(self):
        return os.path.getsize(self.log_path)

    def count_since(self, off):
        per_pid, groups = {}, []
        with open(self.log_path, "rb") as fh:
            fh.seek(off)
            for raw in fh:
                m = self.line.search(raw.decode("utf-8", "replace"))
                if not m:
                    continue
                pid, text = m.group(1), m.group(3).strip()
                word = text.split(None, 1)[0].upper() if text else ""
                if pid in per_pid:                       # inside an explicit transaction
                    per_pid[pid].append(text)
                    if word in ("COMMIT", "ROLLBACK", "END"):
                        groups.append(per_pid.pop(pid))
                elif word in ("BEGIN", "START"):
                    per_pid[pid] = [text]
                else:                                    # autocommit statement
                    groups.append([text])
        groups.extend(per_pid.values())
        return sum(len(g) for g in groups if not any(self.BACKGROUND.search(t) for t in g))

    def per_request(self, send, n):
        """Statements per request over `n` sequential calls of send(i), net of the idle rate."""
        if self.idle_rate is None:                   # measured once, both servers up and idle
            off, t0 = self.offset(), time.time()
            time.sleep(3.0)
            self.idle_rate = self.count_since(off) / (time.time() - t0)
        idle_rate = self.idle_rate
        off, t0 = self.offset(), time.time()
        for i in range(n):
            send(i)
        time.sleep(1.0)   # group-commit audit writes and log writes land
        total = self.count_since(off)
        return max(0.0, total - idle_rate * (time.time() - t0)) / n


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="the bench/ folder")
    ap.add_argument("--data", required=True, help="folder of the parameter files")
    ap.add_argument("--db", required=True, help="postgres:// URL of the bench database (for psql)")
    ap.add_argument("--carehub", required=True, help="carehub's /graphql URL")
    ap.add_argument("--officer", required=True, help="Authorization header value of the case officer")
    ap.add_argument("--peer", help="the peer's /graphql URL (optional)")
    ap.add_argument("--workloads", default="", help="space-separated names (default: all available)")
    ap.add_argument("--samples", type=int, default=3, help="parameter lines checked per workload")
    ap.add_argument("--stmt-log", help="PostgreSQL server log to count statements in")
    ap.add_argument("--stmt-user", default="carehub_bench_probe")
    ap.add_argument("--stmt-db", default="carehub_bench")
    ap.add_argument("--stmt-requests", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    wls = load_workloads(os.path.join(a.bench, "workloads.tsv"))
    wanted = a.workloads.split()
    psql = Psql(a.db)
    counter = StmtCounter(a.stmt_log, a.stmt_user, a.stmt_db) if a.stmt_log else None
    results = []
    failed = False

    for w in wls:
        if wanted and w["name"] not in wanted:
            continue
        doc_path = os.path.join(a.bench, "queries", w["carehub_doc"])
        if not os.path.exists(doc_path):
            continue
        params = read_params(os.path.join(a.data, w["params"] + ".tsv"))
        n = len(params)
        ks = sorted({1, (n + 1) // 2, n})[: max(1, a.samples)]
        doc = open(doc_path, encoding="utf-8").read()
        peer_doc = None
        if a.peer and w["peer_doc"] != "-":
            peer_doc = open(os.path.join(a.bench, "queries", "peer", w["peer_doc"]), encoding="utf-8").read()
        sql_path = os.path.join(a.bench, "queries", "sql", w["sql"]) if w["sql"] != "-" else None

        def auth_for(row):
            if w["carehub_auth"] == "officer":
                return a.officer
            col = int(w["carehub_auth"].split(":")[1])
            return "Bearer " + row[col - 1]

        sides = {"carehub": [], "postgraphile": []}
        is_write = w["kind"] in WRITE_KINDS
        cell_counts = []   # aggregate: what was compared, per parameter line

        def sql_write(k):
            """What the SQL script writes for parameter row k (in a transaction rolled back)."""
            state, _ = write_state_sql(w["rows"])
            body = sql_script(sql_path).rstrip().rstrip(";")
            return psql.run("BEGIN;\n" + body + " \\gset\n" + state + "ROLLBACK;\n", {"k": k, "n": n})[0]

        for k in ks:
            row = params[k - 1]
            # a pool record can be written once: the SQL (rolled back) goes first
            state_sql = sql_write(k) if is_write and sql_path and w["kind"] == "write-pool" else None
            # carehub
            st, resp = post(a.carehub, doc, fill(w["carehub_vars"], row), auth_for(row))
            prob = gql_problem(st, resp)
            peer_resp = None
            if peer_doc:
                pst, peer_resp = post(a.peer, peer_doc, fill(w["peer_vars"], row))
                pprob = gql_problem(pst, peer_resp)
                if pprob:
                    sides["postgraphile"].append(f"k={k}: {pprob}")
                    peer_resp = None
            if prob:
                sides["carehub"].append(f"k={k}: {prob}")
                continue
            if not sql_path:
                continue
            if is_write:
                got = dig(resp["data"], w["rows"])
                vid = got[0].get("id") if got else None
                if not vid:
                    sides["carehub"].append(f"k={k}: the mutation returned no id")
                    continue
                state, entity = write_state_sql(w["rows"])
                state_gql = psql.run(state, {"id": vid})[0]
                if state_sql is None:
                    state_sql = sql_write(k)
                sides["carehub"] += [f"k={k}: {d}" for d in compare_write(state_gql, state_sql, entity)]
                if peer_resp is not None and not dig(peer_resp["data"], w["peer_rows"]):
                    sides["postgraphile"].append(f"k={k}: the peer's mutation returned no {w['peer_rows']}")
                continue
            sql_rows = psql.run(sql_script(sql_path), {"k": k, "n": n})
            if w["kind"] == "aggregate":
                sql_cells, probs = cells_of_rows(sql_rows, "SQL")
                got, gprobs = cells_of_carehub(resp["data"], w["rows"])
                sides["carehub"] += [f"k={k}: {d}" for d in probs + gprobs + compare_cells(sql_cells, got)]
                if peer_resp is not None:
                    pcells, pprobs = cells_of_rows(dig(peer_resp["data"], w["peer_rows"]), "peer")
                    sides["postgraphile"] += [f"k={k}: {d}" for d in pprobs + compare_cells(sql_cells, pcells)]
                cell_counts.append(f"{len(sql_cells)} cells/{sum(sql_cells.values())} children")
                continue
            sides["carehub"] += [f"k={k}: {d}" for d in compare_rows(sql_rows, dig(resp["data"], w["rows"]))]
            if peer_resp is not None:
                sides["postgraphile"] += [f"k={k}: {d}" for d in
                                          compare_rows(sql_rows, dig(peer_resp["data"], w["peer_rows"]))]

        for side, diffs in sides.items():
            if side == "postgraphile" and not peer_doc:
                continue
            stmts = "-"
            if counter and not diffs:
                url, d, vt = (a.carehub, doc, w["carehub_vars"]) if side == "carehub" else (a.peer, peer_doc, w["peer_vars"])

                # a pool's lines are used once: lines other than the checked ones
                fresh = [j for j in range(1, n + 1) if j not in ks][:a.stmt_requests] or ks

                def send(i, url=url, d=d, vt=vt, side=side, fresh=fresh):
                    row = params[(fresh[i % len(fresh)] if w["kind"] == "write-pool" else ks[i % len(ks)]) - 1]
                    post(url, d, fill(vt, row), auth_for(row) if side == "carehub" else None)
                stmts = "%.1f" % counter.per_request(send, a.stmt_requests)
            status = "ok" if not diffs else "FAIL"
            failed |= bool(diffs)
            detail = "; ".join(diffs[:6]) + (f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else "")
            what = (f"same (group, category) -> count cells as SQL for k={ks} ({', '.join(cell_counts)})"
                    + (", no disclosure control" if side == "carehub" else "")) \
                if sql_path and w["kind"] == "aggregate" else \
                f"same ids and fields as SQL for k={ks}" if sql_path and not is_write else \
                ("same rows written as SQL (record, transitions, change event, WRITE audit entry field by field)"
                 if w["kind"] == "write-pool" else "same rows written as SQL") if is_write and side == "carehub" \
                else "no errors"
            results.append((w["name"], side, status, detail or what, stmts))
            print(f"[check] {w['name']:<12} {side:<12} {status:<4} stmts/req={stmts:<6} {detail or what}", flush=True)

    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write("workload\tside\tstatus\tdetail\tstmts_per_req\n")
        for r in results:
            fh.write("\t".join(str(x).replace("\t", " ").replace("\n", " ") for x in r) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
