"""Several daemons on one PostgreSQL store (issue 14), through the real binaries: a real
PostgreSQL 15 server started by the test (tests/e2e/pgcluster.py), its password in a file,
the sealing key shared. What one daemon's CLI writes (users, tokens, PACER logins, a replaced
password) every daemon serves; nothing secret is stored or shown in clear."""
import base64
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # noqa: E402
import pgcluster  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, curl  # noqa: E402

# Ten NextGen courts; pga and pgb are the ones most tests use.
COURTS = {"pg%s" % c: dict(type="bankruptcy" if i % 2 == 0 else "district") for i, c in enumerate("abcdefghij")}
DAEMONS = 3


class PostgresStoreTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not harness.have_binaries():
            raise unittest.SkipTest("no courtrouted/courtroute in %s" % harness.build_dir())
        why = pgcluster.available()
        if why:
            raise unittest.SkipTest(why)
        cls.started = time.monotonic()
        cls.tmp = tempfile.mkdtemp(prefix="courtroute-pgstore-")
        cls.sim = Simulator(os.path.join(cls.tmp, "sim"), courts=COURTS).start()
        cls.watch = SecretWatch(cls.sim)
        db_password = cls.watch.add("store password", "St0re-" + os.urandom(12).hex())
        cls.pg = pgcluster.PgCluster(db_password).start()
        cls.password_file = os.path.join(cls.tmp, "store.password")
        with open(cls.password_file, "w", encoding="ascii") as f:
            f.write(db_password + "\n")
        os.chmod(cls.password_file, 0o600)
        cls.key_file = os.path.join(cls.tmp, "firm.key")
        with open(cls.key_file, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(cls.key_file, 0o600)
        extra = ('[store]\nurl = "%s"\npassword_file = "%s"\n\n[secrets]\nkey_file = "%s"\n'
                 % (cls.pg.url(), cls.password_file, cls.key_file))
        cls.daemons = [Daemon(os.path.join(cls.tmp, "d%d" % i), sim=cls.sim, watch=cls.watch, extra=extra)
                       for i in range(DAEMONS)]
        for d in cls.daemons:
            d.write_config()
        try:
            for d in cls.daemons:
                d.start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.requests = 0

    @classmethod
    def tearDownClass(cls):
        for d in getattr(cls, "daemons", []):
            d.stop()
        cls.sim.stop()
        cls.pg.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("pgstore: %d daemons on one PostgreSQL 15 store, %d requests through them, %.1f s"
              % (DAEMONS, cls.requests, time.monotonic() - cls.started))

    def get(self, d, user, token, court, path="/cgi-bin/iquery.pl"):
        r = curl(["https://%s%s" % (self.sim.courts[court].host, path)], proxy=d.proxy_url(user, token),
                 cacert=d.ca_path())
        type(self).requests += 1
        return r

    def test_users_and_logins_written_on_one_daemon_serve_on_every_daemon(self):
        a, b = self.daemons[0], self.daemons[1]
        pw1 = self.watch.add("pacer password", "Pw1-" + os.urandom(8).hex())
        self.sim.add_pacer_account("pgal01", pw1)
        token = a.add_user("pgalice")                          # through daemon A's config
        r = b.cli(["pacer", "set", "pgalice", "--login", "pgal01"], stdin=pw1 + "\n")   # through B's
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        for d in self.daemons:
            r = self.get(d, "pgalice", token, "pga")
            self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
            self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        # A password replaced through one daemon's CLI is what every daemon logs in with from then on.
        pw2 = self.watch.add("pacer password", "Pw2-" + os.urandom(8).hex())
        self.sim.set_pacer_password("pgal01", pw2)
        r = a.cli(["pacer", "set", "pgalice", "--login", "pgal01"], stdin=pw2 + "\n")
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        mark = len(self.sim.pacer_attempts)
        time.sleep(1.5)   # each daemon notices the change within a second
        for d in self.daemons:
            r = self.get(d, "pgalice", token, "pgb")
            self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
        after = [x for x in self.sim.pacer_attempts[mark:] if x.login == "pgal01"]
        self.assertTrue(after, "a login with the new password")
        self.assertEqual([x.result for x in after], ["0"], "one login with the new password serves every daemon")
        # The store holds no secret in clear.
        dump = self.pg.query("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM pacer_logins) t")
        self.assertNotIn(pw2, dump)
        self.assertNotIn(token, self.pg.query("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM users) t"))
        for d in self.daemons:
            self.watch.assert_absent(log=d.log_text())

    def test_a_token_rotated_on_one_daemon_stops_working_on_every_daemon(self):
        a, b = self.daemons[:2]
        old = b.add_user("pgbob")
        pw = self.watch.add("pacer password", "Pw-bo-%s" % os.urandom(4).hex())
        self.sim.add_pacer_account("pgbo01", pw)
        r = a.cli(["pacer", "set", "pgbob", "--login", "pgbo01"], stdin=pw + "\n")
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        # Every daemon serves (and remembers) the token first...
        for d in self.daemons:
            r = self.get(d, "pgbob", old, "pga")
            self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
        r = a.cli(["user", "rotate", "pgbob"])
        rotated = time.monotonic()
        self.assertEqual(r.returncode, 0, r.stderr)
        new = r.stdout.strip().splitlines()[-1].strip()
        self.watch.add_basic("user token", "pgbob", new)
        # ...and each refuses it within a second (LISTEN/NOTIFY; the 1 s poll is only the backstop).
        seen = []
        for d in self.daemons:
            while self.get(d, "pgbob", old, "pga").status != 407:
                self.assertLess(time.monotonic() - rotated, 5, "a daemon still takes the rotated token")
            seen.append(time.monotonic() - rotated)
        print("pgstore: a rotated token refused by the %d daemons %.2f s after the CLI returned (slowest)"
              % (DAEMONS, max(seen)))
        self.assertLess(seen[0], 1.0, "the change reached the first daemon within a second")
        for d in self.daemons:
            r = self.get(d, "pgbob", old, "pga")
            self.assertEqual(r.status, 407, "the old token is refused everywhere")
            r = self.get(d, "pgbob", new, "pgb")
            self.assertEqual((r.returncode, r.status), (0, 200), "the new token works everywhere: %s" % r.stderr)

    def test_one_pacer_login_per_attorney_across_daemons(self):
        """Issue 14's acceptance: three daemons on one store serve 30 concurrent clients across 10
        courts with exactly one PACER login per attorney (one daemon logs in, the others use its
        session)."""
        import concurrent.futures
        users = []
        for i in range(10):
            user, login = "pgc%02d" % i, "pgcl%02d" % i
            pw = self.watch.add("pacer password", "Pw-c%d-%s" % (i, os.urandom(6).hex()))
            self.sim.add_pacer_account(login, pw)
            token = self.daemons[i % DAEMONS].add_user(user)
            r = self.daemons[(i + 1) % DAEMONS].cli(["pacer", "set", user, "--login", login], stdin=pw + "\n")
            self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
            users.append((user, login, token))
        mark = len(self.sim.pacer_attempts)
        courts = sorted(COURTS)
        # 30 clients: each attorney through each daemon, each to a different court.
        jobs = [(self.daemons[d], users[u], courts[(u + d) % len(courts)]) for u in range(len(users)) for d in range(DAEMONS)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            results = list(ex.map(lambda j: self.get(j[0], j[1][0], j[1][2], j[2]), jobs))
        for r in results:
            self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
        self.assertEqual(len({j[2] for j in jobs}), 10, "10 courts")
        attempts = [x.login for x in self.sim.pacer_attempts[mark:]]
        for user, login, _ in users:
            self.assertEqual(attempts.count(login), 1, "PACER logins of %s across %d daemons" % (login, DAEMONS))
        print("pgstore: %d clients across %d daemons and %d courts, %d attorneys, PACER logins per attorney: %s"
              % (len(jobs), DAEMONS, len({j[2] for j in jobs}), len(users), sorted(attempts.count(u[1]) for u in users)))

    def test_a_daemon_killed_mid_login_leaves_no_stuck_lease(self):
        import signal
        import threading
        pw = self.watch.add("pacer password", "Pw-k-%s" % os.urandom(6).hex())
        self.sim.add_pacer_account("pgkl01", pw)
        token = self.daemons[0].add_user("pgkill")
        r = self.daemons[0].cli(["pacer", "set", "pgkill", "--login", "pgkl01"], stdin=pw + "\n")
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        doomed = Daemon(os.path.join(self.tmp, "doomed"), sim=self.sim, watch=self.watch, extra=self.daemons[0].extra)
        doomed.write_config()
        doomed.start()
        mark = len(self.sim.pacer_attempts)
        self.sim.pacer_slow_seconds = 30.0
        self.sim.pacer_fault, self.sim.pacer_fault_remaining = "slow", 1
        try:
            t = threading.Thread(target=self.get, args=(doomed, "pgkill", token, "pga"), daemon=True)
            t.start()
            deadline = time.monotonic() + 10
            while not any(x.login == "pgkl01" for x in self.sim.pacer_attempts[mark:]):
                self.assertLess(time.monotonic(), deadline, "the doomed daemon's PACER login never started")
                time.sleep(0.05)
            os.kill(doomed.proc.pid, signal.SIGKILL)
            doomed.proc.wait(10)
            started = time.monotonic()
            r = self.get(self.daemons[1], "pgkill", token, "pgb")
            took = time.monotonic() - started
        finally:
            self.sim.pacer_fault = None
            doomed.stop()
        self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
        self.assertLess(took, 10, "the killed daemon's lease held another daemon's login back")
        self.assertEqual([x.login for x in self.sim.pacer_attempts[mark:]].count("pgkl01"), 2)
        print("pgstore: daemon killed mid-login; another daemon logged in %.1f s later (no stuck lease)" % took)

    def test_store_copy_moves_an_sqlite_store_to_postgresql_without_decrypting(self):
        """`courtroute store copy`: a firm's embedded store moves to a new PostgreSQL database;
        a daemon on that database serves the same user, token and PACER login (the same key file
        opens the secrets, copied sealed), and no password is in clear on the way."""
        src = Daemon(os.path.join(self.tmp, "sqlite-src"), sim=self.sim, watch=self.watch)   # its config only
        pw = self.watch.add("pacer password", "Pw-cp-%s" % os.urandom(8).hex())
        totp = self.watch.add("totp secret", base64.b32encode(os.urandom(20)).decode())
        self.sim.add_pacer_account("cpal01", pw, totp_secret=totp)
        token = src.add_user("cpalice")
        r = src.cli(["pacer", "set", "cpalice", "--login", "cpal01", "--totp"], stdin=pw + "\n" + totp + "\n")
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        r = src.cli(["link", "cpalice", "pgb"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.pg._psql("postgres", "CREATE DATABASE copy1 OWNER courtroute")

        r = src.cli(["store", "copy", "--to", self.pg.url("copy1"), "--password-file", self.password_file])
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        self.assertIn("copied to %s: 1 user, 1 PACER login, 0 CM/ECF logins, 1 link," % self.pg.url("copy1"), r.stdout)
        self.assertIn('[store] url = "%s"' % self.pg.url("copy1"), r.stdout)
        self.watch.assert_absent(stdout=r.stdout, stderr=r.stderr)
        tables = " ".join(self.pg.query("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM %s) t" % table, db="copy1")
                          for table in ("users", "pacer_logins", "links"))
        self.assertIn("cpal01", tables, "the copy holds the login name in clear")
        self.watch.assert_absent(copy1=tables)
        # Only into a new store: a second copy is refused, naming the target without a password.
        r = src.cli(["store", "copy", "--to", self.pg.url("copy1"), "--password-file", self.password_file])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not empty (users: 1", r.stderr)
        self.watch.assert_absent(stderr=r.stderr)

        # A daemon on the copy, with the SQLite store's key file, serves that user's token and login.
        extra = ('[store]\nurl = "%s"\npassword_file = "%s"\n\n[secrets]\nkey_file = "%s"\n'
                 % (self.pg.url("copy1"), self.password_file, os.path.join(src.state_dir, "secret.key")))
        d = Daemon(os.path.join(self.tmp, "on-copy1"), sim=self.sim, watch=self.watch, extra=extra)
        try:
            d.start()
            mark = len(self.sim.pacer_attempts)
            r = self.get(d, "cpalice", token, "pga")
            self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
            self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
            self.assertEqual([x.login for x in self.sim.pacer_attempts[mark:]], ["cpal01"],
                             "logged in with the copied password and TOTP secret")
        finally:
            d.stop()
        self.watch.assert_absent(log=d.log_text())

    def test_zz_database_stopped_and_restarted_loses_nothing(self):
        """The store goes away (last: the server restarts): sessions held keep serving, what needs
        the store is refused clearly (503 to a client, exit 1 from the CLI, never reported done),
        and once it is back the audit trail of the outage is there and new users are served."""
        import json
        a = self.daemons[0]
        pw = self.watch.add("pacer password", "Pw-o-%s" % os.urandom(6).hex())
        self.sim.add_pacer_account("pgol01", pw)
        token = a.add_user("pgout")
        r = a.cli(["pacer", "set", "pgout", "--login", "pgol01"], stdin=pw + "\n")
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        later = a.add_user("pglate")   # in the store, never seen by the daemon before the outage
        r = self.get(a, "pgout", token, "pga")
        self.assertEqual((r.returncode, r.status), (0, 200), r.stderr)
        time.sleep(0.5)   # the audit writer takes that request
        self.pg.stop_server("fast")
        try:
            during = 0
            for _ in range(5):
                r = self.get(a, "pgout", token, "pga", path="/cgi-bin/DktRpt.pl")
                self.assertEqual((r.returncode, r.status), (0, 200), "a held session keeps serving: %s" % r.stderr)
                during += 1
            r = self.get(a, "pglate", later, "pga")
            self.assertEqual(r.status, 503, "a user the daemon does not hold needs the store")
            deadline = time.monotonic() + 5
            while "store_unreachable" not in a.log_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertIn("store_unreachable", a.log_text(), "the outage is in the daemon's log")
            r = a.cli(["user", "add", "pgnever"])
            self.assertEqual(r.returncode, 1, "a CLI write with the store away fails, never reported done")
            self.assertIn("postgresql://courtroute@127.0.0.1:%d" % self.pg.port, r.stderr)
            self.watch.assert_absent(stderr=r.stderr, answer=r.stdout)
            self.assertTrue(a.running(), "the daemon keeps running")
        finally:
            self.pg.start_server()
        deadline = time.monotonic() + 15
        rows = []
        while time.monotonic() < deadline:
            out = a.cli(["audit", "--user", "pgout", "--json"])
            if out.returncode == 0:
                rows = [x for x in json.loads(out.stdout) if x["path"] == "/cgi-bin/DktRpt.pl"]
                if len(rows) >= during:
                    break
            time.sleep(0.3)
        self.assertEqual(len(rows), during, "the audit records of the outage reached the store after it")
        r = self.get(a, "pglate", later, "pga")
        # pglate has no PACER login: the store answers again, so the refusal is the routing's own (403).
        self.assertEqual(r.status, 403, "answered from the store again once it is back: %s" % r.stderr)
        users = a.cli(["user", "list"]).stdout
        self.assertNotIn("pgnever", users)
        print("pgstore: store stopped; %d requests served from held sessions meanwhile, 1 refused (503), "
              "1 CLI write refused; restarted: %d audit records written, 0 lost" % (during, len(rows)))

    def test_a_bad_store_is_one_clear_line(self):
        d = self.daemons[0]
        bad = os.path.join(self.tmp, "bad.toml")
        with open(d.config_path, encoding="utf-8") as f:
            text = f.read()
        with open(bad, "w", encoding="utf-8") as f:
            f.write(text.replace("127.0.0.1:%d" % self.pg.port, "127.0.0.1:%d" % harness.free_port()))
        r = harness.cli(["user", "list"], config=bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("postgresql://courtroute@127.0.0.1:", r.stderr)
        self.watch.assert_absent(stderr=r.stderr)


if __name__ == "__main__":
    unittest.main()
