"""End-to-end tests of courtroute's local HTTPS proxy (the transport half, CONTRACT §1, §5, §6, §8).

The real courtrouted, real clients (curl and Debian's python3-requests), real TLS on 127.0.0.1,
simulated PACER and courts (tests/sim). One simulator serves the whole module; one daemon serves
the routing tests; tests that change config or signal the process start their own daemon.

Every test checks that no secret (passwords, user tokens, session tokens the simulator issued,
client-sent cookie values) shows up in the daemon's log or in what the clients saw.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_proxy`.
"""

import base64
import hashlib
import http.client
import datetime
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, clean_env, curl, free_port, requests_session  # noqa: E402
from sim.pki import TestPKI  # noqa: E402
from sim.sim import download_sha256, full_menu  # noqa: E402

import requests  # noqa: E402  (Debian's python3-requests)

# Tomorrow by both the local and the UTC calendar, whichever the daemon goes by.
TOMORROW = max(datetime.date.today(), datetime.datetime.now(datetime.timezone.utc).date()) + \
    datetime.timedelta(days=1)

# Court ids and what they are used for. Each test that counts something uses its own court.
SIM_COURTS = {
    "azb": dict(type="bankruptcy"),                     # NextGen, alice unlinked
    "azd": dict(type="district"),                       # NextGen, alice linked
    "nvb": dict(type="bankruptcy", system="legacy"),    # legacy
    "mad": dict(type="district", system="legacy"),      # registry: NextGen from tomorrow
    "vtb": dict(type="bankruptcy"),                     # leaf minting, first host
    "vtd": dict(type="district"),                       # leaf minting, second host
    "ctb": dict(type="bankruptcy"),                     # added to the registry on SIGHUP
    "nhb": dict(type="bankruptcy"),                     # slow court (SIGTERM drain)
}

PASSWORDS = {
    "alice01": "alice-PACER-pw-7731xq",
    "carol01": "carol-shared-PACER-pw-2290",
    ("nvb", "dave-nvb"): "dave-nvb-ECF-pw-5511",
    ("mad", "dave-mad"): "dave-mad-ECF-pw-6622",
}
CLIENT_COOKIE = "client-supplied-cookie-9f8e7d"
CLIENT_AUTH = "client-bearer-secret-4c3b2a1"

SIM = None
SIM_TMP = None
WATCH = None


def setUpModule():
    global SIM, SIM_TMP, WATCH
    if not harness.have_binaries():
        raise unittest.SkipTest("no courtrouted/courtroute in COURTROUTE_BIN=%r" % harness.build_dir())
    SIM_TMP = tempfile.TemporaryDirectory(prefix="proxy-e2e-sim-")
    SIM = Simulator(SIM_TMP.name, courts=SIM_COURTS).start()
    WATCH = SecretWatch(SIM)
    for login in ("alice01", "carol01"):
        SIM.add_pacer_account(login, WATCH.add("pacer password", PASSWORDS[login]))
    for key, pw in PASSWORDS.items():
        if isinstance(key, tuple):
            SIM.add_ecf_account(key[0], key[1], WATCH.add("cmecf password", pw))
    SIM.link("azd", "alice01")
    WATCH.add("client cookie value", CLIENT_COOKIE)
    WATCH.add("client authorization value", CLIENT_AUTH)


def tearDownModule():
    if SIM is not None:
        SIM.stop()
    if SIM_TMP is not None:
        SIM_TMP.cleanup()


def registry_courts(*ids, **override):
    """Daemon `courts=` specs for simulator courts (mad declared NextGen from tomorrow)."""
    out = {}
    for cid in ids:
        c = SIM.courts[cid]
        out[cid] = dict(type=c.type, system=c.system, host=c.host)
    if "mad" in out:
        out["mad"] = dict(type="district", system="nextgen", nextgen_since=TOMORROW, host=SIM.courts["mad"].host)
    out.update(override)
    return out


def host(cid):
    return "ecf.%s.uscourts.gov" % cid


def metric(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+]+)$" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("metric %s not in /metrics" % name)
    return float(m.group(1))


def basic(user, token):
    return "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()


def warning_codes(values):
    return [v.split(";", 1)[0].strip() for v in values]


