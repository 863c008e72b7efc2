"""Self-test of the simulator (tests/sim) and of the harness, talking to the simulator directly
with curl --connect-to (the real host names for SNI, Host and the certificate check), and, for
ACMS, with http.client connected to the simulator's port under the real host name."""

import base64
import hashlib
import html.parser
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import SecretWatch, sim_curl  # noqa: E402
from sim.sim import (LIMITED_MENU, LOGOUT_LINK, NOT_LOGGED_IN_XML, PACER_LOGIN_PAGE,  # noqa: E402
                     Simulator, download_sha256, full_menu, random_totp_secret, totp)
from sim.fees import (CAP_NOTE, PAGE_BYTES, RECEIPT_VARIANTS, html_pages,  # noqa: E402
                      pdf_page_count, render_receipt)
from sim.acms import (ACMS_ACS_PATH, ACMS_AUTH_COOKIE, ACMS_AFFINITY_COOKIE,  # noqa: E402
                      ACMS_FILES_HOST, ACMS_IDP_HOST, ACMS_IDP_SESSION_COOKIE,
                      ACMS_SSO_POST_PATH, ACMS_SSO_REDIRECT_PATH, acms_acs_url, acms_fee,
                      acms_services_host, acms_showdoc_host, acms_signin_url)

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
        # no ACMS here: no appellate ca2/ca9 court
        self.assertFalse([h for h in self.sim.hosts if "azurewebsites" in h or h == ACMS_IDP_HOST])
        self.assertEqual(self.sim.acms_courts, [])
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


# ----------------------------------------------------------------------------- ACMS

_REDIRECTS = (301, 302, 303, 307, 308)


class _SimHTTPS(http.client.HTTPSConnection):
    """HTTPS to the simulator's port under a real host name (SNI, Host, certificate check)."""

    def __init__(self, host, sim_port, ctx):
        super().__init__(host, 443, context=ctx, timeout=20)
        self._sim_port = sim_port

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self._sim_port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Resp:
    def __init__(self, method, url, status, headers, body):
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def location(self):
        loc = self.headers.get("Location")
        return urllib.parse.urljoin(self.url, loc) if loc else None

    def set_cookies(self):
        return self.headers.get_all("Set-Cookie")


class _FormFinder(html.parser.HTMLParser):
    """Forms of a page, their inputs, and the body's onload (attribute values unescaped)."""

    def __init__(self, text):
        super().__init__()
        self.forms, self.onload = [], None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.onload = a.get("onload")
        elif tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                               "fields": []})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value") or ""))


def _auto_form(resp):
    """(action URL, [(name, value)]) of an auto-submitting form page, else None."""
    if resp.status != 200 or "html" not in (resp.headers.get("Content-Type") or ""):
        return None
    f = _FormFinder(resp.text)
    if not f.forms or "submit()" not in (f.onload or ""):
        return None
    return urllib.parse.urljoin(resp.url, f.forms[0]["action"]), f.forms[0]["fields"]


def _model_token(text):
    """AuthToken.Token of a `var model = '...'` page (None when absent or null)."""
    m = re.search(r"var model = '(.*?)';", text)
    if not m:
        return None
    model = json.loads(m.group(1))
    return (model.get("AuthToken") or {}).get("Token")


def _auth_token(text):
    m = re.search(r'"authToken"\s*:\s*"([^"]+)"', text)
    return m.group(1) if m else None


class SimBrowser:
    """A small browser for the simulator: host-only cookie jars, NextGenCSO sent only to the
    IdP (where PROTOCOL §10 has it belong), redirects and auto-submitting forms followed by
    sign_in(). Cookies given per request are added to the jar's."""

    def __init__(self, sim, nextgencso=None):
        self.sim = sim
        self.ctx = ssl.create_default_context(cafile=sim.ca_pem)
        self.jar = {}
        self.nextgencso = nextgencso

    def request(self, method, url, body=None, headers=None, cookies=None, use_jar=True, form=None):
        u = urllib.parse.urlsplit(url)
        host = u.hostname
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        hdrs = dict(headers or {})
        ck = dict(self.jar.get(host, {})) if use_jar else {}
        if host == ACMS_IDP_HOST and self.nextgencso:
            ck["NextGenCSO"] = self.nextgencso
        ck.update(cookies or {})
        if ck:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in ck.items())
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn = _SimHTTPS(host, self.sim.port, self.ctx)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            pairs = r.getheaders()
            status = r.status
        finally:
            conn.close()
        resp = _Resp(method, url, status, harness.Headers(pairs), data)
        for sc in resp.set_cookies():
            name, _, value = sc.split(";", 1)[0].partition("=")
            self.jar.setdefault(host, {})[name.strip()] = value.strip()
        return resp

    def sign_in(self, court, max_steps=12):
        """Runs the §10 sign-in from `POST /` on the showdoc host: follows redirects (GET) and
        auto-submitting forms (POST) until an answer is neither. Returns (trace, last answer,
        looped); looped when max_steps ran out."""
        resp = self.request("POST", acms_signin_url(court), body=b"")
        trace = [resp]
        for _ in range(max_steps):
            if resp.status in _REDIRECTS:
                resp = self.request("GET", resp.location())
            else:
                form = _auto_form(resp)
                if form is None:
                    return trace, resp, False
                resp = self.request("POST", form[0], form=form[1])
            trace.append(resp)
        return trace, resp, True

    def token(self, court, trace):
        """The bearer token: the model of the Acs answer, else /Home/IndexContent."""
        for r in trace:
            if urllib.parse.urlsplit(r.url).path == ACMS_ACS_PATH and r.status == 200:
                t = _model_token(r.text)
                if t:
                    return t
        r = self.request("GET", "https://%s/Home/IndexContent" % acms_showdoc_host(court))
        return _auth_token(r.text) if r.status == 200 else None

    def api(self, court, path, token, method="GET"):
        headers = {"Authorization": "Bearer " + token} if token else {}
        return self.request(method, "https://%s%s" % (acms_services_host(court), path),
                            headers=headers, use_jar=False)


