"""Turns one bench/run.sh work directory into the results table (markdown).

Reads wrk-<side>-c<conns>-<run>.txt (wrk --latency output), mem.json and meta.json from
--dir; prints the table and writes it to --out. Python standard library only.
Exit status 0 even when a run saw errors: the table says so (run.sh decides what fails).
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0, "h": 3_600_000_000.0}
SIDES = {"cr": "courtroute (path mode)", "ng": "nginx re-encrypting proxy", "direct": "direct HTTPS (ceiling)"}


def _micros(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError("unreadable wrk latency %r" % text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(path):
    """{rps, p50_us, p99_us, requests, non2xx, socket_errors} of one wrk --latency output."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = {"file": os.path.basename(path), "non2xx": 0, "socket_errors": 0}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not m:
        raise ValueError("%s: no 'Requests/sec' line (wrk failed?): %s" % (path, text.strip()[-300:]))
    out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, text, re.M)
        out[key] = _micros(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in", text, re.M)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
    return out


def collect(directory):
    """{(side, conns): [runs]} from the wrk files in `directory`."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(directory, "wrk-*-c*-*.txt"))):
        m = re.fullmatch(r"wrk-(\w+)-c(\d+)-(\d+)\.txt", os.path.basename(path))
        if not m:
            continue
        runs.setdefault((m.group(1), int(m.group(2))), []).append(parse_wrk(path))
    return runs


def summary(runs):
    """Mean req/s and latency of the runs of one side at one concurrency, plus error totals."""
    def mean(key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return statistics.fmean(vals) if vals else None
    return {"rps": mean("rps"), "p50_us": mean("p50_us"), "p99_us": mean("p99_us"),
            "each": [r["rps"] for r in runs], "requests": sum(r["requests"] for r in runs),
            "non2xx": sum(r["non2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs)}


def _num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def _lat(us):
    if us is None:
        return "–"
    return "%.0f µs" % us if us < 10_000 else "%.1f ms" % (us / 1000.0)


def _ratio(a, b):
    return "–" if not a or not b else "%.2f×" % (a / b)


def render(directory):
    runs = collect(directory)
    with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    try:
        with open(os.path.join(directory, "mem.json"), encoding="utf-8") as f:
            mem = json.load(f)
    except FileNotFoundError:
        mem = {}

    conns = sorted({c for (_, c) in runs})
    lines = ["# courtroute benchmark", "",
             "Machine: %s cores, %s; %s. Run %s." % (meta.get("nproc"), meta.get("cpu"),
                                                      meta.get("os", "?"), meta.get("date", "?")),
             "Pinning: proxy under test on core 0, wrk (1 thread) and the TLS upstream on core 1; "
             "for the direct ceiling the upstream moves to core 0. %s s per run after a %s s warm-up, "
             "courtroute and nginx alternated (A B A B), figures are the mean of the runs."
             % (meta.get("duration"), meta.get("warmup")),
             "courtrouted: %s (build type %s). %s." % (meta.get("courtrouted", "?"), meta.get("build_type", "?"),
                                                       meta.get("nginx", "nginx ?")),
             "",
             "**Only the ratios are meaningful**: the machine is shared and noisy, so absolute "
             "req/s swing from run to run; both proxies were measured in the same minute.", "",
             "## Throughput and latency", "",
             "| path | conns | req/s (mean) | runs | p50 | p99 | non-2xx/3xx | socket errors |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    sums = {}
    for c in conns:
        for side in ("cr", "ng", "direct"):
            if (side, c) not in runs:
                continue
            s = summary(runs[(side, c)])
            sums[(side, c)] = s
            lines.append("| %s | %d | %s | %s | %s | %s | %d | %d |" % (
                SIDES.get(side, side), c, _num(s["rps"]), " / ".join(_num(x) for x in s["each"]),
                _lat(s["p50_us"]), _lat(s["p99_us"]), s["non2xx"], s["socket_errors"]))
    lines += ["", "## Ratios (courtroute ÷ nginx; throughput higher is better, latency lower is better)", "",
              "| conns | req/s ratio | p50 ratio | p99 ratio | nginx ÷ direct req/s | courtroute ÷ direct req/s |",
              "|---:|---:|---:|---:|---:|---:|"]
    for c in conns:
        cr, ng, d = sums.get(("cr", c)), sums.get(("ng", c)), sums.get(("direct", c))
        if not cr or not ng:
            continue
        lines.append("| %d | %s | %s | %s | %s | %s |" % (
            c, _ratio(cr["rps"], ng["rps"]), _ratio(cr["p50_us"], ng["p50_us"]),
            _ratio(cr["p99_us"], ng["p99_us"]),
            _ratio(ng["rps"], d["rps"] if d else None), _ratio(cr["rps"], d["rps"] if d else None)))
        if cr["p50_us"] is not None and ng["p50_us"] is not None:
            lines.append("|  | p50 difference: %+.0f µs |  |  |  |  |" % (cr["p50_us"] - ng["p50_us"]))

    if mem:
        lines += ["", "## Memory", "",
                  "| measure | courtrouted | nginx worker | ratio |", "|---|---:|---:|---:|"]

        def row(label, a, b, unit="KiB"):
            lines.append("| %s | %s | %s | %s |" % (label, _num(a, "{:,.0f} " + unit), _num(b, "{:,.0f} " + unit),
                                                    _ratio(a, b)))
        row("peak RSS after the load runs (VmHWM)", mem.get("cr_hwm_kib"), mem.get("ng_hwm_kib"))
        ci, ni = mem.get("cr_idle", {}), mem.get("ng_idle", {})
        row("RSS before the idle connections", ci.get("rss_before_kib"), ni.get("rss_before_kib"))
        row("RSS with %s idle keep-alive connections" % ci.get("opened", "?"),
            ci.get("rss_with_kib"), ni.get("rss_with_kib"))

        def per_conn(d):
            if d.get("opened") and d.get("rss_with_kib") is not None and d.get("rss_before_kib") is not None:
                return (d["rss_with_kib"] - d["rss_before_kib"]) / d["opened"]
            return None
        a, b = per_conn(ci), per_conn(ni)
        lines.append("| added RSS per idle connection | %s | %s | %s |" % (
            _num(a, "{:.1f} KiB"), _num(b, "{:.1f} KiB"), _ratio(a, b) if a and b and a > 0 and b > 0 else "–"))
        lines.append("")
        lines.append("Idle connections opened/still open at sampling: courtroute %s/%s, nginx %s/%s "
                     "(plain HTTP `GET /healthz`, answered locally by both). Both heaps were already "
                     "warmed by the load runs, so memory freed after the load is reused first: the added RSS "
                     "per connection is a lower bound (0 means it fit in memory the process already had)."
                     % (ci.get("opened"), ci.get("alive"), ni.get("opened"), ni.get("alive")))

    notes = meta.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + ["- " + n for n in notes]
    lines += ["", "Reference (shared/PROXY-NOTES.md, same kind of machine, 32 connections): direct HTTPS "
              "keep-alive ≈ 97,000 req/s; nginx TLS re-encrypting proxy with an upstream pool ≈ 43,000 "
              "(0.45× direct, +22 µs median at 1 connection); without a pool ≈ 1,400; squid ssl-bump ≈ 13,000; "
              "mitmproxy ≈ 900.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    text = render(args.dir)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
