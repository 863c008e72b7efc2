"""Helpers for courtroute's end-to-end tests: run the real daemon and CLI against tests/sim.

Runs under Debian's /usr/bin/python3 (standard library plus python3-requests). Everything
listens on 127.0.0.1 and every wait is bounded.
"""

import base64
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTS = os.path.dirname(_HERE)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from sim.sim import PACER_HOST, Simulator  # noqa: E402  (path set up above)

__all__ = ["Simulator", "SecretWatch", "Daemon", "Headers", "CurlResult", "build_dir", "repo_dir",
           "binary", "have_binaries", "free_port", "clean_env", "court_toml", "cli", "add_user",
           "requests_session", "curl", "sim_curl"]

CURL = "/usr/bin/curl"
# The binaries under test were built with AddressSanitizer (build-asan): its quarantine and shadow
# memory add hundreds of MiB of resident memory, so memory bounds cannot be measured there.
SANITIZED = os.environ.get("COURTROUTE_SANITIZED") == "1"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
               "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def repo_dir():
    """The source tree: $COURTROUTE_SRC, else two levels above this file."""
    return os.path.abspath(os.environ.get("COURTROUTE_SRC") or os.path.dirname(_TESTS))


def build_dir():
    """Where courtrouted and courtroute are: $COURTROUTE_BIN, else <repo>/build/daemon."""
    return os.path.abspath(os.environ.get("COURTROUTE_BIN") or os.path.join(repo_dir(), "build", "daemon"))


def binary(name):
    return os.path.join(build_dir(), name)