class AcmsSimTest(unittest.TestCase):
    """The simulated ACMS (PROTOCOL §10), driven by hand."""

    KNOBS = ("acms_flow", "acms_break", "acms_challenge", "acms_idp_extra_hop",
             "acms_idp_hop_needs_cookie", "acms_absolute_locations", "acms_form_style",
             "acms_cookie_chunks", "acms_indexcontent_type", "acms_require_affinity",
             "acms_session_max_age", "acms_idle_timeout", "acms_tied_to_pacer",
             "acms_saml_lifetime")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim-acms-test-")
        cls.sim = Simulator(cls.tmp.name, courts={
            "ca9": "appellate",
            "ca1": "appellate",
            "azb": "bankruptcy",
        })
        cls.sim.start()
        cls.sim.add_court("ca2", type="appellate")  # after start: per-host certificates
        cls.watch = SecretWatch(cls.sim)
        cls.knobs = {k: getattr(cls.sim, k) for k in cls.KNOBS}
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.tmp.cleanup()

    def setUp(self):
        self.sim.reset_counters()

    def tearDown(self):
        for k, v in self.knobs.items():
            setattr(self.sim, k, v)
        self.sim.acms_fault.clear()
        self.assertEqual(self.sim.errors, [], "simulator handler errors")

    # --- helpers ---

    def fail_with(self, msg, text):
        self.fail("%s: %s" % (msg, self.watch.redact(text)[:1200]))

    def login(self, client=""):
        """A new PACER account and a live session: (login, NextGenCSO token)."""
        AcmsSimTest.n += 1
        login = "acms%02d" % AcmsSimTest.n
        pw = self.watch.add("pacer password", "pw-%s-0123456789abcdef" % login)
        self.sim.add_pacer_account(login, pw)
        b = SimBrowser(self.sim)
        body = {"loginId": login, "password": pw, "redactFlag": "1"}
        if client:
            body["clientCode"] = client
        r = b.request("POST", AUTH, body=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json", "Accept": "application/json"})
        answer = json.loads(r.body)
        self.assertEqual(answer["loginResult"], "0")
        return login, answer["nextGenCSO"]

    def signed_in(self, court="ca9", client=""):
        """(login, browser, bearer token) after a successful sign-in."""
        login, token = self.login(client)
        b = SimBrowser(self.sim, token)
        trace, last, looped = b.sign_in(court)
        self.assertFalse(looped)
        bearer = b.token(court, trace)
        if not bearer:
            self.fail_with("no bearer token after sign-in", last.text)
        return login, b, bearer

    def assert_challenge(self, resp, court):
        """The answer sends the browser back to the IdP (a redirect or a SAML form)."""
        if resp.status in _REDIRECTS:
            loc = urllib.parse.urlsplit(resp.location())
            self.assertEqual((loc.scheme, loc.hostname, loc.path), ("https", ACMS_IDP_HOST, ACMS_SSO_REDIRECT_PATH))
            q = urllib.parse.parse_qs(loc.query)
            self.assertEqual(sorted(q), ["RelayState", "SAMLRequest"])
            xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15).decode()
            self.assertIn('AssertionConsumerServiceURL="%s"' % acms_acs_url(court), xml)
            return
        form = _auto_form(resp)
        if form is None:
            self.fail_with("not a challenge (status %d)" % resp.status, resp.text)
        self.assertEqual(form[0], "https://%s%s" % (ACMS_IDP_HOST, ACMS_SSO_POST_PATH))
        self.assertEqual(sorted(n for n, _ in form[1]), ["RelayState", "SAMLRequest"])

    # --- hosts ---

    def test_acms_hosts_and_certificates(self):
        hosts = self.sim.hosts
        for cid in ("ca9", "ca2"):
            self.assertTrue(self.sim.courts[cid].acms)
            self.assertIn(acms_showdoc_host(cid), hosts)
            self.assertIn(acms_services_host(cid), hosts)
            self.assertIn("ecf.%s.uscourts.gov" % cid, hosts)  # the CM/ECF host stays
        self.assertEqual(self.sim.acms_courts, ["ca9", "ca2"])
        self.assertEqual(hosts.count(ACMS_IDP_HOST), 1)
        self.assertIn(ACMS_FILES_HOST, hosts)
        self.assertFalse(self.sim.courts["ca1"].acms)  # appellate, but not ACMS
        self.assertNotIn(acms_showdoc_host("ca1"), hosts)
        self.assertFalse(self.sim.courts["azb"].acms)
        b = SimBrowser(self.sim)
        for host in (acms_showdoc_host("ca9"), acms_showdoc_host("ca2"), acms_services_host("ca2"),
                     ACMS_IDP_HOST, ACMS_FILES_HOST):
            r = b.request("GET", "https://%s/nothing-here" % host)  # the certificate verifies
            self.assertIn(r.status, (302, 401, 403, 404))
        self.assertEqual(b.request("GET", "https://%s/idp/other" % ACMS_IDP_HOST).status, 404)
        self.assertEqual(b.request("GET", "https://%s/x" % acms_services_host("ca9")).status, 404)
        # any court can have ACMS explicitly; ca2/ca9 can opt out
        with tempfile.TemporaryDirectory(prefix="sim-acms-opt-") as d:
            s = Simulator(d, courts={"ca9": dict(type="appellate", acms=False),
                                     "ca5": dict(type="appellate", acms=True)})
            self.assertEqual(s.acms_courts, ["ca5"])
            self.assertIn(acms_showdoc_host("ca5"), s.hosts)
            self.assertNotIn(acms_showdoc_host("ca9"), s.hosts)
        self.assertEqual(self.sim.acms_leaks, [])

    # --- the sign-in flows, step by step ---

    def test_model_flow_by_hand(self):
        login, nextgen = self.login(client="matter-1")
        b = SimBrowser(self.sim)
        showdoc = acms_showdoc_host("ca9")
        # 1. POST / with an empty body and no ACMS cookie: a redirect to the IdP
        r = b.request("POST", "https://%s/" % showdoc, body=b"")
        self.assertEqual(r.status, 302)
        self.assert_challenge(r, "ca9")
        idp_url = r.location()
        relay = urllib.parse.parse_qs(urllib.parse.urlsplit(idp_url).query)["RelayState"][0]
        self.assertEqual([(x.court, x.method, x.path, x.reason, x.binding) for x in self.sim.acms_signins],
                         [("ca9", "POST", "/", "no_session", "redirect")])
        # 2. the IdP without NextGenCSO: PACER's login page; with it: the auto-submitting form
        r = b.request("GET", idp_url)
        self.assertEqual(r.status, 302)
        self.assertTrue(r.location().startswith(PACER_LOGIN_PAGE + "?"))
        r = b.request("GET", idp_url, cookies={"NextGenCSO": "B" * 128})
        self.assertTrue(r.location().startswith(PACER_LOGIN_PAGE))
        r = b.request("GET", idp_url, cookies={"NextGenCSO": nextgen})
        self.assertEqual(r.status, 200)
        self.contains_all(r.text, ['<body onload="document.forms[0].submit()">',
                                   'action="%s"' % acms_acs_url("ca9"), 'method="post"'])
        action, fields = _auto_form(r)
        self.assertEqual(action, "https://ca9-showdoc.azurewebsites.us/Saml2/Acs")
        fields = dict(fields)
        self.assertEqual(sorted(fields), ["RelayState", "SAMLResponse"])
        self.assertEqual(fields["RelayState"], relay)
        xml = base64.b64decode(fields["SAMLResponse"]).decode()
        self.assertIn("<saml:NameID>%s</saml:NameID>" % login, xml)
        self.assertIn('Destination="%s"' % acms_acs_url("ca9"), xml)
        self.assertEqual([(h.result, h.had_nextgencso, h.login, h.court) for h in self.sim.acms_idp_hits],
                         [("pacer_login", False, None, "ca9"), ("pacer_login", True, None, "ca9"),
                          ("form", True, login, "ca9")])
        # 3. POST /Saml2/Acs: two cookies and the model with the token
        r = b.request("POST", action, form=fields)
        self.assertEqual(r.status, 200)
        cookies = r.set_cookies()
        self.assertEqual([c.split("=", 1)[0] for c in cookies], [ACMS_AFFINITY_COOKIE, ACMS_AUTH_COOKIE])
        self.assertIn(";HttpOnly;Secure;Domain=%s" % showdoc, cookies[0])
        self.assertTrue(cookies[1].endswith("; path=/; secure; samesite=lax; httponly"))
        self.assertIn("var model = '{\"AuthToken\":{\"Token\":\"", r.text)
        bearer = _model_token(r.text)
        self.assertIn(("acms bearer token", bearer), self.sim.issued_tokens())
        self.assertEqual(len(bearer.split(".")), 3)
        self.assertEqual([(x.court, x.login, x.result) for x in self.sim.acms_acs_posts], [("ca9", login, "ok")])
        self.assertEqual([x for x in self.sim.live_acms_sessions() if x[1] == login],
                         [("ca9", login, "matter-1", True)])
        # the same SAMLResponse once more: refused, no cookies
        r2 = b.request("POST", action, form=fields, use_jar=False)
        self.assertEqual(r2.status, 400)
        self.assertEqual(r2.set_cookies(), [])
        self.assertEqual(self.sim.acms_acs_posts[-1].result, "replayed")
        # 4. pages with the cookies; the model page again at /; no IndexContent in this flow
        r = b.request("GET", "https://%s/Case/Docket?caseId=25-1234" % showdoc)
        self.assertEqual(r.status, 200)
        self.contains_all(r.text, ['<h1 id="case-number">25-1234</h1>', '<td class="cost">$3.00</td>'])
        self.assertEqual(_model_token(b.request("GET", "https://%s/" % showdoc).text), bearer)
        self.assertEqual(b.request("POST", "https://%s/" % showdoc, body=b"").status, 200)
        self.assertEqual(b.request("GET", "https://%s/Home/IndexContent" % showdoc).status, 404)
        # both cookies are needed
        self.assert_challenge(b.request("GET", "https://%s/Case/Docket?caseId=1" % showdoc, use_jar=False,
                                        cookies={ACMS_AUTH_COOKIE: b.jar[showdoc][ACMS_AUTH_COOKIE]}), "ca9")
        self.assertEqual(self.sim.acms_signins[-1].reason, "no_affinity")
        # 5. the API wants the bearer token
        r = b.api("ca9", "/api/Dockets/25-1234", bearer)
        self.assertEqual(r.status, 200)
        docket = json.loads(r.body)
        self.assertEqual(docket["caseNumber"], "25-1234")
        pages = [(e["pageCount"], e["billablePages"], e["cost"]) for e in docket["entries"]]
        self.assertEqual(pages, [(3, 3, 0.3), (45, 30, 3.0), (1, 1, 0.1)])
        for resp, www in ((b.api("ca9", "/api/Dockets/25-1234", None), "Bearer"),
                          (b.api("ca9", "/api/Dockets/25-1234", "A" * 40), 'Bearer error="invalid_token"'),
                          (b.api("ca2", "/api/Dockets/25-1234", bearer), 'Bearer error="invalid_token"')):
            self.assertEqual(resp.status, 401)
            self.assertEqual(resp.headers.get("WWW-Authenticate"), www)
            self.assertEqual(json.loads(resp.body)["status"], 401)
        api = [(c.court, c.authorization, c.token_valid, c.status) for c in self.sim.acms_api_calls]
        self.assertEqual(api[0], ("ca9", "Bearer " + bearer, True, 200))
        self.assertEqual([a[2:] for a in api[1:]], [(False, 401)] * 3)
        self.assertIsNone(api[1][1])
        # what each host saw: NextGenCSO only at the IdP, ACMS cookies only at the showdoc host
        self.assertEqual(self.sim.cookie_names_seen(showdoc), sorted([ACMS_AFFINITY_COOKIE, ACMS_AUTH_COOKIE]))
        self.assertEqual(self.sim.cookie_names_seen(ACMS_IDP_HOST), ["NextGenCSO"])
        self.assertEqual(self.sim.cookie_names_seen(acms_services_host("ca9")), [])
        self.assertEqual(self.sim.acms_leaks, [])
        self.assertFalse(self.sim.acms_pacer_cookie_leaked or self.sim.acms_credential_leaked)
        # 6. expiry: pages challenge again, the API answers 401
        self.sim.expire_acms(login=login)
        self.assertEqual([x for x in self.sim.live_acms_sessions() if x[1] == login], [])
        r = b.request("GET", "https://%s/Case/Docket?caseId=25-1234" % showdoc)
        self.assert_challenge(r, "ca9")
        self.assertEqual(self.sim.acms_signins[-1].reason, "expired")
        self.assertEqual(b.api("ca9", "/api/Dockets/25-1234", bearer).status, 401)
        counts = self.sim.acms_counts()
        self.assertEqual((counts["signins"], counts["idp_forms"], counts["acs_accepted"],
                          counts["api_authorized"], counts["leaks"]), (3, 1, 1, 1, 0))
        recs = [x for x in self.sim.requests if x.court == "acms:ca9"]
        self.assertTrue(recs and all(x.host in (showdoc, acms_services_host("ca9")) for x in recs))

    def contains_all(self, text, needles):
        for n in needles:
            if n not in text:
                self.fail_with("%r not found" % n, text)

    def test_indexcontent_flow(self):
        self.sim.acms_flow = "indexcontent"
        for shape in ("json", "html"):
            self.sim.acms_indexcontent_type = shape
            login, nextgen = self.login()
            b = SimBrowser(self.sim, nextgen)
            showdoc = acms_showdoc_host("ca2")
            trace, last, looped = b.sign_in("ca2")
            self.assertFalse(looped)
            acs = [r for r in trace if urllib.parse.urlsplit(r.url).path == ACMS_ACS_PATH]
            self.assertEqual(len(acs), 1)
            # the Acs answer: cookies and a redirect to / (path only), no token in it
            self.assertEqual(acs[0].status, 302)
            self.assertEqual(acs[0].headers.get("Location"), "/")
            self.assertEqual(len(acs[0].set_cookies()), 2)
            self.assertIsNone(_model_token(acs[0].text))
            self.assertNotIn("authToken", acs[0].text)
            # / is the shell that fetches /Home/IndexContent
            self.assertEqual(last.url, "https://%s/" % showdoc)
            self.assertEqual(last.status, 200)
            self.assertIn("/Home/IndexContent", last.text)
            r = b.request("GET", "https://%s/Home/IndexContent" % showdoc)
            self.assertEqual(r.status, 200)
            if shape == "json":
                self.assertTrue(r.headers.get("Content-Type").startswith("application/json"))
                bearer = json.loads(r.body)["docketData"]["authToken"]
            else:
                self.assertTrue(r.headers.get("Content-Type").startswith("text/html"))
                self.assertRaises(ValueError, json.loads, r.body)
                bearer = _auth_token(r.text)
            self.assertEqual(b.token("ca2", trace), bearer)
            self.assertEqual(b.api("ca2", "/api/Dockets/25-7", bearer).status, 200)
            self.assertEqual(b.api("ca9", "/api/Dockets/25-7", bearer).status, 401)  # ca2's token
            self.assertEqual([(x.court, x.login, x.result) for x in self.sim.acms_acs_posts[-1:]],
                             [("ca2", login, "ok")])
        # without cookies IndexContent challenges like every page
        self.assert_challenge(SimBrowser(self.sim).request(
            "GET", "https://%s/Home/IndexContent" % acms_showdoc_host("ca2")), "ca2")
        self.assertEqual(self.sim.acms_leaks, [])

    def test_idp_refusals(self):
        b = SimBrowser(self.sim)
        _, nextgen = self.login()
        sso = "https://%s%s" % (ACMS_IDP_HOST, ACMS_SSO_REDIRECT_PATH)
        for query in ("", "?SAMLRequest=%2B%2B", "?SAMLRequest=" + urllib.parse.quote(
                base64.b64encode(b'<samlp:AuthnRequest ID="id-made-up"/>').decode())):
            r = b.request("GET", sso + query, cookies={"NextGenCSO": nextgen})
            self.assertEqual(r.status, 400)
            self.assertNotIn("SAMLResponse", r.text)
        self.assertEqual([h.result for h in self.sim.acms_idp_hits], ["bad_request"] * 3)
        # an ended PACER session is not a session at the IdP either
        r = b.request("POST", acms_signin_url("ca9"), body=b"")
        self.sim.expire_sessions()
        r = b.request("GET", r.location(), cookies={"NextGenCSO": nextgen})
        self.assertEqual(r.status, 302)
        loc = urllib.parse.urlsplit(r.location())
        self.assertEqual((loc.hostname, loc.path), ("pacer.login.uscourts.gov", "/csologin/login.jsf"))
        self.assertIn("pscCourtId=CA9", loc.query)
        # only NextGenCSO counts: PacerSession with the same token is not enough
        _, nextgen = self.login()
        r = b.request("POST", acms_signin_url("ca9"), body=b"")
        self.assertTrue(b.request("GET", r.location(), cookies={"PacerSession": nextgen})
                        .location().startswith(PACER_LOGIN_PAGE))

    def test_variants(self):
        """Extra IdP hop with its own cookie, POST binding, Shibboleth-encoded form, chunked
        cookies, absolute same-host redirects: a tolerant client still gets through."""
        sim = self.sim
        sim.acms_idp_extra_hop = True
        sim.acms_challenge = "form"
        sim.acms_form_style = "encoded"
        sim.acms_cookie_chunks = 3
        sim.acms_absolute_locations = True
        sim.acms_flow = "indexcontent"
        login, nextgen = self.login()
        b = SimBrowser(sim, nextgen)
        trace, last, looped = b.sign_in("ca9")
        self.assertFalse(looped)
        steps = [(r.method, urllib.parse.urlsplit(r.url).hostname, urllib.parse.urlsplit(r.url).path, r.status)
                 for r in trace]
        showdoc = acms_showdoc_host("ca9")
        self.assertEqual(steps, [("POST", showdoc, "/", 200),
                                 ("POST", ACMS_IDP_HOST, ACMS_SSO_POST_PATH, 302),
                                 ("GET", ACMS_IDP_HOST, "/idp/authn/External", 200),
                                 ("POST", showdoc, ACMS_ACS_PATH, 302),
                                 ("GET", showdoc, "/", 200)])
        self.assertIn(ACMS_IDP_SESSION_COOKIE + "=", trace[1].set_cookies()[0])
        self.assertTrue(trace[1].headers.get("Location").startswith("https://%s/idp/authn/" % ACMS_IDP_HOST))
        self.assertEqual(trace[3].headers.get("Location"), "https://%s/" % showdoc)
        self.assertIn('action="https&#x3a;&#x2f;&#x2f;ca9-showdoc.azurewebsites.us&#x2f;Saml2&#x2f;Acs"',
                      trace[2].text)
        names = [c.split("=", 1)[0] for c in trace[3].set_cookies()]
        self.assertEqual(names, [ACMS_AFFINITY_COOKIE, ACMS_AUTH_COOKIE] +
                         ["%sC%d" % (ACMS_AUTH_COOKIE, i) for i in (1, 2, 3)])
        self.assertEqual(b.jar[showdoc][ACMS_AUTH_COOKIE], "chunks-3")
        bearer = b.token("ca9", trace)
        self.assertEqual(b.api("ca9", "/api/echo", bearer).status, 200)
        # a missing chunk is no session
        b.jar[showdoc].pop(ACMS_AUTH_COOKIE + "C2")
        self.assert_challenge(b.request("GET", "https://%s/" % showdoc), "ca9")
        self.assertEqual([x.result for x in sim.acms_idp_hits], ["hop", "form"])
        # the hop without its JSESSIONID is a stale request; so is a second use
        b2 = SimBrowser(sim, nextgen)
        form = _auto_form(b2.request("POST", acms_signin_url("ca9"), body=b""))
        r = b2.request("POST", form[0], form=form[1])
        hop = r.location()
        self.assertEqual(b2.request("GET", hop, use_jar=False, cookies={"NextGenCSO": nextgen}).status, 400)
        self.assertEqual(b2.request("GET", hop).status, 400)  # the conversation is used up
        self.assertEqual(sim.acms_idp_hits[-1].result, "stale")
        sim.acms_idp_hop_needs_cookie = False
        form = _auto_form(b2.request("POST", acms_signin_url("ca9"), body=b""))
        hop = b2.request("POST", form[0], form=form[1]).location()
        r = b2.request("GET", hop, use_jar=False, cookies={"NextGenCSO": nextgen})
        self.assertIsNotNone(_auto_form(r))
        # with the redirect binding the token also arrives; relative Location at the IdP hop
        sim.acms_challenge, sim.acms_absolute_locations, sim.acms_flow = "redirect", False, "model"
        trace, last, looped = SimBrowser(sim, nextgen).sign_in("ca2")
        self.assertEqual(trace[1].headers.get("Location")[:len("/idp/authn/")], "/idp/authn/")
        self.assertTrue(_model_token(last.text))
        # ARRAffinity may be made optional
        sim.acms_cookie_chunks = 0
        b = SimBrowser(sim, nextgen)
        b.sign_in("ca9")
        b.jar[showdoc].pop(ACMS_AFFINITY_COOKIE)
        self.assert_challenge(b.request("GET", "https://%s/" % showdoc), "ca9")
        sim.acms_require_affinity = False
        self.assertEqual(b.request("GET", "https://%s/" % showdoc).status, 200)
        self.assertEqual(sim.acms_leaks, [])

    # --- the Acs refusals ---

    def test_acs_refusals(self):
        login, nextgen = self.login()

        def fresh_form(court="ca9"):
            b = SimBrowser(self.sim, nextgen)
            r = b.request("POST", acms_signin_url(court), body=b"")
            return b, _auto_form(b.request("GET", r.location()))

        b, (action, fields) = fresh_form()
        fields = dict(fields)
        post = self.sim.acms_acs_posts
        self.assertEqual(b.request("GET", action).status, 405)
        self.assertEqual(b.request("POST", action, form={"RelayState": fields["RelayState"]}).status, 400)
        self.assertEqual(b.request("POST", action, form=dict(fields, RelayState="other")).status, 400)
        xml = base64.b64decode(fields["SAMLResponse"]).replace(login.encode(), b"somebody")
        tampered = dict(fields, SAMLResponse=base64.b64encode(xml).decode())
        self.assertEqual(b.request("POST", action, form=tampered).status, 400)
        # another court's Acs does not take ca9's response
        other = acms_acs_url("ca2")
        self.assertEqual(b.request("POST", other, form=fields).status, 400)
        self.assertEqual([p.result for p in post], ["bad_method", "missing", "bad_relay_state",
                                                    "unknown", "wrong_court"])
        self.assertEqual(self.sim.cookie_names_seen(acms_showdoc_host("ca9")), [])
        # the real thing still works (none of the above used it up), then only once
        self.assertEqual(b.request("POST", action, form=fields).status, 200)
        self.assertEqual(b.request("POST", action, form=fields).status, 400)
        # an old response has expired
        b, (action, fields) = fresh_form()
        self.sim.advance_time(301)
        r = b.request("POST", action, form=dict(fields))
        self.assertEqual((r.status, r.set_cookies()), (400, []))
        self.assertEqual([p.result for p in post[-3:]], ["ok", "replayed", "expired"])
        # multipart is accepted too
        b, (action, fields) = fresh_form()
        boundary = "sim-boundary-1234"
        body = "".join('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, k, v)
                       for k, v in fields) + "--%s--\r\n" % boundary
        r = b.request("POST", action, body=body.encode(),
                      headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        self.assertEqual(r.status, 200)
        self.assertTrue(_model_token(r.text))

    # --- break modes ---

    def test_break_no_form(self):
        self.sim.acms_break = "no_form"
        _, nextgen = self.login()
        trace, last, looped = SimBrowser(self.sim, nextgen).sign_in("ca9")
        self.assertFalse(looped)
        self.assertEqual(urllib.parse.urlsplit(last.url).hostname, ACMS_IDP_HOST)
        self.assertEqual(last.status, 200)
        self.assertNotIn("SAMLResponse", last.text)
        self.assertNotIn("<form", last.text)
        self.assertEqual([h.result for h in self.sim.acms_idp_hits], ["no_form"])
        self.assertEqual(self.sim.acms_acs_posts, [])

    def test_break_no_token(self):
        self.sim.acms_break = "no_token"
        for flow in ("model", "indexcontent"):
            self.sim.acms_flow = flow
            login, nextgen = self.login()
            b = SimBrowser(self.sim, nextgen)
            trace, last, looped = b.sign_in("ca9")
            self.assertFalse(looped)
            acs = [r for r in trace if urllib.parse.urlsplit(r.url).path == ACMS_ACS_PATH][0]
            self.assertEqual(len(acs.set_cookies()), 2)  # signed in, but...
            self.assertIsNone(b.token("ca9", trace))     # ...no token anywhere
            if flow == "model":
                self.assertIn('"AuthToken":null', acs.text)
            ic = b.request("GET", "https://%s/Home/IndexContent" % acms_showdoc_host("ca9"))
            self.assertNotIn("authToken", ic.text)
            docket = b.request("GET", "https://%s/Case/Docket?caseId=25-2" % acms_showdoc_host("ca9"))
            self.assertEqual(docket.status, 200)
            self.assertEqual(self.sim.acms_acs_posts[-1].result, "no_token")
            self.assertEqual(self.sim.live_acms_sessions()[-1][1:], (login, "", False))
            self.assertFalse([t for k, t in self.sim.issued_tokens() if k == "acms bearer token"
                              and t in acs.text + ic.text])

    def test_break_loop(self):
        self.sim.acms_break = {"ca2": "loop"}  # per court: ca9 still works
        _, nextgen = self.login()
        b = SimBrowser(self.sim, nextgen)
        trace, last, looped = b.sign_in("ca2", max_steps=12)
        self.assertTrue(looped)
        paths = [urllib.parse.urlsplit(r.url).path for r in trace]
        self.assertEqual(paths[:5], ["/", ACMS_SSO_REDIRECT_PATH, ACMS_ACS_PATH, "/", ACMS_SSO_REDIRECT_PATH])
        acs = [r for r in trace if urllib.parse.urlsplit(r.url).path == ACMS_ACS_PATH]
        self.assertTrue(all(r.status == 302 and len(r.set_cookies()) == 2 for r in acs))
        c = self.sim.acms_counts("ca2")
        self.assertEqual(c["acs_accepted"], len(acs))
        self.assertEqual(c["signins"], len(acs) + 1)
        self.assertEqual({s.reason for s in self.sim.acms_signins[1:]}, {"loop"})
        self.assertEqual(b.token("ca2", trace), None)
        # ca9 is not broken
        trace, last, looped = SimBrowser(self.sim, nextgen).sign_in("ca9")
        self.assertFalse(looped)
        self.assertTrue(_model_token(last.text))

    # --- sessions ---

    def test_session_lifetimes(self):
        sim = self.sim
        showdoc = acms_showdoc_host("ca9")
        page = "https://%s/Case/Docket?caseId=25-3" % showdoc
        try:
            sim.acms_session_max_age = 100
            login, b, bearer = self.signed_in()
            self.assertEqual(b.request("GET", page).status, 200)
            sim.advance_time(101)
            self.assert_challenge(b.request("GET", page), "ca9")
            self.assertEqual(b.api("ca9", "/api/echo", bearer).status, 401)
            sim.acms_session_max_age, sim.acms_idle_timeout = None, 50
            login, b, bearer = self.signed_in()
            sim.advance_time(40)
            self.assertEqual(b.api("ca9", "/api/echo", bearer).status, 200)  # the API counts as use
            sim.advance_time(40)
            self.assertEqual(b.request("GET", page).status, 200)
            sim.advance_time(51)
            self.assert_challenge(b.request("GET", page), "ca9")
            sim.acms_idle_timeout = None
            # off by default: ACMS outlives the PACER session it came from...
            login, b, bearer = self.signed_in()
            sim.expire_sessions(login=login)
            self.assertEqual(b.request("GET", page).status, 200)
            # ...unless tied to it
            sim.acms_tied_to_pacer = True
            self.assert_challenge(b.request("GET", page), "ca9")
            self.assertEqual(b.api("ca9", "/api/echo", bearer).status, 401)
            sim.acms_tied_to_pacer = False
            # expire_acms by court
            l9, b9, t9 = self.signed_in("ca9")
            l2, b2, t2 = self.signed_in("ca2")
            sim.expire_acms(court="ca2")
            self.assertEqual(b9.api("ca9", "/api/echo", t9).status, 200)
            self.assertEqual(b2.api("ca2", "/api/echo", t2).status, 401)
            self.assertIn(("ca9", l9, "", True), sim.live_acms_sessions())
            self.assertNotIn(("ca2", l2, "", True), sim.live_acms_sessions())
        finally:
            sim.acms_session_max_age = sim.acms_idle_timeout = None

    # --- API and files ---

    def test_api_and_files(self):
        login, b, bearer = self.signed_in()
        r = b.api("ca9", "/api/Dockets/25-55", bearer, method="OPTIONS")
        self.assertEqual(r.status, 204)
        self.assertIn("Authorization", r.headers.get("Access-Control-Allow-Headers"))
        echo = json.loads(b.api("ca9", "/api/echo", bearer).body)
        self.assertEqual((echo["login"], echo["host"], echo["cookies"]), (login, acms_services_host("ca9"), {}))
        self.assertEqual(b.api("ca9", "/api/Nope", bearer).status, 404)
        self.assertEqual(b.api("ca9", "/api/Nope", None).status, 401)  # auth first
        docket = json.loads(b.api("ca9", "/api/dockets/25-55", bearer).body)
        self.assertEqual(acms_fee(45), (30, 3.0))
        entry = docket["entries"][0]
        url = urllib.parse.urlsplit(entry["fileUrl"])
        self.assertEqual(url.hostname, ACMS_FILES_HOST)
        r = b.request("GET", entry["fileUrl"], use_jar=False)
        self.assertEqual((r.status, r.headers.get("Content-Type")), (200, "application/pdf"))
        self.assertTrue(r.body.startswith(b"%PDF-"))
        self.assertEqual(len(r.body), entry["pageCount"] * 1024)
        bad = entry["fileUrl"].replace("sig=", "sig=x")
        self.assertEqual(b.request("GET", bad, use_jar=False).status, 403)
        self.assertEqual([(f.status, f.had_cookie, f.had_authorization) for f in self.sim.acms_file_gets],
                         [(200, False, False), (403, False, False)])
        self.assertEqual(self.sim.acms_leaks, [])
        # anything sent to the files host is a leak
        b.request("GET", entry["fileUrl"], use_jar=False, cookies={"x": "1"},
                  headers={"Authorization": "Bearer " + bearer})
        self.assertEqual(sorted((x.kind, x.what) for x in self.sim.acms_leaks),
                         [("credential_to_files_host", "Authorization header"),
                          ("credential_to_files_host", "cookie x")])

    # --- leak records ---

    def test_leak_records(self):
        sim = self.sim
        login, b, bearer = self.signed_in()
        showdoc = acms_showdoc_host("ca9")
        acms_cookies = dict(b.jar[showdoc])
        _, nextgen = self.login()
        self.assertEqual(sim.acms_leaks, [])

        def leaks():
            out = sorted({(x.kind, x.host, x.what) for x in sim.acms_leaks})
            sim.acms_leaks.clear()
            return out
        # PACER cookies at the showdoc host (NextGenCSO belongs to the IdP only)
        b.request("GET", "https://%s/" % showdoc, cookies={"NextGenCSO": nextgen, "PacerClientCode": "m-1"})
        self.assertTrue(sim.acms_pacer_cookie_leaked)
        self.assertFalse(sim.acms_credential_leaked)
        self.assertEqual(leaks(), [("pacer_cookie_to_acms", showdoc, "PACER session token value"),
                                   ("pacer_cookie_to_acms", showdoc, "cookie NextGenCSO"),
                                   ("pacer_cookie_to_acms", showdoc, "cookie PacerClientCode")])
        # a PACER token by value under another name, at the API host
        services = acms_services_host("ca9")
        b.request("GET", "https://%s/api/echo" % services, cookies={"x": nextgen},
                  headers={"Authorization": "Bearer " + bearer})
        self.assertEqual(leaks(), [("pacer_cookie_to_acms", services, "PACER session token value")])
        # ACMS cookies and the bearer token at a CM/ECF court, at PACER and at the IdP
        court = "ecf.azb.uscourts.gov"
        b.request("GET", "https://%s/cgi-bin/iquery.pl" % court, cookies=acms_cookies)
        self.assertEqual(leaks(), sorted([("acms_credential_to_court", court, "ACMS session cookie value"),
                                          ("acms_credential_to_court", court, "cookie " + ACMS_AFFINITY_COOKIE),
                                          ("acms_credential_to_court", court, "cookie " + ACMS_AUTH_COOKIE)]))
        b.request("GET", "https://ecf.ca9.uscourts.gov/", headers={"Authorization": "Bearer " + bearer})
        self.assertTrue(sim.acms_credential_leaked)
        self.assertFalse(sim.acms_pacer_cookie_leaked)
        self.assertEqual(leaks(), [("acms_credential_to_court", "ecf.ca9.uscourts.gov", "ACMS bearer token")])
        b.request("POST", LOGOUT, headers={"X-Token": bearer}, body=b"{}")
        self.assertEqual(leaks(), [("acms_credential_to_pacer", "pacer.login.uscourts.gov", "ACMS bearer token")])
        b.request("GET", "https://%s%s" % (ACMS_IDP_HOST, ACMS_SSO_REDIRECT_PATH), cookies=acms_cookies)
        self.assertEqual([k for k, _, _ in leaks()], ["acms_credential_to_idp"] * 3)
        # showdoc cookies at the API host; an Authorization header at the showdoc host
        b.api("ca9", "/api/echo", bearer)
        b.request("GET", "https://%s/api/echo" % services, cookies=acms_cookies)
        b.request("GET", "https://%s/" % showdoc, headers={"Authorization": "Bearer " + bearer})
        self.assertEqual([(k, w) for k, _, w in leaks()],
                         sorted([("acms_cookie_to_services", "cookie " + ACMS_AFFINITY_COOKIE),
                                 ("acms_cookie_to_services", "cookie " + ACMS_AUTH_COOKIE),
                                 ("authorization_to_showdoc", "Authorization header")]))
        # PACER cookies at the IdP and the courts are fine
        b.request("GET", "https://ecf.azb.uscourts.gov/", cookies={"NextGenCSO": nextgen})
        self.assertEqual(leaks(), [])

    def test_concurrent_signins(self):
        logins = [self.login() for _ in range(6)]
        results = [None] * len(logins)

        def run(i):
            try:
                court = ("ca9", "ca2")[i % 2]
                b = SimBrowser(self.sim, logins[i][1])
                trace, last, looped = b.sign_in(court)
                token = b.token(court, trace)
                results[i] = (looped, token, b.api(court, "/api/echo", token).status)
            except Exception as e:  # reported below
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(logins))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for r in results:
            self.assertIsInstance(r, tuple, r)
            self.assertEqual((r[0], r[2]), (False, 200))
        self.assertEqual(len({r[1] for r in results}), len(logins))
        c = self.sim.acms_counts()
        self.assertEqual((c["signins"], c["idp_forms"], c["acs_accepted"]), (6, 6, 6))
        self.assertEqual(self.sim.acms_leaks, [])

    def test_daemon_config_with_acms_hosts(self):
        with tempfile.TemporaryDirectory(prefix="daemon-acms-") as d:
            daemon = harness.Daemon(d, self.sim)
            text = _read(daemon.config_path)
            for host in (acms_showdoc_host("ca9"), acms_services_host("ca2"), ACMS_IDP_HOST, ACMS_FILES_HOST):
                self.assertIn('"%s:443" = "127.0.0.1:%d"' % (host, self.sim.port), text)
            if not harness.have_binaries():
                self.skipTest("courtrouted/courtroute not built in %s" % harness.build_dir())
            r = subprocess.run([harness.binary("courtrouted"), "--config", daemon.config_path, "--check"],
                               capture_output=True, text=True, timeout=30, env=harness.clean_env())
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_faults_and_reset(self):
        _, nextgen = self.login()
        self.sim.acms_fault["idp"] = "503"
        b = SimBrowser(self.sim, nextgen)
        trace, last, looped = b.sign_in("ca9")
        self.assertEqual((urllib.parse.urlsplit(last.url).hostname, last.status), (ACMS_IDP_HOST, 503))
        self.sim.acms_fault.clear()
        self.assertTrue(self.sim.acms_counts()["signins"])
        self.sim.reset_counters()
        self.assertEqual(set(self.sim.acms_counts().values()), {0})
        self.assertEqual(self.sim.cookie_names_seen(), {})



