"""Turns one bench run (runs.jsonl and meta.json in a results directory) into the "Latest run"
section of bench/RESULTS.md, and writes RESULTS.md keeping the previous latest run beside it.

Every ratio is computed per round (the sides of one round ran within seconds of each other),
then the median over rounds is reported; latencies are medians of the per-round p50/p99.
Standard library only.

    /usr/bin/python3 bench/report.py --dir bench/results/STAMP [--write bench/RESULTS.md]
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

SIDE_NAMES = {
    "cr": "courtroute",
    "ng": "nginx re-encrypting proxy",
    "direct": "direct HTTPS (ceiling)",
    "squid": "squid-openssl ssl-bump",
    "mitm": "mitmproxy (mitmdump)",
}


def load(directory):
    recs = []
    with open(os.path.join(directory, "runs.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    try:
        with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        meta = {}
    return recs, meta


def median(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(r):
    return "–" if r is None else "%.2f×" % r


def fmt_num(v, f="{:,.0f}"):
    return "–" if v is None else f.format(v)


def fmt_us(v, signed=False):
    if v is None:
        return "–"
    sign = "+" if signed and v >= 0 else ""
    if abs(v) >= 10000:
        return "%s%.1f ms" % (sign, v / 1000.0)
    return "%s%.0f µs" % (sign, v)


def fmt_kib(v):
    if v is None:
        return "–"
    return "%.1f MiB" % (v / 1024.0) if v >= 10240 else "%.1f KiB" % v


def verdict(ok):
    return "–" if ok is None else ("yes" if ok else "**no**")


def rounds_of(recs, **match):
    """{round: {side: record}} of the records matching every key."""
    out = {}
    for r in recs:
        if all(r.get(k) == v for k, v in match.items()):
            out.setdefault(r["round"], {})[r["side"]] = r
    return out


def per_round(rounds, fn):
    vals = []
    for sides in rounds.values():
        try:
            v = fn(sides)
        except (KeyError, TypeError, ZeroDivisionError):
            v = None
        if v is not None:
            vals.append(v)
    return median(vals), len(vals)


def side_summary(rounds, side):
    lgs = [s[side]["lg"] for s in rounds.values() if side in s]
    if not lgs:
        return None
    return {"rps": median([x["rps"] for x in lgs]), "p50": median([x["lat_us"]["p50"] for x in lgs]),
            "p99": median([x["lat_us"]["p99"] for x in lgs]), "mbps": median([x["mb_per_s"] for x in lgs]),
            "each": [x["rps"] for x in lgs], "non2xx": sum(x["non2xx"] for x in lgs),
            "errors": sum(x["socket_errors"] for x in lgs), "bad": sum(x["bad_body"] for x in lgs),
            "n": len(lgs)}


# ----------------------------------------------------------------------------- sections

def b1(recs, targets):
    lines = []
    b1recs = [r for r in recs if r.get("s") == "B1"]
    if not b1recs:
        return lines
    lines += ["### B1 — path mode vs nginx re-encrypting proxy vs direct", "",
              "loadgen keep-alive GETs of a 2 KiB logged-in page for the run's duration per side and round. "
              "courtroute: `GET /court/azb/cgi-bin/page` with a Bearer token (path mode); nginx: plain HTTP "
              "in, verified TLS out with an upstream keep-alive pool; direct: loadgen's own TLS straight to "
              "the upstream. Equal threads: courtroute `[listen] threads = N`, nginx `worker_processes N`.", "",
              "| threads | conns | side | req/s (median) | p50 | p99 | non-2xx | socket errors |",
              "|---:|---:|---|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["threads"], r["conns"]) for r in b1recs})
    ratios = []
    for t, c in keys:
        rounds = rounds_of(b1recs, threads=t, conns=c)
        for side in ("cr", "ng", "direct"):
            s = side_summary(rounds, side)
            if s:
                lines.append("| %d | %d | %s | %s | %s | %s | %d | %d |" % (
                    t, c, SIDE_NAMES[side] + (" (path mode)" if side == "cr" else ""), fmt_num(s["rps"]),
                    fmt_us(s["p50"]), fmt_us(s["p99"]), s["non2xx"], s["errors"]))
        cr_ng, n = per_round(rounds, lambda s: s["cr"]["lg"]["rps"] / s["ng"]["lg"]["rps"])
        cr_d, _ = per_round(rounds, lambda s: s["cr"]["lg"]["rps"] / s["direct"]["lg"]["rps"])
        ng_d, _ = per_round(rounds, lambda s: s["ng"]["lg"]["rps"] / s["direct"]["lg"]["rps"])
        p50r, _ = per_round(rounds, lambda s: s["cr"]["lg"]["lat_us"]["p50"] / s["ng"]["lg"]["lat_us"]["p50"])
        p99r, _ = per_round(rounds, lambda s: s["cr"]["lg"]["lat_us"]["p99"] / s["ng"]["lg"]["lat_us"]["p99"])
        add_d, _ = per_round(rounds, lambda s: s["cr"]["lg"]["lat_us"]["p50"] - s["direct"]["lg"]["lat_us"]["p50"])
        add_ng, _ = per_round(rounds, lambda s: s["ng"]["lg"]["lat_us"]["p50"] - s["direct"]["lg"]["lat_us"]["p50"])
        ratios.append((t, c, n, cr_ng, p50r, p99r, cr_d, ng_d, add_d, add_ng))
        if c in (1, 32):
            targets.append(("B1", "req/s ÷ nginx, %d thread%s, %d conn%s" % (t, "s" if t > 1 else "", c,
                                                                          "s" if c > 1 else ""),
                            fmt_ratio(cr_ng), "≥ 1.0×", None if cr_ng is None else cr_ng >= 1.0))
        if c == 1:
            targets.append(("B1", "added median latency over direct, %d thread%s, 1 conn" % (t, "s" if t > 1 else ""),
                            fmt_us(add_d, True), "≤ 50 µs", None if add_d is None else add_d <= 50))
    lines += ["", "Medians of per-round ratios (courtroute ÷ nginx: req/s higher is better, latency lower is "
              "better; \"added p50\" = p50 minus direct's p50 in the same round):", "",
              "| threads | conns | rounds | req/s cr÷nginx | p50 cr÷nginx | p99 cr÷nginx | cr÷direct | nginx÷direct "
              "| added p50 courtroute | added p50 nginx |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, c, n, cr_ng, p50r, p99r, cr_d, ng_d, add_d, add_ng in ratios:
        lines.append("| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            t, c, n, fmt_ratio(cr_ng), fmt_ratio(p50r), fmt_ratio(p99r), fmt_ratio(cr_d), fmt_ratio(ng_d),
            fmt_us(add_d, True), fmt_us(add_ng, True)))
    return lines + [""]


def b2(recs, targets):
    b2recs = [r for r in recs if r.get("s") == "B2"]
    if not b2recs:
        return []
    lines = ["### B2 — forward proxy with interception vs squid-openssl ssl-bump vs mitmproxy", "",
             "loadgen: one CONNECT per connection to `ecf.azb.uscourts.gov:443`, TLS inside (SNI, the "
             "proxy's CA trusted), then keep-alive GETs. All three proxies on one core "
             "(courtroute `threads = 1`, squid one worker, mitmdump is single-threaded).", "",
             "| conns | side | req/s (median) | p50 | p99 | non-2xx | socket errors |", "|---:|---|---:|---:|---:|---:|---:|"]
    rat = []
    for c in sorted({r["conns"] for r in b2recs}):
        rounds = rounds_of(b2recs, conns=c)
        for side in ("cr", "squid", "mitm"):
            s = side_summary(rounds, side)
            if s:
                lines.append("| %d | %s | %s | %s | %s | %d | %d |" % (
                    c, SIDE_NAMES[side] + (" (forward, intercepting)" if side == "cr" else ""), fmt_num(s["rps"]),
                    fmt_us(s["p50"]), fmt_us(s["p99"]), s["non2xx"], s["errors"]))
        sq, n = per_round(rounds, lambda s: s["cr"]["lg"]["rps"] / s["squid"]["lg"]["rps"])
        mi, _ = per_round(rounds, lambda s: s["cr"]["lg"]["rps"] / s["mitm"]["lg"]["rps"])
        sqp, _ = per_round(rounds, lambda s: s["cr"]["lg"]["lat_us"]["p50"] / s["squid"]["lg"]["lat_us"]["p50"])
        rat.append((c, n, sq, mi, sqp))
        targets.append(("B2", "req/s ÷ squid-openssl, %d conns" % c, fmt_ratio(sq), "≥ 1.5×",
                        None if sq is None else sq >= 1.5))
        targets.append(("B2", "req/s ÷ mitmproxy, %d conns" % c, fmt_ratio(mi), "≥ 20×",
                        None if mi is None else mi >= 20))
    lines += ["", "| conns | rounds | req/s cr÷squid | req/s cr÷mitmproxy | p50 cr÷squid |", "|---:|---:|---:|---:|---:|"]
    for c, n, sq, mi, sqp in rat:
        lines.append("| %d | %d | %s | %s | %s |" % (c, n, fmt_ratio(sq), fmt_ratio(mi), fmt_ratio(sqp)))
    return lines + [""]


def b3(recs, targets):
    b3recs = [r for r in recs if r.get("s") == "B3"]
    if not b3recs:
        return []
    by_round = {}
    for r in b3recs:
        by_round.setdefault(r["round"], {})[r["pass"]] = r
    diffs, mdiffs, miss_p50, hit_p50, miss_mean, hit_mean = [], [], [], [], [], []
    minted, hits = [], []
    for rr in by_round.values():
        if "miss" in rr and "hit" in rr:
            m, h = rr["miss"]["lg"]["lat_us"], rr["hit"]["lg"]["lat_us"]
            diffs.append(m["p50"] - h["p50"])
            mdiffs.append(m["mean"] - h["mean"])
            miss_p50.append(m["p50"])
            hit_p50.append(h["p50"])
            miss_mean.append(m["mean"])
            hit_mean.append(h["mean"])
            minted.append(rr["miss"].get("minted"))
            hits.append(rr["hit"].get("hits"))
    n_hosts = b3recs[0].get("hosts")
    d = median(diffs)
    targets.append(("B3", "leaf-certificate miss − hit, per new tunnel (median)", fmt_us(d, True), "≤ 1 ms",
                    None if d is None else d <= 1000))
    return ["### B3 — a new tunnel per request over %s court hosts: leaf miss vs hit" % n_hosts, "",
            "Each round: a fresh courtrouted (empty leaf cache), one path-mode request per court first (the "
            "PACER login and a pooled upstream connection per host exist before the passes, so the passes differ "
            "only in the leaf), then pass 1 (every host once: misses) and pass 2 (the same again: hits). A "
            "request = TCP connect + CONNECT + full TLS handshake (no resumption) + one GET, one at a time. "
            "User `bench` is linked at every court.", "",
            "| rounds | miss p50 | hit p50 | miss − hit (p50) | miss mean | hit mean | miss − hit (mean) | leaves minted in pass 1 | cache hits in pass 2 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            "| %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                len(diffs), fmt_us(median(miss_p50)), fmt_us(median(hit_p50)), fmt_us(d, True),
                fmt_us(median(miss_mean)), fmt_us(median(hit_mean)), fmt_us(median(mdiffs), True),
                "/".join("%d" % x for x in minted if x is not None), "/".join("%d" % x for x in hits if x is not None)),
            ""]


def b5(recs, targets):
    b5recs = [r for r in recs if r.get("s") == "B5"]
    if not b5recs:
        return []
    mib = b5recs[0].get("mib")
    rounds = rounds_of(b5recs)
    lines = ["### B5 — a %s MiB document through the proxy" % mib, "",
             "One GET of a %s MiB `application/pdf` over one connection per side and round; MB/s = body bytes ÷ "
             "transfer time (10^6 bytes). Peak RSS = VmHWM of courtrouted / the nginx worker, reset "
             "(`clear_refs`) just before the transfer, so it starts at the RSS the process already had; the "
             "growth column is peak minus that starting RSS. nginx streams with `proxy_max_temp_file_size 0`."
             % mib, "",
             "| side | MB/s (median) | peak RSS (median) | peak RSS (max over rounds) | growth during the transfer (max) |",
             "|---|---:|---:|---:|---:|"]
    for side in ("cr", "ng", "direct"):
        lgs = [s[side] for s in rounds.values() if side in s]
        if not lgs:
            continue
        growth = [x["hwm_kib"] - x["rss_before_kib"] for x in lgs
                  if x.get("hwm_kib") is not None and x.get("rss_before_kib") is not None]
        lines.append("| %s | %s | %s | %s | %s |" % (
            SIDE_NAMES[side] + (" (path mode)" if side == "cr" else ""),
            fmt_num(median([x["lg"]["mb_per_s"] for x in lgs]), "{:,.1f}"),
            fmt_kib(median([x["hwm_kib"] for x in lgs])) if side != "direct" else "–",
            fmt_kib(max(x["hwm_kib"] or 0 for x in lgs)) if side != "direct" else "–",
            fmt_kib(max(growth)) if growth and side != "direct" else "–"))
    r, n = per_round(rounds, lambda s: s["cr"]["lg"]["mb_per_s"] / s["ng"]["lg"]["mb_per_s"])
    hwm = max((s["cr"]["hwm_kib"] or 0) for s in rounds.values() if "cr" in s) if rounds else None
    lines += ["", "MB/s courtroute ÷ nginx, median of %d per-round ratios: %s." % (n, fmt_ratio(r)), ""]
    targets.append(("B5", "MB/s ÷ nginx (%s MiB)" % mib, fmt_ratio(r), "≥ 0.9×", None if r is None else r >= 0.9))
    targets.append(("B5", "peak RSS of courtrouted (max over rounds)", fmt_kib(hwm), "≤ 64 MiB",
                    None if hwm is None else hwm <= 64 * 1024))
    return lines


def b6(recs, targets):
    b6recs = [r for r in recs if r.get("s") == "B6"]
    if not b6recs:
        return []
    n = b6recs[0].get("tunnels")
    rounds = rounds_of(b6recs)

    def per(rec):
        o = rec["lg"]["opened"]
        return (rec["after_kib"] - rec["before_kib"]) / o if o else None
    lines = ["### B6 — RSS per idle intercepted tunnel at %s tunnels" % n, "",
             "Each round: a fresh process per side, one warm-up tunnel, then loadgen opens the tunnels (CONNECT "
             "+ TLS handshake + one GET each, 16 at a time) and holds them idle; RSS of the process tree (squid "
             "with its certificate helpers) is sampled with all open. Per tunnel = (RSS after − RSS before) ÷ "
             "tunnels opened.", "",
             "| side | rounds | per tunnel (median) | RSS before | RSS with the tunnels | opened / still open |",
             "|---|---:|---:|---:|---:|---:|"]
    cr_per = None
    for side in ("cr", "squid"):
        rs = [s[side] for s in rounds.values() if side in s]
        if not rs:
            continue
        p = median([per(x) for x in rs])
        if side == "cr":
            cr_per = p
        lines.append("| %s | %d | %s | %s | %s | %s |" % (
            SIDE_NAMES[side], len(rs), fmt_kib(p), fmt_kib(median([x["before_kib"] for x in rs])),
            fmt_kib(median([x["after_kib"] for x in rs])),
            "%d / %d" % (min(x["lg"]["opened"] for x in rs), min(x["lg"]["alive"] for x in rs))))
    r, k = per_round(rounds, lambda s: per(s["cr"]) / per(s["squid"]))
    lines += ["", "courtroute ÷ squid per tunnel, median of %d per-round ratios: %s." % (k, fmt_ratio(r)), ""]
    targets.append(("B6", "RSS per idle intercepted tunnel (%s tunnels)" % n, fmt_kib(cr_per), "≤ 32 KiB",
                    None if cr_per is None else cr_per <= 32))
    return lines


def b8(recs, targets):
    b8recs = [r for r in recs if r.get("s") == "B8"]
    if not b8recs:
        return []
    r = b8recs[-1]
    lg = r["lg"]
    per = r["logins"] / r["expiries"] if r["expiries"] else None
    targets.append(("B8", "5xx during %.0f s with %d session expiries" % (r["seconds"], r["expiries"]),
                    "%d" % lg["status"]["5xx"], "0", lg["status"]["5xx"] == 0))
    targets.append(("B8", "PACER logins per expiry", "–" if per is None else "%.2f" % per, "1",
                    None if per is None else abs(per - 1.0) < 1e-9))
    return ["### B8 — sessions expiring under load (courtroute only, against tests/sim)", "",
            "loadgen path mode, %d keep-alive connections for %.0f s, `GET /court/azb/cgi-bin/DktRpt.pl`; the "
            "simulator expires every session %d times, evenly spaced. A response is bad when it is 2xx and is "
            "not the logged-in page (the \"not logged in\" page reached the client)." % (
                r["conns"], r["seconds"], r["expiries"]), "",
            "| requests | req/s | p50 | p99 | max | 5xx | other non-2xx | bad bodies | socket errors | expiries | logins (simulator) | logins (/metrics, incl. the first) | logins per expiry |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            "| %d | %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %.0f | %s |" % (
                lg["responses"], fmt_num(lg["rps"]), fmt_us(lg["lat_us"]["p50"]), fmt_us(lg["lat_us"]["p99"]),
                fmt_us(lg["lat_us"]["max"]), lg["status"]["5xx"], lg["non2xx"] - lg["status"]["5xx"],
                lg["bad_body"], lg["socket_errors"], r["expiries"], r["logins"], r["metrics_logins"],
                "–" if per is None else "%.2f" % per), ""]


def b9(recs, targets):
    b9recs = [r for r in recs if r.get("s") == "B9"]
    if not b9recs:
        return []
    rounds = rounds_of(b9recs)
    pg_recs = [s["pg"] for s in rounds.values() if "pg" in s]
    n_d = pg_recs[0]["daemons"] if pg_recs else 3
    any_r = b9recs[0]
    lines = ["### B9 — %d daemons on one PostgreSQL store vs one daemon on SQLite (issue 14)" % n_d, "",
             "Each round and side: an empty store (a new SQLite state directory; a new database on one PostgreSQL "
             "15 server), %d attorneys added through the CLI (each with a PACER login, linked at azb), fresh "
             "daemons (`threads` %s; the PostgreSQL daemons share one `[secrets] key_file`), then %d loadgen "
             "processes at once, one per (attorney, slot) with %d keep-alive connection(s) each, path mode "
             "`GET /court/azb/cgi-bin/page` for %.0f s after the warm-up: on the PostgreSQL side slot *i* goes to "
             "daemon *i*, on the SQLite side every slot goes to its one daemon (same clients, only the targets "
             "differ). req/s = the sum over the loadgens; p50/p99 over every measured request. Court pages come "
             "from the nginx upstream, PACER's cso-auth from tests/sim, which counts each login by PACER account "
             "(every attorney's first login happens under the load). Nothing is pinned: daemons, PostgreSQL, "
             "the upstream and the clients share the cores." % (
                 any_r.get("users", 0), "default (one per core)" if any_r.get("threads") is None else any_r["threads"],
                 any_r.get("loadgens", 0), max(1, any_r.get("conns", 0) // max(1, any_r.get("loadgens", 1))),
                 any_r.get("seconds", 0)) + (
             " **Pre-warmed** (`BENCH_B9_PREWARM=1`, a diagnostic): before the measured daemons start, a throwaway "
             "daemon served one request per attorney, so the store already held each PACER session and link "
             "observation; the logins counted include that one." if any_r.get("prewarm") else ""), "",
             "| side | rounds | req/s (median) | req/s per daemon (median) | p50 | p99 | non-2xx | bad bodies | socket errors "
             "| PACER logins per attorney (min–max over rounds) | logins per round (total) | store commits per 1,000 responses |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"sqlite": "1 daemon, SQLite store", "pg": "%d daemons, one PostgreSQL store" % n_d}
    for side in ("sqlite", "pg"):
        rs = [s[side] for s in rounds.values() if side in s]
        if not rs:
            continue
        per = [v for r in rs for v in r["logins"].values()]
        totals = [sum(r["logins"].values()) for r in rs]
        each = [median([r["each_rps"][i] for r in rs]) for i in range(rs[0]["daemons"])]
        commits = [1000.0 * r["store"]["commits"] / r["lg"]["responses"] for r in rs
                   if r.get("store") and r["lg"]["responses"]]
        lines.append("| %s | %d | %s | %s | %s | %s | %d | %d | %d | %s | %s | %s |" % (
            names[side], len(rs), fmt_num(median([r["lg"]["rps"] for r in rs])),
            " / ".join(fmt_num(x) for x in each), fmt_us(median([r["lg"]["lat_us"]["p50"] for r in rs])),
            fmt_us(median([r["lg"]["lat_us"]["p99"] for r in rs])), sum(r["lg"]["non2xx"] for r in rs),
            sum(r["lg"]["bad_body"] for r in rs), sum(r["lg"]["socket_errors"] for r in rs),
            ("%d–%d" % (min(per), max(per))) if per else "–", "/".join("%d" % t for t in totals),
            fmt_num(median(commits), "{:,.1f}") if commits else "–"))
    rat, n = per_round(rounds, lambda s: s["pg"]["lg"]["rps"] / s["sqlite"]["lg"]["rps"])
    each_r = []
    for rnd in sorted(rounds):
        s = rounds[rnd]
        if "pg" in s and "sqlite" in s and s["sqlite"]["lg"]["rps"]:
            each_r.append("%.2f" % (s["pg"]["lg"]["rps"] / s["sqlite"]["lg"]["rps"]))
    exact = all(v == 1 for r in pg_recs for v in r["logins"].values()) and \
        all(len(r["logins"]) == r.get("users", len(r["logins"])) for r in pg_recs) if pg_recs else None
    pg_max = max((max(r["logins"].values()) for r in pg_recs if r["logins"]), default=None)
    by_daemon = ["/".join("%.0f" % x for x in r["metrics_logins"]) for r in pg_recs]
    obs = [1000.0 * r["store"]["observation_writes"] / r["lg"]["responses"] for r in pg_recs
           if r.get("store") and r["lg"]["responses"]]
    lines += ["", "req/s %d daemons on PostgreSQL ÷ 1 daemon on SQLite, median of %d per-round ratios: **%s** "
              "(rounds: %s). PACER logins per attorney on the PostgreSQL side: max %s per round, every attorney "
              "exactly once in every round: %s; logins made by each daemon (its /metrics), per round: %s." % (
                  n_d, n, fmt_ratio(rat), ", ".join(each_r) or "–", "–" if pg_max is None else "%d" % pg_max,
                  verdict(exact), ", ".join(by_daemon) or "–")]
    if obs:
        lines[-1] += (" Writes to `link_observations` (PostgreSQL's statistics) per 1,000 responses: %s (median; "
                      "one per attorney and court is expected, refreshed daily)." % fmt_num(median(obs), "{:,.1f}"))
    lines.append("")
    targets.append(("B9", "req/s, %d daemons on one PostgreSQL store ÷ 1 daemon on SQLite" % n_d, fmt_ratio(rat),
                    "–", None))
    targets.append(("B9", "PACER logins per attorney per round across %d daemons (max)" % n_d,
                    "–" if pg_max is None else "%d" % pg_max, "1", exact))
    return lines


def metrics_notes(recs):
    """One line per daemon's /metrics at its stop, labelled with the scenario it served;
    identical lines (B3's and B6's fresh daemon per round) are counted, not repeated."""
    out, last, seen = [], "?", {}
    for r in recs:
        if r.get("s") not in ("metrics", "cr_log"):
            last = r.get("s", last)
        if r.get("s") != "metrics" or not r.get("metrics"):
            continue
        m = r["metrics"]
        conn = m.get("courtroute_upstream_connections_total")
        logins = sum(v for k, v in m.items() if k.startswith("courtroute_logins_total"))
        reqs = {}
        for k, v in m.items():
            mm = re.match(r'courtroute_requests_total\{.*status="(\d+)"\}', k)
            if mm:
                reqs[mm.group(1)] = reqs.get(mm.group(1), 0) + v
        during = r.get("during") or last
        label = "B1/B5/B2" if during in ("B1", "B5", "B2") and r.get("threads") == 1 else during
        line = ("courtrouted (%s, threads=%s): %s requests by status %s, %s new upstream TLS connection(s), "
                "%d login(s), %s leaves minted." % (
                    label, r.get("threads"), fmt_num(sum(reqs.values())),
                    json.dumps({k: int(v) for k, v in sorted(reqs.items())}),
                    fmt_num(conn), logins, fmt_num(m.get("courtroute_leaf_certificates_minted_total"))))
        if line in seen:
            seen[line] += 1
        else:
            seen[line] = 1
            out.append(line)
    return [ln if seen[ln] == 1 else "%s (%d daemons, each the same)" % (ln, seen[ln]) for ln in out]


def dirty_text(dirty):
    """meta "dirty": a list of changed tracked files (older runs: a bool)."""
    if not dirty:
        return ""
    if isinstance(dirty, list):
        return " with local changes to %s%s" % (", ".join(dirty[:4]), ", …" if len(dirty) > 4 else "")
    return " with local changes"


def render(directory, label=None):
    recs, meta = load(directory)
    label = label or meta.get("label")
    targets = []
    body = b1(recs, targets) + b2(recs, targets) + b3(recs, targets) + b5(recs, targets) + \
        b6(recs, targets) + b8(recs, targets) + b9(recs, targets)
    head = ["## Latest run", ""] + (["**%s**" % label, ""] if label else []) + [
            "%s on %s cores (%s), %s. courtroute commit `%s`%s (%s build, branch %s). %s; %s; %s." % (
                meta.get("date", "?"), meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("os", "?"),
                meta.get("commit", "?"), dirty_text(meta.get("dirty")),
                meta.get("build_type", "?"), meta.get("branch", "?"), meta.get("nginx", "nginx ?"),
                meta.get("squid") or "squid not installed", meta.get("mitmproxy") or "mitmproxy not installed"),
            "",
            "%s round(s) interleaved (every side once per round, in turn), %s s measured after %s s of warm-up "
            "per load; whole run %s s. Targets are what the proxy redesign aims at, shown for reading, not "
            "enforced." % (meta.get("rounds"), meta.get("duration"), meta.get("warmup"),
                           meta.get("total_s", "?")), "",
            "| # | figure (courtroute) | measured | target | met |", "|---|---|---:|---:|:---:|"]
    for sc, what, val, tgt, ok in targets:
        head.append("| %s | %s | %s | %s | %s |" % (sc, what, val, tgt, verdict(ok)))
    head.append("")
    tail = []
    notes = list(meta.get("skipped", [])) + list(meta.get("notes", [])) + metrics_notes(recs) + \
        ["FAILED: " + f for f in meta.get("failures", [])]
    if notes:
        tail += ["### Notes", ""] + ["- " + n for n in notes] + [""]
    return "\n".join(head + body + tail)


HEADER = """# courtroute benchmark results