class ProxyCase(unittest.TestCase):
    """Helpers shared by the test classes; subclasses set self.dm (the daemon under test)."""

    dm = None

    def setUp(self):
        self.outputs = []   # what clients saw: checked for secrets in tearDown
        self.extra_daemons = []
        SIM.errors.clear()

    def tearDown(self):
        for d in [self.dm] + self.extra_daemons:
            if d is not None:
                WATCH.assert_absent(daemon_log=d.log_text())
        WATCH.assert_absent(*self.outputs)
        self.assertEqual(SIM.errors, [], "simulator handler errors")

    # --- daemons ---

    def daemon(self, courts, users=True, **kw):
        """A fresh daemon (stopped at cleanup) with the standard users when `users`."""
        tmp = tempfile.TemporaryDirectory(prefix="proxy-e2e-")
        self.addCleanup(tmp.cleanup)
        d = Daemon(tmp.name, sim=SIM, courts=courts, watch=WATCH, **kw)
        self.addCleanup(d.stop)
        self.extra_daemons.append(d)
        if users:
            make_users(d)
        d.start()
        return d

    # --- clients ---

    def curl(self, d, url, user="alice", args=(), token=None, timeout=30, check=True):
        token = token if token is not None else d.tokens[user]
        r = curl(list(args) + [url], proxy=d.proxy_url(user, token), cacert=d.ca_path(), timeout=timeout)
        if check:
            self.outputs.extend([r.body, r.stderr] + ["%s: %s" % kv for _, h in r.blocks for kv in h])
        return r

    def path_get(self, d, path, token=None, headers=None, body_is_output=True):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        status, hdrs, body = d.http("GET", path, headers=h)
        self.outputs.extend(["%s: %s" % kv for kv in hdrs])
        if body_is_output:
            self.outputs.append(body)
        return status, harness.Headers(hdrs), body

    def sim_count(self):
        time.sleep(0.2)  # let anything in flight land
        return len(SIM.requests)

    def connect_raw(self, d, authority, user="alice", token=None):
        """A TCP connection through which CONNECT authority was answered: (socket, status)."""
        token = token if token is not None else d.tokens[user]
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n"
                   % (authority, authority, basic(user, token))).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            ch = s.recv(1)  # one byte at a time: nothing past the header may be consumed
            if not ch:
                break
            head += ch
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return s, (int(m.group(1)) if m else 0)

    def tls_over(self, s, server_hostname, cafile, check_hostname=True):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = check_hostname
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx.wrap_socket(s, server_hostname=server_hostname)

    def exchange(self, t, request_text):
        """Sends one request over a (TLS) socket and reads exactly one response:
        (status, Headers, body). Does not wait for the connection to close."""
        t.sendall(request_text.encode())
        r = http.client.HTTPResponse(t)
        r.begin()
        body = r.read()
        self.outputs.extend([body] + ["%s: %s" % kv for kv in r.getheaders()])
        return r.status, harness.Headers(r.getheaders()), body

    @staticmethod
    def read_all(s, limit=1 << 20):
        data = b""
        try:
            while len(data) < limit:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, OSError):
            pass
        return data

    def metrics(self, d):
        code, _, body = d.http("GET", "/metrics")
        self.assertEqual(code, 200)
        return body.decode()


def make_users(d):
    """alice: PACER, linked at azd; bob: nothing; carol: shared PACER; dave: CM/ECF at nvb and mad."""
    d.tokens = {name: d.add_user(name) for name in ("alice", "bob", "carol", "dave")}

    def ok(args, stdin=""):
        r = d.cli(args, stdin=stdin)
        WATCH.assert_absent(cli_stdout=r.stdout, cli_stderr=r.stderr)
        if r.returncode != 0:
            raise AssertionError("courtroute %s failed: %s" % (args[:3], WATCH.redact(r.stderr)))

    ok(["pacer", "set", "alice", "--login", "alice01"], PASSWORDS["alice01"] + "\n")
    if "azd" in d.courts:
        ok(["link", "alice", "azd"])
    ok(["pacer", "set", "carol", "--login", "carol01", "--shared"], PASSWORDS["carol01"] + "\n")
    for key, pw in PASSWORDS.items():
        if isinstance(key, tuple) and key[0] in d.courts:
            ok(["ecf", "set", "dave", key[0], "--login", key[1]], pw + "\n")


# ============================================================================ one shared daemon