# ----------------------------------------------------------------------------- fees

class _Cells(html.parser.HTMLParser):
    """The text of every TH/TD cell in order (a cell runs to the next cell or row end, so stray
    end tags do not matter); tag case does not matter to html.parser."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.cells, self._cur = [], None
        self.feed(text)
        self.close()
        self._flush()

    def _flush(self):
        if self._cur is not None:
            self.cells.append(" ".join("".join(self._cur).split()))
            self._cur = None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._flush()
            self._cur = []
        elif tag == "tr":
            self._flush()

    def handle_endtag(self, tag):
        if tag in ("tr", "table"):
            self._flush()

    def handle_data(self, data):
        if self._cur is not None:
            self._cur.append(data)


def read_receipt(text):
    """{label: value} of the Transaction Receipt in a page (labels without the colon), plus
    "_time" (the timestamp row) and "_note" (a row after Cost), or None. Independent of the
    simulator's own rendering code, and of the daemon's reader."""
    m = re.search(r"(?is)<center>\s*<table[^>]*>\s*<tr>\s*<th[^>]*>\s*<font[^>]*>PACER Service Center.*?</table>", text)
    if not m:
        return None
    cells = [c for c in _Cells(m.group(0)).cells if c]
    if cells[:2] != ["PACER Service Center", "Transaction Receipt"]:
        return None
    out = {"_time": cells[2]}
    i = 3
    while i < len(cells):
        if cells[i].endswith(":"):
            value = cells[i + 1] if i + 1 < len(cells) and not cells[i + 1].endswith(":") else ""
            out[cells[i][:-1]] = value
            i += 2 if value else 1
        else:
            out["_note"] = cells[i]
            i += 1
    return out


class FeeSimTest(unittest.TestCase):
    """The simulated fees (tests/sim/fees.py, PROTOCOL §9), driven by hand."""

    KNOBS = ("fees_enabled", "receipt_shape", "receipt_shapes", "document_view", "docket_entries",
             "document_pages")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sim-fees-")
        cls.sim = Simulator(cls.tmp.name, courts={
            "feea": "bankruptcy", "feeb": "district", "feeoff": "bankruptcy",
            "feel": dict(type="bankruptcy", system="legacy")}).start()
        cls.watch = SecretWatch(cls.sim)
        cls.defaults = {k: getattr(cls.sim, k) for k in cls.KNOBS}
        cls.pw = cls.watch.add("pacer password", "pw-fees-0123456789abcdef")
        for login in ("fa01", "fb01"):
            cls.sim.add_pacer_account(login, cls.pw)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.tmp.cleanup()

    def setUp(self):
        for k, v in self.defaults.items():
            setattr(self.sim, k, v if not isinstance(v, dict) else {})
        self.sim.fees_enabled = {"feea", "feeb", "feel"}
        self.sim.reset_counters()
        self.b = SimBrowser(self.sim)

    def tearDown(self):
        self.assertEqual(self.sim.errors, [], "simulator handler errors")

    def token(self, login, client=""):
        body = {"loginId": login, "password": self.pw, "redactFlag": "1"}
        if client:
            body["clientCode"] = client
        r = self.b.request("POST", AUTH, body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        answer = json.loads(r.body)
        self.assertEqual(answer["loginResult"], "0")
        return answer["nextGenCSO"]

    def get(self, court, path, token, method="GET", pref=None, form=None):
        ck = {"NextGenCSO": token}
        if pref:
            ck["PacerPref"] = pref
        return self.b.request(method, "https://%s%s" % (self.sim.courts[court].host, path),
                              cookies=ck, use_jar=False, form=form)

    @staticmethod
    def without_receipt(text):
        """The page as billed: without `<hr>` and the receipt block."""
        i = text.index("<hr><center>")
        j = text.index("</center>", text.lower().index("</table>", i)) + len("</center>\n")
        return text[:i] + text[j:]

    def test_docket_receipt_and_charge(self):
        tok = self.token("fa01", client="ACME-001")
        r = self.get("feea", "/cgi-bin/DktRpt.pl?4242", tok)
        self.assertEqual((r.status, r.headers.get("Content-Type")), (200, "text/html; charset=utf-8"))
        self.assertIn(LOGOUT_LINK, r.text)
        self.assertTrue(r.text.rstrip().endswith("</center>\n</body></html>".rstrip()), r.text[-200:])
        rc = read_receipt(r.text)
        self.assertIsNotNone(rc, r.text[-1500:])
        billed = len(self.without_receipt(r.text).encode())
        pages = -(-billed // PAGE_BYTES)
        self.assertEqual(html_pages(billed), pages)
        self.assertRegex(rc["PACER Login"], r"^fa01:[0-9]{7}:0$")
        self.assertEqual(rc["Client Code"], "ACME-001")
        self.assertEqual(rc["Description"], "Docket Report")
        self.assertTrue(rc["Search Criteria"].startswith("2:24-bk-04242 "), rc)
        self.assertEqual(rc["Billable Pages"], str(pages))
        self.assertEqual(rc["Cost"], "%d.%02d" % divmod(10 * pages, 100))
        self.assertRegex(rc["_time"], r"^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
        self.assertNotIn("_note", rc)
        [c] = self.sim.fee_charges
        self.assertEqual((c.court, c.login, c.client_code, c.kind, c.pages, c.billable_pages, c.cents,
                          c.receipt, c.via), ("feea", "fa01", "ACME-001", "docket", pages, pages,
                                              10 * pages, True, "page"))
        # The docket links to documents; the case is stable (same page, same cost, two charges).
        ids = self.sim.docket_docids("feea", "4242")
        self.assertTrue(ids and all(("/doc1/%s\"" % d) in r.text for d in ids))
        self.assertEqual(read_receipt(self.get("feea", "/cgi-bin/DktRpt.pl?4242", tok).text)["Cost"], rc["Cost"])
        # A POST with the case in a form field, the history report, a district court's docket,
        # a session without a client code.
        r = self.get("feea", "/cgi-bin/DktRpt.pl", tok, "POST", form={"all_case_ids": "4242"})
        self.assertEqual(read_receipt(r.text)["Cost"], rc["Cost"])
        r = self.get("feea", "/cgi-bin/HistDocQry.pl?4242", tok)
        self.assertEqual(read_receipt(r.text)["Description"], "History/Documents")
        other = self.token("fb01")
        r = self.get("feeb", "/cgi-bin/DktRpt.pl?77", other)
        rc = read_receipt(r.text)
        self.assertEqual((rc["Client Code"], rc["Search Criteria"][:13]), ("", "2:24-cv-00077"))
        self.assertEqual(self.sim.charged(login="fa01"), (4, sum(c.cents for c in self.sim.fee_charges[:4])))
        self.assertEqual(self.sim.charged(login="fb01", court="feeb")[0], 1)
        totals = self.sim.fee_totals(by="client_code")
        self.assertEqual(set(totals), {"ACME-001", ""})
        self.assertEqual(totals["ACME-001"]["charges"], 4)
        self.assertEqual(self.sim.fee_totals(by=("login", "kind"))[("fa01", "history")]["charges"], 1)

    def test_capped_report_and_document(self):
        tok = self.token("fa01")
        self.sim.docket_entries["999"] = 500          # about 165 KB: 39 pages, billed 30
        r = self.get("feea", "/cgi-bin/DktRpt.pl?999", tok)
        rc = read_receipt(r.text)
        self.assertGreater(html_pages(len(self.without_receipt(r.text).encode())), 30)
        self.assertEqual((rc["Billable Pages"], rc["Cost"], rc["_note"]), ("30", "3.00", CAP_NOTE))
        self.sim.document_pages["000000000031"] = 31
        self.sim.document_pages["000000000030"] = 30
        rc = read_receipt(self.get("feea", "/doc1/000000000031", tok).text)
        self.assertEqual((rc["Billable Pages"], rc["Cost"], rc["_note"]), ("30", "3.00", CAP_NOTE))
        rc = read_receipt(self.get("feea", "/doc1/000000000030", tok).text)
        self.assertEqual((rc["Billable Pages"], rc["Cost"]), ("30", "3.00"))
        self.assertNotIn("_note", rc)
        r = self.get("feea", "/doc1/000000000031", tok, "POST", form={"got_receipt": "1"})
        self.assertEqual(pdf_page_count(r.body), 31)
        self.assertEqual(self.sim.fee_charges[-1].cents, 300)

    def test_receipt_shapes(self):
        when = time.mktime((2026, 11, 29, 21, 14, 2, 0, 0, -1))
        for name in RECEIPT_VARIANTS:
            text = render_receipt("al01", "M-7", "Docket Report", "2:24-bk-00001", 3, 30, when, True, name)
            rc = read_receipt(text)
            self.assertIsNotNone(rc, name)
            shape = dict(RECEIPT_VARIANTS[name])
            self.assertEqual((rc["Billable Pages"], rc["Cost"], rc["_note"]), ("3", "0.30", CAP_NOTE), name)
            self.assertEqual(rc.get("Case Number" if shape.get("criteria_label") else "Search Criteria"),
                             "2:24-bk-00001", name)
            self.assertEqual(rc["PACER Login"], "al01" if shape.get("login_suffix") is False
                             else "al01:%s:0" % rc["PACER Login"].split(":")[1], name)
            times = {"seconds": "11/29/2026 21:14:02", "minutes": "11/29/2026 21:14",
                     "ampm": "11/29/2026 09:14:02 PM", "ampm_minutes": "11/29/2026 09:14 PM"}
            self.assertEqual(rc["_time"], times[shape.get("time", "seconds")], name)
            self.assertEqual("<TABLE" in text, shape.get("case") == "upper", name)
            self.assertEqual("<table" in text, shape.get("case") != "upper", name)
            self.assertEqual("</TH></TD>" in text.upper(), bool(shape.get("stray_th")), name)
            self.assertEqual("&nbsp;PACER Login:&nbsp;" in text, bool(shape.get("nbsp")), name)
            padded = shape.get("pad_client_code")
            self.assertEqual(">M-7%s<" % (" " * (padded - 3)) in text if padded else ">M-7<" in text, True, name)
            self.assertEqual(rc["Client Code"], "M-7")
        # Through the server: a list is used in turn; receipt_shapes overrides per court.
        tok = self.token("fa01")
        self.sim.receipt_shape = ["upper", "minutes"]
        self.sim.receipt_shapes = {"feeb": "ampm"}
        pages = [self.get("feea", "/cgi-bin/DktRpt.pl?%d" % i, tok).text for i in range(4)]
        shapes = [c.shape for c in self.sim.fee_charges]
        self.assertIn(shapes, (["upper", "minutes"] * 2, ["minutes", "upper"] * 2))
        self.assertEqual([("<TABLE" in p) for p in pages], [x == "upper" for x in shapes])
        rc = read_receipt(self.get("feeb", "/cgi-bin/DktRpt.pl", tok).text)
        self.assertTrue(rc["_time"].endswith(("AM", "PM")), rc["_time"])
        self.sim.receipt_shape = {"case": "upper", "time": "minutes", "pad_client_code": 8}
        self.assertRegex(read_receipt(self.get("feea", "/cgi-bin/DktRpt.pl", tok).text)["_time"],
                         r"^[0-9/]{10} [0-9]{2}:[0-9]{2}$")
        with self.assertRaises(ValueError):
            render_receipt("a", "", "d", "c", 1, 10, shape={"colour": "red"})

    def test_document_quote_then_fetch(self):
        tok = self.token("fa01", client="ACME-001")
        self.sim.document_pages.update({"026000000001": 4, "026000000002": 12, "026000000003": 2})
        r = self.get("feea", "/doc1/026000000001", tok)
        rc = read_receipt(r.text)
        self.assertEqual((rc["Billable Pages"], rc["Cost"], rc["Client Code"]), ("4", "0.40", "ACME-001"))
        self.assertIn(LOGOUT_LINK, r.text)
        [form] = _FormFinder(r.text).forms
        self.assertEqual((form["method"], form["action"]), ("post", "/doc1/026000000001"))
        self.assertIn(("got_receipt", "1"), form["fields"])
        self.assertIn('value="View Document"', r.text)
        self.assertEqual(self.sim.fee_charges, [])
        [q] = self.sim.unfetched_quotes()
        self.assertEqual((q.login, q.client_code, q.document, q.cents, q.view), ("fa01", "ACME-001", "026000000001", 40, "form"))
        r = self.get("feea", form["action"], tok, "POST", form=dict(form["fields"]))
        self.assertEqual((r.status, r.headers.get("Content-Type")), (200, "application/pdf"))
        self.assertTrue(r.body.startswith(b"%PDF-"))
        self.assertEqual(pdf_page_count(r.body), 4)
        self.assertNotIn(b"Transaction Receipt", r.body)
        self.assertEqual(self.sim.unfetched_quotes(), [])
        [c] = self.sim.fee_charges
        self.assertEqual((c.kind, c.document, c.cents, c.receipt, c.via, c.client_code),
                         ("document", "026000000001", 40, True, "post", "ACME-001"))
        # The link variant: the same URL plus got_receipt=1.
        self.sim.document_view = {"feea": "link"}
        r = self.get("feea", "/doc1/026000000002?caseid=55", tok)
        self.assertEqual(_FormFinder(r.text).forms, [])
        link = re.search(r'<a href="([^"]+)">View Document</a>', r.text).group(1)
        self.assertEqual(html.unescape(link), "/doc1/026000000002?caseid=55&got_receipt=1")
        r = self.get("feea", html.unescape(link), tok)
        self.assertEqual((r.headers.get("Content-Type"), pdf_page_count(r.body)), ("application/pdf", 12))
        self.assertEqual(self.sim.fee_charges[-1].via, "got_receipt")
        # A quote never fetched stays a quote; a second quote of the same document, once fetched,
        # leaves the first one unfetched (the latest is the one charged).
        self.get("feea", "/doc1/026000000003", tok)
        self.get("feea", "/doc1/026000000001", tok)
        self.get("feea", "/doc1/026000000001", tok)
        self.get("feea", "/doc1/026000000001?got_receipt=1", tok)
        left = self.sim.unfetched_quotes(login="fa01")
        self.assertEqual([q.document for q in left], ["026000000003", "026000000001"])
        self.assertEqual(self.sim.charged(login="fa01"), (3, 40 + 120 + 40))
        counts = self.sim.fee_counts("feea")
        self.assertEqual(counts, {"charges": 3, "quotes": 5, "cents": 200, "unreceipted": 0})

    def test_show_doc_and_multidocs(self):
        tok = self.token("fb01")
        self.sim.document_pages.update({"7001": 3, "7002": 50, "88/5": 2, "88/6": 40})
        rc = read_receipt(self.get("feeb", "/cgi-bin/show_doc.pl?caseid=88&dm_id=7001&doc_num=5", tok).text)
        self.assertEqual((rc["Description"], rc["Cost"]), ("Image 5-0", "0.30"))
        rc = read_receipt(self.get("feeb", "/cgi-bin/show_doc.pl?caseid=88&dm_id=7002&doc_num=6", tok).text)
        self.assertEqual(rc["Cost"], "3.00")
        r = self.get("feeb", "/cgi-bin/show_doc.pl?caseid=88&dm_id=7001&doc_num=5", tok, "POST",
                     form={"got_receipt": "1"})
        self.assertEqual(pdf_page_count(r.body), 3)
        self.assertEqual([q.document for q in self.sim.unfetched_quotes()], ["7002"])
        self.assertEqual(self.sim.fee_charges[-1].cents, 30)
        r = self.get("feeb", "/cgi-bin/show_multidocs.pl?caseid=88&arr_de_seq_nums=5,6", tok)
        rc = read_receipt(r.text)
        self.assertEqual((rc["Billable Pages"], rc["Cost"], rc["_note"]), ("32", "3.20", CAP_NOTE))
        r = self.get("feeb", "/cgi-bin/show_multidocs.pl?caseid=88&arr_de_seq_nums=5,6&got_receipt=1", tok)
        self.assertEqual(pdf_page_count(r.body), 42)
        self.assertEqual((self.sim.fee_charges[-1].cents, self.sim.fee_charges[-1].receipt), (320, True))

    def test_receipts_off_by_cookie(self):
        tok = self.token("fa01", client="M-9")
        r = self.get("feea", "/cgi-bin/DktRpt.pl?12", tok, pref="receipt=N")
        self.assertNotIn("Transaction Receipt", r.text)
        self.assertIn(LOGOUT_LINK, r.text)
        c = self.sim.fee_charges[-1]
        self.assertEqual((c.receipt, c.client_code, c.pages, c.shape), (False, "M-9", html_pages(len(r.body)), None))
        # The same docket with receipts on: the page as billed is the same page.
        r2 = self.get("feea", "/cgi-bin/DktRpt.pl?12", tok, pref="receipt=Y")
        self.assertEqual(self.without_receipt(r2.text), r.text)
        self.sim.document_pages["026000000009"] = 7
        r = self.get("feea", "/doc1/026000000009", tok, pref="receipt=N")
        self.assertEqual((r.headers.get("Content-Type"), pdf_page_count(r.body)), ("application/pdf", 7))
        c = self.sim.fee_charges[-1]
        self.assertEqual((c.kind, c.cents, c.receipt, c.via), ("document", 70, False, "direct"))
        self.assertEqual(self.sim.fee_quotes, [])
        self.assertEqual(self.sim.fee_counts()["unreceipted"], 2)

    def test_other_pages_unchanged_and_nothing_charged(self):
        tok = self.token("fa01")
        before = self.get("feeoff", "/cgi-bin/iquery.pl?x=1", tok).text
        # fees on at feea: its other paths answer exactly what a court without fees answers
        same = self.get("feea", "/cgi-bin/iquery.pl?x=1", tok).text
        self.assertEqual(same.replace("FEEA", "FEEOFF"), before)
        for path in ("/", "/cgi-bin/iquery.pl?x=1", "/echo", "/cgi-bin/possible_case_numbers.pl?1"):
            self.assertNotIn("Transaction Receipt", self.get("feea", path, tok).text, path)
        # fees off at feeoff: DktRpt.pl and /doc1 are the plain page, as they always were
        r = self.get("feeoff", "/cgi-bin/DktRpt.pl", tok)
        self.assertIn('<span id="sim-path">/cgi-bin/DktRpt.pl</span></p></div>\n</body></html>', r.text)
        self.assertNotIn("Transaction Receipt", self.get("feeoff", "/doc1/1", tok).text)
        # logged out, HEAD, a legacy court: no receipt, no charge
        self.assertIn(PACER_LOGIN_PAGE, self.get("feea", "/cgi-bin/DktRpt.pl", "A" * 128).text)
        self.assertEqual(self.get("feea", "/cgi-bin/DktRpt.pl", tok, "HEAD").status, 200)
        r = sim_curl(self.sim, "https://%s/cgi-bin/DktRpt.pl" % self.sim.courts["feel"].host)
        self.assertIn("login.pl", r.text)
        self.assertEqual((self.sim.fee_charges, self.sim.fee_quotes), ([], []))
        # reset_counters forgets the records
        self.get("feea", "/cgi-bin/DktRpt.pl", tok)
        self.get("feea", "/doc1/5", tok)
        self.sim.reset_counters()
        self.assertEqual((self.sim.fee_charges, self.sim.fee_quotes, self.sim.charged()), ([], [], (0, 0)))


if __name__ == "__main__":
    unittest.main()
