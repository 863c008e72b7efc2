"""Hostile input, end to end: bad bytes of every kind must get a clear answer, never a crash.

Principle (product brief): bad input of any kind (config, drop-ins, HTTP, CLI arguments,
upstream answers) gets a clear error naming what and where; nothing stored is lost and the
daemon keeps serving. After every hostile case against the shared daemon, tearDown checks
that it still runs, answers /healthz, routes a normal request through an intercepted tunnel,
and that the store still holds the users and credentials (`courtroute status --json`).

Raw sockets throughout (Beast must see exactly the bytes we mean), on the plain listener and
inside intercepted TLS tunnels. A tiny hostile TLS court (`HostileCourt`, court wvb) answers
with broken HTTP; the simulator's knobs cover PACER's broken answers.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_hostile`.
"""

import base64
import json
import os
import random
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
from harness import Daemon, Headers, SecretWatch, Simulator  # noqa: E402

SIM_COURTS = {
    "azb": dict(type="bankruptcy"),                    # the court routed requests go to
    "azd": dict(type="district"),                      # PACER login answers (one user each)
    "nvb": dict(type="bankruptcy", system="legacy"),   # keeps a CM/ECF credential in the store
}
HOSTILE_ID = "wvb"   # served by HostileCourt, not by the simulator
PASSWORDS = {
    "alice01": "alice-hostile-PACER-pw-8812",
    ("nvb", "dave-nvb"): "dave-hostile-ECF-pw-7720",
}

SIM = None
SIM_TMP = None
WATCH = None
HOSTILE = None


def host(cid):
    return "ecf.%s.uscourts.gov" % cid


def basic(user, token):
    return "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()


def setUpModule():
    global SIM, SIM_TMP, WATCH, HOSTILE
    if not harness.have_binaries():
        raise unittest.SkipTest("no courtrouted/courtroute in COURTROUTE_BIN=%r" % harness.build_dir())
    SIM_TMP = tempfile.TemporaryDirectory(prefix="hostile-e2e-sim-")
    SIM = Simulator(SIM_TMP.name, courts=SIM_COURTS).start()
    WATCH = SecretWatch(SIM)
    SIM.add_pacer_account("alice01", WATCH.add("pacer password", PASSWORDS["alice01"]))
    SIM.add_ecf_account("nvb", "dave-nvb", WATCH.add("cmecf password", PASSWORDS[("nvb", "dave-nvb")]))
    HOSTILE = HostileCourt(host(HOSTILE_ID)).start()


def tearDownModule():
    if SLOW_PROBE is not None:
        SLOW_PROBE.stop.set()
        SLOW_PROBE.join(5)
    if DM is not None:
        DM.stop()
    if DM_TMP is not None:
        DM_TMP.cleanup()
    if HOSTILE is not None:
        HOSTILE.stop()
    if SIM is not None:
        SIM.stop()
    if SIM_TMP is not None:
        SIM_TMP.cleanup()


# ============================================================================ raw HTTP helpers

def read_raw(sock, quiet=1.0, total=10.0, limit=4 << 20):
    """Reads until the peer closes, nothing arrives for `quiet` s, or `total` s pass.
    Returns (bytes, closed): closed is True when the peer closed (EOF or reset)."""
    data = b""
    deadline = time.monotonic() + total
    closed = False
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(min(quiet, left))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            break
        except ssl.SSLError as e:
            closed = "timed out" not in str(e)
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return data, closed


def read_response(sock, total=30.0):
    """Reads until one whole response (or the connection's end) arrived: (bytes, closed)."""
    data = b""
    deadline = time.monotonic() + total
    while True:
        rs = parse_responses(data)
        if rs and rs[0][0] and _complete(data):
            return data, False
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return data, False
        except (ssl.SSLError, OSError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def _complete(data):
    end = data.find(b"\r\n\r\n")
    head = data[:end].decode("latin-1").lower()
    rest = data[end + 4:]
    m = re.search(r"(?m)^content-length:\s*(\d+)", head)
    if "transfer-encoding: chunked" in head:
        return rest.endswith(b"0\r\n\r\n")
    if m:
        return len(rest) >= int(m.group(1))
    return re.match(r"http/1\.[01] (1\d\d|204|304)", head) is not None


def parse_responses(data):
    """[(status, Headers, body)] of the HTTP/1.1 responses in `data`; stops at anything that is
    not a response (appending (0, Headers([]), rest)) or at a truncated body (kept as is)."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            out.append((0, Headers([]), data))
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        data = data[end + 4:]
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            out.append((0, Headers([]), data))
            break
        status = int(m.group(1))
        pairs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            pairs.append((k.strip(), v.strip()))
        h = Headers(pairs)
        if "chunked" in (h.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                nl = data.find(b"\r\n")
                if nl < 0:
                    body += data
                    data = b""
                    break
                size = int(data[:nl].split(b";")[0] or b"0", 16)
                chunk = data[nl + 2:nl + 2 + size]
                body += chunk
                data = data[nl + 2 + size + 2:]
                if size == 0 or len(chunk) < size:
                    break
        elif h.get("Content-Length") is not None:
            n = int(h.get("Content-Length"))
            body, data = data[:n], data[n:]
        elif status in (204, 304) or status < 200:
            body = b""
        else:
            body, data = data, b""
        out.append((status, h, body))
    return out


def statuses(data):
    return [r[0] for r in parse_responses(data)]


def client_hello():
    """The bytes of a real TLS ClientHello (as a browser would send to an https:// port)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=host("azb"))
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


# ============================================================================ a hostile court

class HostileCourt:
    """A TLS server for one court host (certificate from the simulator's test CA) whose answer
    depends on the request path: /ok is a normal page, everything else is broken on purpose.
    Keeps connections alive between requests, like a real court. Records every request target."""

    def __init__(self, court_host):
        self.host = court_host
        cert, key = SIM._pki.issue([court_host])
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stop_event = threading.Event()
        self.release = threading.Event()   # ends a /stall answer
        self.lock = threading.Lock()
        self.targets = []
        self.conns = set()
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self._accept, name="hostile-court", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.release.set()
        self.thread.join(5)
        self.listener.close()
        with self.lock:
            for c in list(self.conns):
                try:
                    c.close()
                except OSError:
                    pass

    def _accept(self):
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            t = self.ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        with self.lock:
            self.conns.add(t)
        try:
            buf = b""
            for _ in range(100):  # bounded: at most 100 requests per connection
                while b"\r\n\r\n" not in buf:
                    chunk = t.recv(65536)
                    if not chunk or len(buf) > (1 << 20):
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
                length = 0
                for ln in lines[1:]:
                    if ln.lower().startswith("content-length:"):
                        length = int(ln.split(":", 1)[1])
                while len(buf) < length:
                    chunk = t.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[length:]
                with self.lock:
                    self.targets.append(target)
                if not self._answer(t, target.split("?")[0]):
                    return
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with self.lock:
                self.conns.discard(t)
            try:
                t.close()
            except OSError:
                pass

    def _answer(self, t, path):
        """Sends the answer for `path`; False closes the connection."""
        page = b"<html><body><p>hostile court page</p></body></html>"
        if path == "/ok":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(page), page))
            return True
        if path == "/nonhttp":
            t.sendall(b"SSH-2.0-OpenSSH_9.2 not http at all\r\n\x00\x01\x02garbage\r\n\r\n")
            return False
        if path == "/truncated-text":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
                      + b"<html>" + b"x" * 994)
            return False
        if path == "/truncated-pdf":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n"
                      + b"%PDF-1.7\n" + b"x" * 991)
            return False
        if path == "/close-silently":
            return False  # read the request, answer nothing: as a keep-alive connection timing out
        if path == "/close-after-header":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 10\r\n\r\n")
            return False
        if path == "/close-after-header-text":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\n")
            return False
        if path == "/big-header":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                      + b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"y" * 100) for i in range(700))
                      + b"Content-Length: %d\r\n\r\n%s" % (len(page), page))
            return False
        if path == "/cl-and-te":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            return False
        if path == "/bare-cr-header":
            t.sendall(b"HTTP/1.1 302 Found\r\nLocation: /x\rSet-Cookie: injected=1\r\nContent-Length: 0\r\n\r\n")
            return False
        if path == "/bad-chunk":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nhello\r\n0\r\n\r\n")
            return False
        if path == "/stall":
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"9\r\n%PDF-1.7\n\r\n")
            self.release.wait(30)   # an endless body that stalls; the test releases it
            return False
        if path == "/interim":
            # A 1xx interim answer, then the real one: the 100 must not be taken for the answer.
            t.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                      b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nfinal-first")
            return True
        t.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


# ============================================================================ the shared daemon

DM = None
DM_TMP = None
SLOW_PROBE = None


class SlowHeaderProbe(threading.Thread):
    """Dribbles a never-ending request header into the shared daemon, one byte a second, and
    notes when the daemon cuts the connection. Runs beside the other cases (bounded: 75 s)."""

    def __init__(self, port):
        super().__init__(name="slow-header-probe", daemon=True)
        self.port = port
        self.started = time.monotonic()
        self.closed_after = None
        self.stop = threading.Event()

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.closed_after = 0.0
            return
        msg = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 200
        try:
            for i in range(75):
                if self.stop.is_set():
                    return
                try:
                    s.sendall(msg[i % len(msg):i % len(msg) + 1])
                    s.settimeout(1.0)
                    if s.recv(100) == b"":
                        self.closed_after = time.monotonic() - self.started
                        return
                except (socket.timeout, TimeoutError):
                    pass
                except OSError:
                    self.closed_after = time.monotonic() - self.started
                    return
        finally:
            s.close()


