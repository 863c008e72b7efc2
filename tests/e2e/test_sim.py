"""Self-test of the simulator (tests/sim) and of the harness, talking to the simulator directly
with curl --connect-to (the real host names for SNI, Host and the certificate check)."""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import SecretWatch, sim_curl  # noqa: E402
from sim.sim import (LIMITED_MENU, LOGOUT_LINK, NOT_LOGGED_IN_XML, PACER_LOGIN_PAGE,  # noqa: E402
                     Simulator, download_sha256, full_menu, random_totp_secret, totp)

def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


AUTH = "https://pacer.login.uscourts.gov/services/cso-auth"
LOGOUT = "https://pacer.login.uscourts.gov/services/cso-logout"


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim-test-")
        cls.sim = Simulator(cls.tmp.name, courts={
            "azb": "bankruptcy",
            "azd": dict(type="district"),
            "ohndad": dict(type="district"),
            "nvb": dict(type="bankruptcy", system="legacy"),
            "gub": dict(type="bankruptcy", system="legacy"),
        })
        cls.sim.start()
        cls.watch = SecretWatch(cls.sim)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.tmp.cleanup()

    def tearDown(self):
        self.assertEqual(self.sim.errors, [], "simulator handler errors")

    # --- helpers (never print secrets: failures show redacted text) ---

    def contains(self, text, needle, negate=False):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if (needle in text) == negate:
            self.fail("%r %s in: %s" % (needle, "unexpectedly found" if negate else "not found",
                                         self.watch.redact(text)[:800]))

    def pacer_login(self, login, password, otp=None, client="", redact="1", url=AUTH):
        body = {"loginId": login, "password": password}
        if client:
            body["clientCode"] = client
        if redact is not None:
            body["redactFlag"] = redact
        if otp is not None:
            body["otpCode"] = otp
        r = sim_curl(self.sim, url, ["-H", "Content-Type: application/json",
                                     "-H", "Accept: application/json", "--data-binary", "@-"],
                     stdin=json.dumps(body).encode())
        return r

    def court_get(self, court_host, path, cookies=None, args=()):
        a = list(args)
        if cookies:
            a += ["-b", "; ".join("%s=%s" % kv for kv in cookies.items())]
        return sim_curl(self.sim, "https://%s%s" % (court_host, path), a)

    def new_pacer(self, login, **kw):
        pw = self.watch.add("pacer password", "pw-%s-0123456789abcdef" % login)
        self.sim.add_pacer_account(login, pw, **kw)
        return pw

    def session(self, login, pw, **kw):
        r = self.pacer_login(login, pw, **kw)
        self.assertEqual(r.status, 200)
        answer = json.loads(r.body)
        self.assertEqual(answer["loginResult"], "0", answer.get("errorDescription"))
        return answer["nextGenCSO"]

    # --- PACER ---

    def test_pacer_success_with_notice(self):
        pw = self.new_pacer("ok01", notice="Your password expires in 10 days.")
        r = self.pacer_login("ok01", pw, client="matter-7")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        answer = json.loads(r.body)
        self.assertEqual(answer["loginResult"], "0")
        self.assertEqual(len(answer["nextGenCSO"]), 128)
        self.assertTrue(answer["nextGenCSO"].isalnum())
        self.assertEqual(answer["errorDescription"], "Your password expires in 10 days.")
        a = [x for x in self.sim.pacer_attempts if x.login == "ok01"]
        self.assertEqual([(x.client_code, x.had_otp, x.result) for x in a], [("matter-7", False, "0")])
        self.assertIn(("ok01", "matter-7"), self.sim.live_pacer_sessions())
        # two logins, two different tokens
        self.assertNotEqual(self.session("ok01", pw), answer["nextGenCSO"])

    def test_pacer_bad_credentials(self):
        pw = self.new_pacer("bad01")
        r = self.pacer_login("bad01", pw + "x")
        self.assertEqual(r.status, 200)
        answer = json.loads(r.body)
        self.assertEqual(answer["loginResult"], "13")
        self.assertEqual(answer["nextGenCSO"], "")
        self.contains(answer["errorDescription"], "Login failed")
        r = self.pacer_login("nobody-here", pw)
        self.assertEqual(json.loads(r.body)["loginResult"], "13")
        self.sim.bad_credentials_result = "1"
        try:
            self.assertEqual(json.loads(self.pacer_login("bad01", "wrong-password-1").body)["loginResult"], "1")
        finally:
            self.sim.bad_credentials_result = "13"
        results = [x.result for x in self.sim.pacer_attempts if x.login == "bad01"]
        self.assertEqual(results, ["13", "1"])

    def test_pacer_requires_redact_flag(self):
        pw = self.new_pacer("red01")
        for flag in (None, "0"):
            answer = json.loads(self.pacer_login("red01", pw, redact=flag).body)
            self.assertNotEqual(answer["loginResult"], "0")
            self.assertEqual(answer["nextGenCSO"], "")
            self.contains(answer["errorDescription"], "redaction")

    def test_pacer_mfa(self):
        secret = self.watch.add("totp secret", random_totp_secret())
        pw = self.new_pacer("mfa01", totp_secret=secret)
        for otp in (None, "", "12345", "abcdef"):
            answer = json.loads(self.pacer_login("mfa01", pw, otp=otp).body)
            self.assertNotEqual(answer["loginResult"], "0")
            self.assertEqual(answer["nextGenCSO"], "")
            self.contains(answer["errorDescription"], "one-time passcode")
        wrong = "%06d" % ((int(totp(secret)) + 1) % 1000000)
        if wrong != totp(secret, time.time() - 30):
            answer = json.loads(self.pacer_login("mfa01", pw, otp=wrong).body)
            self.assertNotEqual(answer["loginResult"], "0")
        self.assertTrue(self.session("mfa01", pw, otp=totp(secret)))
        self.assertTrue(self.session("mfa01", pw, otp=totp(secret, time.time() - 30)))
        stale = totp(secret, time.time() - 120)
        if stale not in (totp(secret), totp(secret, time.time() - 30)):
            self.assertNotEqual(json.loads(self.pacer_login("mfa01", pw, otp=stale).body)["loginResult"], "0")
        # bad password with a good code is still a bad-credentials failure
        answer = json.loads(self.pacer_login("mfa01", "not-the-password", otp=totp(secret)).body)
        self.assertEqual(answer["loginResult"], "13")
        self.contains(answer["errorDescription"], "one-time", negate=True)
        self.assertTrue(any(a.had_otp for a in self.sim.pacer_attempts if a.login == "mfa01"))
        self.assertTrue(any(not a.had_otp for a in self.sim.pacer_attempts if a.login == "mfa01"))

    def test_totp_rfc6238_vector(self):
        # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits) -> 287082 (6 digits)
        secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
        self.assertEqual(totp(secret, 59, digits=8), "94287082")
        self.assertEqual(totp(secret, 1111111109, digits=8), "07081804")
        self.assertEqual(totp(secret, 59), "287082")

    def test_pacer_faults(self):
        pw = self.new_pacer("flt01")
        try:
            self.sim.pacer_fault = "500"
            self.assertEqual(self.pacer_login("flt01", pw).status, 500)
            self.sim.pacer_fault = "html"
            r = self.pacer_login("flt01", pw)
            self.assertEqual(r.status, 200)
            self.assertRaises(ValueError, json.loads, r.body)
            self.sim.pacer_fault = "close"
            r = self.pacer_login("flt01", pw)
            self.assertEqual(r.status, 0)
            self.assertNotEqual(r.returncode, 0)
            self.sim.pacer_fault, self.sim.pacer_fault_remaining = "503", 1
            self.assertEqual(self.pacer_login("flt01", pw).status, 503)
            self.assertEqual(self.pacer_login("flt01", pw).status, 200)  # only the next one failed
            self.sim.pacer_fault, self.sim.pacer_fault_remaining, self.sim.pacer_slow_seconds = "slow", None, 1.0
            t = time.monotonic()
            self.assertTrue(self.session("flt01", pw))
            self.assertGreaterEqual(time.monotonic() - t, 0.9)
        finally:
            self.sim.pacer_fault, self.sim.pacer_fault_remaining, self.sim.pacer_slow_seconds = None, None, 20.0
        results = [a.result for a in self.sim.pacer_attempts if a.login == "flt01"]
        self.assertEqual(results, ["fault:500", "fault:html", "fault:close", "fault:503", "0", "0"])

    def test_pacer_logout(self):
        pw = self.new_pacer("out01")
        token = self.session("out01", pw)
        page = self.court_get("ecf.azb.uscourts.gov", "/cgi-bin/iquery.pl", {"NextGenCSO": token})
        self.contains(page.body, LOGOUT_LINK)
        r = sim_curl(self.sim, LOGOUT, ["-H", "Content-Type: application/json", "--data-binary", "@-"],
                     stdin=json.dumps({"nextGenCSO": token}).encode())
        self.assertEqual(r.status, 200)
        json.loads(r.body)
        self.assertTrue(any(x.login == "out01" and x.known for x in self.sim.pacer_logouts))
        page = self.court_get("ecf.azb.uscourts.gov", "/cgi-bin/iquery.pl", {"NextGenCSO": token})
        self.contains(page.body, LOGOUT_LINK, negate=True)
        self.contains(page.body, PACER_LOGIN_PAGE)

    # --- NextGen courts ---

    def test_nextgen_logged_out_shapes(self):
        host = "ecf.azd.uscourts.gov"
        r = self.court_get(host, "/cgi-bin/DktRpt.pl")
        self.assertEqual(r.status, 200)
        self.contains(r.body, 'window.location = "%s?pscCourtId=AZD"' % PACER_LOGIN_PAGE)
        self.contains(r.body, LOGOUT_LINK, negate=True)
        r = self.court_get(host, "/cgi-bin/possible_case_numbers.pl?1:24-cv-1")
        self.assertEqual(r.body.decode(), NOT_LOGGED_IN_XML)
        try:
            self.sim.logged_out_shape["azd"] = "redirect"
            r = self.court_get(host, "/cgi-bin/DktRpt.pl")
            self.assertEqual(r.status, 302)
            self.assertTrue(r.headers.get("Location").startswith(PACER_LOGIN_PAGE))
            self.sim.logged_out_shape["azd"] = "meta"
            r = self.court_get(host, "/cgi-bin/DktRpt.pl")
            self.contains(r.body, 'http-equiv="refresh"')
            self.sim.logged_out_shape["azd"] = "xml"
            self.assertEqual(self.court_get(host, "/x").body.decode(), NOT_LOGGED_IN_XML)
        finally:
            self.sim.logged_out_shape.clear()
        # a made-up token is not a session
        r = self.court_get(host, "/x", {"NextGenCSO": "A" * 128})
        self.contains(r.body, PACER_LOGIN_PAGE)
        rec = [x for x in self.sim.requests if x.court == "azd"]
        self.assertTrue(rec and all(x.logged_in is False for x in rec))

    def test_nextgen_menus_and_link(self):
        pw = self.new_pacer("menu01")
        token = self.session("menu01", pw)
        for host, court, ctype in (("ecf.azb.uscourts.gov", "azb", "bankruptcy"),
                                   ("ecf.ohndad.ohnd.uscourts.gov", "ohndad", "district")):
            for cookie in ("NextGenCSO", "PacerSession"):
                r = self.court_get(host, "/cgi-bin/iquery.pl?x=1", {cookie: token})
                self.assertEqual(r.status, 200)
                self.contains(r.body, LOGOUT_LINK)
                self.contains(r.body, "/cgi-bin/iquery.pl?x=1")
                for label in LIMITED_MENU:
                    self.contains(r.body, ">%s</a>" % label)
                self.contains(r.body, ">%s</a>" % full_menu(ctype)[0], negate=True)
            self.sim.link(court, "menu01")
            r = self.court_get(host, "/", {"NextGenCSO": token})
            for label in full_menu(ctype):
                self.contains(r.body, ">%s</a>" % label)
        self.assertIn("Adversary", full_menu("bankruptcy"))
        self.assertIn("Criminal", full_menu("district"))
        # linking is per court: azd still shows the limited menu
        r = self.court_get("ecf.azd.uscourts.gov", "/", {"NextGenCSO": token})
        self.contains(r.body, ">Civil</a>", negate=True)
        self.sim.unlink("azb", "menu01")
        r = self.court_get("ecf.azb.uscourts.gov", "/", {"NextGenCSO": token})
        self.contains(r.body, ">Bankruptcy</a>", negate=True)
        # the XML endpoint answers logged in
        r = self.court_get("ecf.azb.uscourts.gov", "/cgi-bin/possible_case_numbers.pl?1", {"NextGenCSO": token})
        self.contains(r.body, "<case ")

    def test_session_lifetimes(self):
        pw = self.new_pacer("life01")
        host = "ecf.azb.uscourts.gov"
        try:
            self.sim.session_max_age = 100
            token = self.session("life01", pw)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, LOGOUT_LINK)
            self.sim.advance_time(101)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, PACER_LOGIN_PAGE)
            self.sim.session_max_age, self.sim.session_idle_timeout = None, 50
            token = self.session("life01", pw)
            self.sim.advance_time(40)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, LOGOUT_LINK)
            self.sim.advance_time(40)  # 40 s since the last use: still alive
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, LOGOUT_LINK)
            self.sim.advance_time(51)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, PACER_LOGIN_PAGE)
            self.sim.session_idle_timeout = None
            token = self.session("life01", pw)
            self.sim.expire_all_sessions()
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, PACER_LOGIN_PAGE)
        finally:
            self.sim.session_max_age = self.sim.session_idle_timeout = None

    def test_stale_logged_out(self):
        pw = self.new_pacer("stale01")
        token = self.session("stale01", pw)
        host = "ecf.azb.uscourts.gov"
        try:
            self.sim.stale_logged_out["azb"] = True
            for _ in range(2):
                self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, PACER_LOGIN_PAGE)
            self.sim.stale_logged_out["azb"] = 1
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, PACER_LOGIN_PAGE)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, LOGOUT_LINK)
        finally:
            self.sim.stale_logged_out.clear()

    def test_special_paths(self):
        pw = self.new_pacer("spec01")
        token = self.session("spec01", pw)
        host = "ecf.azb.uscourts.gov"
        ck = {"NextGenCSO": token, "PacerClientCode": "m-1"}
        # the special paths need a session like every page
        self.contains(self.court_get(host, "/echo").body, PACER_LOGIN_PAGE)
        r = sim_curl(self.sim, "https://%s/echo?a=b" % host,
                     ["-b", "NextGenCSO=%s; PacerClientCode=m-1" % token, "-H", "X-Test: yes",
                      "-H", "Content-Type: application/octet-stream", "--data-binary", "@-"],
                     stdin=b"z" * 12345)
        echo = json.loads(r.body)
        self.assertEqual(echo["method"], "POST")
        self.assertEqual(echo["path"], "/echo?a=b")
        self.assertEqual(echo["body_length"], 12345)
        self.assertEqual(echo["body_sha256"], hashlib.sha256(b"z" * 12345).hexdigest())
        self.assertEqual(echo["headers"]["x-test"], "yes")
        self.assertEqual(echo["cookies"]["PacerClientCode"], "m-1")
        self.assertEqual(echo["sni"], host)
        self.assertTrue(echo["logged_in"])
        self.assertNotIn("authorization", echo["headers"])
        # chunked upload
        r = sim_curl(self.sim, "https://%s/echo" % host,
                     ["-b", "NextGenCSO=" + token, "-H", "Transfer-Encoding: chunked",
                      "--data-binary", "@-"], stdin=b"y" * 70000)
        self.assertEqual(json.loads(r.body)["body_length"], 70000)
        # redirect to the court's own host
        r = self.court_get(host, "/redirect?to=/cgi-bin/iquery.pl", ck)
        self.assertEqual(r.status, 302)
        self.assertEqual(r.headers.get("Location"), "https://%s/cgi-bin/iquery.pl" % host)
        r = self.court_get(host, "/set-cookie?NextGenCSO=abc&other=1", ck)
        self.assertEqual(len(r.headers.get_all("Set-Cookie")), 2)
        # the simulator's own Set-Cookie of the session, when turned on
        self.sim.court_sets_session_cookie = True
        try:
            r = self.court_get(host, "/", ck)
            self.assertTrue(r.headers.get("Set-Cookie", "").startswith("NextGenCSO="))
        finally:
            self.sim.court_sets_session_cookie = False
        # client-code enforcement (off by default): a coded session needs its PacerClientCode
        coded = self.session("spec01", pw, client="m-1")
        self.sim.enforce_client_code = True
        try:
            self.contains(self.court_get(host, "/", {"NextGenCSO": coded}).body, PACER_LOGIN_PAGE)
            self.contains(self.court_get(host, "/", {"NextGenCSO": coded, "PacerClientCode": "m-2"}).body,
                          PACER_LOGIN_PAGE)
            self.contains(self.court_get(host, "/", {"NextGenCSO": coded, "PacerClientCode": "m-1"}).body,
                          LOGOUT_LINK)
            self.contains(self.court_get(host, "/", {"NextGenCSO": token}).body, LOGOUT_LINK)
        finally:
            self.sim.enforce_client_code = False
        recs = [x for x in self.sim.requests if x.path == "/echo?a=b" and x.logged_in]
        self.assertEqual(recs[-1].cookies.get("PacerClientCode"), "m-1")

    def test_download_streaming(self):
        pw = self.new_pacer("dl01")
        token = self.session("dl01", pw)
        n = 5 * 1024 * 1024 + 12345
        for args in ((), ("?chunked=1",)):
            path = "/download/%d%s" % (n, args[0] if args else "")
            r = self.court_get("ecf.azb.uscourts.gov", path, {"NextGenCSO": token})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get("Content-Type"), "application/pdf")
            if args:
                self.assertEqual(r.headers.get("Transfer-Encoding"), "chunked")
            else:
                self.assertEqual(r.headers.get("Content-Length"), str(n))
            self.assertEqual(len(r.body), n)
            self.assertTrue(r.body.startswith(b"%PDF-"))
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), download_sha256(n))
        r = self.court_get("ecf.azb.uscourts.gov", "/download/0", {"NextGenCSO": token})
        self.assertEqual((r.status, r.body), (200, b""))

    # --- legacy courts ---

    def test_legacy_login_and_pages(self):
        pw = self.watch.add("cmecf password", "ecf-pass-0123456789")
        self.sim.add_ecf_account("nvb", "filer1", pw)
        host = "ecf.nvb.uscourts.gov"
        r = self.court_get(host, "/cgi-bin/iquery.pl")
        self.assertEqual(r.status, 200)
        self.contains(r.body, 'action="/cgi-bin/login.pl"')
        self.contains(r.body, 'name="key"')
        tokens = []
        for form in (["--data-urlencode", "login=filer1", "--data-urlencode", "key@-"],
                     ["-F", "login=filer1", "-F", "key=<-"]):
            r = sim_curl(self.sim, "https://%s/cgi-bin/login.pl" % host, form, stdin=pw.encode())
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get_all("Set-Cookie"), [])
            text = r.body.decode()
            self.contains(text, 'document.cookie="PacerSession=')
            tokens.append(text.split("PacerSession=", 1)[1].split(";", 1)[0])
        self.assertEqual([a.encoding for a in self.sim.ecf_attempts if a.login == "filer1"],
                         ["urlencoded", "multipart"])
        page = self.court_get(host, "/cgi-bin/iquery.pl", {"PacerSession": tokens[1]})
        self.contains(page.body, LOGOUT_LINK)
        self.contains(page.body, ">Bankruptcy</a>")
        # a legacy token works only at its own court; a PACER token not at all
        other = self.court_get("ecf.gub.uscourts.gov", "/", {"PacerSession": tokens[1]})
        self.contains(other.body, 'name="key"')
        # logout invalidates that session only
        self.court_get(host, "/cgi-bin/login.pl?logout", {"PacerSession": tokens[0]})
        self.contains(self.court_get(host, "/", {"PacerSession": tokens[0]}).body, 'name="key"')
        self.contains(self.court_get(host, "/", {"PacerSession": tokens[1]}).body, LOGOUT_LINK)

    def test_legacy_failure_and_lockout(self):
        pw = self.watch.add("cmecf password", "ecf-lock-0123456789")
        self.sim.add_ecf_account("gub", "filer2", pw)
        url = "https://ecf.gub.uscourts.gov/cgi-bin/login.pl"

        def attempt(password):
            return sim_curl(self.sim, url, ["--data-urlencode", "login=filer2", "--data-urlencode", "key@-"],
                            stdin=password.encode())
        for i in range(5):
            r = attempt("wrong-password-%d" % i)
            self.assertEqual(r.status, 200)
            self.contains(r.body, "Invalid ID or password")
        r = attempt(pw)  # locked: the right password fails too
        self.contains(r.body, "locked")
        self.contains(r.body, "PacerSession", negate=True)
        self.sim.advance_time(299)
        self.contains(attempt("wrong-again-123").body, "locked")  # +60 s
        self.sim.advance_time(30)
        self.contains(attempt(pw).body, "locked")
        self.sim.advance_time(31)
        self.contains(attempt(pw).body, "PacerSession=")
        self.assertEqual([a.result for a in self.sim.ecf_attempts if a.login == "filer2"],
                         ["bad"] * 5 + ["locked"] * 3 + ["ok"])

    # --- robustness ---

    def raw_tls(self, host, payload):
        ctx = ssl.create_default_context(cafile=self.sim.ca_pem)
        with socket.create_connection(("127.0.0.1", self.sim.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                t.sendall(payload)
                data = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data

    def test_malformed_and_misdirected(self):
        host = "ecf.azb.uscourts.gov"
        self.assertTrue(self.raw_tls(host, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.raw_tls(host, b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.raw_tls(host, b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n"
                                           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % host.encode())
                        .startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.raw_tls(host, b"GET / HTTP/1.1\r\nHost: ecf.azd.uscourts.gov\r\n"
                                           b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 421"))
        # a client that drops during the handshake
        with socket.create_connection(("127.0.0.1", self.sim.port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")
        # keep-alive: two requests on one connection
        both = self.raw_tls(host, b"GET /a HTTP/1.1\r\nHost: %s\r\n\r\nGET /b HTTP/1.1\r\nHost: %s\r\n"
                                  b"Connection: close\r\n\r\n" % (host.encode(), host.encode()))
        self.assertEqual(both.count(b"HTTP/1.1 200"), 2)
        self.assertEqual(self.court_get(host, "/").status, 200)  # still serving

    # --- harness ---

    def test_secret_watch(self):
        w = SecretWatch()
        secret = w.add("pacer password", "hunter2-is-long-enough")
        w.add_basic("user token", "alice", "tok-abcdef123456")
        w.assert_absent("nothing here", log="still nothing")
        with self.assertRaises(AssertionError) as cm:
            w.assert_absent("ok", log="xx %s yy" % secret)
        self.assertIn("pacer password found in log", str(cm.exception))
        self.assertNotIn(secret, str(cm.exception))
        with self.assertRaises(AssertionError):
            w.assert_absent(headers={"Proxy-Authorization": "Basic YWxpY2U6dG9rLWFiY2RlZjEyMzQ1Ng=="})
        self.assertNotIn(secret, w.redact("a %s b" % secret))
        self.assertRaises(ValueError, w.add, "short", "abc")

    def test_court_added_after_start(self):
        self.sim.add_court("cacb", type="bankruptcy")
        self.assertIn("ecf.cacb.uscourts.gov", self.sim.hosts)
        r = self.court_get("ecf.cacb.uscourts.gov", "/")
        self.assertEqual(r.returncode, 0, r.stderr)  # the new host's certificate verifies
        self.contains(r.body, "pscCourtId=CACB")

    def test_daemon_files(self):
        with tempfile.TemporaryDirectory(prefix="daemon-files-") as d:
            daemon = harness.Daemon(d, self.sim)
            text = _read(daemon.config_path)
            for host in self.sim.hosts:
                self.assertIn('"%s:443" = "127.0.0.1:%d"' % (host, self.sim.port), text)
            self.assertIn('ca_file = "%s"' % self.sim.ca_pem, text)
            self.assertIn('proxy = "127.0.0.1:%d"' % daemon.port, text)
            self.assertNotIn("[policy]", text)
            self.assertEqual(sorted(os.listdir(daemon.courts_dir)),
                             sorted(c + ".toml" for c in self.sim.courts))
            court = _read(os.path.join(daemon.courts_dir, "ohndad.toml"))
            self.assertIn('ecf_url = "https://ecf.ohndad.ohnd.uscourts.gov"', court)
            daemon = harness.Daemon(d, self.sim, extra='[policy]\nunlinked_nextgen = "block"\n',
                                    courts={"azb": dict(type="bankruptcy", nextgen_since="2021-06-28")})
            text = _read(daemon.config_path)
            self.assertTrue(text.rstrip().endswith('[policy]\nunlinked_nextgen = "block"'))
            court = _read(os.path.join(daemon.courts_dir, "azb.toml"))
            self.assertIn("nextgen_since = 2021-06-28\n", court)
            self.assertEqual(daemon.proxy_url("al ice", "t:k"), "http://al%%20ice:t%%3Ak@127.0.0.1:%d" % daemon.port)

    def test_daemon_config_accepted(self):
        if not harness.have_binaries():
            self.skipTest("courtrouted/courtroute not built in %s" % harness.build_dir())
        with tempfile.TemporaryDirectory(prefix="daemon-cfg-") as d:
            daemon = harness.Daemon(d, self.sim, courts={
                "azb": dict(type="bankruptcy", system="nextgen", nextgen_since="2021-06-28"),
                "nvb": dict(type="bankruptcy", system="legacy")})
            r = subprocess.run([harness.binary("courtrouted"), "--config", daemon.config_path, "--check"],
                               capture_output=True, text=True, timeout=30, env=harness.clean_env())
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
