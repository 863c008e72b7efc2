"""A simulated PACER central sign-on service and simulated CM/ECF courts (PROTOCOL.md).

One threaded TLS server on 127.0.0.1 answers for every simulated host and dispatches on the
Host header (and checks it against the TLS SNI). Tests point the daemon at it with
`[upstream] resolve` and trust the simulator's throwaway CA with `[upstream] ca_file`.

Everything a test may want to tune is a plain attribute (faults, response shapes, session
lifetimes); everything the simulator saw is recorded in thread-safe lists (`requests`,
`pacer_attempts`, `ecf_attempts`, `pacer_logouts`, `court_logouts`, `errors`).

ACMS (the Second and Ninth Circuits, PROTOCOL §10: showdoc and showdocservices hosts, PACER's
identity provider idp.ca9.uscourts.gov) lives in acms.py as a mixin of Simulator; it is on for
an appellate court whose id is ca2 or ca9, or for any court added with `acms=True`. Its hosts,
sign-in flows, knobs, controls and records are described in acms.py's docstring.

PACER fees (PROTOCOL §9: the Transaction Receipt on docket reports, a document's quote, the
charge when its PDF is fetched, `PacerPref=receipt=N`) live in fees.py, a mixin as well; off
unless `fees_enabled` names the court (or is True). Its paths, knobs, records (`fee_charges`,
`fee_quotes`) and queries are described in fees.py's docstring.

Standard library only; runs under Debian's /usr/bin/python3.
"""

import base64
import email.parser
import email.policy
import hashlib
import hmac
import html
import http.server
import json
import os
import re
import secrets
import socket
import socketserver
import ssl
import string
import struct
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass

from .acms import ACMS_COURT_IDS, AcmsMixin
from .fees import FeesMixin
from .pki import TestPKI

PACER_HOST = "pacer.login.uscourts.gov"
QA_HOST = "qa-login.uscourts.gov"
PACER_LOGIN_PAGE = "https://pacer.login.uscourts.gov/csologin/login.jsf"
LOGOUT_LINK = "/cgi-bin/login.pl?logout"
NOT_LOGGED_IN_XML = "<message text='Not logged in.  Please refresh this page.'/>"

# Hosts that do not follow ecf.<id>.uscourts.gov (PROTOCOL §7).
_SPECIAL_HOSTS = {"ohndad": "ecf.ohndad.ohnd.uscourts.gov"}

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_BODY_KEEP = 1 << 20          # bytes of a request body kept for parsing (forms, JSON)
_CHUNK = 64 * 1024            # download chunk size
_MAX_DOWNLOAD = 16 << 30      # /download/<N> upper bound


# ----------------------------------------------------------------------------- helpers

def court_host(court_id):
    """The CM/ECF host of a court id (`ecf.<id>.uscourts.gov`, ohndad excepted)."""
    return _SPECIAL_HOSTS.get(court_id, "ecf.%s.uscourts.gov" % court_id)


def _b32_key(secret):
    s = re.sub(r"[\s-]", "", secret).upper()
    s += "=" * (-len(s) % 8)
    return base64.b32decode(s)