Written by `bash bench/run.sh` (bench/README.md says what each scenario does and how to read
it). The machine is shared and noisy: **read the ratios**, which compare sides measured
within seconds of each other, not the absolute req/s. Each run moves the previous "Latest
run" down to "Previous run".

"""


def demote(text, levels):
    return re.sub(r"^(#+)", lambda m: "#" * min(6, len(m.group(1)) + levels), text, flags=re.M)


def write_results(path, latest, previous_file=None):
    """Writes RESULTS.md: the header, `latest`, and the old file's latest run as the previous run
    (on the first write, `previous_file`, the old bench's table, if it exists)."""
    previous = None
    # "## Before/after: ..." sections (one change measured against its parent) and "## B<n>: ..."
    # sections (one scenario run on its own, BENCH_ONLY) stay.
    kept_re = r"^## (?:Before/after|B\d+):.*?(?=^## |\Z)"
    kept = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
        kept = [m.group(0).rstrip() + "\n" for m in re.finditer(kept_re, old, re.M | re.S)]
        old = re.sub(kept_re, "", old, flags=re.M | re.S)
        m = re.search(r"^## Latest run\n(.*?)(?=^## Previous run|\Z)", old, re.M | re.S)
        if m:
            previous = "## Previous run\n" + m.group(1).rstrip() + "\n"
    if previous is None and previous_file and os.path.exists(previous_file):
        with open(previous_file, encoding="utf-8") as f:
            prev = f.read().strip()
        prev = re.sub(r"^# courtroute benchmark\s*\n", "", prev)
        previous = ("## Previous run\n\nThe old bench (`bench/run.sh` before this suite: wrk, path mode vs nginx "
                    "only, mean of 2 runs) against the single-threaded daemon **before the proxy redesign**, kept "
                    "as it was printed:\n\n" + demote(prev, 2) + "\n")
    text = HEADER + latest.rstrip() + "\n\n" + (previous or "## Previous run\n\n(none)\n")
    for section in kept:
        text += "\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="a results directory (runs.jsonl, meta.json)")
    ap.add_argument("--write", help="RESULTS.md to (re)write, keeping its latest run as the previous")
    ap.add_argument("--previous", default="/tmp/bench_before.md",
                    help="previous table for the first write of --write")
    ap.add_argument("--label", help="one line shown under the heading (else meta.json's label)")
    args = ap.parse_args()
    text = render(args.dir, args.label)
    if args.write:
        write_results(args.write, text, args.previous)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