class ForwardProxyTest(ProxyCase):
    """The routing table, authentication, interception and header hygiene on one daemon."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="proxy-e2e-main-")
        cls.closed_port = free_port()  # nothing listens here
        cls.dm = Daemon(cls.tmp.name, sim=SIM, watch=WATCH,
                        courts=registry_courts("azb", "azd", "nvb", "mad", "vtb", "vtd",
                                               deb=dict(type="bankruptcy", host=host("deb"))),
                        resolve_extra={"%s:443" % host("deb"): "127.0.0.1:%d" % cls.closed_port})
        make_users(cls.dm)
        cls.dm.start()

    @classmethod
    def tearDownClass(cls):
        cls.dm.stop()
        cls.tmp.cleanup()

    # --- acceptance: curl and requests through the proxy ---

    def test_curl_reaches_court(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl?1-L_1_0-1" % host("azb"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.blocks[0][0], 200, "CONNECT answered")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        self.assertIn("<title>AZB CM/ECF</title>", r.text)
        self.assertIn('<span id="sim-path">/cgi-bin/iquery.pl?1-L_1_0-1</span>', r.text)
        self.assertIn("/cgi-bin/login.pl?logout", r.text, "the simulator saw a live PACER session")

    def test_requests_reaches_court(self):
        s = requests_session(self.dm.proxy_url("alice", self.dm.tokens["alice"]), self.dm.ca_path())
        with s:
            r = s.get("https://%s/cgi-bin/DktRpt.pl" % host("azb"), timeout=30)
        self.outputs.append(r)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        self.assertIn('<span id="sim-path">/cgi-bin/DktRpt.pl</span>', r.text)

    def test_missing_or_wrong_token_gets_407(self):
        before = self.sim_count()
        url = "https://%s/cgi-bin/iquery.pl" % host("azb")
        proxies = {
            "no credentials": "http://127.0.0.1:%d" % self.dm.port,
            "wrong token": self.dm.proxy_url("alice", "wrong-token-0000000000"),
            "another user's token": self.dm.proxy_url("alice", self.dm.tokens["bob"]),
        }
        for what, proxy in proxies.items():
            with self.subTest(what):
                r = curl([url], proxy=proxy, cacert=self.dm.ca_path(), timeout=20)
                self.outputs.extend([r.body, r.stderr])
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(len(r.blocks), 1, "only the CONNECT was answered")
                status, headers = r.blocks[0]
                self.assertEqual(status, 407)
                self.assertEqual(headers.get("Proxy-Authenticate"), 'Basic realm="courtroute"')
                s = requests_session(proxy, self.dm.ca_path())
                with s, self.assertRaises(requests.exceptions.ProxyError) as cm:
                    s.get(url, timeout=20)
                self.assertIn("407", str(cm.exception))
                self.outputs.append(str(cm.exception))
        self.assertEqual(self.sim_count(), before, "nothing reached upstream")

    # --- CONTRACT §1, row by row ---

    def test_nextgen_linked_routes_pacer_without_warning(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azd"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        self.assertNotIn("unlinked_nextgen", warning_codes(r.headers.get_all("Courtroute-Warning")))
        for label in full_menu("district"):
            self.assertIn(">%s</a>" % label, r.text, "linked: full menus")

    def test_nextgen_unlinked_routes_pacer_with_warning(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azb"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        warnings = r.headers.get_all("Courtroute-Warning")
        self.assertIn("unlinked_nextgen", warning_codes(warnings))
        w = [v for v in warnings if v.startswith("unlinked_nextgen")][0]
        self.assertRegex(w, r"^unlinked_nextgen; \S")
        self.assertIn("courtroute link alice azb", w, "the warning carries the linking steps")

    def test_legacy_with_cmecf_login_routes_cmecf(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("nvb"), user="dave")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "cmecf")
        self.assertIn("<title>NVB CM/ECF</title>", r.text)
        self.assertIn(">Bankruptcy</a>", r.text, "a logged-in legacy page, not the login form")
        self.assertTrue(any(a.court == "nvb" and a.login == "dave-nvb" and a.result == "ok"
                            for a in SIM.ecf_attempts))

    def test_legacy_without_cmecf_login_is_refused(self):
        before = self.sim_count()
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("nvb"), user="alice")
        self.assertEqual(r.status, 403)
        self.assertIn("missing_cmecf_credential", warning_codes(r.headers.get_all("Courtroute-Warning")))
        self.assertTrue(r.text.strip(), "a text body says what to do")
        self.assertEqual(self.sim_count(), before, "nothing reached upstream")

    def test_nextgen_without_pacer_login_is_refused(self):
        before = self.sim_count()
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azb"), user="dave")
        self.assertEqual(r.status, 403)
        self.assertIn("missing_pacer_credential", warning_codes(r.headers.get_all("Courtroute-Warning")))
        self.assertTrue(r.text.strip())
        self.assertEqual(self.sim_count(), before, "nothing reached upstream")

    def test_shared_pacer_routes_pacer_with_warning(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azb"), user="carol")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        self.assertIn("shared_pacer_account", warning_codes(r.headers.get_all("Courtroute-Warning")))
        self.assertTrue(any(a.login == "carol01" and a.result == "0" for a in SIM.pacer_attempts))

    def test_court_going_nextgen_tomorrow_routes_cmecf_today(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("mad"), user="dave")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Courtroute-Route"), "cmecf")
        self.assertIn(">Civil</a>", r.text)
        self.assertTrue(any(a.court == "mad" and a.result == "ok" for a in SIM.ecf_attempts))

    # --- interception ---

    def test_leaf_minted_once_per_host(self):
        minted = lambda: metric(self.metrics(self.dm), "courtroute_leaf_certificates_minted_total")  # noqa: E731
        start = minted()
        for _ in range(2):  # two curl processes: two new client connections, one host
            r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("vtb"))
            self.assertEqual(r.status, 200)
        self.assertEqual(minted() - start, 1, "the second CONNECT to the same host reuses the leaf")
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("vtd"))
        self.assertEqual(r.status, 200)
        self.assertEqual(minted() - start, 2, "a different host mints one more")

    def test_leaf_is_for_the_connect_host_and_chains_to_local_ca(self):
        h = host("azb")
        s, status = self.connect_raw(self.dm, h + ":443")
        self.assertEqual(status, 200)
        # Verification against the local CA only, with the host name checked.
        with self.tls_over(s, h, self.dm.ca_path()) as t:
            cert = t.getpeercert()
            status, headers, _ = self.exchange(t, "GET /cgi-bin/iquery.pl HTTP/1.1\r\nHost: %s\r\n\r\n" % h)
        self.assertEqual(cert["subjectAltName"], (("DNS", h),), "names exactly the CONNECT host")
        ca = ssl._ssl._test_decode_cert(self.dm.ca_path())
        self.assertEqual(cert["issuer"], ca["subject"])
        self.assertEqual((status, headers.get("Courtroute-Route")), (200, "pacer"))
        # The simulator's CA does not vouch for it: the daemon presented its own leaf.
        s, status = self.connect_raw(self.dm, h + ":443")
        self.assertEqual(status, 200)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.tls_over(s, h, SIM.ca_pem).close()
        s.close()

    def test_host_header_other_than_connect_host_is_refused(self):
        before = self.sim_count()
        # curl: CONNECT and SNI name azb, the request inside says nvb.
        r = self.curl(self.dm, "https://%s/echo" % host("azb"), args=["-H", "Host: %s" % host("nvb")])
        self.assertEqual(r.blocks[0][0], 200)
        self.assertEqual(r.status, 403)
        self.assertEqual(self.sim_count(), before, "nothing reached any upstream")
        # Raw: the same with a NextGen court as the other host.
        h = host("azb")
        s, status = self.connect_raw(self.dm, h + ":443")
        self.assertEqual(status, 200)
        with self.tls_over(s, h, self.dm.ca_path()) as t:
            t.sendall(("GET /echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host("azd")).encode())
            answer = self.read_all(t)
        self.outputs.append(answer)
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:40])
        self.assertEqual(self.sim_count(), before, "nothing reached any upstream")

    def test_host_header_forms_naming_the_connect_host_are_served(self):
        h = host("azb")
        variants = {
            "with :443": "GET /cgi-bin/a.pl HTTP/1.1\r\nHost: %s:443\r\n\r\n" % h,
            "upper case": "GET /cgi-bin/a.pl HTTP/1.1\r\nHost: %s\r\n\r\n" % h.upper(),
            "absolute-form": "GET https://%s/cgi-bin/a.pl HTTP/1.1\r\nHost: %s\r\n\r\n" % (h, h),
        }
        for what, text in variants.items():
            with self.subTest(what):
                s, status = self.connect_raw(self.dm, h + ":443")
                self.assertEqual(status, 200)
                with self.tls_over(s, h, self.dm.ca_path()) as t:
                    status, headers, body = self.exchange(t, text)
                self.assertEqual((status, headers.get("Courtroute-Route")), (200, "pacer"))
                self.assertIn(b'<span id="sim-path">/cgi-bin/a.pl</span>', body)
        # An absolute-form target naming another court is refused before anything goes upstream.
        before = self.sim_count()
        s, status = self.connect_raw(self.dm, h + ":443")
        with self.tls_over(s, h, self.dm.ca_path()) as t:
            status, _, _ = self.exchange(t, "GET https://%s/echo HTTP/1.1\r\nHost: %s\r\n\r\n" % (host("azd"), h))
        self.assertIn(status, (400, 403))
        self.assertEqual(self.sim_count(), before, "nothing reached any upstream")

    # Two Host lines (the first naming the CONNECT host) must not let the second one count:
    # RFC 9112 §3.2 makes such a request invalid.
    def test_duplicate_host_header_is_refused(self):
        h = host("azb")
        before = self.sim_count()
        s, status = self.connect_raw(self.dm, h + ":443")
        self.assertEqual(status, 200)
        with self.tls_over(s, h, self.dm.ca_path()) as t:
            t.settimeout(5)
            status, _, _ = self.exchange(
                t, "GET /cgi-bin/a.pl HTTP/1.1\r\nHost: %s\r\nHost: %s\r\n\r\n" % (h, host("azd")))
        self.assertIn(status, (400, 403))
        self.assertEqual(self.sim_count(), before, "nothing reached any upstream")

    # A client's `Connection: close` (and HTTP/1.0 without keep-alive) is honoured even though
    # the upstream request is always keep-alive: a client reading to EOF must not hang.
    def test_connection_close_is_honoured(self):
        h = host("azb")
        for what, text in (("HTTP/1.1 Connection: close",
                            "GET /cgi-bin/a.pl HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % h),
                           ("HTTP/1.0", "GET /cgi-bin/a.pl HTTP/1.0\r\nHost: %s\r\n\r\n" % h)):
            with self.subTest(what):
                s, status = self.connect_raw(self.dm, h + ":443")
                self.assertEqual(status, 200)
                with self.tls_over(s, h, self.dm.ca_path()) as t:
                    t.settimeout(3)
                    status, headers, _ = self.exchange(t, text)
                    self.assertEqual(status, 200)
                    self.assertEqual((headers.get("Connection") or "").lower(), "close")
                    try:
                        rest = t.recv(1)
                    except (ssl.SSLError, OSError) as e:
                        rest = b"" if not isinstance(e, (socket.timeout, TimeoutError)) else None
                    self.assertEqual(rest, b"", "the daemon closes the connection after the answer")

    def test_sni_other_than_connect_host_is_refused(self):
        before = self.sim_count()
        s, status = self.connect_raw(self.dm, host("azb") + ":443")
        self.assertEqual(status, 200)
        answer = b""
        try:
            # The client accepts any name so that only the daemon can refuse.
            t = self.tls_over(s, host("nvb"), self.dm.ca_path(), check_hostname=False)
            t.settimeout(10)
            # Host names the CONNECT host: only the SNI is wrong.
            t.sendall(("GET /echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host("azb")).encode())
            answer = self.read_all(t)
            t.close()
        except (ssl.SSLError, OSError):
            pass  # refused during or right after the handshake
        finally:
            s.close()
        self.outputs.append(answer)
        self.assertFalse(answer.startswith(b"HTTP/1.1 2"), "no successful answer: %r" % answer[:40])
        self.assertEqual(self.sim_count(), before, "nothing reached any upstream")

    def test_other_hosts_refused_by_default(self):
        r = self.curl(self.dm, "https://example.test/", check=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.blocks[0][0], 403)

    def test_plain_http_to_court_is_400(self):
        before = self.sim_count()
        r = self.curl(self.dm, "http://%s/cgi-bin/iquery.pl" % host("azb"))
        self.assertEqual(r.status, 400)
        self.assertTrue(r.text.strip())
        self.assertEqual(self.sim_count(), before, "nothing reached upstream")

    def test_unreachable_upstream_is_502(self):
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("deb"))
        self.assertEqual(r.blocks[0][0], 200)
        self.assertEqual(r.status, 502)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain"))
        self.assertIn(host("deb"), r.text, "the body says which upstream failed")
        self.assertTrue(r.headers.get("Courtroute-Warning", "").startswith("upstream_error; "),
                        "a refusal carries a warning (CONTRACT §4)")

    def test_bodies_cross_intact(self):
        data = hashlib.sha256(b"seed").digest() * 62500  # 2 MB: curl sends Expect: 100-continue
        r = curl(["--data-binary", "@-", "-H", "Content-Type: application/octet-stream",
                  "https://%s/echo" % host("azb")], proxy=self.dm.proxy_url("alice", self.dm.tokens["alice"]),
                 cacert=self.dm.ca_path(), stdin=data)
        self.assertEqual(r.status, 200, WATCH.redact(r.stderr))
        echo = json.loads(r.body)  # reflects the injected session: not an output to check
        self.assertEqual((echo["method"], echo["body_length"]), ("POST", len(data)))
        self.assertEqual(echo["body_sha256"], hashlib.sha256(data).hexdigest())
        n = 3000001
        r = self.curl(self.dm, "https://%s/download/%d?chunked=1" % (host("azb"), n))
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), n)
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), download_sha256(n))

    # --- path mode ---

    def test_path_mode(self):
        token = self.dm.tokens["alice"]
        status, headers, body = self.path_get(self.dm, "/court/azb/cgi-bin/iquery.pl?x=1", token)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Courtroute-Route"), "pacer")
        self.assertIn(b'<span id="sim-path">/cgi-bin/iquery.pl?x=1</span>', body)

        before = self.sim_count()
        for what, tok in (("no token", None), ("wrong token", "wrong-token-1111111111")):
            with self.subTest(what):
                status, headers, body = self.path_get(self.dm, "/court/azb/cgi-bin/iquery.pl", tok)
                self.assertEqual(status, 401)
        with self.subTest("basic instead of bearer"):
            status, _, _ = self.path_get(self.dm, "/court/azb/cgi-bin/iquery.pl",
                                         headers={"Authorization": basic("alice", token)})
            self.assertEqual(status, 401)
        status, _, _ = self.path_get(self.dm, "/court/zzb/cgi-bin/iquery.pl", token)
        self.assertEqual(status, 404)
        self.assertEqual(self.sim_count(), before, "refusals reach no upstream")

        status, headers, _ = self.path_get(self.dm, "/court/azb/redirect?to=/cgi-bin/x.pl", token)
        self.assertEqual(status, 302)
        self.assertEqual(headers.get("Location"), "/court/azb/cgi-bin/x.pl")
        for to, expected in (("https%3A%2F%2Fecf.azd.uscourts.gov%2Fcgi-bin%2Fy.pl%3Fa%3D1",
                              "/court/azd/cgi-bin/y.pl?a=1"),            # another registry court
                             ("https%3A%2F%2Fwww.pacer.gov%2Fx", "https://www.pacer.gov/x")):  # not a court
            status, headers, _ = self.path_get(self.dm, "/court/azb/redirect?to=" + to, token)
            self.assertEqual((status, headers.get("Location")), (302, expected))

        # The echo reflects the injected session back: its body is not checked for secrets.
        status, headers, body = self.path_get(self.dm, "/court/azb/echo", token, body_is_output=False)
        self.assertEqual(status, 200)
        echo = json.loads(body)
        self.assertNotIn("authorization", echo["headers"])
        self.assertEqual(echo["host"], host("azb"))
        self.assertTrue(echo["logged_in"])

    # --- what never crosses the proxy ---

    def test_credentials_never_reach_the_court(self):
        alice = self.dm.tokens["alice"]
        s = requests_session(self.dm.proxy_url("alice", alice), self.dm.ca_path())
        with s:
            r = s.get("https://%s/echo" % host("azb"), timeout=30, headers={
                "Authorization": "Bearer " + CLIENT_AUTH,
                "Proxy-Authorization": basic("alice", alice),
                "Courtroute-Client-Code": "matter-17",
                "Cookie": "NextGenCSO=%s; PacerSession=%s; keepme=1" % (CLIENT_COOKIE, CLIENT_COOKIE)})
        self.outputs.append("\n".join("%s: %s" % kv for kv in r.headers.items()))
        self.assertEqual(r.status_code, 200)
        echo = r.json()
        names = {k.lower() for k, _ in echo["header_list"]}
        for name in ("proxy-authorization", "authorization", "courtroute-client-code"):
            self.assertNotIn(name, names)
        self.assertNotIn(CLIENT_AUTH, json.dumps(echo))
        self.assertNotIn(alice, json.dumps(echo))
        self.assertNotIn(CLIENT_COOKIE, json.dumps(echo["cookie_list"]), "the client's managed cookies are dropped")
        issued = {tok for kind, tok in SIM.issued_tokens() if kind == "pacer session token"}
        self.assertIn(echo["cookies"].get("NextGenCSO"), issued, "the daemon's own session is injected")
        self.assertEqual(echo["cookies"].get("keepme"), "1", "other cookies pass")
        self.assertEqual(echo["cookies"].get("PacerClientCode"), "matter-17")
        self.assertTrue(any(a.login == "alice01" and a.client_code == "matter-17" for a in SIM.pacer_attempts))

    def test_managed_set_cookie_never_reaches_client(self):
        SIM.court_sets_session_cookie = True
        try:
            r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azb"))
        finally:
            SIM.court_sets_session_cookie = False
        self.assertEqual(r.status, 200)
        self.assertFalse([v for v in r.headers.get_all("Set-Cookie") if "NextGenCSO" in v])
        r = self.curl(self.dm, "https://%s/set-cookie?NextGenCSO=abcdefgh12&PacerSession=ijklmnop34"
                      "&harmless=1" % host("azb"))
        self.assertEqual(r.status, 200)
        cookies = r.headers.get_all("Set-Cookie")
        self.assertTrue(any(v.startswith("harmless=1") for v in cookies), cookies and "harmless missing")
        self.assertFalse([v for v in cookies if v.startswith(("NextGenCSO", "PacerSession"))])

    # --- status endpoints ---

    def test_healthz_status_metrics(self):
        self.curl(self.dm, "https://%s/cgi-bin/iquery.pl" % host("azb"))  # at least one routed request
        status, _, body = self.path_get(self.dm, "/healthz")
        self.assertEqual((status, body.strip()), (200, b"ok"))

        # Everyone's status is the administrator's (the admin socket); a user sees their own.
        status, _, body = self.path_get(self.dm, "/status")
        self.assertEqual(status, 401, "no token, no status")
        status, headers, body = self.path_get(self.dm, "/status", token=self.dm.tokens["alice"])
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        own = json.loads(body)
        self.assertEqual([u["user"] for u in own["users"]], ["alice"])
        self.assertEqual({w["user"] for w in own["warnings"]} - {""}, {"alice"})
        code, body = self.dm.admin_http("GET", "/status")
        self.assertEqual(code, 200)
        doc = json.loads(body)
        self.assertIsInstance(doc["version"], str)
        self.assertIsInstance(doc["uptime_s"], int)
        reg = doc["registry"]
        self.assertEqual(reg["courts"], len(self.dm.courts))
        self.assertEqual(reg["nextgen"] + reg["legacy"], reg["courts"])
        self.assertEqual(reg["legacy"], 2, "nvb, and mad until tomorrow")
        self.assertEqual(reg["errors"], [])
        users = {u["user"]: u for u in doc["users"]}
        self.assertEqual(set(users), {"alice", "bob", "carol", "dave"})
        for u in users.values():
            self.assertIn(u["pacer"]["state"], ("active", "none", "failed", "mfa_required"))
            self.assertIsInstance(u["courts"], list)
        self.assertEqual(users["alice"]["pacer"]["state"], "active")
        self.assertEqual(users["bob"]["pacer"]["state"], "none")
        self.assertTrue(users["carol"]["pacer"]["shared"])
        alice = {c["court"]: c for c in users["alice"]["courts"]}
        self.assertEqual(alice["azd"]["route"], "pacer")
        self.assertTrue(alice["azd"]["linked"])
        dave = {c["court"]: c for c in users["dave"]["courts"]}
        self.assertEqual(dave["nvb"]["route"], "cmecf")
        for w in doc["warnings"]:
            self.assertEqual(set(w) >= {"user", "court", "code", "message"}, True, w.keys())
        self.assertIn(("alice", "azb", "unlinked_nextgen"),
                      {(w["user"], w["court"], w["code"]) for w in doc["warnings"]})
        WATCH.assert_absent(status=body)

        text = self.metrics(self.dm)
        m = re.search(r'^courtroute_requests_total\{court="azb",route="pacer",status="200"\} (\d+)$', text, re.M)
        self.assertTrue(m, "requests_total with court/route/status labels")
        self.assertGreaterEqual(int(m.group(1)), 1)


    def test_audit_trail(self):
        """Every routed request is in `courtroute audit` within seconds: who, which court, route,
        login name, method, path without its query, status, bytes (issue 13)."""
        marker = "q%d" % int(time.time() * 1000)
        r = self.curl(self.dm, "https://%s/cgi-bin/iquery.pl?%s=1" % (host("azd"), marker))
        self.assertEqual(r.status, 200)
        rows, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            out = self.dm.cli(["audit", "--user", "alice", "--court", "azd", "--json"])
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertNotIn(marker, out.stdout, "no query string in the audit trail")
            rows = [x for x in json.loads(out.stdout) if x["path"] == "/cgi-bin/iquery.pl"]
            if rows:
                break
            time.sleep(0.2)
        self.assertTrue(rows, "the request reached the audit trail")
        last = rows[-1]
        self.assertEqual((last["route"], last["login"], last["method"], last["status"]), ("pacer", "alice01", "GET", 200))
        self.assertGreater(last["bytes"], 0)
        WATCH.assert_absent(audit=out.stdout)

    def test_browser_pages(self):
        """GET /proxy.pac and the status page GET / (issue 11), as a browser meets them."""
        status, headers, body = self.path_get(self.dm, "/proxy.pac")
        self.assertEqual(status, 200, "the PAC file needs no credentials")
        self.assertEqual(headers.get("Content-Type"), "application/x-ns-proxy-autoconfig")
        pac = body.decode()
        self.assertIn("function FindProxyForURL(url, host)", pac)
        self.assertIn('return "PROXY 127.0.0.1:%d";' % self.dm.port, pac)
        for cid in self.dm.courts:
            self.assertIn('"%s": 1' % host(cid), pac)
        # Fetched as localhost, it names localhost: the address the browser already reached.
        status, _, body = self.dm.http("GET", "/proxy.pac", headers={"Host": "localhost:%d" % self.dm.port})
        self.assertIn(b'"PROXY localhost:%d"' % self.dm.port, body)

        # The status page: a Basic challenge first (a browser asks once), then the user's own page.
        status, headers, body = self.path_get(self.dm, "/")
        self.assertEqual(status, 401)
        self.assertEqual(headers.get("WWW-Authenticate"), 'Basic realm="courtroute"')
        basic = base64.b64encode(("alice:" + self.dm.tokens["alice"]).encode()).decode()
        status, headers, body = self.path_get(self.dm, "/", headers={"Authorization": "Basic " + basic})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", headers.get("Content-Security-Policy", ""))
        self.assertEqual(headers.get("X-Frame-Options"), "DENY")
        self.assertEqual(headers.get("Cache-Control"), "no-store")
        page = body.decode()
        self.assertIn("courtroute for alice", page)
        self.assertIn('<meta http-equiv="refresh"', page)
        self.assertIn(">azd</a>", page)
        self.assertNotIn("<script", page)
        for other in ("bob", "carol", "dave"):
            self.assertNotIn(other, page, "another user's data on alice's page")
        WATCH.assert_absent(status_page=page)
        status, _, _ = self.path_get(self.dm, "/", token=self.dm.tokens["alice"])
        self.assertEqual(status, 200, "a script's Bearer token works too")
        status, _, _ = self.path_get(self.dm, "/", headers={"Authorization": "Basic " + base64.b64encode(
            b"alice:wrong-token").decode()})
        self.assertEqual(status, 401)
        status, headers, body = self.dm.http("POST", "/", headers={"Authorization": "Basic " + basic}, body=b"x=1")
        self.assertEqual(status, 405)


# ============================================================================ own daemons

class PolicyTest(ProxyCase):
    def test_unlinked_nextgen_block(self):
        d = self.daemon(registry_courts("azb", "azd"), extra='[policy]\nunlinked_nextgen = "block"\n')
        before = self.sim_count()
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azb"))
        self.assertEqual(r.status, 403)
        self.assertIn("unlinked_nextgen", warning_codes(r.headers.get_all("Courtroute-Warning")))
        self.assertTrue(r.text.strip())
        self.assertEqual(self.sim_count(), before, "nothing reached the court")
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azd"))
        self.assertEqual((r.status, r.headers.get("Courtroute-Route")), (200, "pacer"), "linked: still served")

    def test_other_hosts_tunnel_is_blind(self):
        tmp = tempfile.TemporaryDirectory(prefix="proxy-e2e-other-")
        self.addCleanup(tmp.cleanup)
        pki = TestPKI(os.path.join(tmp.name, "pki"), name="other host CA")
        cert, key = pki.issue(["example.test"])
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(15)
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        got = []

        def serve():
            try:
                conn, _ = listener.accept()
                with server_ctx.wrap_socket(conn, server_side=True) as t:
                    t.settimeout(10)
                    data = t.recv(1024)
                    got.append(data)
                    t.sendall(b"echo:" + data)
            except (OSError, ssl.SSLError) as e:
                got.append(e)

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        d = self.daemon(registry_courts("azb"), extra='[policy]\nother_hosts = "tunnel"\n',
                        resolve_extra={"example.test:443": "127.0.0.1:%d" % port})
        s, status = self.connect_raw(d, "example.test:443")
        self.assertEqual(status, 200)
        # The certificate verifies against the other server's CA: the daemon did not intercept.
        with self.tls_over(s, "example.test", pki.ca_pem) as t:
            issuer = t.getpeercert()["issuer"]
            t.sendall(b"hello through the tunnel")
            answer = self.read_all(t)
        th.join(10)
        self.assertEqual(answer, b"echo:hello through the tunnel")
        self.assertEqual(got, [b"hello through the tunnel"])
        self.assertEqual(issuer, ssl._ssl._test_decode_cert(pki.ca_pem)["subject"])
        # Registry courts are still intercepted by the same daemon.
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azb"))
        self.assertEqual((r.status, r.headers.get("Courtroute-Route")), (200, "pacer"))


class UpstreamTrustTest(ProxyCase):
    """Sessions are injected only over a verified TLS upstream (PROXY-NOTES rule 3)."""

    def test_unverified_upstream_gets_nothing(self):
        tmp = tempfile.TemporaryDirectory(prefix="proxy-e2e-trust-")
        self.addCleanup(tmp.cleanup)
        # wvb: the right name, signed by a CA the daemon does not trust.
        pki = TestPKI(os.path.join(tmp.name, "pki"), name="untrusted CA")
        cert, key = pki.issue([host("wvb")])
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        self.addCleanup(listener.close)
        received = []
        stop = threading.Event()
        self.addCleanup(stop.set)

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as t:
                        t.settimeout(5)
                        received.append(t.recv(65536))
                except (OSError, ssl.SSLError):
                    pass  # the daemon gave up on the handshake: what we want

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        courts = registry_courts("azb", wvb=dict(type="bankruptcy", host=host("wvb")),
                                 wyb=dict(type="bankruptcy", host=host("wyb")))
        # wyb: the simulator's port, whose certificate does not name ecf.wyb.uscourts.gov.
        d = self.daemon(courts, resolve_extra={
            "%s:443" % host("wvb"): "127.0.0.1:%d" % listener.getsockname()[1],
            "%s:443" % host("wyb"): "127.0.0.1:%d" % SIM.port})
        self.assertEqual(self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azb")).status, 200)
        for cid in ("wvb", "wyb"):
            with self.subTest(cid):
                before = self.sim_count()
                r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host(cid))
                self.assertEqual(r.status, 502)
                self.assertTrue(r.text.strip(), "a text body says what failed")
                self.assertEqual(self.sim_count(), before, "no request reached the simulator")
        stop.set()
        th.join(5)
        self.assertEqual([x for x in received if x], [], "no request bytes reached the untrusted upstream")


class DownloadTest(ProxyCase):
    def test_200mb_download_in_bounded_memory(self):
        d = self.daemon(registry_courts("azb"))
        size = 200 << 20
        cmd = [harness.CURL, "-q", "-s", "-S", "--max-time", "120", "-o", "/dev/null",
               "-w", "%{http_code} %{size_download}", "-x", d.proxy_url("alice", d.tokens["alice"]),
               "--cacert", d.ca_path(), "https://%s/download/%d" % (host("azb"), size)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=130, env=clean_env())
        self.outputs.extend([r.stdout, r.stderr])
        self.assertEqual(r.returncode, 0, WATCH.redact(r.stderr))
        self.assertEqual(r.stdout.split(), ["200", str(size)])
        with open("/proc/%d/status" % d.proc.pid) as f:
            hwm = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        self.assertTrue(hwm)
        if not harness.SANITIZED:
            self.assertLess(int(hwm.group(1)) * 1024, 64 << 20, "peak RSS %s kB" % hwm.group(1))


    def test_200mb_uploads_stream_in_bounded_memory(self):
        # Both framings: a file with a Content-Length, and a generator sent chunked. The court
        # (the simulator) hashes what it receives; the daemon must not hold the body.
        d = self.daemon(registry_courts("azb"))
        size = 200 << 20
        block = hashlib.sha256(b"upload").digest() * 2048  # 64 KiB
        expected = hashlib.sha256()
        for _ in range(size // len(block)):
            expected.update(block)

        def chunks():
            for _ in range(size // len(block)):
                yield block

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "filing.pdf")
            with open(path, "wb") as f:
                for part in chunks():
                    f.write(part)
            s = requests_session(d.proxy_url("alice", d.tokens["alice"]), d.ca_path())
            with s, open(path, "rb") as body:
                for name, data in (("content-length", body), ("chunked", chunks())):
                    with self.subTest(name):
                        r = s.post("https://%s/echo" % host("azb"), data=data, timeout=120,
                                   headers={"Content-Type": "application/pdf"})
                        self.assertEqual(r.status_code, 200)
                        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
                        echo = r.json()  # reflects the injected session: not an output to check
                        self.assertEqual((echo["method"], echo["body_length"]), ("POST", size))
                        self.assertEqual(echo["body_sha256"], expected.hexdigest())
        with open("/proc/%d/status" % d.proc.pid) as f:
            hwm = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        self.assertTrue(hwm)
        if not harness.SANITIZED:
            self.assertLess(int(hwm.group(1)) * 1024, 64 << 20, "peak RSS %s kB" % hwm.group(1))

    def test_client_abort_mid_download(self):
        d = self.daemon(registry_courts("azb"))
        s = requests_session(d.proxy_url("alice", d.tokens["alice"]), d.ca_path())
        with s:
            r = s.get("https://%s/download/%d" % (host("azb"), 100 << 20), stream=True, timeout=30)
            self.assertEqual(r.status_code, 200)
            got = 0
            for chunk in r.iter_content(65536):
                got += len(chunk)
                if got >= 1 << 20:
                    break
            r.close()
        time.sleep(0.3)
        self.assertTrue(d.running())
        self.assertEqual(d.http("GET", "/healthz")[0], 200)
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azb"))
        self.assertEqual(r.status, 200, "the daemon still serves after a client gave up mid-body")


class SignalTest(ProxyCase):
    def test_sighup_under_traffic(self):
        d = self.daemon(registry_courts("azb", "azd"))
        s = requests_session(d.proxy_url("alice", d.tokens["alice"]), d.ca_path())
        self.addCleanup(s.close)
        url = "https://%s/cgi-bin/iquery.pl" % host("azb")
        stop = threading.Event()
        results = []   # status codes, or exception names

        def loop():
            while not stop.is_set():
                try:
                    r = s.get(url, timeout=20)
                    results.append(r.status_code)
                except Exception as e:  # noqa: BLE001 - any failure is what we look for
                    results.append(type(e).__name__)
                    time.sleep(0.05)

        th = threading.Thread(target=loop, daemon=True)
        th.start()
        self.addCleanup(stop.set)

        def wait_more(n, timeout=15):
            target = len(results) + n
            deadline = time.monotonic() + timeout
            while len(results) < target and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertGreaterEqual(len(results), target, "the request loop stalled")

        wait_more(5)
        courts_before = d.status()["registry"]["courts"]
        mark = len(d.log_text())
        d.write_court("ctb", type="bankruptcy", system="nextgen", host=host("ctb"))
        d.reload()
        d.wait_for_log(r"\breloaded\b", start=mark)
        wait_more(5)
        self.assertEqual(d.status()["registry"]["courts"], courts_before + 1)
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("ctb"))
        self.assertEqual((r.status, r.headers.get("Courtroute-Route")), (200, "pacer"), "new court routable")

        # A broken config: the old one stays in force, and the log says what is wrong where.
        mark = len(d.log_text())
        d.write_config(extra="[policy\nunlinked_nextgen = \"warn\"\n")
        d.reload()
        m = d.wait_for_log(r"(?m)^.*(config_error|reload_failed).*$", start=mark)
        wait_more(5)
        log = d.log_text()[mark:]
        self.assertIn(d.config_path, log, "the log names the file")
        self.assertRegex(log, r"courtroute\.toml:\d+", "and the line")
        self.assertTrue(d.running())
        self.assertEqual(d.status()["registry"]["courts"], courts_before + 1)
        stop.set()
        th.join(25)
        self.assertEqual(set(results), {200}, "every request succeeded: %s" % sorted(set(map(str, results))))
        pool = s.get_adapter(url).proxy_manager_for(s.proxies["https"]).connection_from_url(url)
        self.assertEqual(pool.num_connections, 1, "one keep-alive connection carried every request")
        self.assertTrue(m)

    def test_sigterm_drains_in_flight_request(self):
        d = self.daemon(registry_courts("azb", "nhb"))
        # Log in first so the slow part is the court answer itself; keep that tunnel open and idle.
        idle = requests_session(d.proxy_url("alice", d.tokens["alice"]), d.ca_path())
        self.addCleanup(idle.close)
        self.assertEqual(idle.get("https://%s/cgi-bin/iquery.pl" % host("azb"), timeout=20).status_code, 200)
        plain = socket.create_connection(("127.0.0.1", d.port), timeout=10)  # idle, no request yet
        self.addCleanup(plain.close)
        SIM.court_slow_seconds = 3.0
        SIM.court_fault["nhb"] = "slow"
        self.addCleanup(SIM.court_fault.pop, "nhb", None)
        box = {}

        def slow():
            box["r"] = self.curl(d, "https://%s/cgi-bin/iquery.pl?slow" % host("nhb"), timeout=30)

        th = threading.Thread(target=slow, daemon=True)
        th.start()
        deadline = time.monotonic() + 10
        while not any(r.court == "nhb" for r in SIM.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(any(r.court == "nhb" for r in SIM.requests), "the slow request reached the court")
        t0 = time.monotonic()
        d.proc.send_signal(15)
        time.sleep(0.3)
        # New connections are refused (or closed unanswered) after the signal.
        r = self.curl(d, "https://%s/cgi-bin/iquery.pl" % host("azb"), timeout=10)
        self.assertEqual(r.status, 0, "a connection after SIGTERM was served")
        self.assertNotEqual(r.returncode, 0)
        th.join(20)
        self.assertIn("r", box)
        self.assertEqual(box["r"].status, 200, "the in-flight request completed")
        self.assertIn('<span id="sim-path">/cgi-bin/iquery.pl?slow</span>', box["r"].text)
        code = d.proc.wait(12)
        self.assertEqual(code, 0)
        # The slow answer takes 3 s; idle connections must not hold the exit up to the 10 s limit.
        self.assertLess(time.monotonic() - t0, 6.0, "idle connections delayed the exit")


if __name__ == "__main__":
    unittest.main()
