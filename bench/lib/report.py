#!/usr/bin/env python3
"""Renders a bench/run results folder as Markdown (standard library only).

    report.py OUT_DIR [WORKLOADS_TSV]  ->  Markdown on stdout

OUT_DIR holds results.tsv (one line per measured run), check.tsv (the correctness check),
env.txt (machine, versions, settings) and commands.txt (what was executed).
"""
import csv
import os
import sys
from collections import OrderedDict


def rows_of(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v):
    f = num(v)
    if f is None:
        return v if v not in (None, "") else "-"
    if f >= 100:
        return "%.0f" % f
    if f >= 10:
        return "%.1f" % f
    return "%.2f" % f


def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f×" % (a / b)


def pct_change(a, b):
    """(a/b - 1) in percent, signed."""
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return "-"
    return "%+.1f %%" % (100.0 * (a / b - 1.0))


def titles(workloads_tsv):
    t = OrderedDict()
    if workloads_tsv and os.path.exists(workloads_tsv):
        for line in open(workloads_tsv, encoding="utf-8"):
            if line.strip() and not line.startswith("#"):
                f = line.rstrip("\n").split("\t")
                t[f[0]] = f[1]
    return t


def main(out_dir, workloads_tsv=None):
    res = rows_of(os.path.join(out_dir, "results.tsv"))
    chk = rows_of(os.path.join(out_dir, "check.tsv"))
    names = titles(workloads_tsv)
    env = open(os.path.join(out_dir, "env.txt"), encoding="utf-8").read().rstrip() \
        if os.path.exists(os.path.join(out_dir, "env.txt")) else ""
    cmds = open(os.path.join(out_dir, "commands.txt"), encoding="utf-8").read().rstrip() \
        if os.path.exists(os.path.join(out_dir, "commands.txt")) else ""

    def get(side, w, c):
        for r in res:
            if r["side"] == side and r["workload"] == w and r["conc"] == str(c):
                return r
        return None

    def stmts(side, w):
        for r in chk:
            if r["side"] == side and r["workload"] == w:
                return r["stmts_per_req"]
        return "-"

    order = [w for w in names if any(r["workload"] == w for r in res)]
    order += sorted({r["workload"] for r in res} - set(order))
    concs = sorted({int(r["conc"]) for r in res if r["side"] in ("carehub", "postgraphile") and r["conc"].isdigit()})
    has_peer = any(r["side"] == "postgraphile" for r in res)

    print("## Machine, versions, settings\n")
    print("```")
    print(env)
    print("```\n")

    import re
    m = re.search(r"nproc=(\d+)", env)
    ncpu = int(m.group(1)) if m else 2
    for r in res:
        busy = num(r.get("machine_busy_pct"))
        parts = [num(r.get(k)) or 0.0 for k in ("server_cpu_pct", "pg_cpu_pct", "gen_cpu_pct")]
        r["other_cpu_pct"] = "%.0f" % max(0.0, busy * ncpu - sum(parts)) if busy is not None else "-"
    others = [num(r["other_cpu_pct"]) for r in res if num(r.get("other_cpu_pct")) is not None]
    if others and max(others) > 25:
        print("**Warning: other processes used up to %.0f %% of a core during these runs** (median %.0f %%; "
              "column 'other CPU %%' below): the machine was not quiet, and absolute numbers and even ratios "
              "are skewed. Rerun on a quiet machine before drawing conclusions.\n"
              % (max(others), sorted(others)[len(others) // 2]))
    print("## Headline: carehub beside PostGraphile and the SQL limit\n")
    print("req/s (higher is better) with p50 / p99 latency in ms. SQL = pgbench executing the equivalent "
          "SQL (prepared, with the client count after `c=`, shown once per workload; the writes D and F run "
          "at the same 16 writers on both sides); ratios compare req/s. "
          "stmts/req = SQL statements per GraphQL request (carehub / PostGraphile), counted in the "
          "PostgreSQL log during the correctness check. RSS = the server's peak resident memory "
          "(VmHWM) during that run.\n")
    head = ["workload", "conc", "SQL tps (p50 / p99)", "carehub req/s (p50 / p99)"]
    if has_peer:
        head += ["PostGraphile req/s (p50 / p99)", "carehub ÷ PostGraphile"]
    head += ["carehub ÷ SQL", "errors", "RSS MB carehub" + (" / PostGraphile" if has_peer else ""), "stmts/req"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * len(head)) + "|")
    for w in order:
        sql = next((r for r in res if r["side"] == "sql" and r["workload"] == w), None)
        first = True
        for c in concs:
            ch, pg = get("carehub", w, c), get("postgraphile", w, c)
            if not ch and not pg:
                continue
            cells = [names.get(w, w) if first else "", str(c)]
            cells.append(("%s (%s / %s) c=%s%s" % (fmt(sql["rps"]), fmt(sql["p50_ms"]), fmt(sql["p99_ms"]), sql["conc"],
                                                   " **pool exhausted**" if "pool-exhausted" in sql["errors"] else "")
                          if sql else "-") if first else "″")
            cells.append("**%s** (%s / %s)" % (fmt(ch["rps"]), fmt(ch["p50_ms"]), fmt(ch["p99_ms"])) if ch else "-")
            if has_peer:
                cells.append("%s (%s / %s)" % (fmt(pg["rps"]), fmt(pg["p50_ms"]), fmt(pg["p99_ms"])) if pg else "-")
                cells.append("**%s**" % ratio(ch and ch["rps"], pg and pg["rps"]))
            cells.append(ratio(ch and ch["rps"], sql and sql["rps"]))
            errs = [(ch or {}).get("errors", "-")] + ([(pg or {}).get("errors", "-")] if has_peer else [])
            cells.append(" / ".join(errs))
            rss = [(ch or {}).get("rss_mb", "-")] + ([(pg or {}).get("rss_mb", "-")] if has_peer else [])
            cells.append(" / ".join(fmt(x) for x in rss))
            st = [stmts("carehub", w)] + ([stmts("postgraphile", w)] if has_peer else [])
            cells.append(" / ".join(st) if first else "")
            print("| " + " | ".join(cells) + " |")
            first = False
    peak = [num(r.get("rss_mb")) for r in res if r["side"].startswith("carehub") and num(r.get("rss_mb")) is not None]
    if peak:
        print("\ncarehub's peak RSS over every run: **%.0f MB** (target < 200 MB)." % max(peak))

    variants = [r for r in res if r["side"].startswith("variant:")]
    if variants:
        vnames = list(OrderedDict.fromkeys(r["side"] for r in variants))
        base = "variant:enforce+audit"
        w = variants[0]["workload"]
        print("\n## Cost of the remit policy and of the read audit (issues 3 and 5)\n")
        print("Workload %s, carehub only. The variants are separate carehub processes on the same "
              "database, measured interleaved at each concurrency (real policy + audit on, then "
              "CAREHUB_POLICY_MODE=allow-all, then CAREHUB_AUDIT=off, ...). Cost = how much slower "
              "the real configuration is: throughput 1 − real/variant, p99 real/variant − 1. "
              "Targets: policy ≤ 10 %% throughput and ≤ 10 %% p99; audit ≤ 15 %%.\n" % names.get(w, w))
        head = ["conc"] + ["%s req/s (p50 / p99)" % v.split(":", 1)[1] for v in vnames]
        others = [v for v in vnames if v != base]
        head += ["cost of %s: req/s, p99" % ("the policy" if "allow-all" == v.split(":", 1)[1] else
                                             "the audit" if "audit-off" == v.split(":", 1)[1] else
                                             "policy+audit" if v.split(":", 1)[1] == "allow-all+audit-off" else v)
                 for v in others]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] * len(head)) + "|")
        for c in sorted({int(r["conc"]) for r in variants}):
            cells = [str(c)]
            for v in vnames:
                r = get(v, w, c)
                cells.append("%s (%s / %s)%s%s" % (fmt(r["rps"]), fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                                                   "" if r.get("audit_batch", "-") in ("-", "") else
                                                   ", %s entries/batch" % r["audit_batch"],
                                                   "" if r["errors"] in ("0", "") else " errors: " + r["errors"])
                             if r else "-")
            b = get(base, w, c)
            for v in others:
                r = get(v, w, c)
                if b and r and num(r["rps"]):
                    thr = "%.1f %%" % (100.0 * (1.0 - num(b["rps"]) / num(r["rps"])))
                    cells.append("%s, %s" % (thr, pct_change(b["p99_ms"], r["p99_ms"])))
                else:
                    cells.append("-")
            print("| " + " | ".join(cells) + " |")

    if chk:
        print("\n## Correctness check (before timing)\n")
        print("| workload | side | result | what was compared | SQL stmts/request |")
        print("|---|---|---|---|---|")
        for r in chk:
            print("| %s | %s | %s | %s | %s |" % (r["workload"], r["side"], r["status"],
                                                  r["detail"].replace("|", "\\|"), r["stmts_per_req"]))

    print("\n## All runs\n")
    cols = ["side", "workload", "conc", "rps", "p50_ms", "p99_ms", "mean_ms", "errors", "server_cpu_pct",
            "pg_cpu_pct", "gen_cpu_pct", "other_cpu_pct", "machine_busy_pct", "rss_mb", "audit_batch", "stmts_per_req"]
    heads = ["side", "workload", "conc", "req/s", "p50 ms", "p99 ms", "mean ms", "errors", "server CPU %",
             "postgres CPU %", "load-gen CPU %", "other CPU %", "machine busy %", "server RSS MB (peak)", "audit entries/batch", "SQL stmts/req"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join(["---"] * len(heads)) + "|")
    for r in res:
        print("| " + " | ".join(r.get(c, "") if c in ("side", "workload", "conc", "errors") else fmt(r.get(c, ""))
                                for c in cols) + " |")
    print("\nCPU % is of one core (the machine's total is nproc × 100 %); postgres CPU counts the whole "
          "PostgreSQL cluster (other databases' work included); other CPU = machine busy × nproc − server − "
          "postgres − load generator: everything else running on the machine. errors = socket errors + non-2xx + "
          "answers with a GraphQL `errors` member. For `sql` rows, conc = pgbench clients. audit entries/batch = "
          "mean size of the read audit's group commits during the run (carehub's /metrics "
          "summary `carehub_audit_batch_size`; - when not exposed). SQL stmts/req = carehub's "
          "`carehub_db_statements_total` over the run ÷ requests (background work included); 1 for pgbench.")

    if cmds:
        print("\n## Commands\n")
        print("```bash")
        print(cmds)
        print("```")


if __name__ == "__main__":
    main(*sys.argv[1:])