def make_users(d):
    """alice: PACER (the routed-request user); dave: a CM/ECF login at nvb (must survive)."""
    d.tokens = {name: d.add_user(name) for name in ("alice", "dave")}
    for args, stdin in ((["pacer", "set", "alice", "--login", "alice01"], PASSWORDS["alice01"] + "\n"),
                        (["ecf", "set", "dave", "nvb", "--login", "dave-nvb"],
                         PASSWORDS[("nvb", "dave-nvb")] + "\n")):
        r = d.cli(args, stdin=stdin)
        WATCH.assert_absent(cli_stdout=r.stdout, cli_stderr=r.stderr)
        if r.returncode != 0:
            raise AssertionError("courtroute %s failed: %s" % (args[:3], WATCH.redact(r.stderr)))


def shared_daemon():
    """The module's daemon, (re)started when a previous case killed it."""
    global DM, DM_TMP
    if DM is not None and DM.running():
        return DM
    if DM is None:
        DM_TMP = tempfile.TemporaryDirectory(prefix="hostile-e2e-main-")
        courts = {cid: dict(type=c.type, system=c.system, host=c.host) for cid, c in SIM.courts.items()}
        courts[HOSTILE_ID] = dict(type="bankruptcy", host=host(HOSTILE_ID))
        DM = Daemon(DM_TMP.name, sim=SIM, watch=WATCH, courts=courts,
                    resolve_extra={"%s:443" % host(HOSTILE_ID): "127.0.0.1:%d" % HOSTILE.port})
        make_users(DM)
    DM.start()
    global SLOW_PROBE
    if SLOW_PROBE is None:
        SLOW_PROBE = SlowHeaderProbe(DM.port)
        SLOW_PROBE.start()
    return DM


class HostileCase(unittest.TestCase):
    """Helpers and the after-every-case health check."""

    dm = None

    @classmethod
    def setUpClass(cls):
        cls.dm = shared_daemon()

    @classmethod
    def tearDownClass(cls):
        pass  # the module's daemon stays up for the next class; stopped in tearDownModule's cleanup

    def setUp(self):
        self.dm = shared_daemon()
        self.__class__.dm = self.dm
        self.outputs = []
        self.log_mark = len(self.dm.log_text())
        SIM.errors.clear()

    def tearDown(self):
        d = self.dm
        try:
            self.assert_still_serving(d)
        finally:
            WATCH.assert_absent(daemon_log=d.log_text())
            WATCH.assert_absent(*self.outputs)

    # --- the invariant checked after every case ---

    def assert_still_serving(self, d):
        self.assertTrue(d.running(), "courtrouted died; log tail:\n%s" % d.log_tail())
        status, _, body = d.http("GET", "/healthz", timeout=10)
        self.assertEqual((status, body.strip()), (200, b"ok"), "/healthz after the hostile case")
        st, h, body = self.routed(d)
        self.assertEqual(st, 200, "a normal routed request after the hostile case")
        self.assertEqual(h.get("Courtroute-Route"), "pacer")
        self.assertIn(b"/cgi-bin/iquery.pl", body)
        r = d.cli(["status", "--json"])
        WATCH.assert_absent(cli_stdout=r.stdout, cli_stderr=r.stderr)
        self.assertEqual(r.returncode, 0, WATCH.redact(r.stderr))
        doc = json.loads(r.stdout)
        users = {u["user"]: u for u in doc["users"]}
        self.assertIn("alice", users, "the store lost a user")
        self.assertIn("dave", users, "the store lost a user")
        self.assertEqual(users["alice"]["pacer"]["login"], "alice01")
        self.assertEqual(users["alice"]["pacer"]["state"], "active")
        dave = {c["court"]: c for c in users["dave"]["courts"]}
        self.assertEqual(dave.get("nvb", {}).get("credential"), "active", "dave's CM/ECF login at nvb")

    def routed(self, d, path="/cgi-bin/iquery.pl?alive", court="azb"):
        t = self.tunnel(d, host(court))
        try:
            t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host(court))).encode())
            data, _ = read_raw(t, quiet=10, total=30)
        finally:
            t.close()
        self.outputs.append(data)
        rs = parse_responses(data)
        self.assertTrue(rs, "no answer to the routed request")
        return rs[0]

    # --- sockets ---

    def plain(self, d=None, timeout=10):
        d = d or self.dm
        return socket.create_connection(("127.0.0.1", d.port), timeout=timeout)

    def raw(self, data, d=None, quiet=1.5, total=10.0):
        """Sends raw bytes to the plain listener: (answer bytes, closed)."""
        s = self.plain(d)
        try:
            try:
                s.sendall(data)
            except OSError:
                pass  # the daemon may close before reading everything: what it answered still counts
            got, closed = read_raw(s, quiet=quiet, total=total)
        finally:
            s.close()
        self.outputs.append(got)
        return got, closed

    def connect(self, d, authority, auth=None, user="alice", extra=""):
        """A socket on which `CONNECT authority` was sent; returns (socket, status, head bytes)."""
        s = self.plain(d)
        if auth is None:
            auth = "Proxy-Authorization: %s\r\n" % basic(user, d.tokens[user])
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n" % (authority, authority, auth, extra))
                  .encode("latin-1"))
        head = b""
        s.settimeout(15)
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                ch = s.recv(1)  # one byte at a time: nothing past the header may be consumed
                if not ch:
                    break
                head += ch
        except OSError:
            pass
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return s, (int(m.group(1)) if m else 0), head

    def tunnel(self, d, court_host, authority=None, sni=None, user="alice"):
        """An intercepted TLS tunnel to `court_host` (verified against the daemon's CA)."""
        s, status, head = self.connect(d, authority or "%s:443" % court_host, user=user)
        if status != 200:
            s.close()
            self.fail("CONNECT %s answered %r" % (authority or court_host, head[:200]))
        ctx = ssl.create_default_context(cafile=d.ca_path())
        ctx.set_alpn_protocols(["http/1.1"])
        t = ctx.wrap_socket(s, server_hostname=sni or court_host)
        t.settimeout(15)
        return t

    def tls_raw(self, data, court_host=None, quiet=1.5, total=10.0):
        """Sends raw bytes inside an intercepted tunnel: (answer bytes, closed)."""
        t = self.tunnel(self.dm, court_host or host("azb"))
        try:
            try:
                t.sendall(data)
            except OSError:
                pass
            got, closed = read_raw(t, quiet=quiet, total=total)
        finally:
            t.close()
        self.outputs.append(got)
        return got, closed

    def sim_targets(self, marker):
        time.sleep(0.2)  # let anything in flight land
        return [r.target for r in list(SIM.requests) if marker in r.target]

    def bearer(self, user="alice"):
        return "Authorization: Bearer %s\r\n" % self.dm.tokens[user]


# ============================================================================ request smuggling

