"""Faults, end to end, with counts in the log (issue 9: "prove it, with counts printed in CI's log").

1. The store under kill -9: the CLI killed at random moments of its writes, and the daemon
   killed while it writes (failed logins it records) with the CLI writing beside it. Afterwards
   SQLite's integrity check passes, nothing reported done is lost, and everything still works.
2. Upstream faults through the real daemon: a court nobody listens for, a court that resets
   mid-body, one that closes without answering, one that stalls, one answering 5xx, and PACER
   down (the number of login attempts over many requests: back-off, no storm).
3. The store locked by another writer (an exclusive SQLite transaction held for seconds): the
   CLI waits or fails with one clear line, the daemon keeps serving.
4. Load: 100,000 requests at 200 connections through the forward proxy (CONNECT, intercepted
   TLS, keep-alive) with zero errors and a flat RSS; then 10,000 connections opened and
   abandoned, after which the daemon serves, its RSS is back and /metrics counts ~0 connections.

Every test prints one line per case with its counts. Everything listens on 127.0.0.1; every
process this module starts is stopped by its PID. No secret appears in what is printed.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_faults`.
"""

import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, clean_env, curl, free_port  # noqa: E402
from sim.pki import TestPKI  # noqa: E402
from sim.sim import PACER_HOST  # noqa: E402

SIM_COURTS = {
    "azb": dict(type="bankruptcy"),                    # NextGen: the court ordinary requests go to
    "azd": dict(type="district"),                      # NextGen: resets mid-body ("truncate")
    "cob": dict(type="bankruptcy"),                    # NextGen: closes without answering
    "cod": dict(type="district"),                      # NextGen: answers 5xx
    "nhb": dict(type="bankruptcy"),                    # NextGen: slow (stalls, then answers)
    "nvb": dict(type="bankruptcy", system="legacy"),   # legacy
    "nvd": dict(type="district", system="legacy"),     # legacy
}
REFUSED_COURT = "ctb"   # declared, resolved to a port nobody listens on
SILENT_COURT = "ctd"    # declared, resolved to a listener that accepts and never speaks
# Courts only the registry knows (the CLI's writes need them, no request goes there).
EXTRA_NEXTGEN = ("dcd", "deb", "flmb", "flsb", "gamb", "idb")
EXTRA_LEGACY = ("gud", "nmid")

PASSWORDS = {
    "alice01": "alice-faults-PACER-pw-5501",
    "pdown01": "pdown-faults-PACER-pw-5502",
}
LOADER_PACER = "loader-faults-PACER-pw-5505"  # the nginx upstream takes any password
WRONG_PACER = "wrong-faults-PACER-pw-5599"    # never an account's password: logins are rejected
CLI_PACER = "cli-faults-PACER-pw-5503"        # what the CLI stores in the kill runs
CLI_ECF = "cli-faults-ECF-pw-5504"
LOGOUT_MARK = "login.pl?logout"               # a logged-in CM/ECF page carries the logout link

SIM = None
SIM_TMP = None
WATCH = None


def killable():
    """Environment for a process the test SIGKILLs: under AddressSanitizer, no leak check at exit.
    A kill that lands while LeakSanitizer is stopping the threads of an exiting process leaves a
    half-written report ("Unable to get registers from thread N", or an empty file) that says
    nothing about the code; every process that exits on its own keeps the leak check."""
    opts = os.environ.get("ASAN_OPTIONS")
    return {"ASAN_OPTIONS": opts + ":detect_leaks=0"} if opts else {}


def setUpModule():
    global SIM, SIM_TMP, WATCH
    if not harness.have_binaries():
        raise unittest.SkipTest("no courtrouted/courtroute in COURTROUTE_BIN=%r" % harness.build_dir())
    SIM_TMP = tempfile.TemporaryDirectory(prefix="faults-e2e-sim-")
    SIM = Simulator(SIM_TMP.name, courts=SIM_COURTS).start()
    WATCH = SecretWatch(SIM)
    for login, pw in PASSWORDS.items():
        SIM.add_pacer_account(login, WATCH.add("pacer password", pw))
    for pw in (WRONG_PACER, CLI_PACER, CLI_ECF, LOADER_PACER):
        WATCH.add("pacer/ecf password", pw)
    SIM.link("azb", "alice01")


def tearDownModule():
    if SIM is not None:
        SIM.stop()
    if SIM_TMP is not None:
        SIM_TMP.cleanup()


# ============================================================================ helpers

def host(cid):
    return "ecf.%s.uscourts.gov" % cid


def basic(user, token):
    return "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()


def registry(*sim_ids, extra=True):
    """Daemon `courts=`: the named simulator courts, the fault courts, and registry-only courts."""
    out = {}
    for cid in sim_ids:
        c = SIM.courts[cid]
        out[cid] = dict(type=c.type, system=c.system, host=c.host)
    out[REFUSED_COURT] = dict(type="bankruptcy", host=host(REFUSED_COURT))
    out[SILENT_COURT] = dict(type="district", host=host(SILENT_COURT))
    if extra:
        for cid in EXTRA_NEXTGEN:
            out[cid] = dict(type="bankruptcy")
        for cid in EXTRA_LEGACY:
            out[cid] = dict(type="district", system="legacy")
    return out