def have_binaries():
    return all(os.access(binary(n), os.X_OK) for n in ("courtrouted", "courtroute"))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """The environment without proxy variables or systemd hand-overs (tests set what they need)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _PROXY_VARS and k not in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET",
                                                  "LISTEN_FDS", "LISTEN_PID", "CURL_HOME")}
    env.update(extra or {})
    return env


def toml_str(value):
    """A TOML basic string."""
    out = ['"']
    for ch in str(value):
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def court_toml(court_id, type="bankruptcy", system="nextgen", nextgen_since=None,  # noqa: A002
               name=None, host=None, extra_hosts=None, source=None, ecf_url=None):
    """The text of a courts.d drop-in."""
    host = host or ("ecf.ohndad.ohnd.uscourts.gov" if court_id == "ohndad"
                    else "ecf.%s.uscourts.gov" % court_id)
    lines = ["id = %s" % toml_str(court_id),
             "name = %s" % toml_str(name or "Test court %s" % court_id.upper()),
             "type = %s" % toml_str(type),
             "ecf_url = %s" % toml_str(ecf_url or "https://" + host),
             "system = %s" % toml_str(system)]
    if nextgen_since is not None:
        if isinstance(nextgen_since, datetime.date):
            nextgen_since = nextgen_since.isoformat()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(nextgen_since)):
            raise ValueError("nextgen_since must be YYYY-MM-DD or a date")
        lines.append("nextgen_since = %s" % nextgen_since)
    if extra_hosts:
        lines.append("extra_hosts = [%s]" % ", ".join(toml_str(h) for h in extra_hosts))
    if source:
        lines.append("source = %s" % toml_str(source))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- secrets

class SecretWatch:
    """Collects the secrets a test uses and checks that none shows up where it must not.

    Failures name the kind of secret and where it was found, never the secret itself.
    Secrets shorter than 8 characters are refused: they would match by accident.
    """

    def __init__(self, sim=None):
        self.sim = sim
        self._items = []  # (kind, value)

    def add(self, kind, value):
        """Registers a secret (and its URL-encoded form). Returns the value for chaining."""
        if value is None:
            return value
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if len(value) < 8:
            raise ValueError("test secret of kind %r is too short to watch for (use 8+ chars)" % kind)
        self._items.append((kind, value))
        quoted = urllib.parse.quote(value, safe="")
        if quoted != value:
            self._items.append((kind + " (url-encoded)", quoted))
        return value

    def add_basic(self, kind, user, token):
        """Registers the Basic credentials `user:token` as they appear base64-encoded."""
        self.add(kind, token)
        self._items.append((kind + " (Basic)", base64.b64encode(("%s:%s" % (user, token)).encode()).decode()))
        return token

    def _all(self):
        items = list(self._items)
        if self.sim is not None:
            items.extend(self.sim.issued_tokens())
        return items

    @staticmethod
    def _text(t):
        if t is None:
            return ""
        if isinstance(t, (bytes, bytearray)):
            return bytes(t).decode("latin-1")
        if isinstance(t, str):
            return t
        if hasattr(t, "headers") and hasattr(t, "content"):  # a requests.Response
            return "\n".join("%s: %s" % kv for kv in t.headers.items()) + "\n" + \
                t.content.decode("latin-1")
        try:
            return json.dumps(t, default=str)
        except (TypeError, ValueError):
            return str(t)

    def find(self, *texts, **named):
        """[(kind, where)] of every registered secret found in the texts."""
        found = []
        targets = [("text #%d" % i, t) for i, t in enumerate(texts)] + list(named.items())
        for where, t in targets:
            text = self._text(t)
            for kind, value in self._all():
                if value in text or value.encode("utf-8").decode("latin-1") in text:
                    found.append((kind, where))
        return found

    def assert_absent(self, *texts, **named):
        """Raises AssertionError naming the kind and place of every leaked secret."""
        found = self.find(*texts, **named)
        if found:
            raise AssertionError("secret leaked: " + "; ".join(
                "%s found in %s" % (k, w) for k, w in sorted(set(found))))

    def redact(self, text):
        """`text` with every registered secret replaced by <redacted:kind>."""
        text = self._text(text)
        for kind, value in sorted(self._all(), key=lambda kv: -len(kv[1])):
            text = text.replace(value, "<redacted:%s>" % kind)
        return text


# ----------------------------------------------------------------------------- daemon

class Daemon:
    """One courtrouted process with its own config, courts.d and state directory.

    courts: {id: dict(type=..., system=..., nextgen_since=..., host=..., extra_hosts=...)};
    when None and a Simulator is given, the simulator's courts are declared.
    """

    def __init__(self, tmpdir, sim=None, extra="", courts=None, port=None, watch=None,
                 pacer_auth_url=None, pacer_logout_url=None, resolve_extra=None):
        self.dir = os.path.abspath(tmpdir)
        self.sim = sim
        self.watch = watch
        self.port = port or free_port()
        self.state_dir = os.path.join(self.dir, "state")
        self.courts_dir = os.path.join(self.dir, "courts.d")
        self.config_path = os.path.join(self.dir, "courtroute.toml")
        self.log_path = os.path.join(self.dir, "courtrouted.log")
        self.proc = None
        self._log = None
        if courts is None:
            courts = {}
            if sim is not None:
                for c in sim.courts.values():
                    courts[c.id] = dict(type=c.type, system=c.system, host=c.host)
        self.courts = courts
        os.makedirs(self.courts_dir, exist_ok=True)
        for cid, spec in courts.items():
            self.write_court(cid, **spec)
        self.extra = extra
        self.pacer_auth_url = pacer_auth_url or "https://%s/services/cso-auth" % PACER_HOST
        self.pacer_logout_url = pacer_logout_url or "https://%s/services/cso-logout" % PACER_HOST
        self.resolve_extra = dict(resolve_extra or {})
        self.write_config()

    # --- files ---

    def write_court(self, court_id, **spec):
        """Writes (or replaces) courts.d/<id>.toml; `text=` writes raw text instead."""
        text = spec.pop("text", None)
        path = os.path.join(self.courts_dir, court_id + ".toml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text if text is not None else court_toml(court_id, **spec))
        return path

    def config_text(self):
        lines = ["[listen]", "proxy = %s" % toml_str("127.0.0.1:%d" % self.port), "",
                 "[registry]", "dirs = [%s]" % toml_str(self.courts_dir), "",
                 "[state]", "dir = %s" % toml_str(self.state_dir), "",
                 "[pacer]", "auth_url = %s" % toml_str(self.pacer_auth_url),
                 "logout_url = %s" % toml_str(self.pacer_logout_url), "",
                 "[upstream]"]
        resolve = {}
        if self.sim is not None:
            lines.append("ca_file = %s" % toml_str(self.sim.ca_pem))
            for h in self.sim.hosts:
                resolve["%s:443" % h] = "127.0.0.1:%d" % self.sim.port
        resolve.update(self.resolve_extra)
        lines.append("resolve = { %s }" % ", ".join(
            "%s = %s" % (toml_str(k), toml_str(v)) for k, v in resolve.items()))
        text = "\n".join(lines) + "\n"
        if self.extra:
            text += "\n" + self.extra.strip("\n") + "\n"
        return text

    def write_config(self, extra=None):
        """(Re)writes the config file; `extra` replaces the appended text when given."""
        if extra is not None:
            self.extra = extra
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text())
        return self.config_path

    # --- process ---

    def start(self, timeout=15.0):
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary("courtrouted"), "--config", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=clean_env(), cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self._close_log()
                raise RuntimeError("courtrouted exited with %s before serving; log tail:\n%s"
                                   % (code, self.log_tail()))
            try:
                status, _, _ = self.http("GET", "/healthz", timeout=1.0)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("courtrouted did not answer /healthz within %.0f s; log tail:\n%s"
                           % (timeout, self.log_tail()))

    def stop(self, timeout=15.0):
        """SIGTERM, wait, SIGKILL after `timeout`. Returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()
        return self.proc.returncode

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def reload(self):
        """SIGHUP (re-read config and registry)."""
        self.proc.send_signal(signal.SIGHUP)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- observation ---

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return self.watch.redact(tail) if self.watch is not None else tail

    def wait_for_log(self, pattern, timeout=10.0, start=0):
        """Waits until the log (from character `start`) matches the regex; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.log_text(), start)
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError("log never matched %r within %.0f s; tail:\n%s"
                                     % (pattern, timeout, self.log_tail()))
            time.sleep(0.05)

    def ca_path(self):
        """The daemon's local CA certificate (clients trust this)."""
        return os.path.join(self.state_dir, "ca", "ca.pem")

    def proxy_url(self, user, token):
        return "http://%s:%s@127.0.0.1:%d" % (urllib.parse.quote(user, safe=""),
                                              urllib.parse.quote(token, safe=""), self.port)

    def http(self, method, path, headers=None, body=None, timeout=10.0):
        """A plain request to the daemon's port (status, healthz, path mode):
        (status, headers list, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def admin_socket(self):
        """The administrator's Unix socket (CONTRACT §6: the full /status is the administrator's)."""
        return os.path.join(self.state_dir, "admin.sock")

    def admin_http(self, method, path, timeout=10.0):
        """A request on the admin socket: (status, body bytes)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.admin_socket())
            s.sendall(("%s %s HTTP/1.0\r\nHost: courtroute\r\n\r\n" % (method, path)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def status(self, token=None):
        """The full /status (every user) over the admin socket, or, with a user's token, that
        user's own view over the TCP listener."""
        if token is None:
            code, body = self.admin_http("GET", "/status")
        else:
            code, _, body = self.http("GET", "/status", headers={"Authorization": "Bearer " + token})
        if code != 200:
            raise AssertionError("/status answered %d" % code)
        return json.loads(body)

    # --- CLI ---

    def cli(self, args, stdin=None, timeout=60):
        return cli(args, stdin=stdin, config=self.config_path, timeout=timeout)

    def add_user(self, name):
        return add_user(name, config=self.config_path, watch=self.watch)


def cli(args, stdin=None, config=None, timeout=60):
    """Runs `courtroute --config FILE ARGS...` with `stdin` text; a CompletedProcess (text)."""
    cmd = [binary("courtroute")]
    if config:
        cmd += ["--config", config]
    cmd += list(args)
    return subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=timeout, env=clean_env())


def add_user(name, config=None, watch=None):
    """`courtroute user add NAME`; returns the token (the last line of stdout)."""
    r = cli(["user", "add", name], config=config)
    if r.returncode != 0 or not r.stdout.strip():
        err = watch.redact(r.stderr) if watch is not None else r.stderr
        raise AssertionError("user add %s failed (exit %d): %s" % (name, r.returncode, err.strip()))
    token = r.stdout.strip().splitlines()[-1].strip()
    if watch is not None:
        watch.add_basic("user token", name, token)
    return token


# ----------------------------------------------------------------------------- clients

def requests_session(proxy_url, ca):
    """A requests.Session going through the daemon the ordinary way."""
    import requests  # Debian's python3-requests
    s = requests.Session()
    s.trust_env = False  # ignore the environment's proxies and CA bundles: the test decides
    s.proxies = {"https": proxy_url}
    s.verify = ca
    return s


class Headers:
    """Response headers: ordered (name, value) pairs with case-insensitive lookup."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        for k, v in self.pairs:
            if k.lower() == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.pairs if k.lower() == name.lower()]

    def __contains__(self, name):
        return any(k.lower() == name.lower() for k, _ in self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    def __repr__(self):
        return "Headers(%r)" % [k for k, _ in self.pairs]  # names only: values may be secret


class CurlResult:
    """curl's outcome; unpacks as (status, headers, body)."""

    def __init__(self, status, headers, body, returncode, stderr, blocks):
        self.status = status        # the last response's status (0 when none)
        self.headers = headers      # Headers of the last response
        self.body = body            # bytes
        self.returncode = returncode
        self.stderr = stderr
        self.blocks = blocks        # [(status, Headers)] of every response, CONNECT's included

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def _parse_header_blocks(raw):
    blocks = []
    for block in re.split(r"\r?\n\r?\n", raw.decode("latin-1")):
        lines = [ln for ln in block.splitlines() if ln]
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        parts = lines[0].split(None, 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        pairs = []
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                pairs.append((k.strip(), v.strip()))
        blocks.append((status, Headers(pairs)))
    return blocks


def _read_if_exists(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def curl(args, proxy=None, cacert=None, timeout=60, stdin=None):
    """Runs /usr/bin/curl -s -S [-x proxy] [--cacert ca] ARGS; returns a CurlResult."""
    with tempfile.TemporaryDirectory(prefix="curl-") as d:
        hdr = os.path.join(d, "headers")
        body = os.path.join(d, "body")
        cmd = [CURL, "-q", "-s", "-S", "--max-time", str(timeout), "-D", hdr, "-o", body]
        if proxy:
            cmd += ["-x", proxy]
        if cacert:
            cmd += ["--cacert", cacert]
        cmd += list(args)
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout + 10,
                           env=clean_env())
        raw = _read_if_exists(hdr)
        data = _read_if_exists(body)
    blocks = _parse_header_blocks(raw)
    status, headers = blocks[-1] if blocks else (0, Headers([]))
    return CurlResult(status, headers, data, r.returncode, r.stderr.decode("utf-8", "replace"), blocks)


def sim_curl(sim, url, args=(), timeout=30, stdin=None):
    """curl straight to the simulator: --connect-to keeps the host name for SNI, Host and
    the certificate check while connecting to the simulator's port."""
    host = urllib.parse.urlsplit(url).hostname
    return curl(["--connect-to", "%s:443:127.0.0.1:%d" % (host, sim.port), *args, url],
                cacert=sim.ca_pem, timeout=timeout, stdin=stdin)