# Each case: (name, request bytes with {target}, {host}, {auth}, {marker}). The smuggled request
# (when there is one) asks for a target holding the marker: it must never reach the court.
SMUGGLING = [
    ("cl_and_te",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("te_and_cl",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("two_content_lengths",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0\r\nContent-Length: 90\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("content_length_list",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 0, 90\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("te_space_before_colon",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("obs_fold_te",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("bare_cr_in_header",
     "GET {target} HTTP/1.1\r\nHost: {host}\r\n{auth}X-Note: a\rTransfer-Encoding: chunked\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("nul_in_header",
     "GET {target} HTTP/1.1\r\nHost: {host}\r\n{auth}X-Note: a\x00b\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("invalid_chunk_size",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
     "zz\r\nhello\r\n0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("negative_chunk_size",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
     "-5\r\nhello\r\n0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("overflowing_chunk_size",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
     "10000000000000005\r\nhello\r\n0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("negative_content_length",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: -1\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("plus_content_length",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Length: +0\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
]

# Transfer-Encoding whose final coding is not chunked: RFC 9112 §6.3 says 400 and close, because
# the body length cannot be determined. Kept apart: see DAEMON BUG in SmugglingTest.
SMUGGLING_TE = [
    ("te_chunked_identity",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: chunked, identity\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("te_identity_only",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: identity\r\n\r\n"
     "GET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("te_obfuscated",
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n"
     "0\r\n\r\nGET {smuggled} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"),
    ("te_gzip_chunked",
     # chunked is final here, so nothing is smuggled; but "gzip" must not go upstream beside a
     # Content-Length (the daemon does not decode gzip): 400 or 501, nothing forwarded.
     "POST {target} HTTP/1.1\r\nHost: {host}\r\n{auth}Transfer-Encoding: gzip, chunked\r\n\r\n"
     "5\r\nhello\r\n0\r\n\r\n"),
]


class SmugglingTest(HostileCase):
    """Conflicting framing must be refused (400) or the connection closed; a request hidden in a
    disputed body must never reach the court."""

    def run_cases(self, tunnel, cases=SMUGGLING):
        for name, template in cases:
            with self.subTest(name, tunnel=tunnel):
                marker = "smuggled-%s-%s" % (name, "tls" if tunnel else "plain")
                if tunnel:
                    fmt = dict(target="/cgi-bin/iquery.pl?first-" + marker, smuggled="/cgi-bin/iquery.pl?" + marker,
                               host=host("azb"), auth="")
                else:
                    fmt = dict(target="/court/azb/cgi-bin/iquery.pl?first-" + marker,
                               smuggled="/court/azb/cgi-bin/iquery.pl?" + marker,
                               host="127.0.0.1:%d" % self.dm.port, auth=self.bearer())
                req = template.format(**fmt).encode("latin-1")
                data, closed = self.tls_raw(req) if tunnel else self.raw(req)
                st = statuses(data)
                self.assertEqual(self.sim_targets(marker), [], "the smuggled request reached the court")
                self.assertNotIn(500, st, "never 500")
                self.assertLessEqual(len(st), 1, "a second request was answered: %s" % st)
                if st:
                    self.assertIn(st[0], (400, 501), "conflicting framing answered %s" % st)
                    self.assertTrue(closed, "the connection stays open after a framing error")
                    self.assertEqual(self.sim_targets("first-" + marker), [],
                                     "a request with conflicting framing was forwarded")
                else:
                    self.assertTrue(closed, "no answer and no close")

    def test_plain_listener(self):
        self.run_cases(tunnel=False)

    def test_inside_tunnel(self):
        self.run_cases(tunnel=True)

    # Was a bug, fixed: a request whose Transfer-Encoding does not end in chunked ("identity",
    # "chunked, identity", "xchunked", "gzip, chunked") is accepted instead of 400 + close
    # (RFC 9112 §6.3). With "Transfer-Encoding: identity" the bytes after the headers are read as
    # the next request, so a smuggled GET reaches the court (200); and the client's remaining
    # Transfer-Encoding is forwarded upstream next to the daemon's own Content-Length (the
    # simulator answers "400 both Transfer-Encoding and Content-Length").
    def test_non_chunked_transfer_encoding_plain(self):
        self.run_cases(tunnel=False, cases=SMUGGLING_TE)

    # Was a bug, fixed: as above, inside an intercepted tunnel.
    def test_non_chunked_transfer_encoding_tunnel(self):
        self.run_cases(tunnel=True, cases=SMUGGLING_TE)

    def test_chunked_upload_forwarded_with_one_framing(self):
        # A legitimate chunked upload: de-chunked and sent with Content-Length only.
        data, _ = self.tls_raw(("POST /cgi-bin/iquery.pl?legit-chunked HTTP/1.1\r\nHost: %s\r\n"
                                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" % host("azb")).encode(),
                               quiet=10, total=20)
        self.assertEqual(statuses(data), [200])
        seen = [r for r in list(SIM.requests) if "legit-chunked" in r.target]
        self.assertEqual(len(seen), 1)
        names = [k.lower() for k, _ in seen[0].header_list]
        self.assertNotIn("transfer-encoding", names)
        self.assertEqual(seen[0].headers.get("content-length"), "11")
        self.assertEqual(seen[0].body_length, 11)

    def test_obs_fold_and_bare_lf_never_split_into_headers(self):
        # obs-fold may be rejected (400) or unfolded into one value (RFC 9112 §5.2); bare-LF line
        # ends may be rejected or accepted; either way no new header may appear upstream.
        marker = "fold-lf"
        cases = {
            "obs_fold": "GET /cgi-bin/iquery.pl?%s-1 HTTP/1.1\r\nHost: %s\r\nX-Folded: a\r\n Set-Cookie: x=1\r\n\r\n",
            "bare_lf": "GET /cgi-bin/iquery.pl?%s-2 HTTP/1.1\nHost: %s\nX-Lf: a\nConnection: close\n\n",
            "lf_inside_value": "GET /cgi-bin/iquery.pl?%s-3 HTTP/1.1\r\nHost: %s\r\nX-Lf: a\nSet-Cookie: y=2\r\n\r\n",
        }
        for name, text in cases.items():
            with self.subTest(name):
                data, _ = self.tls_raw((text % (marker, host("azb"))).encode())
                rs = parse_responses(data)
                for st, _, body in rs:
                    self.assertIn(st, (200, 400), name)
                seen = [r for r in list(SIM.requests) if marker in r.target]
                for r in seen:
                    names = [k.lower() for k, _ in r.header_list]
                    self.assertNotIn("set-cookie", names, "%s became a header upstream" % name)
                    for k, v in r.header_list:
                        self.assertNotRegex(v, r"[\r\n]", "%s: CR/LF in a value upstream" % name)


# ============================================================================ sizes and slowness

class SizeTest(HostileCase):
    def test_oversized_headers_get_431(self):
        big = "X-Big: " + "a" * (70 * 1024) + "\r\n"
        data, closed = self.raw(("GET /healthz HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % big).encode())
        self.assertEqual(statuses(data), [431])
        self.assertTrue(closed)
        data, closed = self.tls_raw(("GET /cgi-bin/iquery.pl?big-header HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                                     % (host("azb"), big)).encode())
        self.assertEqual(statuses(data), [431])
        self.assertEqual(self.sim_targets("big-header"), [])
        # Many small headers adding up to more than 64 KiB.
        many = "".join("X-H%05d: %s\r\n" % (i, "v" * 40) for i in range(2000))
        data, _ = self.raw(("GET /healthz HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % many).encode())
        self.assertEqual(statuses(data), [431])

    def test_huge_request_line(self):
        for where in ("plain", "tls"):
            with self.subTest(where):
                target = "/cgi-bin/iquery.pl?" + "q" * 100000
                if where == "plain":
                    data, closed = self.raw(("GET /court/azb%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode())
                else:
                    data, closed = self.tls_raw(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                                                 % (target, host("azb"))).encode())
                st = statuses(data)
                self.assertTrue(closed or st, "no answer, no close")
                for s in st:
                    self.assertTrue(400 <= s < 500, "a 100k request line answered %s" % st)

    def test_many_headers_within_limit(self):
        many = "".join("X-H%04d: v\r\n" % i for i in range(1500))  # ~ 18 KiB
        data, _ = self.raw(("GET /healthz HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n" % many).encode())
        self.assertEqual(statuses(data), [200])
        data, _ = self.tls_raw(("GET /cgi-bin/iquery.pl?many-headers HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                                % (host("azb"), many)).encode(), quiet=10, total=30)
        st = statuses(data)
        self.assertEqual(len(st), 1, "one answer")
        self.assertLess(st[0], 500, "the court's own limit is relayed, not a daemon failure")

    def test_huge_declared_body(self):
        # Content-Length over the 256 MiB limit: 413 before any byte of the body.
        data, closed = self.raw(("POST /court/azb/cgi-bin/iquery.pl?huge-body HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %d"
                                 "\r\n\r\n" % (self.bearer(), 1 << 40)).encode())
        self.assertEqual(statuses(data), [413])
        self.assertEqual(self.sim_targets("huge-body"), [])
        data, closed = self.raw(("POST /court/azb/cgi-bin/iquery.pl HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
                                 "99999999999999999999999\r\n\r\n").encode())
        self.assertIn(statuses(data), ([400], [413]))


class SlowTest(HostileCase):
    def test_slowloris_does_not_block_others(self):
        slow = []
        for _ in range(20):
            s = self.plain()
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            slow.append(s)
        try:
            stop = threading.Event()

            def dribble():
                for i in range(8):  # bounded: 8 s at most
                    if stop.wait(1.0):
                        return
                    for s in slow:
                        try:
                            s.sendall(b"X-Slow-%d: %d\r\n" % (i, i))
                        except OSError:
                            pass

            th = threading.Thread(target=dribble, daemon=True)
            th.start()
            t0 = time.monotonic()
            for _ in range(10):
                status, _, _ = self.dm.http("GET", "/healthz", timeout=5)
                self.assertEqual(status, 200)
                st, h, _ = self.routed(self.dm)
                self.assertEqual(st, 200)
            self.assertLess(time.monotonic() - t0, 15, "slow clients slowed everyone else down")
            stop.set()
            th.join(5)
            # The slow connections were never answered (their header never ended).
            for s in slow[:3]:
                s.settimeout(0.2)
                try:
                    self.assertEqual(s.recv(100), b"", "a request without an end of header was answered")
                except (socket.timeout, TimeoutError):
                    pass
                except OSError:
                    pass
        finally:
            for s in slow:
                s.close()

    # Was a bug, fixed: the 30 s header timeout (client_header_timeout) is not applied to a request's
    # header: read_request arms the 60 s idle timer whenever the buffer is empty (always, for a
    # connection's first request and for most keep-alive ones) and that single deadline covers
    # the whole async_read_header, so a client dribbling a header byte by byte holds its
    # connection for 60 s (measured: closed at 60.0 s), not ~30 s.
    def test_slow_header_cut_off_within_header_timeout(self):
        probe = SLOW_PROBE
        self.assertIsNotNone(probe)
        probe.join(max(0.0, 36.0 - (time.monotonic() - probe.started)))
        self.assertIsNotNone(probe.closed_after, "a header dribbled for 36 s still holds its connection")
        self.assertGreater(probe.closed_after, 20, "cut off far too early (did the daemon restart?)")
        self.assertLess(probe.closed_after, 36)

    def test_idle_and_half_open_connections(self):
        # Connections that send nothing, or half-close, must not disturb others.
        idle = [self.plain() for _ in range(30)]
        try:
            half = self.plain()
            half.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            half.shutdown(socket.SHUT_WR)
            data, closed = read_raw(half, quiet=3, total=5)
            half.close()
            self.assertEqual(statuses(data)[:1], [200])
            self.assertEqual(self.routed(self.dm)[0], 200)
        finally:
            for s in idle:
                s.close()


# ============================================================================ garbage

class GarbageTest(HostileCase):
    def test_random_bytes(self):
        rng = random.Random(20240611)
        for i in range(5):
            with self.subTest(i):
                blob = bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 17, 512, 4096, 70000))))
                data, closed = self.raw(blob, quiet=2)
                st = statuses(data)
                self.assertTrue(closed or st == [400], "random bytes: %s" % st)
                for s in st:
                    self.assertIn(s, (400, 431))

    def test_tls_client_hello_to_plain_port(self):
        data, closed = self.raw(client_hello(), quiet=3)
        st = statuses(data)
        self.assertTrue(closed, "the daemon keeps a TLS client hanging")
        self.assertIn(st, ([], [400]))

    def test_http2_preface_and_http09(self):
        for name, blob in (("h2", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 64),
                           ("http/0.9", b"GET /healthz\r\n\r\n"),
                           ("http/3.0", b"GET /healthz HTTP/3.0\r\nHost: localhost\r\n\r\n"),
                           ("lowercase method", b"get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                           ("empty lines only", b"\r\n" * 5000)):
            with self.subTest(name):
                data, closed = self.raw(blob, quiet=2)
                st = statuses(data)
                self.assertTrue(closed or st, "%s: no answer, no close" % name)
                self.assertNotIn(500, st)

    def test_garbage_inside_tunnel(self):
        rng = random.Random(7)
        blob = bytes(rng.getrandbits(8) for _ in range(3000))
        data, closed = self.tls_raw(blob, quiet=2)
        self.assertTrue(closed or statuses(data) == [400])
        self.assertNotIn(500, statuses(data))


# ============================================================================ CONNECT

class ConnectTest(HostileCase):
    def assert_refused(self, authority, allowed=(400, 403), **kw):
        s, status, head = self.connect(self.dm, authority, **kw)
        self.outputs.append(head)
        try:
            self.assertIn(status, allowed, "CONNECT %r answered %r" % (authority[:80], head[:200]))
        finally:
            s.close()
        return status

    def test_bad_authorities(self):
        cases = {
            "no port": host("azb"),
            "port 0": host("azb") + ":0",
            "port 99999": host("azb") + ":99999",
            "port with letters": host("azb") + ":44x",
            "empty port": host("azb") + ":",  # taken as :443 today; refusing it would be fine too
            "userinfo": "user@%s:443" % host("azb"),
            "ipv6 literal": "[::1]:443",
            "bad ipv6 literal": "[::1:443",
            "long host": ("a" * 70 + ".") * 60 + "uscourts.gov:443",
            "path in authority": host("azb") + ":443/x",
            "only a colon": ":",
            "star": "*",
        }
        for name, authority in cases.items():
            with self.subTest(name):
                t0 = time.monotonic()
                self.assert_refused(authority, allowed=(200, 400, 403) if name == "empty port" else (400, 403))
                self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual([r for r in list(SIM.requests) if r.court == "azb" and r.method == "CONNECT"], [])

    def test_trailing_dot_host_is_intercepted(self):
        t = self.tunnel(self.dm, host("azb"), authority=host("azb") + ".:443")
        try:
            t.sendall(("GET /cgi-bin/iquery.pl?dot HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % host("azb")).encode())
            data, _ = read_raw(t, quiet=10, total=20)
        finally:
            t.close()
        self.outputs.append(data)
        rs = parse_responses(data)
        self.assertEqual(rs[0][0], 200)
        self.assertEqual(rs[0][1].get("Courtroute-Route"), "pacer")

    def test_uppercase_host_is_intercepted(self):
        for authority, host_header in ((host("azb").upper() + ":443", host("azb")),
                                       ("Ecf.Azb.USCourts.gov:443", "ECF.AZB.USCOURTS.GOV")):
            with self.subTest(authority):
                t = self.tunnel(self.dm, host("azb"), authority=authority)
                try:
                    t.sendall(("GET /cgi-bin/iquery.pl?upper HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                               % host_header).encode())
                    data, _ = read_raw(t, quiet=10, total=20)
                finally:
                    t.close()
                self.outputs.append(data)
                rs = parse_responses(data)
                self.assertTrue(rs, "no answer inside an upper-case CONNECT")
                self.assertEqual(rs[0][0], 200, "upper-case CONNECT host: %s" % rs[0][2][:200])
                self.assertEqual(rs[0][1].get("Courtroute-Route"), "pacer")

    def test_garbage_tls_handshake(self):
        for name, blob in (("random", bytes(random.Random(3).getrandbits(8) for _ in range(2000))),
                           ("plain http", ("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host("azb")).encode()),
                           ("truncated hello", client_hello()[:40])):
            with self.subTest(name):
                s, status, _ = self.connect(self.dm, host("azb") + ":443")
                self.assertEqual(status, 200)
                try:
                    s.sendall(blob)
                    if name == "truncated hello":
                        s.shutdown(socket.SHUT_WR)
                    data, closed = read_raw(s, quiet=5, total=12)
                finally:
                    s.close()
                self.assertTrue(closed, "%s: the daemon neither closed nor answered" % name)
                self.assertNotIn(b"HTTP/1.1 200", data)

    def test_sni_for_another_court_is_cut(self):
        # Domain fronting inside the handshake: SNI names azd, CONNECT named azb.
        s, status, _ = self.connect(self.dm, host("azb") + ":443")
        self.assertEqual(status, 200)
        ctx = ssl.create_default_context(cafile=self.dm.ca_path())
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            t = ctx.wrap_socket(s, server_hostname=host("azd"))
            t.sendall(("GET /cgi-bin/iquery.pl?fronted HTTP/1.1\r\nHost: %s\r\n\r\n" % host("azd")).encode())
            data, closed = read_raw(t, quiet=3, total=8)
            t.close()
        except (ssl.SSLError, OSError):
            data, closed = b"", True
            s.close()
        self.outputs.append(data)
        self.assertEqual(self.sim_targets("fronted"), [])
        self.assertTrue(all(st in (400, 403, 421) for st in statuses(data)), statuses(data))

    def test_connect_to_own_port_with_tunnel_policy(self):
        tmp = tempfile.TemporaryDirectory(prefix="hostile-e2e-loop-")
        self.addCleanup(tmp.cleanup)
        d = Daemon(tmp.name, sim=SIM, watch=WATCH, courts={"azb": dict(type="bankruptcy", host=host("azb"))},
                   extra='[policy]\nother_hosts = "tunnel"\n')
        self.addCleanup(d.stop)
        d.tokens = {"alice": d.add_user("alice")}
        d.start()
        for authority in ("127.0.0.1:%d" % d.port, "localhost:%d" % d.port):
            with self.subTest(authority):
                t0 = time.monotonic()
                s, status, head = self.connect(d, authority)
                try:
                    self.assertIn(status, (200, 400, 403, 502, 508), head[:200])
                    if status == 200:
                        # Whatever answers inside is the daemon itself: one request, one answer.
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        data, _ = read_raw(s, quiet=5, total=10)
                        self.assertEqual(statuses(data), [200])
                        # Nested CONNECTs to itself are bounded by the client, not multiplied.
                finally:
                    s.close()
                self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(d.running())
        self.assertEqual(d.http("GET", "/healthz")[0], 200)
        WATCH.assert_absent(loop_daemon_log=d.log_text())


# ============================================================================ DNS rebinding, cross-site

class ForeignOriginTest(HostileCase):
    """A web page must not read /status or reach a court through path mode (issue 9.2): not by
    pointing its own name at 127.0.0.1 (DNS rebinding), not by a cross-site request."""

    def answer(self, d, target, headers):
        data, _ = self.raw(("GET %s HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (target, headers)).encode(), d=d)
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1, data[:200])
        return rs[0]

    def hostile_requests(self, port, auth):
        own = "Host: 127.0.0.1:%d\r\n" % port
        return [
            ("rebinding", "Host: evil.example.com:%d\r\n%s" % (port, auth)),
            ("rebinding, no port", "Host: evil.example.com\r\n%s" % auth),
            ("another port", "Host: 127.0.0.1:%d\r\n%s" % (port + 1, auth)),
            ("no Host", auth),
            ("cross-site Origin", own + "Origin: https://evil.example.com\r\n" + auth),
            ("null Origin", own + "Origin: null\r\n" + auth),
            ("Sec-Fetch-Site cross-site", own + "Sec-Fetch-Site: cross-site\r\n" + auth),
            ("Sec-Fetch-Site same-site", own + "Sec-Fetch-Site: same-site\r\n" + auth),
        ]

    def assert_refused(self, d, marker, auth, users):
        tried = 0
        for target in ("/", "/proxy.pac", "/status", "/metrics", "/court/azb/cgi-bin/iquery.pl?" + marker):
            for name, headers in self.hostile_requests(d.port, auth):
                with self.subTest(target=target, case=name):
                    st, h, body = self.answer(d, target, headers)
                    tried += 1
                    self.assertEqual(st, 403, body[:200])
                    self.assertIn(b"courtroute", body, "the refusal says who refused and why")
                    for u in users:
                        self.assertNotIn(u.encode(), body, "a refusal names no user")
        self.assertEqual(self.sim_targets(marker), [], "nothing reached the court")
        print("foreign-origin requests refused: %d" % tried)

    def test_with_a_token(self):
        self.assert_refused(self.dm, "foreign-token", self.bearer(), ["alice01"])
        # The same requests addressed to the listener are served.
        st, _, body = self.answer(self.dm, "/status", "Host: localhost:%d\r\n%s" % (self.dm.port, self.bearer()))
        self.assertEqual(st, 200)
        st, _, _ = self.answer(self.dm, "/court/azb/cgi-bin/iquery.pl?own-origin",
                               "Host: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\nSec-Fetch-Site: same-origin\r\n%s"
                               % (self.dm.port, self.dm.port, self.bearer()))
        self.assertEqual(st, 200)

    def test_anonymous_user_is_not_an_open_door(self):
        tmp = tempfile.TemporaryDirectory(prefix="hostile-e2e-anon-")
        self.addCleanup(tmp.cleanup)
        d = Daemon(tmp.name, sim=SIM, watch=WATCH, courts={"azb": dict(type="bankruptcy", host=host("azb"))},
                   extra='[policy]\nanonymous_user = "alice"\n')
        self.addCleanup(d.stop)
        d.tokens = {"alice": d.add_user("alice")}
        d.cli(["pacer", "set", "alice", "--login", "alice01"], stdin=PASSWORDS["alice01"] + "\n")
        d.start()
        self.assert_refused(d, "foreign-anon", "", ["alice"])
        st, _, body = self.answer(d, "/court/azb/cgi-bin/iquery.pl?anon-own", "Host: 127.0.0.1:%d\r\n" % d.port)
        self.assertEqual(st, 200, "the machine's one attorney still works without a token: %r" % body[:300])
        st, _, body = self.answer(d, "/", "Host: localhost:%d\r\nSec-Fetch-Site: none\r\n" % d.port)
        self.assertEqual(st, 200, "and sees their status page: %r" % body[:300])
        self.assertIn(b"courtroute for alice", body)
        WATCH.assert_absent(anon_daemon_log=d.log_text())



# ============================================================================ Proxy-Authorization

class ProxyAuthTest(HostileCase):
    def test_garbage_credentials_get_407(self):
        token = self.dm.tokens["alice"]
        b64 = lambda s: base64.b64encode(s.encode("latin-1")).decode()  # noqa: E731
        cases = {
            "not base64": "Basic !!!not*base64###",
            "base64 without colon": "Basic " + b64("alice" + token),
            "empty value": "",
            "Basic only": "Basic",
            "Basic and space": "Basic ",
            "huge value": "Basic " + "QUFB" * 15000,
            "CR/LF inside the credentials": "Basic " + b64("alice:" + token + "\r\nX-Injected: 1"),
            "CR/LF inside the user": "Basic " + b64("alice\r\nX: 1:" + token),
            "NUL after the token": "Basic " + b64("alice:" + token + "\x00"),
            "right token, other user": "Basic " + b64("dave:" + token),
            "right token, empty user": "Basic " + b64(":" + token),
            "Bearer scheme": "Bearer " + token,
            "Digest scheme": 'Digest username="alice", response="x"',
            "bad padding": "Basic " + b64("alice:" + token).rstrip("=") + "===",
            "latin-1 junk": "Basic \xff\xfe\xfd",
        }
        for name, value in cases.items():
            with self.subTest(name):
                s, status, head = self.connect(self.dm, host("azb") + ":443",
                                               auth="Proxy-Authorization: %s\r\n" % value)
                s.close()
                self.outputs.append(head)
                self.assertEqual(status, 407, "%s: %r" % (name, head[:120]))
                self.assertIn(b'Proxy-Authenticate: Basic realm="courtroute"', head)

    def test_injected_header_lines_never_500(self):
        token = self.dm.tokens["alice"]
        for name, auth in (("bare CR in the value", "Proxy-Authorization: Basic abc\rdef\r\n"),
                           ("two Proxy-Authorization headers",
                            "Proxy-Authorization: Basic xxx\r\nProxy-Authorization: %s\r\n" % basic("alice", token)),
                           ("obs-fold continuation", "Proxy-Authorization: Basic\r\n %s\r\n"
                            % basic("alice", token).split()[1])):
            with self.subTest(name):
                s, status, head = self.connect(self.dm, host("azb") + ":443", auth=auth)
                s.close()
                self.outputs.append(head)
                self.assertIn(status, (200, 400, 407), "%s: %r" % (name, head[:120]))

    def test_path_mode_bearer_garbage_gets_401(self):
        for name, value in (("empty", ""), ("Bearer only", "Bearer"), ("huge", "Bearer " + "t" * 60000),
                            ("Basic instead", basic("alice", self.dm.tokens["alice"])),
                            ("token plus junk", "Bearer %s junk" % self.dm.tokens["alice"])):
            with self.subTest(name):
                data, _ = self.raw(("GET /court/azb/cgi-bin/iquery.pl?bearer-junk HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\n"
                                    "Connection: close\r\n\r\n" % value).encode())
                self.assertEqual(statuses(data), [401], name)
        self.assertEqual(self.sim_targets("bearer-junk"), [])


    def test_rotated_token_closes_open_tunnels(self):
        d = self.dm
        if "rot" not in d.tokens:
            d.tokens["rot"] = d.add_user("rot")
            d.cli(["pacer", "set", "rot", "--login", "alice01"], stdin=PASSWORDS["alice01"] + "\n")
        t = self.tunnel(d, host("azb"), user="rot")
        try:
            t.sendall(("GET /cgi-bin/iquery.pl?before-rotate HTTP/1.1\r\nHost: %s\r\n\r\n" % host("azb")).encode())
            data, _ = read_raw(t, quiet=2, total=15)
            self.assertEqual(statuses(data), [200])
            r = d.cli(["user", "rotate", "rot"])
            self.assertEqual(r.returncode, 0, WATCH.redact(r.stderr))
            d.tokens["rot"] = r.stdout.strip().splitlines()[-1].strip()
            WATCH.add_basic("user token", "rot", d.tokens["rot"])
            t.sendall(("GET /cgi-bin/iquery.pl?after-rotate HTTP/1.1\r\nHost: %s\r\n\r\n" % host("azb")).encode())
            data, closed = read_raw(t, quiet=2, total=15)
            self.outputs.append(data)
            self.assertEqual(statuses(data), [403])
            self.assertIn(b"no longer valid", data)
            self.assertTrue(closed, "the tunnel ends")
        finally:
            t.close()
        self.assertEqual(self.sim_targets("after-rotate"), [])
        # The new token opens a new tunnel.
        t = self.tunnel(d, host("azb"), user="rot")
        try:
            t.sendall(("GET /cgi-bin/iquery.pl?new-token HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % host("azb")).encode())
            data, _ = read_raw(t, quiet=2, total=15)
            self.assertEqual(statuses(data), [200])
        finally:
            t.close()

    def test_no_body_is_read_before_authentication(self):
        # A declared 4 MiB body and no token: refused at once, the body never waited for.
        s = self.plain()
        try:
            t0 = time.monotonic()
            s.sendall(b"POST /court/azb/cgi-bin/iquery.pl?unauth-body HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Length: 4194304\r\n\r\n" + b"x" * 1000)
            data, closed = read_raw(s, quiet=3, total=10)
            self.outputs.append(data)
            self.assertEqual(statuses(data), [401])
            self.assertLess(time.monotonic() - t0, 6, "answered without waiting for the body")
            self.assertTrue(closed, "the unread body ends the connection")
        finally:
            s.close()
        # The same with Expect: 100-continue gets no 100 before the refusal.
        data, _ = self.raw(b"PUT /court/azb/cgi-bin/iquery.pl?unauth-expect HTTP/1.1\r\nHost: localhost\r\n"
                           b"Expect: 100-continue\r\nContent-Length: 99\r\n\r\n")
        self.assertEqual(statuses(data), [401])
        self.assertEqual(self.sim_targets("unauth-"), [])

    def test_refusals_to_head_carry_no_body(self):
        for target, expected in (("/court/azb/cgi-bin/iquery.pl?head-refused", 401),  # no token
                                 ("/court/nosuchcourt/x", 401),
                                 ("/status", 401),
                                 ("/healthz", 200)):
            with self.subTest(target):
                data, _ = self.raw(("HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                    "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                                    % target).encode(), quiet=3)
                head, sep, rest = data.partition(b"\r\n\r\n")
                self.assertTrue(sep, data[:200])
                self.assertIn(int(head.split(b" ", 2)[1]), (expected, 404))
                self.assertTrue(rest.startswith(b"HTTP/1.1 200"),
                                "the next answer follows the HEAD answer's header at once: %r" % rest[:80])
        self.assertEqual(self.sim_targets("head-refused"), [])

    def test_metrics_labels_only_from_the_registry(self):
        tried = 0
        for i in range(150):
            junk = 'x%d"}\\{evil' % i
            self.raw(("GET /court/%s/cgi-bin/q HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n"
                      % (junk.replace(" ", ""), self.bearer())).encode(), quiet=0.5)
            tried += 1
        for i in range(50):
            s, status, _ = self.connect(self.dm, "unknown%d.example.org:443" % i)
            s.close()
            tried += 1
        status, _, body = self.dm.http("GET", "/metrics")
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertNotIn("evil", text)
        self.assertNotIn("unknown", text)
        courts = set(re.findall(r'court="([^"]*)"', text))
        self.assertLessEqual(courts, set(SIM.courts) | {HOSTILE_ID, "other"}, courts)
        self.assertLess(text.count("\n"), 400, "/metrics stays small")
        print("metrics: %d junk requests, %d court labels: %s" % (tried, len(courts), sorted(courts)))

# ============================================================================ path mode

class PathModeTest(HostileCase):
    def get(self, target, extra="", method="GET"):
        data, closed = self.raw(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sConnection: close\r\n\r\n"
                                 % (method, target, self.bearer(), extra)).encode("latin-1"), quiet=10, total=30)
        rs = parse_responses(data)
        self.assertEqual(len(rs), 1, "one answer to %r: %r" % (target[:80], data[:200]))
        return rs[0]

    def test_odd_court_paths(self):
        self.assertEqual(self.get("/court/")[0], 404)
        self.assertEqual(self.get("/court//echo")[0], 404)
        self.assertEqual(self.get("/court/../etc/passwd")[0], 404)
        self.assertEqual(self.get("/court/%2e%2e/etc/passwd")[0], 404)
        self.assertEqual(self.get("/court/nosuchcourt/x")[0], 404)
        st, h, body = self.get("/court/azb")
        self.assertEqual(st, 200, "no slash after the id: the court's root")
        self.assertEqual(h.get("Courtroute-Route"), "pacer")
        st, _, _ = self.get("/court/AZB/cgi-bin/iquery.pl")
        self.assertIn(st, (200, 404), "upper-case id: served or not found, never an error")
        st, _, body = self.get("/court/azb?x=1")
        self.assertEqual(st, 200)

    def test_dot_segments_stay_at_the_court(self):
        before = len(SIM.requests)
        st, _, _ = self.get("/court/azb/../../etc/passwd?dots")
        self.assertLess(st, 500)
        for r in list(SIM.requests)[before:]:
            if "dots" in r.target:
                self.assertEqual(r.host, host("azb"), "dot segments changed the upstream host")

    def test_encoded_crlf_in_target_is_not_a_header(self):
        st, h, body = self.get("/court/azb/echo%0d%0aSet-Cookie:%20x=1?crlf-encoded")
        self.assertLess(st, 500)
        self.assertEqual([v for v in h.get_all("Set-Cookie") if "x=1" in v], [])
        for r in list(SIM.requests):
            if "crlf-encoded" in r.target:
                self.assertNotIn("set-cookie", [k.lower() for k, _ in r.header_list])
                self.assertNotRegex(r.target, r"[\r\n]")

    def test_raw_crlf_in_target(self):
        data, closed = self.raw(("GET /court/azb/cgi-bin/iquery.pl?a\rSet-Cookie:x HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
                                 % self.bearer()).encode())
        self.assertIn(statuses(data), ([400], []))
        self.assertTrue(closed)
        data, closed = self.raw(("GET /court/azb/cgi-bin/iquery.pl?raw-sp x HTTP/1.1\r\nHost: localhost\r\n%s\r\n"
                                 % self.bearer()).encode())
        self.assertIn(statuses(data), ([400], []))
        self.assertEqual(self.sim_targets("raw-sp"), [])

    def test_bad_client_codes_get_400(self):
        for name, value in (("1000 chars", "C" * 1000), ("semicolon", "abc;Path=/"),
                            ("space inside", "abc def"), ("tab only", "\t"), ("non-ASCII", "caf\xe9"),
                            ("equals", "a=b")):
            with self.subTest(name):
                st, _, body = self.get("/court/azb/cgi-bin/iquery.pl?client-code", extra="Courtroute-Client-Code: %s\r\n" % value)
                self.assertEqual(st, 400, name)
                self.assertIn(b"Courtroute-Client-Code", body)
        data, closed = self.raw(("GET /court/azb/cgi-bin/iquery.pl?client-code HTTP/1.1\r\nHost: localhost\r\n%s"
                                 "Courtroute-Client-Code: a\rb\r\n\r\n" % self.bearer()).encode())
        self.assertIn(statuses(data), ([400], []))
        self.assertEqual(self.sim_targets("client-code"), [])

    def test_duplicate_host_in_path_mode(self):
        st, _, _ = self.get("/court/azb/cgi-bin/iquery.pl?two-hosts", extra="Host: evil.example\r\n")
        self.assertEqual(st, 400)
        self.assertEqual(self.sim_targets("two-hosts"), [])


# ============================================================================ hostile upstream

class HostileUpstreamTest(HostileCase):
    """A court that answers with broken HTTP: the client gets 502/504 or a truncated answer
    followed by a close, never a hang beyond the timeouts; the daemon keeps serving."""

    def ask(self, path, total=30.0):
        t = self.tunnel(self.dm, host(HOSTILE_ID))
        try:
            t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host(HOSTILE_ID))).encode())
            t0 = time.monotonic()
            data, closed = read_response(t, total=total)
            elapsed = time.monotonic() - t0
        finally:
            t.close()
        self.outputs.append(data)
        return parse_responses(data), closed, elapsed

    def test_ok_control(self):
        rs, _, _ = self.ask("/ok", total=5)
        self.assertEqual(rs[0][0], 200)
        self.assertIn(b"hostile court page", rs[0][2])

    def test_post_is_never_sent_twice(self):
        # A reused upstream connection that ends without an answer: an idempotent request may be
        # sent again on a new connection, a POST never (it may have reached the court: a
        # duplicate filing is worse than an error).
        sent = {}
        for method, marker in (("POST", "post-once"), ("GET", "get-again")):
            t = self.tunnel(self.dm, host(HOSTILE_ID))
            try:
                # /ok first, so that the next request goes out on a pooled, reused connection.
                t.sendall(("GET /ok HTTP/1.1\r\nHost: %s\r\n\r\n" % host(HOSTILE_ID)).encode())
                data, _ = read_response(t, total=10)
                self.assertEqual(parse_responses(data)[0][0], 200)
                body = "case=1"
                t.sendall(("%s /close-silently?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded"
                           "\r\nContent-Length: %d\r\n\r\n%s" % (method, marker, host(HOSTILE_ID),
                                                               len(body) if method == "POST" else 0,
                                                               body if method == "POST" else "")).encode())
                data, _ = read_response(t, total=20)
                self.outputs.append(data)
            finally:
                t.close()
            rs = parse_responses(data)
            self.assertEqual(rs[0][0], 502, "%s: %r" % (method, data[:200]))
            time.sleep(0.2)
            with HOSTILE.lock:
                sent[method] = sum(1 for x in HOSTILE.targets if marker in x)
        self.assertEqual(sent["POST"], 1, "the POST reached the court %d times" % sent["POST"])
        self.assertEqual(sent["GET"], 2, "a GET is sent again once on a new connection")
        print("stale upstream connection: POST sent %d time(s), GET %d" % (sent["POST"], sent["GET"]))

    def test_answers_that_must_become_502(self):
        for path in ("/nonhttp", "/truncated-text", "/close-after-header-text", "/big-header", "/cl-and-te",
                     "/bare-cr-header"):
            with self.subTest(path):
                rs, closed, elapsed = self.ask(path)
                self.assertTrue(rs, "%s: no answer at all" % path)
                self.assertEqual(rs[0][0], 502, "%s: %r" % (path, [r[0] for r in rs]))
                self.assertTrue(rs[0][2].strip(), "a text body says what failed")
                self.assertEqual(rs[0][1].get_all("Set-Cookie"), [], "%s: an injected header got through" % path)
                self.assertLess(elapsed, 20)

    def test_truncated_streams_end_in_a_close(self):
        for path, declared in (("/truncated-pdf", 100000), ("/close-after-header", 10), ("/bad-chunk", None)):
            with self.subTest(path):
                rs, closed, elapsed = self.ask(path)
                self.assertTrue(closed, "%s: the client was left hanging" % path)
                self.assertLess(elapsed, 20)
                if rs and rs[0][0] == 200:
                    if declared is not None:
                        self.assertLess(len(rs[0][2]), declared, "%s: the truncation was hidden" % path)
                else:
                    self.assertIn([r[0] for r in rs], ([], [502]), path)

    def test_stalled_body_does_not_block_others(self):
        HOSTILE.release.clear()
        self.addCleanup(HOSTILE.release.set)
        t = self.tunnel(self.dm, host(HOSTILE_ID))
        try:
            t.sendall(("GET /stall HTTP/1.1\r\nHost: %s\r\n\r\n" % host(HOSTILE_ID)).encode())
            data, closed = read_raw(t, quiet=3, total=10)
            self.assertFalse(closed)
            rs = parse_responses(data)
            self.assertTrue(rs and rs[0][0] == 200, "the header and first chunk arrive before the stall")
            # Others are served while this body stalls.
            t0 = time.monotonic()
            for _ in range(3):
                self.assertEqual(self.routed(self.dm)[0], 200)
                self.assertEqual(self.dm.http("GET", "/healthz", timeout=5)[0], 200)
            self.assertLess(time.monotonic() - t0, 10)
            HOSTILE.release.set()   # the court gives up: the client must see the end (a close)
            more, closed = read_raw(t, quiet=10, total=15)
            self.assertTrue(closed, "the client still hangs after the court closed")
            self.assertNotIn(b"0\r\n\r\n", more, "a cut-off body was presented as complete")
        finally:
            t.close()

    # Was a bug, fixed: an upstream interim answer (HTTP/1.1 100 Continue before the real 200) is relayed
    # as if it were the final answer (log: "request ... status=100 outcome=ok"); the real answer
    # is never read, so the client (which must treat 1xx as interim) waits for a final response
    # until the daemon's 60 s idle timeout. The daemon should skip 1xx answers (except 101) and
    # relay the final one.
    def test_interim_1xx_answer(self):
        t = self.tunnel(self.dm, host(HOSTILE_ID))
        try:
            t.sendall(("GET /interim HTTP/1.1\r\nHost: %s\r\n\r\n" % host(HOSTILE_ID)).encode())
            data, _ = read_raw(t, quiet=4, total=8)
        finally:
            t.close()
        self.outputs.append(data)
        finals = [r for r in parse_responses(data) if r[0] >= 200]
        self.assertTrue(finals, "only interim answers arrived: %s" % statuses(data))
        self.assertEqual(finals[0][0], 200)
        self.assertEqual(finals[0][2], b"final-first")

    def test_next_request_after_interim_gets_its_own_answer(self):
        self.ask("/interim", total=3)
        # The next request, maybe on a pooled connection, must not be answered with a leftover.
        rs, _, _ = self.ask("/ok", total=5)
        self.assertEqual(rs[0][0], 200)
        self.assertIn(b"hostile court page", rs[0][2], "a stale answer was served for another request")

    def test_court_faults_from_the_simulator(self):
        for fault, expected in (("close", 502), ("503", 503)):
            with self.subTest(fault):
                SIM.court_fault["azb"] = fault
                try:
                    st, h, body = self.routed(self.dm, "/cgi-bin/iquery.pl?fault-" + fault)
                finally:
                    SIM.court_fault.pop("azb", None)
                self.assertEqual(st, expected)


class PacerAnswerTest(HostileCase):
    """PACER's sign-on answering nonsense is a service error: 502, the credential stays active."""

    def pacer_user(self, name):
        login = name + "-login"
        pw = WATCH.add("pacer password", "pw-%s-5531xyz" % name)
        SIM.add_pacer_account(login, pw)
        token = self.dm.add_user(name)
        self.dm.tokens[name] = token
        r = self.dm.cli(["pacer", "set", name, "--login", login], stdin=pw + "\n")
        self.assertEqual(r.returncode, 0, WATCH.redact(r.stderr))
        return name

    def request_as(self, user, marker):
        s, status, _ = self.connect(self.dm, host("azd") + ":443", user=user)
        self.assertEqual(status, 200)
        ctx = ssl.create_default_context(cafile=self.dm.ca_path())
        t = ctx.wrap_socket(s, server_hostname=host("azd"))
        try:
            t.sendall(("GET /cgi-bin/iquery.pl?%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (marker, host("azd"))).encode())
            data, _ = read_raw(t, quiet=20, total=40)
        finally:
            t.close()
        self.outputs.append(data)
        rs = parse_responses(data)
        self.assertTrue(rs, "no answer")
        return rs[0]

    def pacer_state(self, user):
        r = self.dm.cli(["status", "--json", "--user", user])
        self.assertEqual(r.returncode, 0, WATCH.redact(r.stderr))
        doc = json.loads(r.stdout)
        return [u for u in doc["users"] if u["user"] == user][0]["pacer"]["state"]

    def test_not_json(self):
        user = self.pacer_user("pjunk")
        SIM.pacer_fault = "html"
        try:
            st, h, body = self.request_as(user, "pacer-html")
        finally:
            SIM.pacer_fault = None
        self.assertEqual(st, 502)
        self.assertEqual(self.pacer_state(user), "active", "a service error marked the credential")
        self.assertEqual(self.sim_targets("pacer-html"), [], "nothing went to the court without a session")

    def test_huge_answer(self):
        user = self.pacer_user("phuge")
        SIM.pacer_extra_fields = {"padding": "p" * (3 << 20)}
        try:
            st, h, body = self.request_as(user, "pacer-huge")
        finally:
            SIM.pacer_extra_fields = {}
        self.assertEqual(st, 502)
        self.assertEqual(self.pacer_state(user), "active")

    def test_token_with_crlf(self):
        user = self.pacer_user("pcrlf")
        token = WATCH.add("hostile session token", "T" * 10000 + "\r\nSet-Cookie: evil=1")
        SIM.pacer_extra_fields = {"nextGenCSO": token}
        try:
            st, h, body = self.request_as(user, "pacer-crlf")
        finally:
            SIM.pacer_extra_fields = {}
        self.assertEqual(st, 502)
        self.assertEqual(self.pacer_state(user), "active")
        self.assertEqual(self.sim_targets("pacer-crlf"), [], "a broken token was injected")

    def test_10kb_token(self):
        user = self.pacer_user("plong")
        token = WATCH.add("hostile session token", "L" * 10240)
        SIM.pacer_extra_fields = {"nextGenCSO": token}
        try:
            st, h, body = self.request_as(user, "pacer-long")
        finally:
            SIM.pacer_extra_fields = {}
        # Either refused as a service error or tried at the court (which does not know it).
        self.assertIn(st, (200, 502), body[:200])
        self.assertEqual(self.pacer_state(user), "active")

    def test_pacer_500_and_wrong_types(self):
        user = self.pacer_user("ptypes")
        for name, setup in (("500", lambda: setattr(SIM, "pacer_fault", "500")),
                            ("loginResult is a list",
                             lambda: SIM.pacer_extra_fields.update({"loginResult": [0]})),
                            ("token is a number",
                             lambda: SIM.pacer_extra_fields.update({"nextGenCSO": 12345})),
                            ("close", lambda: setattr(SIM, "pacer_fault", "close"))):
            with self.subTest(name):
                setup()
                try:
                    st, _, _ = self.request_as(user, "pacer-types")
                finally:
                    SIM.pacer_fault = None
                    SIM.pacer_extra_fields = {}
                self.assertIn(st, (502, 504), name)
                self.assertEqual(self.pacer_state(user), "active", name)


# ============================================================================ config and drop-ins

def courtrouted(args, timeout=30):
    return subprocess.run([harness.binary("courtrouted"), *args], capture_output=True, text=True,
                          timeout=timeout, env=harness.clean_env())


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hostile-e2e-config-")
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def test_every_bad_value_reported_with_position(self):
        courts = os.path.join(self.dir, "courts.d")
        os.makedirs(courts)
        lines = [
            "[listen]",
            "proxy = 3128",                                   # 2: wrong type
            "colour = \"blue\"",                              # 3: unknown key
            "[registry]",
            "dirs = \"%s\"" % courts,                         # 5: not an array
            "[state]",
            "dir = \"\"",                                     # 7: empty
            "[pacer]",
            "auth_url = \"http://pacer.example/auth\"",       # 9: not https
            "logout_url = \"https://user@pacer.example/x\"",  # 10: userinfo
            "[upstream]",
            "resolve = { \"nohostport\" = \"127.0.0.1:1\", \"a.example:443\" = 7 }",  # 12: bad key, bad value
            "[policy]",
            "unlinked_nextgen = \"maybe\"",                   # 14: not an allowed value
            "other_hosts = 7",                                # 15: wrong type
            "anonymous_user = \"bad\\u0001name\"",            # 16: control character
            "[bogus]",                                        # 17: unknown table
            "x = 1",
        ]
        path = os.path.join(self.dir, "bad.toml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = courtrouted(["--config", path, "--check"])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        for line in (2, 3, 5, 7, 9, 10, 12, 14, 15, 16, 17):
            with self.subTest(line=line):
                self.assertRegex(out, r"(?m)^%s:%d:\d+: \S" % (re.escape(path), line),
                                 "line %d (%s) not reported" % (line, lines[line - 1]))
        self.assertNotRegex(out, r"(?i)terminate|exception|what\(\)|Aborted")

    def test_binary_and_truncated_config(self):
        for name, blob in (("binary.toml", b"\xff\xfe\x00\x01[listen]\nproxy = \"\xc3\x28\"\n"),
                           ("truncated.toml", b"[listen]\nproxy = \"127.0.0.1:"),
                           ("nul.toml", b"[listen]\nproxy = \"127.0.0.1:3128\x00\"\n")):
            with self.subTest(name):
                path = os.path.join(self.dir, name)
                with open(path, "wb") as f:
                    f.write(blob)
                r = courtrouted(["--config", path, "--check"])
                self.assertEqual(r.returncode, 1)
                self.assertRegex(r.stdout + r.stderr, r"%s:\d+:\d+: \S" % re.escape(path))
        r = courtrouted(["--config", self.dir, "--check"])   # a directory
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.dir, r.stdout + r.stderr)

    def bad_registry(self, courts):
        """Writes good courts and every kind of bad drop-in; returns {kind: path}."""
        for cid in ("azb", "azd", "nvb"):
            c = SIM.courts[cid]
            with open(os.path.join(courts, cid + ".toml"), "w") as f:
                f.write(harness.court_toml(cid, type=c.type, system=c.system, host=c.host))
        bad = {}
        bad["binary"] = os.path.join(courts, "binary.toml")
        with open(bad["binary"], "wb") as f:
            f.write(bytes(random.Random(11).getrandbits(8) for _ in range(4096)))
        bad["non-utf8"] = os.path.join(courts, "latin1.toml")
        with open(bad["non-utf8"], "wb") as f:
            f.write(harness.court_toml("ctb").replace("Test court CTB", "Caf\xe9").encode("latin-1"))
        bad["directory"] = os.path.join(courts, "adir.toml")
        os.makedirs(bad["directory"])
        bad["10 MB"] = os.path.join(courts, "huge.toml")
        with open(bad["10 MB"], "w") as f:
            f.write(harness.court_toml("vtb"))
            f.write("# padding\n" * (1 << 20))
            f.write("oops = \n")
        bad["symlink loop"] = os.path.join(courts, "loop1.toml")
        os.symlink(os.path.join(courts, "loop2.toml"), bad["symlink loop"])
        os.symlink(bad["symlink loop"], os.path.join(courts, "loop2.toml"))
        bad["dangling symlink"] = os.path.join(courts, "dangling.toml")
        os.symlink(os.path.join(self.dir, "nowhere.toml"), bad["dangling symlink"])
        return bad

    def test_bad_drop_ins_reported_and_skipped(self):
        courts = os.path.join(self.dir, "courts.d")
        os.makedirs(courts)
        bad = self.bad_registry(courts)
        d = Daemon(self.dir, sim=SIM, watch=WATCH, courts={})
        t0 = time.monotonic()
        r = courtrouted(["--config", d.config_path, "--check"], timeout=60)
        out = r.stdout + r.stderr
        self.assertLess(time.monotonic() - t0, 30)
        self.assertEqual(r.returncode, 1, out)
        self.assertNotRegex(out, r"(?i)terminate|what\(\)|Aborted")
        for kind, path in bad.items():
            if kind == "directory":
                continue  # skipped like any non-file entry (systemd's convention); reporting it is optional
            with self.subTest(kind):
                self.assertRegex(out, r"(?m)^%s:\d+:\d+: \S" % re.escape(path), "%s drop-in not reported" % kind)
        self.assertRegex(out, r"3 courts")
        # The daemon with this registry serves the good courts and lists the bad files.
        d.start()
        self.addCleanup(d.stop)
        status = d.status()
        self.assertEqual(status["registry"]["courts"], 3)
        files = {e["file"] for e in status["registry"]["errors"]}
        for kind, path in bad.items():
            if kind != "directory":
                self.assertIn(path, files, kind)
        # SIGHUP with the same (still broken) registry, plus one more good court: keeps serving.
        with open(os.path.join(courts, "ctb.toml"), "w") as f:
            f.write(harness.court_toml("ctb"))
        mark = len(d.log_text())
        d.reload()
        d.wait_for_log(r"\breloaded\b", start=mark)
        self.assertTrue(d.running())
        self.assertEqual(d.http("GET", "/healthz")[0], 200)
        self.assertEqual(d.status()["registry"]["courts"], 4)
        WATCH.assert_absent(log=d.log_text())

    # Was a bug, fixed: registry::load opens every *.toml entry with fopen, so a FIFO (or any special file)
    # in courts.d blocks `courtrouted --check` forever, and would freeze the daemon's only io
    # thread on SIGHUP. Only regular files should be read (report the rest and skip them).
    def test_fifo_drop_in_does_not_hang(self):
        courts = os.path.join(self.dir, "courts.d")
        os.makedirs(courts)
        with open(os.path.join(courts, "azb.toml"), "w") as f:
            f.write(harness.court_toml("azb"))
        fifo = os.path.join(courts, "fifo.toml")
        os.mkfifo(fifo)
        d = Daemon(self.dir, sim=SIM, watch=WATCH, courts={})
        try:
            r = courtrouted(["--config", d.config_path, "--check"], timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("courtrouted --check hangs on a FIFO in courts.d (it opens it and waits for a writer)")
        self.assertEqual(r.returncode, 1)
        self.assertIn(fifo, r.stdout + r.stderr)

    def test_sighup_with_broken_config_keeps_serving(self):
        d = Daemon(self.dir, sim=SIM, watch=WATCH, courts={"azb": dict(type="bankruptcy", host=host("azb"))})
        d.start()
        self.addCleanup(d.stop)
        with open(d.config_path, "wb") as f:
            f.write(b"\xff\xfe[listen]\x00\nproxy = ")
        mark = len(d.log_text())
        d.reload()
        d.wait_for_log(r"(config_error|reload_failed)", start=mark)
        self.assertIn(d.config_path, d.log_text()[mark:])
        self.assertTrue(d.running())
        self.assertEqual(d.http("GET", "/healthz")[0], 200)
        self.assertEqual(d.status()["registry"]["courts"], 1)


# ============================================================================ CLI

class CliTest(HostileCase):
    """Bad CLI input: exit 1 or 2 with one clear line on stderr, never a crash, no secret echoed."""

    def bad(self, args, stdin="", codes=(1, 2), secrets=()):
        r = self.dm.cli(args, stdin=stdin)
        what = "courtroute %s" % " ".join(a[:40] for a in args)
        self.assertGreaterEqual(r.returncode, 0, "%s died of signal %d" % (what, -r.returncode))
        self.assertLess(r.returncode, 128, what)
        self.assertIn(r.returncode, codes, "%s: exit %d, stderr %r" % (what, r.returncode, r.stderr[:300]))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        if r.returncode == 1:
            self.assertEqual(len(lines), 1, "%s: %r" % (what, r.stderr[:500]))
        else:
            self.assertTrue(lines, "%s: nothing on stderr" % what)
        self.assertLess(len(lines[0]), 2000, "%s: the error line echoes the input" % what)
        for s in secrets:
            self.assertNotIn(s, r.stdout + r.stderr, "%s echoed a secret" % what)
        WATCH.assert_absent(cli_stdout=r.stdout, cli_stderr=r.stderr)
        self.assertNotRegex(r.stderr, r"(?i)terminate called|what\(\)|Aborted|Segmentation")
        return r

    def test_unknown_command_and_missing_args(self):
        for args in (["frobnicate"], ["user"], ["user", "add"], ["pacer", "set"], ["pacer", "set", "alice"],
                     ["ecf", "set", "dave"], ["link", "alice"], ["unlink"], ["status", "--user"],
                     ["courts", "--system", "\x01"], ["--config"], ["user", "add", "--"], ["-"], [""]):
            with self.subTest(args):
                self.bad(args)

    def test_bad_user_names(self):
        for name in ("a:b", "with space", "", "-rf", "\xe9\xe8", "../../etc", "x" * 65, "tab\tname"):
            with self.subTest(repr(name[:20])):
                r = self.dm.cli(["user", "add", name])
                if r.returncode == 0:
                    # Accepted: it must then work as a proxy user name, which ':' never can.
                    self.assertNotIn(":", name, "a user name with ':' can never authenticate (Basic user:token)")
                    self.assertTrue(re.fullmatch(r"[^\x00-\x1f\x7f]+", name), "control characters accepted")
                    self.dm.cli(["user", "remove", name])
                else:
                    self.bad(["user", "add", name])
        for args in (["pacer", "set", "no:such", "--login", "l"], ["ecf", "set", "a b", "nvb", "--login", "l"],
                     ["link", "x" * 300, "azb"]):
            with self.subTest(args[0]):
                self.bad(args, stdin="pw-bad-name-123456\n", secrets=("pw-bad-name-123456",))

    def test_bad_court_ids(self):
        for court in ("../azb", "azb/x", "AZB/", "", "x" * 300):
            with self.subTest(repr(court[:20])):
                self.bad(["ecf", "set", "dave", court, "--login", "d"], stdin="ecf-court-pw-0042\n",
                         secrets=("ecf-court-pw-0042",))
                self.bad(["link", "alice", court])

    # Was a bug (CLI), fixed: error lines quote the offending argument raw and whole: a user name with a
    # newline splits the "one line on stderr" in two, control characters (\x01) reach the
    # terminal as they are, and a 100,000-character name or 5,000-character court id is echoed
    # whole (a 100 kB error line). Quote with escapes and cut long values.
    def test_hostile_arguments_not_echoed_raw(self):
        for args in (["user", "add", "nl\nname"], ["user", "add", "bad\x01name"], ["user", "add", "x" * 100000],
                     ["pacer", "set", "x" * 100000, "--login", "l"], ["link", "alice", "azb\x01"],
                     ["ecf", "set", "dave", "x" * 5000, "--login", "d"]):
            with self.subTest(repr(args)[:60]):
                r = self.bad(args, stdin="pw-echo-test-123456\n")
                self.assertNotRegex(r.stderr.rstrip("\n"), r"[\x00-\x08\x0b-\x1f\x7f]",
                                    "a raw control character on stderr")

    def test_secret_input_problems(self):
        self.dm.tokens["erin"] = self.dm.add_user("erin")
        long_pw = WATCH.add("pacer password", "Pw" + "q" * 9998)
        r = self.dm.cli(["pacer", "set", "erin", "--login", "erin01"], stdin=long_pw + "\n")
        self.assertIn(r.returncode, (0, 1), WATCH.redact(r.stderr))
        self.assertNotIn(long_pw[:40], r.stdout + r.stderr)
        if r.returncode == 1:
            self.bad(["pacer", "set", "erin", "--login", "erin01"], stdin=long_pw + "\n")
        self.bad(["pacer", "set", "erin", "--login", "erin01"], stdin="", codes=(1,))
        self.bad(["pacer", "set", "erin", "--login", "erin01"], stdin="\n", codes=(1,))
        totp_pw = WATCH.add("pacer password", "erin-totp-pw-99124")
        bad_totp = WATCH.add("totp secret", "NOT!BASE32$$SECRET0189")
        self.bad(["pacer", "set", "erin", "--login", "erin01", "--totp"], stdin=totp_pw + "\n" + bad_totp + "\n",
                 codes=(1,), secrets=(totp_pw, bad_totp))
        self.bad(["pacer", "set", "erin", "--login", "erin01", "--totp"], stdin=totp_pw + "\n", codes=(1,),
                 secrets=(totp_pw,))
        r = subprocess.run([harness.binary("courtroute"), "--config", self.dm.config_path, "ecf", "set", "erin",
                            "nvb", "--login", "e"], input=b"\xff\xfe\x00binary\n", capture_output=True,
                           timeout=30, env=harness.clean_env())
        self.assertIn(r.returncode, (0, 1), r.stderr[:300])
        self.assertNotIn(b"\xff\xfe\x00binary", r.stdout + r.stderr)
        # erin's failed attempts changed nothing of the other users (checked in tearDown) and
        # left erin's own PACER state consistent.
        doc = json.loads(self.dm.cli(["status", "--json", "--user", "erin"]).stdout)
        self.assertIn(doc["users"][0]["pacer"]["state"], ("none", "active"))

    def test_bad_config_paths(self):
        for path in ("/nonexistent/courtroute.toml", self.dm.dir, "x" * 5000):
            with self.subTest(path[:40]):
                r = harness.cli(["user", "list"], config=path)
                self.assertIn(r.returncode, (0, 1, 2), r.stderr[:300])
                if r.returncode:
                    self.assertTrue(r.stderr.strip())
                    self.assertLess(len(r.stderr.splitlines()), 20)


if __name__ == "__main__":
    unittest.main()