def db_path(d):
    return os.path.join(d.state_dir, "courtroute.db")


def integrity(d):
    """(integrity_check rows, foreign_key_check rows) of the store, opened read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % db_path(d), uri=True, timeout=30)
    try:
        return ([r[0] for r in con.execute("PRAGMA integrity_check")],
                con.execute("PRAGMA foreign_key_check").fetchall())
    finally:
        con.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def metric(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("metric %s not in /metrics" % name)
    return float(m.group(1))


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %.0f s" % (what, timeout))
        time.sleep(0.05)


def spawn_cli(d, args, stdin=""):
    """`courtroute --config ... ARGS` started in the background, its standard input already
    written (a pipe filled and closed before the start: a kill cannot race the write)."""
    r, w = os.pipe()
    try:
        os.write(w, stdin.encode())
    finally:
        os.close(w)
    try:
        return subprocess.Popen([harness.binary("courtroute"), "--config", d.config_path] + list(args),
                                stdin=r, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env(killable()))
    finally:
        os.close(r)


def user_entry(doc, name):
    for u in doc["users"]:
        if u["user"] == name:
            return u
    return None


def court_row(entry, court):
    for c in entry["courts"] if entry else ():
        if c["court"] == court:
            return c
    return None


class FaultCase(unittest.TestCase):
    """Secret checks on every daemon's log and every client output; simulator errors."""

    def setUp(self):
        self.outputs = []
        self.daemons = []
        SIM.errors.clear()
        SIM.reset_counters()

    def tearDown(self):
        for d in self.daemons:
            WATCH.assert_absent(daemon_log=d.log_text())
        WATCH.assert_absent(*self.outputs)
        self.assertEqual(SIM.errors, [], "simulator handler errors")

    def daemon(self, courts, start=True, **kw):
        tmp = tempfile.TemporaryDirectory(prefix="faults-e2e-")
        self.addCleanup(tmp.cleanup)
        d = Daemon(tmp.name, sim=SIM, courts=courts, watch=WATCH, **kw)
        self.addCleanup(d.stop)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def ok(self, d, args, stdin=""):
        r = d.cli(args, stdin=stdin)
        self.outputs.extend([r.stdout, r.stderr])
        if r.returncode != 0:
            raise AssertionError("courtroute %s failed (exit %d): %s"
                                 % (" ".join(args[:2]), r.returncode, WATCH.redact(r.stderr).strip()))
        return r

    def user(self, d, name, pacer_login=None, password=None, links=()):
        token = d.add_user(name)
        if pacer_login:
            self.ok(d, ["pacer", "set", name, "--login", pacer_login], password + "\n")
        for court in links:
            self.ok(d, ["link", name, court])
        return token

    def session(self, d, user, token):
        s = harness.requests_session(d.proxy_url(user, token), d.ca_path())
        self.addCleanup(s.close)
        return s

    def get(self, s, court, path="/cgi-bin/DktRpt.pl", **kw):
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        r = s.get("https://%s%s" % (host(court), path), **kw)
        self.outputs.append(r)
        return r

    def curl(self, d, user, token, url, args=(), timeout=30):
        r = curl(list(args) + [url], proxy=d.proxy_url(user, token), cacert=d.ca_path(), timeout=timeout)
        self.outputs.extend([r.body, r.stderr] + ["%s: %s" % kv for _, h in r.blocks for kv in h])
        return r

    def assert_store_ok(self, d, label):
        rows, fk = integrity(d)
        self.assertEqual(rows, ["ok"], "%s: integrity_check" % label)
        self.assertEqual(fk, [], "%s: foreign_key_check" % label)

    def assert_serves(self, d, user, token):
        self.assertTrue(d.running(), "courtrouted died; log:\n%s" % d.log_tail())
        self.assertEqual(d.http("GET", "/healthz")[0], 200)
        r = self.curl(d, user, token, "https://%s/cgi-bin/DktRpt.pl" % host("azb"))
        self.assertEqual(r.status, 200, "a routed request after the faults")
        self.assertIn(LOGOUT_MARK, r.text)


# ============================================================================ 1. kill -9 and the store