def totp(secret, t=None, step=30, digits=6):
    """RFC 6238 TOTP (HMAC-SHA1) of a base32 secret at time `t` (default: now)."""
    counter = int((time.time() if t is None else t) // step)
    mac = hmac.new(_b32_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % (10 ** digits)).zfill(digits)


def random_totp_secret(nbytes=20):
    """A fresh base32 TOTP secret (no padding), as an authenticator app would show."""
    return base64.b32encode(secrets.token_bytes(nbytes)).decode("ascii").rstrip("=")


def _token(length):
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


_PATTERN = bytes((i * 7 + 13) & 0xFF for i in range(_CHUNK))
_PDF_HEAD = b"%PDF-1.7\n"


def download_chunks(n):
    """The bytes `/download/<n>` sends, as chunks of at most 64 KiB (generated, not stored)."""
    first = _PDF_HEAD + _PATTERN[len(_PDF_HEAD):]
    sent = 0
    view = memoryview(_PATTERN)
    while sent < n:
        size = min(_CHUNK, n - sent)
        yield first[:size] if sent == 0 else view[:size]
        sent += size


def download_sha256(n):
    """Hex SHA-256 of what `/download/<n>` sends."""
    h = hashlib.sha256()
    for c in download_chunks(n):
        h.update(c)
    return h.hexdigest()


def parse_cookie_header(value):
    """[(name, value)] from a Cookie header, in order, tolerant of odd spacing."""
    pairs = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, val = part.partition("=")
        pairs.append((name.strip(), val.strip()))
    return pairs


class _BadRequest(Exception):
    """The request cannot be parsed: answer 400 and close."""


class _Drop(Exception):
    """Fault injection: close the connection without answering."""


# ----------------------------------------------------------------------------- records

@dataclass
class Court:
    """A simulated court."""
    id: str
    system: str        # "nextgen" | "legacy"
    type: str          # "bankruptcy" | "district" | "appellate" | "other"
    host: str
    acms: bool = False  # ACMS served for this court too (acms.py)


@dataclass
class PacerAttempt:
    """One POST to cso-auth."""
    login: str
    client_code: str
    had_otp: bool
    result: str        # loginResult sent, or "fault:<kind>" / "malformed"
    time: float
    service: str = "pacer"   # "pacer" | "qa"
    redact_flag: object = None
    content_type: str = ""


@dataclass
class EcfAttempt:
    """One POST to a legacy court's login.pl."""
    court: str
    login: str
    result: str        # "ok" | "bad" | "locked"
    time: float
    encoding: str      # "urlencoded" | "multipart" | other content type


@dataclass
class PacerLogout:
    """One POST to cso-logout."""
    login: object      # None when the token was unknown
    client_code: object
    known: bool
    time: float


@dataclass
class CourtLogout:
    """One GET /cgi-bin/login.pl?logout at a court."""
    court: str
    login: object
    time: float


@dataclass
class RequestRecord:
    """Every request the simulator parsed (header names lower-cased; duplicates joined)."""
    time: float
    host: str
    sni: object
    method: str
    target: str        # the request target as sent
    path: str          # path and query
    headers: dict
    header_list: list
    cookies: dict      # first value of each cookie name
    cookie_list: list
    body_length: int = 0
    court: object = None      # court id, "pacer", "qa", "acms:<court id>" (ACMS showdoc and
                              # showdocservices hosts), "acms-idp", "acms-files" or None
    logged_in: object = None  # courts: whether the request carried a live session
    status: object = None     # status answered (None while in flight / dropped)


@dataclass
class _PacerSession:
    token: str
    login: str
    client_code: str
    service: str
    created: float
    last_used: float
    revoked: bool = False


@dataclass
class _EcfSession:
    token: str
    court: str
    login: str
    created: float
    last_used: float
    revoked: bool = False


@dataclass
class _PacerAccount:
    password: str
    totp_secret: object
    notice: str


_MENUS = {
    "bankruptcy": ["Bankruptcy", "Adversary", "Query", "Reports", "Utilities", "Search", "Logout"],
    "district": ["Civil", "Criminal", "Query", "Reports", "Utilities", "Search", "Logout"],
    "appellate": ["Filing", "Query", "Reports", "Utilities", "Search", "Logout"],
    "other": ["Civil", "Query", "Reports", "Utilities", "Search", "Logout"],
}
LIMITED_MENU = ["Query", "Reports", "Utilities", "Logout"]


def full_menu(court_type):
    """The menu labels a linked (or legacy) filer sees at a court of this type."""
    return list(_MENUS.get(court_type, _MENUS["other"]))


# ----------------------------------------------------------------------------- HTTP plumbing

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        self.sim._note_error("connection error:\n" + traceback.format_exc(limit=6))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # answer garbage with a real status line, not HTTP/0.9
    server_version = "sim-cmecf/1.0"
    sys_version = ""
    timeout = 30
    sim = None  # set on a per-simulator subclass

    def setup(self):
        raw = self.request
        raw.settimeout(10)
        self.sim._track(raw, True)
        try:
            # wrap_socket takes the descriptor over from `raw`; the handshake runs here, in
            # this connection's thread, so a silent client cannot stall the accept loop.
            self.request = self.sim._ssl_ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            # A client that gave up or distrusts the certificate: not the server's problem.
            raw.close()
            raise _HandshakeFailed()
        finally:
            self.sim._track(raw, False)
        self.sim._track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.sim._track(self.request, False)
            self._lingering_close()

    def _lingering_close(self):
        """Closes the way Apache and nginx do: after an early answer (431, 413) the client may
        still be sending, and closing with unread bytes would reset the connection, which makes
        the client's kernel discard the answer it has not read yet. So: stop sending, read and
        drop what still comes for a moment, then close."""
        try:
            self.request.shutdown(socket.SHUT_WR)
            self.request.settimeout(0.5)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and self.request.recv(65536):
                pass
        except (OSError, ValueError):
            pass
        try:
            self.request.close()
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - keep stderr quiet
        pass

    def handle_one_request(self):
        self._sent = None
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError, _Drop):
            self.close_connection = True
        except _BadRequest as e:
            self.close_connection = True
            if self._sent is None:
                self._safe_send(400, "Bad request: %s\n" % e)
        except Exception:  # never let one request take the server down
            self.close_connection = True
            self.sim._note_error("handler error:\n" + traceback.format_exc(limit=8))
            if self._sent is None:
                self._safe_send(500, "Simulator error\n")

    def _safe_send(self, status, text):
        try:
            self.send(status, text, "text/plain; charset=utf-8")
        except Exception:
            pass

    def do_GET(self):
        self.sim._handle(self)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=()):
        """A whole response with Content-Length (no body for HEAD, 204 and 304)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._sent = status
        self.send_response(status)
        no_body = status in (204, 304) or 100 <= status < 200
        if ctype and not no_body:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and not no_body:
            self.wfile.write(body)
        if getattr(self, "_record", None) is not None:
            self._record.status = status

    def send_json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj), "application/json", headers)


class _HandshakeFailed(Exception):
    pass


# ----------------------------------------------------------------------------- the simulator

class Simulator(AcmsMixin, FeesMixin):
    """Simulated PACER login service, CM/ECF courts and ACMS on one TLS port of 127.0.0.1.

    `courts` may be given as {id: type} or {id: {"type":..., "system":..., "host":...,
    "acms":...}}; more can be added with add_court(), before or after start(). ACMS (acms.py)
    is on for appellate courts ca2 and ca9 unless `acms=False`.
    """

    def __init__(self, workdir, courts=None):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._pki = None
        self._ssl_ctx = None
        self._host_ctx = {}
        self._host_ctx_all = set()
        self._conns = set()
        self._time_offset = 0.0
        self._port = None

        self._courts = {}
        self._host_court = {}
        self._pacer_accounts = {}
        self._ecf_accounts = {}
        self._links = set()
        self._pacer_sessions = {}
        self._ecf_sessions = {}
        self._lockouts = {}
        self._used_otp = set()
        self._issued = []

        # --- knobs (plain attributes; change them at any time) ---
        self.pacer_fault = None            # None | "500" (any status digits) | "html" | "slow" | "close"
        self.pacer_fault_remaining = None  # None = every request; N = the next N requests only
        self.pacer_slow_seconds = 20.0     # how long "slow" stalls
        self.bad_credentials_result = "13"  # loginResult for a wrong login or password ("1" also seen)
        self.mfa_result = "13"             # loginResult for a missing or wrong otpCode
        self.redact_result = "2"           # loginResult when redactFlag is not "1"
        self.totp_reject_reuse = False     # refuse a code already used for that login
        self.pacer_extra_fields = {}       # merged into every cso-auth JSON answer
        self.pacer_logout_status = 200     # 200 (JSON) or 204
        self.session_max_age = None        # seconds; None = no hard limit
        self.session_idle_timeout = None   # seconds; None = no idle limit
        self.logged_out_shape = {}         # court id -> "html" | "meta" | "redirect" | "xml"
        self.stale_logged_out = {}         # court id -> True (always) or N (the next N requests)
        self.court_fault = {}              # court id -> "500" (digits) | "slow" | "close" |
                                           # "truncate" (a 200 whose body stops halfway, then close)
        self.court_slow_seconds = 20.0
        self.court_sets_session_cookie = False  # NextGen pages re-send Set-Cookie NextGenCSO=...
        self.enforce_client_code = False   # True: a session opened with a client code needs the
                                           # matching PacerClientCode cookie to count as logged in
        self.special_paths_require_login = True  # /echo, /download, /redirect, /set-cookie
        self.ecf_lockout_threshold = 5
        self.ecf_lockout_seconds = 300.0
        self.ecf_lockout_extra_seconds = 60.0

        # --- what was seen ---
        self.requests = []
        self.pacer_attempts = []
        self.ecf_attempts = []
        self.pacer_logouts = []
        self.court_logouts = []
        self.errors = []

        self._acms_init()
        self._fees_init()

        for cid, spec in (courts or {}).items():
            if isinstance(spec, str):
                self.add_court(cid, type=spec)
            else:
                self.add_court(cid, **dict(spec))

    # ------------------------------------------------------------------ setup API

    def add_court(self, id, system="nextgen", type="bankruptcy", host=None, acms=None):  # noqa: A002
        """Registers a court; its host joins the certificate (per-host cert if already started).

        acms: True serves ACMS for this court as well (acms.py), False never; None (default)
        turns it on for an appellate court whose id is ca2 or ca9."""
        if system not in ("nextgen", "legacy"):
            raise ValueError("system must be nextgen or legacy")
        if type not in ("bankruptcy", "district", "appellate", "other"):
            raise ValueError("type must be bankruptcy, district, appellate or other")
        host = (host or court_host(id)).lower()
        if acms is None:
            acms = type == "appellate" and id in ACMS_COURT_IDS
        with self._lock:
            self._courts[id] = Court(id, system, type, host, bool(acms))
            self._host_court[host] = id
            started = self._ssl_ctx is not None and host not in self._host_ctx_all
        if started:
            self._add_host_context(host)
        if acms:
            self.enable_acms(id)
        return self._courts[id]

    @property
    def courts(self):
        """{id: Court} snapshot."""
        with self._lock:
            return dict(self._courts)

    def add_pacer_account(self, login, password, totp_secret=None, notice="", service="pacer"):
        """A PACER account; with `totp_secret` (base32) MFA is on. service: "pacer" or "qa"."""
        if totp_secret:
            _b32_key(totp_secret)  # fail now on a bad secret, not in the server thread
        with self._lock:
            self._pacer_accounts[(service, login)] = _PacerAccount(password, totp_secret, notice)

    def set_pacer_notice(self, login, notice, service="pacer"):
        with self._lock:
            self._pacer_accounts[(service, login)].notice = notice

    def set_pacer_password(self, login, password, service="pacer"):
        with self._lock:
            self._pacer_accounts[(service, login)].password = password

    def add_ecf_account(self, court_id, login, password):
        """A court-issued CM/ECF login at a (legacy) court."""
        with self._lock:
            self._ecf_accounts[(court_id, login)] = password

    def link(self, court_id, pacer_login):
        """The PACER login has been linked to a CM/ECF account at that court: full menus."""
        with self._lock:
            self._links.add((court_id, pacer_login))

    def unlink(self, court_id, pacer_login):
        with self._lock:
            self._links.discard((court_id, pacer_login))

    # ------------------------------------------------------------------ sessions

    def _now(self):
        return time.time() + self._time_offset

    def advance_time(self, seconds):
        """Moves the clock used for session ages and lockouts (not TOTP) forward."""
        with self._lock:
            self._time_offset += seconds

    def expire_all_sessions(self):
        """Every PACER and CM/ECF session issued so far stops working."""
        with self._lock:
            for s in self._pacer_sessions.values():
                s.revoked = True
            for s in self._ecf_sessions.values():
                s.revoked = True

    def expire_sessions(self, login=None, court=None):
        """Expires PACER sessions of `login` (any when None) and CM/ECF sessions at `court`."""
        with self._lock:
            for s in self._pacer_sessions.values():
                if court is None and (login is None or s.login == login):
                    s.revoked = True
            for s in self._ecf_sessions.values():
                if (court is None or s.court == court) and (login is None or s.login == login):
                    s.revoked = True

    def live_pacer_sessions(self):
        """[(login, client_code)] of PACER sessions that are still valid."""
        with self._lock:
            return [(s.login, s.client_code) for s in self._pacer_sessions.values()
                    if self._alive(s, touch=False)]

    def issued_tokens(self):
        """Every session token the simulator handed out: [(kind, token)] (for SecretWatch)."""
        with self._lock:
            return list(self._issued)

    def _alive(self, s, touch=True):
        if s.revoked:
            return False
        now = self._now()
        if self.session_max_age is not None and now - s.created >= self.session_max_age:
            return False
        if self.session_idle_timeout is not None and now - s.last_used >= self.session_idle_timeout:
            return False
        if touch:
            s.last_used = now
        return True

    # ------------------------------------------------------------------ lifecycle

    @property
    def hosts(self):
        """Every host name the simulator answers for."""
        with self._lock:
            return [PACER_HOST, QA_HOST] + [c.host for c in self._courts.values()] + \
                self._acms_hosts()

    @property
    def port(self):
        if self._port is None:
            raise RuntimeError("the simulator was never started")
        return self._port

    @property
    def ca_pem(self):
        if self._pki is None:
            raise RuntimeError("the simulator is not started")
        return self._pki.ca_pem

    def start(self):
        if self._server is not None:
            return self
        self._pki = TestPKI(os.path.join(self.workdir, "sim-pki"), name="courtroute sim CA")
        hosts = self.hosts
        cert, key = self._pki.issue(hosts, name="sim-hosts")
        self._ssl_ctx = self._make_ctx(cert, key)
        self._ssl_ctx.sni_callback = self._sni
        self._host_ctx_all = set(hosts)
        handler = type("SimHandler", (_Handler,), {"sim": self})
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.sim = self
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="sim-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset_counters(self):
        """Forgets what was seen (requests, attempts, logouts, errors, ACMS and fee records);
        keeps accounts and sessions."""
        with self._lock:
            for lst in (self.requests, self.pacer_attempts, self.ecf_attempts,
                        self.pacer_logouts, self.court_logouts, self.errors,
                        *self._acms_records(), *self._fees_records()):
                lst.clear()

    def _make_ctx(self, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        try:
            ctx.set_alpn_protocols(["http/1.1"])
        except NotImplementedError:
            pass
        return ctx

    def _add_host_context(self, host):
        cert, key = self._pki.issue([host])
        ctx = self._make_ctx(cert, key)
        with self._lock:
            self._host_ctx[host] = ctx
            self._host_ctx_all.add(host)

    def _sni(self, sslsock, server_name, _ctx):
        try:
            sslsock.sim_sni = server_name
        except AttributeError:
            pass
        if server_name:
            ctx = self._host_ctx.get(server_name.lower())
            if ctx is not None:
                sslsock.context = ctx
        return None

    def _track(self, sock, add):
        with self._lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    def _note_error(self, text):
        exc = traceback.format_exc()
        if "_HandshakeFailed" in exc or "ConnectionResetError" in exc or "BrokenPipeError" in exc:
            return
        with self._lock:
            self.errors.append(text)

    # ------------------------------------------------------------------ dispatch

    def _read_body(self, h):
        """(length, first bytes, sha256 hex) of the request body; 400 on framing errors."""
        te = h.headers.get_all("Transfer-Encoding") or []
        cl = h.headers.get_all("Content-Length") or []
        kept = bytearray()
        digest = hashlib.sha256()
        total = 0

        def sink(data):
            nonlocal total
            total += len(data)
            digest.update(data)
            if len(kept) < _BODY_KEEP:
                kept.extend(data[:_BODY_KEEP - len(kept)])

        if te:
            if cl:
                raise _BadRequest("both Transfer-Encoding and Content-Length")
            if ",".join(te).strip().lower() != "chunked":
                raise _BadRequest("unsupported Transfer-Encoding")
            self._read_chunked(h.rfile, sink)
        elif cl:
            values = {v.strip() for v in ",".join(cl).split(",")}
            if len(values) != 1 or not re.fullmatch(r"[0-9]{1,15}", next(iter(values))):
                raise _BadRequest("bad Content-Length")
            remaining = int(next(iter(values)))
            while remaining:
                data = h.rfile.read(min(remaining, _CHUNK))
                if not data:
                    raise _BadRequest("body shorter than Content-Length")
                sink(data)
                remaining -= len(data)
        return total, bytes(kept), digest.hexdigest()

    @staticmethod
    def _read_chunked(rfile, sink):
        while True:
            line = rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise _BadRequest("bad chunk size line")
            size_text = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
                raise _BadRequest("bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(100):
                    trailer = rfile.readline(8192)
                    if trailer in (b"\r\n", b"\n"):
                        return
                    if not trailer:
                        raise _BadRequest("truncated chunked body")
                raise _BadRequest("too many trailers")
            while size:
                data = rfile.read(min(size, _CHUNK))
                if not data:
                    raise _BadRequest("truncated chunk")
                sink(data)
                size -= len(data)
            if rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest("chunk not followed by CRLF")

    def _handle(self, h):
        h._record = None
        target = h.path
        hosts = h.headers.get_all("Host") or []
        if len(hosts) != 1:
            raise _BadRequest("exactly one Host header is required")
        if target.startswith(("http://", "https://")):
            u = urllib.parse.urlsplit(target)
            path = (u.path or "/") + ("?" + u.query if u.query else "")
        elif target.startswith("/"):
            path = target
        else:
            raise _BadRequest("bad request target")
        host = hosts[0].strip().lower()
        if host.startswith("["):
            host = host[:host.find("]") + 1]
        elif ":" in host:
            host = host.rsplit(":", 1)[0]
        header_list = [(k, v) for k, v in h.headers.items()]
        headers = {}
        for k, v in header_list:
            lk = k.lower()
            sep = "; " if lk == "cookie" else ", "
            headers[lk] = headers[lk] + sep + v if lk in headers else v
        cookie_list = parse_cookie_header(headers.get("cookie", ""))
        cookies = {}
        for k, v in cookie_list:
            cookies.setdefault(k, v)
        sni = getattr(h.request, "sim_sni", None)
        length, body, body_sha = self._read_body(h)
        rec = RequestRecord(self._now(), host, sni, h.command, target, path, headers,
                            header_list, cookies, cookie_list, length)
        h._record = rec
        with self._lock:
            self.requests.append(rec)
        if sni is not None and sni.lower() != host:
            h.send(421, "Misdirected request: SNI %s but Host %s\n" % (sni, host), "text/plain")
            return
        if self._acms_handle(h, rec, host, body):
            return
        if host in (PACER_HOST, QA_HOST):
            rec.court = "pacer" if host == PACER_HOST else "qa"
            self._acms_watch(rec, "pacer")
            self._pacer(h, rec, body)
            return
        with self._lock:
            cid = self._host_court.get(host)
            court = self._courts.get(cid) if cid else None
        if court is None:
            h.send(421, "Misdirected request: no such host here\n", "text/plain")
            return
        rec.court = court.id
        self._acms_watch(rec, "court")
        self._court(h, rec, court, path, body, body_sha)

    def _fault(self, h, kind, slow_seconds):
        """Applies a fault; True when the response has been sent (or the connection dropped)."""
        if kind == "slow":
            self._stopping.wait(slow_seconds)
            return False
        if kind == "close":
            h.close_connection = True
            raise _Drop()
        if kind == "truncate":
            # A server that dies mid-answer: the header promises 256 KiB (Content-Length), half
            # of it arrives, then the connection ends.
            body = b"".join(download_chunks(256 << 10))
            h.close_connection = True
            h._sent = 200
            if h._record is not None:
                h._record.status = 200
            h.send_response(200)
            h.send_header("Content-Type", "application/pdf")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body[:len(body) // 2])
                h.wfile.flush()
            raise _Drop()
        if kind == "html":
            h.send(200, "<html><head><title>Maintenance</title></head><body>"
                        "<h1>PACER is undergoing scheduled maintenance</h1></body></html>")
            return True
        if isinstance(kind, int) or (isinstance(kind, str) and kind.isdigit()):
            status = int(kind)
            h.send(status, "<html><body><h1>%d Error</h1></body></html>" % status)
            return True
        raise ValueError("unknown fault %r" % (kind,))

    # ------------------------------------------------------------------ PACER

    def _take_pacer_fault(self):
        with self._lock:
            kind = self.pacer_fault
            if kind is None:
                return None
            if self.pacer_fault_remaining is not None:
                if self.pacer_fault_remaining <= 0:
                    return None
                self.pacer_fault_remaining -= 1
            return kind

    def _pacer(self, h, rec, body):
        service = rec.court
        path = urllib.parse.urlsplit(rec.path).path
        if path.startswith("/csologin/"):
            h.send(200, "<html><head><title>PACER: Login</title></head><body>"
                        "<form id='loginForm' method='post'><input name='loginForm:loginName'>"
                        "<input type='password' name='loginForm:password'></form></body></html>")
            return
        if path not in ("/services/cso-auth", "/services/cso-logout"):
            h.send(404, "<html><body>Not Found</body></html>")
            return
        if h.command != "POST":
            h.send(405, "<html><body>Method Not Allowed</body></html>", headers=[("Allow", "POST")])
            return
        try:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            data = None
        if path == "/services/cso-auth":
            self._pacer_auth(h, rec, service, data)
        else:
            self._pacer_logout(h, service, data)

    def _pacer_auth(self, h, rec, service, data):
        now = self._now()
        ctype = rec.headers.get("content-type", "")

        def field(name):
            v = data.get(name) if data else None
            return v if isinstance(v, str) else None

        login = field("loginId") or ""
        client = field("clientCode") or ""
        otp = field("otpCode")
        attempt = PacerAttempt(login, client, bool(otp), "", now, service,
                               data.get("redactFlag") if data else None, ctype)
        with self._lock:
            self.pacer_attempts.append(attempt)
        fault = self._take_pacer_fault()
        if fault is not None:
            attempt.result = "fault:%s" % fault
            if self._fault(h, fault, self.pacer_slow_seconds):
                return
        if data is None:
            attempt.result = "malformed"
            h.send_json(400, {"loginResult": "1", "nextGenCSO": "",
                              "errorDescription": "Malformed request."})
            return
        password = field("password")
        with self._lock:
            acct = self._pacer_accounts.get((service, login))
            ok_password = (acct is not None and password is not None and
                           hmac.compare_digest(acct.password.encode("utf-8"), password.encode("utf-8")))
            if not ok_password:
                result, desc = self.bad_credentials_result, \
                    "Login failed. Invalid username or password."
            elif data.get("redactFlag") != "1":
                result, desc = self.redact_result, \
                    "Login failed. You must acknowledge the redaction rules (redactFlag)."
            elif acct.totp_secret and not self._otp_ok(acct.totp_secret, login, otp):
                result, desc = self.mfa_result, \
                    "Login failed. A valid one-time passcode is required for this account."
            else:
                result, desc = "0", acct.notice
            token = ""
            if result == "0":
                token = _token(128)
                self._pacer_sessions[token] = _PacerSession(token, login, client, service, now, now)
                self._issued.append(("pacer session token", token))
            attempt.result = result
            answer = {"nextGenCSO": token, "loginResult": result, "errorDescription": desc}
            answer.update(self.pacer_extra_fields)
        h.send_json(200, answer)

    def _otp_ok(self, secret, login, otp):
        if not otp or not re.fullmatch(r"[0-9]{6}", otp):
            return False
        now = time.time()  # TOTP uses the real clock, as the daemon does
        for back in (0, 1):
            step = int(now // 30) - back
            if hmac.compare_digest(totp(secret, step * 30), otp):
                if self.totp_reject_reuse:
                    if (login, step) in self._used_otp:
                        return False
                    self._used_otp.add((login, step))
                return True
        return False

    def _pacer_logout(self, h, service, data):
        fault = self._take_pacer_fault()
        if fault is not None and self._fault(h, fault, self.pacer_slow_seconds):
            return
        token = data.get("nextGenCSO") if data else None
        with self._lock:
            s = self._pacer_sessions.get(token) if isinstance(token, str) else None
            if s is not None:
                s.revoked = True
            self.pacer_logouts.append(PacerLogout(s.login if s else None,
                                                  s.client_code if s else None,
                                                  s is not None, self._now()))
        if self.pacer_logout_status == 204:
            h.send(204, b"", None)
        else:
            h.send_json(self.pacer_logout_status, {"loginResult": "0", "errorDescription": ""})

    # ------------------------------------------------------------------ courts

    def _pacer_session_of(self, rec):
        """The live production PACER session a court request carries, or None."""
        with self._lock:
            for name in ("NextGenCSO", "PacerSession"):
                token = rec.cookies.get(name)
                s = self._pacer_sessions.get(token) if token else None
                if s is not None and s.service == "pacer" and self._alive(s):
                    if self.enforce_client_code and s.client_code and \
                            rec.cookies.get("PacerClientCode") != s.client_code:
                        return None
                    return s
        return None

    def _ecf_session_of(self, rec, court):
        with self._lock:
            token = rec.cookies.get("PacerSession")
            s = self._ecf_sessions.get(token) if token else None
            if s is not None and s.court == court.id and self._alive(s):
                return s
        return None

    def _take_stale(self, court):
        with self._lock:
            v = self.stale_logged_out.get(court.id)
            if not v:
                return False
            if v is True:
                return True
            self.stale_logged_out[court.id] = int(v) - 1
            return True

    def _court(self, h, rec, court, path, body, body_sha):
        u = urllib.parse.urlsplit(path)
        fault = self.court_fault.get(court.id)
        if fault is not None and self._fault(h, fault, self.court_slow_seconds):
            return
        if u.path == "/cgi-bin/login.pl":
            if u.query == "logout" or "logout" in urllib.parse.parse_qs(u.query, keep_blank_values=True):
                self._court_logout(h, rec, court)
                return
            if court.system == "legacy":
                if h.command == "POST":
                    self._legacy_login(h, rec, court, body)
                else:
                    h.send(200, self._login_form(court))
                return
        special = self._special(u.path)
        if special and not self.special_paths_require_login:
            rec.logged_in = None
            self._serve_special(h, rec, court, u, special, body_sha)
            return
        session = (self._pacer_session_of(rec) if court.system == "nextgen"
                   else self._ecf_session_of(rec, court))
        logged_in = session is not None and not self._take_stale(court)
        rec.logged_in = logged_in
        if not logged_in:
            if court.system == "legacy":
                h.send(200, self._login_form(court))
            else:
                self._logged_out(h, court, u.path)
            return
        if special:
            self._serve_special(h, rec, court, u, special, body_sha)
            return
        extra = []
        if court.system == "nextgen" and self.court_sets_session_cookie:
            extra.append(("Set-Cookie", "NextGenCSO=%s; Domain=.uscourts.gov; Path=/; Secure; HttpOnly"
                          % session.token))
        if u.path.endswith("possible_case_numbers.pl"):
            h.send(200, "<request number='1:24-bk-00001'><case number='1:24-bk-00001' id='12345' "
                        "title='In re Test Debtor'/></request>", "text/xml", extra)
            return
        if court.system == "nextgen":
            with self._lock:
                linked = (court.id, session.login) in self._links
            menu = full_menu(court.type) if linked else LIMITED_MENU
            if self._fees_on(court) and self._fee_page(h, rec, court, u, body, session, menu, extra):
                return
        else:
            menu = full_menu(court.type)
        h.send(200, self._page(court, u, menu), headers=extra)

    @staticmethod
    def _special(path):
        if path == "/echo":
            return "echo"
        if re.fullmatch(r"/download/[0-9]{1,12}", path):
            return "download"
        if path == "/redirect":
            return "redirect"
        if path == "/set-cookie":
            return "set-cookie"
        return None

    def _serve_special(self, h, rec, court, u, kind, body_sha):
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if kind == "echo":
            h.send_json(200, {
                "court": court.id, "host": rec.host, "sni": rec.sni, "method": rec.method,
                "target": rec.target, "path": rec.path, "headers": rec.headers,
                "header_list": rec.header_list, "cookies": rec.cookies,
                "cookie_list": rec.cookie_list, "body_length": rec.body_length,
                "body_sha256": body_sha, "logged_in": rec.logged_in})
        elif kind == "download":
            n = int(u.path.rsplit("/", 1)[1])
            if n > _MAX_DOWNLOAD:
                h.send(400, "too large\n", "text/plain")
                return
            self._stream(h, n, chunked=q.get("chunked", ["0"])[0] == "1")
        elif kind == "redirect":
            to = q.get("to", ["/"])[0]
            status = q.get("status", ["302"])[0]
            if not re.fullmatch(r"30[12378]", status):
                status = "302"
            location = to if to.startswith(("http://", "https://")) else \
                "https://%s%s" % (court.host, to if to.startswith("/") else "/" + to)
            h.send(int(status), "<html><body>Moved</body></html>", headers=[("Location", location)])
        elif kind == "set-cookie":
            cookies = [("Set-Cookie", "%s=%s; Domain=.uscourts.gov; Path=/; Secure; HttpOnly" % (k, v[0]))
                       for k, v in q.items() if re.fullmatch(r"[A-Za-z0-9_.-]+", k)
                       and re.fullmatch(r"[A-Za-z0-9_.-]*", v[0])]
            h.send(200, "<html><body>cookies set</body></html>", headers=cookies)

    def _stream(self, h, n, chunked):
        h._sent = 200
        if h._record is not None:
            h._record.status = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/pdf")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(n))
        h.end_headers()
        if h.command == "HEAD":
            return
        w = h.wfile
        for c in download_chunks(n):
            if self._stopping.is_set():
                raise _Drop()
            if chunked:
                w.write(b"%x\r\n" % len(c))
                w.write(c)
                w.write(b"\r\n")
            else:
                w.write(c)
        if chunked:
            w.write(b"0\r\n\r\n")

    def _logged_out(self, h, court, path):
        shape = self.logged_out_shape.get(court.id, "html")
        url = "%s?pscCourtId=%s" % (PACER_LOGIN_PAGE, court.id.upper())
        if shape == "xml" or path.endswith("possible_case_numbers.pl"):
            h.send(200, NOT_LOGGED_IN_XML, "text/xml")
        elif shape == "redirect":
            h.send(302, "<html><body>Found</body></html>", headers=[("Location", url)])
        elif shape == "meta":
            h.send(200, '<html><head><meta http-equiv="refresh" content="0; url=%s"></head>'
                        "<body>Redirecting to PACER login</body></html>" % html.escape(url))
        else:
            h.send(200, '<html><head><script type="text/javascript">\nwindow.location = "%s";\n'
                        "</script></head><body></body></html>" % url)

    def _login_form(self, court, notice=""):
        return ("<html><head><title>%s - CM/ECF Login</title></head><body>%s"
                '<form method="POST" action="/cgi-bin/login.pl" enctype="multipart/form-data">'
                'Login: <input type="text" name="login" size="20"><br>'
                'Password: <input type="password" name="key" size="20"><br>'
                '<input type="submit" value="Login"></form></body></html>'
                % (court.id.upper(), "<p>%s</p>" % html.escape(notice) if notice else ""))

    def _page(self, court, u, menu, content="", after=""):
        """A logged-in page: the menu, the path asked for, then `content` inside the main
        content and `after` it (fees.py: the report, then the Transaction Receipt)."""
        links = []
        for label in menu:
            href = LOGOUT_LINK if label == "Logout" else "/cgi-bin/DisplayMenu.pl?%s" % label
            links.append('<a href="%s">%s</a>' % (href, label))
        return ("<html><head><title>%s CM/ECF</title></head><body>\n"
                '<div id="topmenu"><div id="topmenuinner">%s</div></div>\n'
                '<div id="cmecfMainContent"><p>Page: <span id="sim-path">%s</span></p>%s</div>\n'
                "%s</body></html>" % (court.id.upper(), " ".join(links),
                                     html.escape(u.path + ("?" + u.query if u.query else "")),
                                     content, after))

    def _court_logout(self, h, rec, court):
        with self._lock:
            login = None
            if court.system == "nextgen":
                s = self._pacer_session_of(rec)
                if s is not None:
                    s.revoked = True  # the court's logout ends the PACER session too
                    login = s.login
            else:
                s = self._ecf_session_of(rec, court)
                if s is not None:
                    s.revoked = True
                    login = s.login
            rec.logged_in = s is not None
            self.court_logouts.append(CourtLogout(court.id, login, self._now()))
        if court.system == "legacy":
            h.send(200, self._login_form(court, "You have been logged out."))
        else:
            h.send(200, "<html><body><p>You have been logged out of CM/ECF and PACER.</p></body></html>")

    def _parse_form(self, rec, body):
        ctype = rec.headers.get("content-type", "")
        main = ctype.split(";", 1)[0].strip().lower()
        if main == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1", "replace") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body)
            fields = {}
            if msg.is_multipart():
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if name and name not in fields:
                        payload = part.get_payload(decode=True) or b""
                        fields[name] = payload.decode("utf-8", "replace")
            return "multipart", fields
        qs = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return ("urlencoded" if main == "application/x-www-form-urlencoded" else main or "none",
                {k: v[0] for k, v in qs.items()})

    def _legacy_login(self, h, rec, court, body):
        encoding, fields = self._parse_form(rec, body)
        login = fields.get("login", "")
        key = fields.get("key")
        now = self._now()
        with self._lock:
            expected = self._ecf_accounts.get((court.id, login))
            ok = (expected is not None and key is not None and
                  hmac.compare_digest(expected.encode("utf-8"), key.encode("utf-8")))
            state = self._lockouts.setdefault((court.id, login), [0, 0.0])
            if state[1] and now >= state[1]:
                state[0], state[1] = 0, 0.0
            if state[1]:
                result = "locked"
                if not ok:
                    state[1] += self.ecf_lockout_extra_seconds
            elif ok:
                result = "ok"
                state[0] = 0
            else:
                result = "bad"
                state[0] += 1
                if state[0] >= self.ecf_lockout_threshold:
                    state[1] = now + self.ecf_lockout_seconds
            self.ecf_attempts.append(EcfAttempt(court.id, login, result, now, encoding))
            token = ""
            if result == "ok":
                token = _token(64)
                self._ecf_sessions[token] = _EcfSession(token, court.id, login, now, now)
                self._issued.append(("cmecf session token", token))
        if result == "ok":
            h.send(200, '<html><head><title>%s CM/ECF</title>\n<script type="text/javascript">\n'
                        'document.cookie="PacerSession=%s; path=/";\n</script></head>'
                        "<body><p>Login successful.</p></body></html>" % (court.id.upper(), token))
        elif result == "locked":
            h.send(200, "<html><body><p>Login failed. This account is locked because of too many "
                        "failed login attempts. Try again later.</p></body></html>")
        else:
            h.send(200, "<html><body><p>Login failed. Invalid ID or password.</p></body></html>")