class StoreKillTest(FaultCase):

    def test_cli_killed_during_writes(self):
        d = self.daemon(registry("azb", "nvb", "nvd"))
        base = ["ku%d" % i for i in range(5)]
        for name in base:
            self.user(d, name)
        nextgen = ["azb"] + list(EXTRA_NEXTGEN)
        legacy = ["nvb", "nvd"] + list(EXTRA_LEGACY)
        rng = random.Random(int(os.environ.get("COURTROUTE_FAULTS_SEED", "0")) or None)
        link_pairs = rng.sample([(u, c) for u in base for c in nextgen], 25)

        # How long one write takes here: the kill window covers it (0-30 ms, as the issue says,
        # or 1.5 times a write if that is shorter, so that most kills land inside one).
        t0 = time.monotonic()
        self.ok(d, ["user", "add", "ktiming"])
        one = time.monotonic() - t0
        window = min(0.030, max(0.004, 1.5 * one))

        runs = []   # (kind, key, value, outcome) with outcome "done" | "killed"
        failed = []
        for i in range(100):
            kind = ("user", "pacer", "ecf", "link")[i % 4]
            if kind == "user":
                key, value = "ka%03d" % i, None
                args, stdin = ["user", "add", key], ""
            elif kind == "pacer":
                key, value = rng.choice(base), "kl%03d" % i
                args, stdin = ["pacer", "set", key, "--login", value], CLI_PACER + "\n"
            elif kind == "ecf":
                key, value = (rng.choice(base), rng.choice(legacy)), "ke%03d" % i
                args, stdin = ["ecf", "set", key[0], key[1], "--login", value], CLI_ECF + "\n"
            else:
                key, value = link_pairs.pop(), None
                args, stdin = ["link", key[0], key[1]], ""
            p = spawn_cli(d, args, stdin)
            time.sleep(rng.uniform(0, window))   # the random moment of the kill, not a wait
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            out, err = p.communicate(timeout=30)
            self.outputs.extend([out, err])
            if p.returncode == 0:
                runs.append((kind, key, value, "done"))
            elif p.returncode == -signal.SIGKILL:
                runs.append((kind, key, value, "killed"))
            else:
                failed.append("%s -> exit %d: %s" % (" ".join(args[:2]), p.returncode, WATCH.redact(err).strip()))
        killed = sum(1 for r in runs if r[3] == "killed")
        self.assertEqual(failed, [], "a CLI that was not killed failed (the store was left unusable?)")

        self.assert_store_ok(d, "after 100 killed CLI runs")
        doc = d.status()
        listed = set(self.ok(d, ["user", "list"]).stdout.split())
        lost = []
        for kind in ("user", "pacer", "ecf", "link"):
            mine = [r for r in runs if r[0] == kind]
            for key in {r[1] for r in mine}:
                hist = [r for r in mine if r[1] == key]
                done = [i for i, r in enumerate(hist) if r[3] == "done"]
                if not done:
                    continue
                if kind == "user":
                    if key not in listed or user_entry(doc, key) is None:
                        lost.append("user %s" % key)
                elif kind == "pacer":
                    # The last write that reported success, or a killed one after it that got in.
                    allowed = {r[2] for r in hist[done[-1]:]}
                    got = (user_entry(doc, key) or {}).get("pacer", {}).get("login")
                    if got not in allowed:
                        lost.append("pacer login of %s" % key)
                elif kind == "ecf":
                    row = court_row(user_entry(doc, key[0]), key[1])
                    if row is None or row.get("credential") in (None, "none"):
                        lost.append("CM/ECF login of %s at %s" % key)
                else:
                    row = court_row(user_entry(doc, key[0]), key[1])
                    if row is None or row.get("linked") is not True:
                        lost.append("link of %s at %s" % key)
        done_count = len(runs) - killed
        print("kill -9 of the CLI during writes: %d runs (%d killed mid-run, %d completed, window %.0f ms), "
              "%d lost, integrity ok" % (len(runs), killed, done_count, window * 1000, len(lost)))
        self.assertEqual(lost, [], "writes that reported success are gone")
        # The CLI still works, and the daemon sees what it writes.
        self.ok(d, ["user", "add", "kafter"])
        self.assertIn("kafter", self.ok(d, ["user", "list"]).stdout.split())
        self.assertIsNotNone(user_entry(d.status(), "kafter"))
        self.assertGreater(killed, 0, "no run was killed: the kill window missed every write")

    def test_daemon_killed_during_writes(self):
        courts = registry("azb", "nvb")
        d = self.daemon(courts, start=False)
        alice = self.user(d, "alice", "alice01", PASSWORDS["alice01"], links=["azb"])
        writers = ["dw%d" % i for i in range(3)]   # wrong PACER passwords: the daemon marks them failed
        tokens = {u: self.user(d, u) for u in writers}
        rng = random.Random(int(os.environ.get("COURTROUTE_FAULTS_SEED", "0")) or None)

        # The CLI writes beside the daemon the whole time.
        cli_done, cli_bad = [], []
        stop = threading.Event()

        def cli_loop():
            i = 0
            while not stop.is_set():
                name = "dc%04d" % i
                r = d.cli(["user", "add", name])
                (cli_done if r.returncode == 0 else cli_bad).append(name)
                i += 1

        th = threading.Thread(target=cli_loop, daemon=True)
        th.start()
        self.addCleanup(th.join, 30)
        self.addCleanup(stop.set)

        restarts, reported_failed, marks_kept, in_flight_kills = 0, 0, 0, 0
        rounds = 15
        for rnd in range(rounds):
            for u in writers:   # a new revision: the daemon will try it once and record the refusal
                self.ok(d, ["pacer", "set", u, "--login", "alice01"], WRONG_PACER + "\n")
            d.start()
            restarts += 1
            mark = len(SIM.pacer_attempts)
            procs = []
            for u in writers:
                cmd = [harness.CURL, "-q", "-s", "-S", "--max-time", "20", "-o", "/dev/null",
                       "-D", "-", "-x", d.proxy_url(u, tokens[u]), "--cacert", d.ca_path(),
                       "https://%s/cgi-bin/DktRpt.pl?r=%d" % (host("azb"), rnd)]
                procs.append((u, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  env=clean_env())))
            # Kill at a random moment while the logins are under way: after the first attempt
            # reached PACER, plus 0-40 ms (the refusal is recorded right after PACER answers).
            wait_until(lambda: len(SIM.pacer_attempts) > mark or any(p.poll() is not None for _, p in procs),
                       20, "a login reaching PACER")
            time.sleep(rng.uniform(0, 0.040))   # the random moment of the kill, not a wait
            pending = sum(1 for _, p in procs if p.poll() is None)
            in_flight_kills += 1 if pending else 0
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.stop()
            told = set()
            for u, p in procs:
                out, err = p.communicate(timeout=30)
                self.outputs.extend([out, err])
                text = out.decode("latin-1")
                if re.search(r"(?mi)^HTTP/1\.1 502", text) and re.search(r"(?mi)^courtroute-warning: login_failed", text):
                    told.add(u)
            self.assert_store_ok(d, "after kill %d" % (rnd + 1))
            # What a client was told (login_failed) was recorded before it was said: it survives.
            states = self.store_states(d, writers)
            for u in told:
                reported_failed += 1
                if states.get(u) == "failed":
                    marks_kept += 1
        stop.set()
        th.join(60)
        d.start()
        restarts += 1
        self.assert_store_ok(d, "after the last restart")
        doc = d.status()
        names = {u["user"] for u in doc["users"]}
        lost_users = [n for n in cli_done if n not in names]
        print("kill -9 of the daemon during writes: %d kills (%d with requests in flight), %d restarts, "
              "%d CLI writes beside it (%d failed), %d refusals told to clients, %d of them kept, "
              "%d CLI writes lost, integrity ok"
              % (rounds, in_flight_kills, restarts, len(cli_done), len(cli_bad), reported_failed,
                 marks_kept, len(lost_users)))
        self.assertEqual(cli_bad, [], "CLI writes failed while the daemon was killed")
        self.assertEqual(lost_users, [])
        self.assertEqual(marks_kept, reported_failed, "a refusal the client saw was not recorded")
        self.assertGreater(reported_failed + in_flight_kills, 0)
        self.assert_serves(d, "alice", alice)
        self.assertEqual(d.stop(), 0, "a clean stop after the kills")

    def store_states(self, d, users):
        """PACER credential states as the CLI reports them (the daemon is down: the store's own)."""
        r = self.ok(d, ["status", "--json"])
        doc = json.loads(r.stdout)
        return {u: (user_entry(doc, u) or {}).get("pacer", {}).get("state") for u in users}


# ============================================================================ 2. upstream faults

class SilentUpstream:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (a stalled upstream)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except (socket.timeout, OSError):
                continue

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        for c in self.conns + [self.sock]:
            c.close()


class UpstreamFaultTest(FaultCase):

    def test_upstream_faults(self):
        silent = SilentUpstream()
        self.addCleanup(silent.stop)
        closed_port = free_port()
        d = self.daemon(registry("azb", "azd", "cob", "cod", "nhb", extra=False),
                        resolve_extra={"%s:443" % host(REFUSED_COURT): "127.0.0.1:%d" % closed_port,
                                       "%s:443" % host(SILENT_COURT): "127.0.0.1:%d" % silent.port})
        alice = self.user(d, "alice", "alice01", PASSWORDS["alice01"], links=["azb"])
        pdown = self.user(d, "pdown", "pdown01", PASSWORDS["pdown01"])
        s = self.session(d, "alice", alice)
        r = self.get(s, "azb")
        self.assertEqual(r.status_code, 200, "warm-up: alice's PACER session")

        # Stalled: a court that accepts and never answers. Its answer takes the daemon's connect
        # timeout, so it runs in the background while the other faults are tried.
        stalled = {}

        def stall():
            t = time.monotonic()
            stalled["r"] = self.curl(d, "alice", alice, "https://%s/cgi-bin/DktRpt.pl" % host(SILENT_COURT),
                                     timeout=60)
            stalled["s"] = time.monotonic() - t

        th = threading.Thread(target=stall, daemon=True)
        th.start()
        self.addCleanup(th.join, 70)
        wait_until(lambda: silent.conns, 15, "the daemon connecting to the silent court")

        # Refused: nobody listens for that court.
        n = 20
        codes = [self.get(s, REFUSED_COURT, "/cgi-bin/DktRpt.pl?i=%d" % i) for i in range(n)]
        self.assertEqual({r.status_code for r in codes}, {502})
        self.assertTrue(all(host(REFUSED_COURT) in r.text for r in codes), "the body names the upstream")
        self.assertTrue(all(r.headers.get("Content-Type", "").startswith("text/plain") for r in codes))
        print("upstream refused: %d requests, %d answered 502 naming the host" % (n, len(codes)))

        # Reset mid-body: a 200 whose body stops halfway. The client must see the truncation (the
        # connection ends before Content-Length), never a complete-looking answer.
        SIM.court_fault["azd"] = "truncate"
        self.addCleanup(SIM.court_fault.pop, "azd", None)
        n, truncated, refused = 10, 0, 0
        for i in range(n):
            r = self.curl(d, "alice", alice, "https://%s/doc.pdf?i=%d" % (host("azd"), i))
            if r.status == 502:
                refused += 1
            elif r.status == 200 and r.returncode in (18, 56) and len(r.body) < 256 << 10:
                truncated += 1
            else:
                self.fail("a body reset mid-way reached the client as status %d, curl exit %d, %d bytes"
                          % (r.status, r.returncode, len(r.body)))
        SIM.court_fault.pop("azd", None)
        print("upstream reset mid-body: %d requests, %d cut short visibly (curl: partial), %d answered 502, "
              "0 complete-looking" % (n, truncated, refused))

        # Closed without an answer: 502.
        SIM.court_fault["cob"] = "close"
        self.addCleanup(SIM.court_fault.pop, "cob", None)
        n = 10
        codes = [self.get(s, "cob", "/cgi-bin/DktRpt.pl?i=%d" % i).status_code for i in range(n)]
        SIM.court_fault.pop("cob", None)
        self.assertEqual(set(codes), {502})
        print("upstream closed without answering: %d requests, %d answered 502" % (n, codes.count(502)))

        # 5xx: the court's own answer is relayed, routed as usual.
        n, relayed = 10, 0
        for i in range(n):
            SIM.court_fault["cod"] = ("500", "503")[i % 2]
            r = self.get(s, "cod", "/cgi-bin/DktRpt.pl?i=%d" % i)
            self.assertEqual(r.status_code, int(SIM.court_fault["cod"]))
            self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
            relayed += 1
        SIM.court_fault.pop("cod", None)
        print("upstream 5xx: %d requests, %d relayed as the court's own 500/503" % (n, relayed))

        # Slow: the court stalls 3 s, then answers; others are served meanwhile.
        SIM.court_slow_seconds = 3.0
        SIM.court_fault["nhb"] = "slow"
        self.addCleanup(SIM.court_fault.pop, "nhb", None)
        slow = {}

        def slow_get():
            t = time.monotonic()
            s2 = self.session(d, "alice", alice)
            slow["r"] = self.get(s2, "nhb")
            slow["s"] = time.monotonic() - t

        th2 = threading.Thread(target=slow_get, daemon=True)
        th2.start()
        wait_until(lambda: any(r.court == "nhb" for r in list(SIM.requests)), 15, "the slow request at the court")
        worst, served = 0.0, 0
        while th2.is_alive():
            t = time.monotonic()
            self.assertEqual(self.get(s, "azb").status_code, 200)
            self.assertEqual(d.http("GET", "/healthz")[0], 200)
            worst = max(worst, time.monotonic() - t)
            served += 1
        th2.join()
        SIM.court_fault.pop("nhb", None)
        self.assertEqual(slow["r"].status_code, 200)
        self.assertLess(worst, 1.5, "requests to other courts waited for the slow one")
        print("upstream slow (3 s): answered 200 after %.1f s; %d other requests served meanwhile, "
              "slowest %.0f ms" % (slow["s"], served, worst * 1000))

        # PACER down: 50 requests over ~3 s from a user without a session. Back-off, no storm.
        SIM.pacer_fault, SIM.pacer_fault_remaining = "500", None
        self.addCleanup(setattr, SIM, "pacer_fault", None)
        sp = self.session(d, "pdown", pdown)
        n, t0, warned = 50, time.monotonic(), 0
        for i in range(n):
            r = self.get(sp, "azb", "/cgi-bin/DktRpt.pl?i=%d" % i)
            self.assertEqual(r.status_code, 502)
            warned += "login_failed" in [v.split(";", 1)[0].strip()
                                         for v in r.raw.headers.getlist("Courtroute-Warning")]
            time.sleep(0.06)   # pacing: the requests are spread over a few seconds
        spread = time.monotonic() - t0
        attempts = [a for a in list(SIM.pacer_attempts) if a.login == "pdown01"]
        self.assertEqual(warned, n, "every refusal carries Courtroute-Warning: login_failed")
        self.assertLessEqual(len(attempts), 5, "PACER login storm")
        self.assertGreaterEqual(len(attempts), 1)
        SIM.pacer_fault = None
        t1 = time.monotonic()
        wait_until(lambda: self.get(sp, "azb").status_code == 200, 20, "a PACER login after PACER is back")
        back = time.monotonic() - t1
        after = len([a for a in list(SIM.pacer_attempts) if a.login == "pdown01"])
        print("PACER down: %d requests over %.1f s, %d PACER login attempts (back-off), all 502 login_failed; "
              "back %.1f s after PACER was, %d attempts in all" % (n, spread, len(attempts), back, after))

        th.join(60)
        self.assertIn("r", stalled, "the stalled request never ended")
        self.assertEqual(stalled["r"].status, 504, "a stalled upstream is a 504")
        self.assertIn(host(SILENT_COURT), stalled["r"].text)
        print("upstream stalled (accepts, never answers): 1 request, 504 after %.1f s" % stalled["s"])
        self.assert_serves(d, "alice", alice)


# ============================================================================ 3. the store locked

class StoreLockedTest(FaultCase):

    @staticmethod
    def store_state(d, user):
        """The PACER credential state in the store itself (not the daemon's view of it)."""
        con = sqlite3.connect("file:%s?mode=ro" % db_path(d), uri=True, timeout=10)
        try:
            row = con.execute("SELECT state FROM pacer_logins WHERE user = ?", (user,)).fetchone()
        finally:
            con.close()
        return row[0] if row else None

    def test_store_locked_by_another_writer(self):
        d = self.daemon(registry("azb", extra=False))
        alice = self.user(d, "alice", "alice01", PASSWORDS["alice01"], links=["azb"])
        self.user(d, "bob")
        wl = self.user(d, "wl", "alice01", WRONG_PACER)   # its login is refused: the daemon writes
        s = self.session(d, "alice", alice)
        self.assertEqual(self.get(s, "azb").status_code, 200, "warm-up: alice's session")

        hold = 6.5   # longer than the CLI's 5 s busy timeout, so both outcomes show
        con = sqlite3.connect(db_path(d), timeout=30, isolation_level=None)
        self.addCleanup(con.close)
        con.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        try:
            first = spawn_cli(d, ["user", "add", "locka"])
            # The daemon serves alice from the session it holds, and answers wl's refused login.
            results, worst = [], 0.0
            box = {}

            def refused_login():
                sw = self.session(d, "wl", wl)
                try:
                    box["r"] = self.get(sw, "azb")
                except Exception as e:  # noqa: BLE001 - any failure is what we look for
                    box["e"] = type(e).__name__

            th = threading.Thread(target=refused_login, daemon=True)
            th.start()
            second = None
            while time.monotonic() - locked_at < hold:
                if second is None and time.monotonic() - locked_at > hold - 4.0:
                    # Started 4 s before the lock goes: it must wait, then succeed.
                    second = spawn_cli(d, ["pacer", "set", "bob", "--login", "bob01"], CLI_PACER + "\n")
                t = time.monotonic()
                results.append(self.get(s, "azb", timeout=10).status_code)
                self.assertEqual(d.http("GET", "/healthz", timeout=10)[0], 200)
                worst = max(worst, time.monotonic() - t)
        finally:
            con.execute("ROLLBACK")
            released = time.monotonic()
        first_out, first_err = first.communicate(timeout=30)
        second_out, second_err = second.communicate(timeout=30)
        th.join(30)
        self.outputs.extend([first_out, first_err, second_out, second_err])
        lines = [ln for ln in first_err.splitlines() if ln.strip()]

        self.assertIn(first.returncode, (0, 1), "the CLI crashed: %d" % first.returncode)
        if first.returncode == 1:
            self.assertEqual(len(lines), 1, "one line: %r" % WATCH.redact(first_err))
            self.assertIn("courtroute.db", lines[0], "the message names the store")
            self.assertRegex(lines[0], r"(?i)lock|busy")
        self.assertEqual(second.returncode, 0, "a CLI that waited less than its timeout: %s"
                         % WATCH.redact(second_err))
        self.assert_store_ok(d, "after the lock")
        doc = d.status()
        self.assertEqual(user_entry(doc, "bob")["pacer"]["login"], "bob01")
        self.assertEqual(user_entry(doc, "locka") is not None, first.returncode == 0)
        self.ok(d, ["user", "add", "lockb"])   # and the CLI works again
        self.assertEqual(set(results), {200}, "requests with a held session failed while the store was locked")
        self.assertLess(worst, 2.0, "requests stalled behind the lock")
        self.assertIn("r", box, "the refused login's request got no answer (%s); log:\n%s"
                      % (box.get("e"), d.log_tail(10)))
        self.assertEqual(box["r"].status_code, 502)
        self.assertIn("login_failed", [v.split(";", 1)[0].strip()
                                       for v in box["r"].raw.headers.getlist("Courtroute-Warning")])
        # The daemon could not record the refusal during the lock: it does once the lock is gone.
        self.assertEqual(user_entry(d.status(), "wl")["pacer"]["state"], "failed")
        wait_until(lambda: self.store_state(d, "wl") == "failed", 10, "the refused login recorded in the store")
        recorded = time.monotonic() - released
        print("store locked %.1f s by another writer: CLI during the lock %s; CLI started 4 s before the end "
              "waited and succeeded; daemon served %d requests with its session (slowest %.0f ms), a refused "
              "login answered %d and was recorded %.1f s after the lock ended; integrity ok"
              % (hold, "failed with one line naming the store (exit 1)" if first.returncode else "waited and succeeded",
                 len(results), worst * 1000, box["r"].status_code, recorded))
        self.assert_serves(d, "alice", alice)


# ============================================================================ 4. load

class UpstreamStub:
    """What Daemon needs of a simulator for an nginx upstream: its CA, hosts and port."""

    def __init__(self, ca_pem, hosts, port):
        self.ca_pem, self.hosts, self.port, self.courts = ca_pem, hosts, port, {}


def loadgen_binary():
    env = os.environ.get("COURTROUTE_LOADGEN")
    if env:
        return env
    return os.path.join(os.path.dirname(harness.build_dir()), "bench", "loadgen")


class LoadTest(FaultCase):
    """One nginx upstream (as bench/bench.py sets it up), one daemon, bench/loadgen as the client."""

    # Under AddressSanitizer the daemon is several times slower and its memory is not measured:
    # a fifth of the load keeps the error count honest within the ctest timeout.
    TOTAL = int(os.environ.get("COURTROUTE_FAULTS_LOAD_REQUESTS", "20000" if harness.SANITIZED else "100000"))
    CONNS = 200
    ABANDONED = int(os.environ.get("COURTROUTE_FAULTS_ABANDONED", "10000"))

    @classmethod
    def setUpClass(cls):
        cls.loadgen = loadgen_binary()
        cls.nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not os.access(cls.loadgen, os.X_OK):
            raise unittest.SkipTest("bench/loadgen not built at %s (cmake --build build --target loadgen)"
                                    % cls.loadgen)
        if not cls.nginx:
            raise unittest.SkipTest("nginx is not installed (apt-get install nginx-light)")
        cls.tmp = tempfile.TemporaryDirectory(prefix="faults-e2e-load-")
        t = cls.tmp.name
        pki = TestPKI(os.path.join(t, "pki"), name="courtroute faults upstream CA")
        cert, key = pki.issue([host("azb"), PACER_HOST], name="upstream")
        cls.cso = WATCH.add("upstream session token", "cso" + os.urandom(32).hex())
        up = os.path.join(t, "upstream")
        os.makedirs(os.path.join(up, "www"))
        shutil.copy(os.path.join(harness.repo_dir(), "bench", "page.html"), os.path.join(up, "www", "page.html"))
        cls.up_port = free_port()
        with open(os.path.join(up, "nginx.conf"), "w", encoding="ascii") as f:
            f.write("""%(user)s
worker_processes 1;
daemon off;
master_process off;
pid %(up)s/nginx.pid;
error_log %(up)s/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    client_body_temp_path %(up)s/body;
    proxy_temp_path %(up)s/proxy;
    fastcgi_temp_path %(up)s/fastcgi;
    uwsgi_temp_path %(up)s/uwsgi;
    scgi_temp_path %(up)s/scgi;
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:%(port)d ssl;
        server_name _;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /services/cso-auth {
            default_type application/json;
            return 200 '{"loginResult":"0","nextGenCSO":"%(cso)s","errorDescription":""}';
        }
        location = /services/cso-logout {
            default_type application/json;
            return 200 '{}';
        }
        location / {
            root %(up)s/www;
            default_type text/html;
            try_files /page.html =404;
        }
    }
}
""" % dict(user="user root;" if os.geteuid() == 0 else "", up=up, port=cls.up_port, cert=cert, key=key, cso=cls.cso))
        cls.up_log = open(os.path.join(up, "stderr.log"), "wb")
        cls.up = subprocess.Popen([cls.nginx, "-p", up, "-c", os.path.join(up, "nginx.conf"),
                                   "-e", os.path.join(up, "error.log")],
                                  stdin=subprocess.DEVNULL, stdout=cls.up_log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: cls.up.poll() is not None or cls._port_open(cls.up_port), 15, "nginx listening")
            if cls.up.poll() is not None:
                raise RuntimeError("nginx exited with %s" % cls.up.returncode)
            stub = UpstreamStub(pki.ca_pem, [host("azb"), PACER_HOST], cls.up_port)
            cls.dm = Daemon(os.path.join(t, "daemon"), sim=stub, watch=WATCH,
                            courts={"azb": dict(type="bankruptcy", host=host("azb"))})
            cls.token = harness.add_user("loader", config=cls.dm.config_path, watch=WATCH)
            for args, stdin in ((["pacer", "set", "loader", "--login", "loader01"], LOADER_PACER + "\n"),
                                (["link", "loader", "azb"], "")):
                r = cls.dm.cli(args, stdin=stdin)
                if r.returncode != 0:
                    raise RuntimeError("courtroute %s failed: %s" % (args[0], WATCH.redact(r.stderr)))
            cls.dm.start()
            old = os.umask(0o077)
            try:
                cls.auth_file = os.path.join(t, "proxy-auth-header")
                with open(cls.auth_file, "w", encoding="ascii") as f:
                    f.write("Proxy-Authorization: %s\n" % basic("loader", cls.token))
            finally:
                os.umask(old)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        dm = getattr(cls, "dm", None)
        if dm is not None:
            dm.stop()
        up = getattr(cls, "up", None)
        if up is not None and up.poll() is None:
            up.terminate()
            try:
                up.wait(10)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait(5)
        if getattr(cls, "up_log", None) is not None:
            cls.up_log.close()
        cls.tmp.cleanup()

    @staticmethod
    def _port_open(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def setUp(self):
        super().setUp()
        self.daemons = [self.dm]

    def metrics(self):
        code, _, body = self.dm.http("GET", "/metrics")
        self.assertEqual(code, 200)
        return body.decode()

    def connections(self):
        return metric(self.metrics(), "courtroute_client_connections")

    def settled(self, what):
        """Waits until /metrics counts only its own connection (kept in `self.left`: a second
        scrape could count the first one still closing, slowly under ASan); returns RSS in KiB."""
        def quiet():
            self.left = self.connections()
            return self.left <= 1
        wait_until(quiet, 30, "%s: client connections back to ~0" % what)
        return rss_kib(self.dm.proc.pid)

    def run_loadgen(self, requests):
        cmd = [self.loadgen, "--mode", "proxy", "--connect", "127.0.0.1:%d" % self.dm.port,
               "--host", host("azb"), "--ca", self.dm.ca_path(), "--proxy-header-file", self.auth_file,
               "--path", "/cgi-bin/DktRpt.pl", "--connections", str(self.CONNS), "--requests", str(requests),
               "--duration", "0", "--expect", LOGOUT_MARK, "--timeout", "30"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=clean_env())
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        self.assertTrue(lines, "loadgen printed no result (exit %d): %s" % (r.returncode, WATCH.redact(r.stderr)[-400:]))
        return json.loads(lines[-1])

    def requests_served(self):
        return sum(float(v) for v in re.findall(r"^courtroute_requests_total\{[^}]*\} ([0-9.e+]+)$",
                                                 self.metrics(), re.M))

    def test_a_100k_requests_200_connections_flat_rss(self):
        # One loadgen run: 200 tunnels stay open the whole time. A sampler reads the daemon's
        # request counter and RSS four times a second, so "after the first tenth" and "at the
        # end" are both taken under load, with every tunnel open.
        total = self.TOTAL
        base = self.requests_served()
        samples = []   # (requests served in this run, RSS KiB)
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                try:
                    samples.append((self.requests_served() - base, rss_kib(self.dm.proc.pid)))
                except (OSError, AssertionError):
                    pass
                stop.wait(0.25)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        try:
            res = self.run_loadgen(total)
        finally:
            stop.set()
            th.join(10)
        settled = self.settled("after the load")
        self.assertTrue(self.dm.running(), "courtrouted died under load; log:\n%s" % self.dm.log_tail())
        tenth = [r for c, r in samples if c >= total / 10]
        last = [r for c, r in samples if total * 0.9 <= c < total] or [r for c, r in samples if c >= total * 0.9]
        slack_kib = 4 << 10
        print("load: %d requests at %d connections (CONNECT + intercepted TLS, keep-alive), %d socket errors, "
              "%d non-2xx, %d bad bodies, %.0f req/s over %.1f s; RSS after the first tenth %.1f MiB, in the last "
              "tenth at most %.1f MiB (bound: +10%% + 4 MiB = %.1f MiB), %.1f MiB once the tunnels closed; "
              "%d RSS samples"
              % (res["requests"], self.CONNS, res["socket_errors"], res["non2xx"], res["bad_body"], res["rps"],
                 res["measured_s"], (tenth[0] if tenth else 0) / 1024, (max(last) if last else 0) / 1024,
                 ((tenth[0] if tenth else 0) * 1.10 + slack_kib) / 1024, settled / 1024, len(samples)))
        self.assertEqual((res["socket_errors"], res["non2xx"], res["bad_body"]), (0, 0, 0),
                         {k: res[k] for k in ("status", "errors", "bad_body")})
        self.assertEqual(res["requests"], total)
        self.assertTrue(tenth and last, "too few RSS samples: %d" % len(samples))
        if not harness.SANITIZED:
            self.assertLessEqual(max(last), tenth[0] * 1.10 + slack_kib, "RSS grew under load")

    def test_b_10k_abandoned_connections(self):
        before = self.settled("before")
        n = self.ABANDONED
        connect = ("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nProxy-Authorization: %s\r\n\r\n"
                   % (host("azb"), host("azb"), basic("loader", self.token))).encode()
        partial = [b"", b"GET /hea", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ",
                   b"CONNECT %s:443 HTTP/1.1\r\nHost: " % host("azb").encode(),
                   connect, connect + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"]
        kinds = [0] * (len(partial) + 1)   # the last kind: a reset (SO_LINGER 0) instead of a close
        errors = []
        lock = threading.Lock()

        def worker(start, step):
            for i in range(start, n, step):
                k = i % (len(partial) + 1)
                try:
                    c = socket.create_connection(("127.0.0.1", self.dm.port), timeout=10)
                    if k == len(partial):
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    elif partial[k]:
                        c.sendall(partial[k])
                    c.close()
                    with lock:
                        kinds[k] += 1
                except OSError as e:
                    with lock:
                        errors.append(type(e).__name__)

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i, 4), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        took = time.monotonic() - t0
        self.assertEqual(errors[:5], [], "connecting to the listener failed")
        self.assertTrue(self.dm.running(), "courtrouted died; log:\n%s" % self.dm.log_tail())
        after = self.settled("after the abandoned connections")
        left = self.left
        bound = before * 1.10 + (4 << 10)
        print("abandoned connections: %d opened and dropped in %.1f s (%s), daemon serving, connections in "
              "/metrics afterwards %d (the scrape itself), RSS %.1f -> %.1f MiB (bound +10%% + 4 MiB = %.1f MiB)"
              % (sum(kinds), took, ", ".join("%s %d" % (name, c) for name, c in zip(
                  ("bare", "partial line", "partial headers", "partial CONNECT", "CONNECT then close",
                   "CONNECT + partial TLS hello", "reset"), kinds)), left, before / 1024, after / 1024, bound / 1024))
        self.assertEqual(sum(kinds), n)
        self.assertLessEqual(left, 1)
        if not harness.SANITIZED:
            self.assertLessEqual(after, bound, "RSS did not come back after the abandoned connections")
        r = self.curl(self.dm, "loader", self.token, "https://%s/cgi-bin/DktRpt.pl" % host("azb"))
        self.assertEqual(r.status, 200)
        self.assertIn(LOGOUT_MARK, r.text)


if __name__ == "__main__":
    unittest.main()
