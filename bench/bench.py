"""courtroute's side-by-side benchmark suite. Run it through bench/run.sh (which installs the
peers and builds what is missing); bench/README.md explains every scenario and knob.

Every side of every scenario is loaded by the same client (bench/loadgen), rounds are
interleaved (A B C, A B C, ...), and each figure is the median of per-round ratios. All servers
listen on loopback addresses; every process started here is stopped on exit, found by PID; the
user token and PACER password live only in files under the temporary directory.

Standard library only (plus tests/sim for B8 and B9, tests/e2e/pgcluster.py for B9); runs under Debian's /usr/bin/python3.
"""

import base64
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

PAGE_PATH = "/cgi-bin/page"             # every path but the ones below serves bench/page.html
DOC_PATH = "/doc/big.pdf"               # B5's large document
EXPECT = "login.pl?logout"              # a logged-in CM/ECF page has the logout link
MAIN_HOST = "ecf.azb.uscourts.gov"
PACER = "pacer.login.uscourts.gov"
ALL_SCENARIOS = ("B1", "B2", "B3", "B5", "B6", "B8", "B9")   # a run of all of them rewrites RESULTS.md


class HarnessError(Exception):
    """The harness itself is broken (a side did not start, a scenario produced no figure)."""


def log(msg):
    sys.stderr.write("[bench] %s\n" % msg)
    sys.stderr.flush()


def env_num(name, default, smoke_default=None, smoke=False, cast=float):
    v = os.environ.get(name)
    if v is not None and v != "":
        return cast(v)
    return cast(smoke_default if smoke and smoke_default is not None else default)


def env_list(name, default, smoke_default=None, smoke=False):
    v = os.environ.get(name) or (smoke_default if smoke and smoke_default is not None else default)
    return [int(x) for x in str(v).replace(",", " ").split()]


# ----------------------------------------------------------------------------- processes

_LIBC = None


def _die_with_parent():
    """In the child: get SIGTERM when the harness dies, even by SIGKILL (ctest's timeout)."""
    try:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


class Proc:
    """A process the harness started; stopped by PID on exit."""
    all = []

    def __init__(self, name, argv, log_path, cpus=None, cwd=None, stdin=subprocess.DEVNULL, env=None):
        global _LIBC
        self.name = name
        self.log_path = log_path
        if cpus and shutil.which("taskset"):
            argv = ["taskset", "-c", cpus] + list(argv)
        if _LIBC is None:
            import ctypes
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        self._log = open(log_path, "ab")
        # preexec_fn is only safe while the harness has a single thread (B8 runs threads).
        pre = _die_with_parent if threading.active_count() == 1 else None
        self.popen = subprocess.Popen(argv, stdin=stdin, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=cwd, env=env, preexec_fn=pre)
        self.pid = self.popen.pid
        Proc.all.append(self)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=10.0):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        if self in Proc.all:
            Proc.all.remove(self)

    def tail(self, n=8):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


class _PgProc:
    """B9's PostgreSQL server (started by pg_ctl as the postgres user, so not a child of the
    harness) in Proc.all, so that stop_all stops it too: pg_ctl stop, which signals the PID in
    its postmaster.pid, then the cluster's folder is removed."""

    def __init__(self, pg):
        self.pg = pg
        self.name = "postgresql (B9)"

    @property
    def pid(self):
        try:
            with open(os.path.join(self.pg.data, "postmaster.pid"), encoding="ascii") as f:
                return int(f.readline())
        except (OSError, ValueError):
            return -1

    def stop(self, timeout=10.0):  # noqa: ARG002 - same signature as Proc.stop
        if self in Proc.all:
            Proc.all.remove(self)
        self.pg.stop()


def stop_all():
    for p in reversed(list(Proc.all)):
        try:
            p.stop(8.0)
        except Exception as e:  # noqa: BLE001 - keep stopping the others
            log("could not stop %s (pid %d): %s" % (p.name, p.pid, e))


def children(pid):
    """PIDs of every descendant of pid (from /proc)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d, encoding="ascii", errors="replace") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent.setdefault(int(fields[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parent.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def pin(pid, cpus):
    """Moves a process, its threads and its descendants to `cpus`."""
    if not cpus or not shutil.which("taskset"):
        return
    for p in [pid] + children(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(p)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_kib(pid):
    """VmRSS of a process plus its descendants (squid's helpers, nginx's workers)."""
    total = 0
    for p in [pid] + children(pid):
        v = status_kib(p, "VmRSS")
        total += v or 0
    return total


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (Linux clear_refs "5")."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def can_bind(addr, port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
            return True
        except OSError:
            return False


def wait_port(addr, port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            return False
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run(cmd, stdin=None, check=True, timeout=120):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise HarnessError("%s failed (exit %d): %s" % (os.path.basename(cmd[0]), r.returncode,
                                                          r.stderr.strip()[-400:]))
    return r


# ----------------------------------------------------------------------------- the bench

class Bench:
    def __init__(self, smoke):
        self.smoke = smoke
        s = smoke
        self.rounds = env_num("BENCH_ROUNDS", 5, 1, s, int)
        self.duration = env_num("BENCH_DURATION", 5, 1, s)
        self.warmup = env_num("BENCH_WARMUP", 1, 0.3, s)
        self.conns = env_list("BENCH_CONNS", "1 32 128", None, s)
        self.threads = env_list("BENCH_THREADS", "1 2", None, s)
        self.b2_conns = env_list("BENCH_B2_CONNS", "32", None, s)
        self.b3_hosts = env_num("BENCH_B3_HOSTS", 50, None, s, int)
        self.b5_mib = env_num("BENCH_B5_MIB", 200, 20, s, int)
        self.b6_tunnels = env_num("BENCH_B6_TUNNELS", 1000, 50, s, int)
        self.b8_seconds = env_num("BENCH_B8_SECONDS", 30, 5, s)
        self.b8_expiries = env_num("BENCH_B8_EXPIRIES", 5, 2, s, int)
        self.b8_conns = env_num("BENCH_B8_CONNS", 4, None, s, int)
        self.b9_rounds = env_num("BENCH_B9_ROUNDS", 3, 1, s, int)
        self.b9_seconds = env_num("BENCH_B9_SECONDS", 10, 2, s)
        self.b9_daemons = env_num("BENCH_B9_DAEMONS", 3, None, s, int)
        self.b9_users = env_num("BENCH_B9_USERS", 10, None, s, int)
        self.b9_conns = env_num("BENCH_B9_CONNS", 1, None, s, int)
        t9 = os.environ.get("BENCH_B9_THREADS")
        self.b9_threads = int(t9) if t9 else None   # None: the daemon's default (one per core)
        self.b9_prewarm = os.environ.get("BENCH_B9_PREWARM") == "1"
        self.only = set((os.environ.get("BENCH_ONLY") or " ".join(ALL_SCENARIOS)).upper().split())
        self.bin = os.path.abspath(os.environ.get("COURTROUTE_BIN") or os.path.join(REPO, "build", "daemon"))
        self.loadgen_bin = os.path.abspath(os.environ.get("BENCH_LOADGEN") or
                                           os.path.join(os.path.dirname(self.bin), "bench", "loadgen"))
        self.ncpu = os.cpu_count() or 1
        self.root = os.geteuid() == 0
        self.records = []
        self.notes = []
        self.skipped = []
        self.failures = []   # what makes a smoke run fail
        self.secrets = []
        self.t = tempfile.mkdtemp(prefix="courtroute-bench.")
        os.chmod(self.t, 0o755)  # squid drops to its own user and must reach its files
        self.out = os.environ.get("BENCH_OUT") or (
            os.path.join(self.t, "results") if smoke else
            os.path.join(HERE, "results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
        os.makedirs(self.out, exist_ok=True)
        self.runs_path = os.path.join(self.out, "runs.jsonl")
        self.cr = None
        self.ng = None
        self.up = None
        self.cr_threads = None
        self.scenario = None   # the scenario running now, for labelling courtrouted's metrics

    # --- bookkeeping ---

    def note(self, msg):
        msg = self.redact(msg)
        self.notes.append(msg)
        log("note: " + msg)

    def skip(self, what, why):
        msg = "%s skipped: %s" % (what, why)
        self.skipped.append(msg)
        log("SKIP " + msg)

    def fail(self, msg):
        msg = self.redact(msg)
        self.failures.append(msg)
        log("FAIL " + msg)

    def redact(self, text):
        for kind, value in self.secrets:
            if value:
                text = text.replace(value, "<%s>" % kind)
        return text

    def record(self, rec):
        self.records.append(rec)
        with open(self.runs_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def cpus(self, role, threads=1):
        """Where a role runs. One proxy thread: proxy on core 0, loadgen and upstream on core 1.
        More threads than that: no pinning (everything shares every core)."""
        if self.ncpu < 2:
            return None
        if threads == 1:
            return "0" if role == "proxy" else "1"
        return None

    # --- load generator ---

    def loadgen(self, args, cpus=None, timeout=None, check_cr=None):
        """Runs bench/loadgen; returns its JSON. check_cr: a label when the side is courtroute
        (its socket errors and 5xx make the smoke run fail)."""
        cmd = [self.loadgen_bin] + [str(a) for a in args]
        if cpus and shutil.which("taskset"):
            cmd = ["taskset", "-c", cpus] + cmd
        if timeout is None:
            timeout = self.warmup + self.duration + 60
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.t)
        except subprocess.TimeoutExpired:
            raise HarnessError("loadgen did not finish within %.0f s (%s)" % (timeout, " ".join(args[:4])))
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise HarnessError("loadgen printed no result (exit %d): %s" % (r.returncode, self.redact(r.stderr.strip())[-400:]))
        res = json.loads(lines[-1])
        if check_cr:
            self.check_cr(check_cr, res)
        return res

    def check_cr(self, label, res):
        errs = res.get("socket_errors", 0)
        fivexx = res.get("status", {}).get("5xx", 0)
        if errs or fivexx:
            self.fail("%s: courtroute gave %d socket error(s) %s and %d 5xx" % (
                label, errs, json.dumps(res.get("errors")), fivexx))

    # ------------------------------------------------------------------ set-up

    def setup(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < self.b6_tunnels * 2 + 256:
            self.note("fd limit %d is low for %d tunnels" % (resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                                                              self.b6_tunnels))
        for exe in (os.path.join(self.bin, "courtrouted"), os.path.join(self.bin, "courtroute"), self.loadgen_bin):
            if not os.access(exe, os.X_OK):
                raise HarnessError("missing %s (build it: cmake --build build)" % exe)
        self.nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not self.nginx:
            raise HarnessError("nginx is not installed (apt-get install nginx-light)")
        self.pick_courts()
        self.make_pki()
        self.start_upstream()
        self.make_courtroute_config()

    def pick_courts(self):
        """B3's court hosts: real NextGen ids from courts.d whose host is ecf.<id>.uscourts.gov."""
        ids = []
        d = os.path.join(REPO, "courts.d")
        for name in sorted(os.listdir(d)):
            if not name.endswith(".toml"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            cid = re.search(r'^id = "([a-z0-9]+)"', text, re.M)
            url = re.search(r'^ecf_url = "https://([^"/]+)"', text, re.M)
            if cid and url and url.group(1) == "ecf.%s.uscourts.gov" % cid.group(1) and \
                    re.search(r'^system = "nextgen"', text, re.M):
                ids.append(cid.group(1))
        ids.remove("azb")
        self.courts = ["azb"] + ids[:self.b3_hosts - 1]
        if len(self.courts) < self.b3_hosts:
            raise HarnessError("courts.d has only %d suitable NextGen courts" % len(self.courts))
        self.hosts = ["ecf.%s.uscourts.gov" % c for c in self.courts]

    def make_pki(self):
        pki = self.pki = os.path.join(self.t, "pki")
        os.makedirs(pki)

        def ca(name, cn):
            run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", os.path.join(pki, name + ".key"), "-out", os.path.join(pki, name + ".pem"),
                 "-days", "2", "-subj", "/O=courtroute bench/CN=" + cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"])
        ca("ca", "courtroute bench upstream CA")
        ca("squid-ca", "squid bench CA")
        with open(os.path.join(pki, "leaf.ext"), "w", encoding="ascii") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\nsubjectAltName=%s\n"
                    % ",".join("DNS:" + h for h in self.hosts + [PACER]))
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", os.path.join(pki, "leaf.key"), "-out", os.path.join(pki, "leaf.csr"),
             "-subj", "/CN=" + MAIN_HOST])
        run(["openssl", "x509", "-req", "-in", os.path.join(pki, "leaf.csr"), "-CA", os.path.join(pki, "ca.pem"),
             "-CAkey", os.path.join(pki, "ca.key"), "-set_serial", str(os.getpid()), "-days", "1", "-sha256",
             "-extfile", os.path.join(pki, "leaf.ext"), "-out", os.path.join(pki, "leaf.pem")])
        for k in ("ca.key", "leaf.key", "squid-ca.key"):
            os.chmod(os.path.join(pki, k), 0o600)
        os.chmod(pki, 0o755)
        self.ca = os.path.join(pki, "ca.pem")

    # --- nginx ---

    def nginx_conf(self, prefix, workers, http_body):
        user = "user root;" if self.root else ""
        return """%s
worker_processes %d;
daemon off;
master_process on;
pid %s/nginx.pid;
error_log %s/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
%s
}
""" % (user, workers, prefix, prefix, prefix, prefix, prefix, prefix, prefix, http_body)

    def start_upstream(self):
        """The TLS upstream every side reaches: nginx on <loopback>:443 with a certificate for
        the court hosts and PACER, serving a logged-in CM/ECF page, PACER's login answer and a
        large document."""
        self.up_addr = None
        if self.root:
            for addr in ["127.0.0.2"] + ["127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 254),
                                                            random.randint(2, 254)) for _ in range(8)]:
                if can_bind(addr, 443):
                    self.up_addr, self.up_port = addr, 443
                    break
        if self.up_addr is None:
            self.up_addr, self.up_port = "127.0.0.1", free_port()
            self.note("the upstream is not on port 443 (not root, or no free loopback address): "
                      "squid and mitmproxy cannot reach it")
        up = self.up_dir = os.path.join(self.t, "upstream")
        os.makedirs(os.path.join(up, "www", "doc"))
        shutil.copy(os.path.join(HERE, "page.html"), os.path.join(up, "www", "page.html"))
        with open(os.path.join(up, "www", "doc", "big.pdf"), "wb") as f:
            f.write(b"%PDF-1.7\n")
            f.truncate(self.b5_mib << 20)  # sparse: the size is what matters
        self.cso = secrets.token_hex(64)   # a 128-character stand-in for PACER's nextGenCSO
        self.secrets.append(("cso", self.cso))
        body = """    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    server {
        listen %s:%d ssl;
        server_name _;
        ssl_certificate %s/leaf.pem;
        ssl_certificate_key %s/leaf.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:BENCHUP:4m;
        location = /services/cso-auth {
            default_type application/json;
            return 200 '{"loginResult":"0","nextGenCSO":"%s","errorDescription":""}';
        }
        location = /services/cso-logout {
            default_type application/json;
            return 200 '{}';
        }
        location /doc/ {
            root %s/www;
            types { application/pdf pdf; }
        }
        location / {
            root %s/www;
            default_type text/html;
            try_files /page.html =404;
        }
    }""" % (self.up_addr, self.up_port, self.pki, self.pki, self.cso, up, up)
        with open(os.path.join(up, "nginx.conf"), "w", encoding="ascii") as f:
            f.write(self.nginx_conf(up, max(self.threads + [1]), body))
        os.system("chmod -R a+rX %s" % shlex.quote(up))
        self.up = Proc("upstream nginx", [self.nginx, "-p", up, "-c", os.path.join(up, "nginx.conf"),
                                          "-e", os.path.join(up, "error.log")],
                       os.path.join(up, "stdout.log"), cpus=self.cpus("other"))
        if not wait_port(self.up_addr, self.up_port, self.up):
            raise HarnessError("upstream nginx did not start: %s" % self.file_tail(os.path.join(up, "error.log")))
        self.up_url = "%s:%d" % (self.up_addr, self.up_port)

    def start_nginx_proxy(self, workers):
        """The peer for B1/B5: nginx as a plain-HTTP reverse proxy re-encrypting to the
        upstream with a keep-alive pool and verified TLS (proxy_ssl_verify, SNI, session reuse)."""
        ng = os.path.join(self.t, "nginx-proxy-%d" % workers)
        os.makedirs(ng, exist_ok=True)
        self.ng_port = free_port()
        body = """    access_log %s/access.log;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    upstream court {
        server %s;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:%d;
        location = /healthz {
            default_type text/plain;
            return 200 "ok\\n";
        }
        location / {
            proxy_pass https://court;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host %s;
            proxy_ssl_server_name on;
            proxy_ssl_name %s;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_session_reuse on;
            proxy_max_temp_file_size 0;
        }
    }""" % (ng, self.up_url, self.ng_port, MAIN_HOST, MAIN_HOST, self.ca)
        with open(os.path.join(ng, "nginx.conf"), "w", encoding="ascii") as f:
            f.write(self.nginx_conf(ng, workers, body))
        os.system("chmod -R a+rX %s" % shlex.quote(ng))
        p = Proc("nginx proxy", [self.nginx, "-p", ng, "-c", os.path.join(ng, "nginx.conf"),
                                 "-e", os.path.join(ng, "error.log")],
                 os.path.join(ng, "stdout.log"), cpus=self.cpus("proxy", workers))
        if not wait_port("127.0.0.1", self.ng_port, p):
            raise HarnessError("nginx proxy did not start: %s" % self.file_tail(os.path.join(ng, "error.log")))
        p.dir = ng
        self.ng = p
        return p

    def nginx_workers(self, proc):
        return children(proc.pid)

    @staticmethod
    def file_tail(path, n=5):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    # --- courtroute ---

    def make_courtroute_config(self):
        cr = self.cr_dir = os.path.join(self.t, "courtroute")
        os.makedirs(os.path.join(cr, "courts.d"))
        os.chmod(cr, 0o700)
        for c in self.courts:
            shutil.copy(os.path.join(REPO, "courts.d", c + ".toml"), os.path.join(cr, "courts.d", c + ".toml"))
        self.cr_port = free_port()
        self.write_cr_config(1)
        cli = [os.path.join(self.bin, "courtroute"), "--config", self.cr_config]
        r = run(cli + ["user", "add", "bench"])
        token = r.stdout.strip().splitlines()[-1].strip()
        if not token:
            raise HarnessError("courtroute user add printed no token")
        password = secrets.token_hex(16)
        self.secrets += [("token", token), ("password", password)]
        old = os.umask(0o077)
        try:
            with open(os.path.join(cr, "auth-header"), "w", encoding="ascii") as f:
                f.write("Authorization: Bearer %s\n" % token)
            basic = base64.b64encode(("bench:%s" % token).encode()).decode()
            self.secrets.append(("basic", basic))
            with open(os.path.join(cr, "proxy-auth-header"), "w", encoding="ascii") as f:
                f.write("Proxy-Authorization: Basic %s\n" % basic)
        finally:
            os.umask(old)
        run(cli + ["pacer", "set", "bench", "--login", "benchuser"], stdin=password + "\n")
        for c in self.courts:  # linked: no unlinked_nextgen warning, the plain route
            run(cli + ["link", "bench", c])
        self.auth_header = os.path.join(cr, "auth-header")
        self.proxy_auth_header = os.path.join(cr, "proxy-auth-header")
        with open(os.path.join(cr, "hosts.txt"), "w", encoding="ascii") as f:
            f.write("\n".join(self.hosts) + "\n")
        self.hosts_file = os.path.join(cr, "hosts.txt")

    def write_cr_config(self, threads):
        cr = self.cr_dir
        self.cr_config = os.path.join(cr, "courtroute.toml")
        resolve = ", ".join('"%s:443" = "%s"' % (h, self.up_url) for h in self.hosts + [PACER])
        with open(self.cr_config, "w", encoding="utf-8") as f:
            f.write("""[listen]
proxy = "127.0.0.1:%d"
threads = %d

[registry]
dirs = ["%s/courts.d"]

[state]
dir = "%s/state"

[upstream]
ca_file = "%s"
resolve = { %s }
""" % (self.cr_port, threads, cr, cr, self.ca, resolve))

    def start_courtroute(self, threads):
        self.write_cr_config(threads)
        p = Proc("courtrouted", [os.path.join(self.bin, "courtrouted"), "--config", self.cr_config],
                 os.path.join(self.cr_dir, "courtrouted.log"), cpus=self.cpus("proxy", threads), cwd=self.cr_dir)
        if not wait_port("127.0.0.1", self.cr_port, p):
            raise HarnessError("courtrouted did not start: %s" % self.redact(p.tail()))
        self.cr, self.cr_threads = p, threads
        self.cr_ca = os.path.join(self.cr_dir, "state", "ca", "ca.pem")
        return p

    def stop_courtroute(self):
        if self.cr is not None:
            self.collect_cr_notes()
            self.cr.stop()
            self.cr = None

    def metrics(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.cr_port, timeout=5)
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode("utf-8", "replace")
            c.close()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out

    def collect_cr_notes(self):
        m = self.metrics()
        self.record({"s": "metrics", "threads": self.cr_threads, "during": self.scenario, "metrics": m})
        events = {}
        try:
            with open(self.cr.log_path, "rb") as f:
                for line in f:
                    name = line.split(b" ", 1)[0].decode("ascii", "replace").strip()
                    events[name] = events.get(name, 0) + 1
        except OSError:
            pass
        normal = ("request", "listening", "stopping", "stopped", "login", "session_expired")
        unusual = {k: v for k, v in events.items() if k not in normal}
        self.record({"s": "cr_log", "threads": self.cr_threads, "events": events})
        if unusual:
            self.note("courtrouted (threads=%s) logged events other than request/login: %s" % (
                self.cr_threads, ", ".join("%s×%d" % kv for kv in sorted(unusual.items()))))
        if self.cr is not None and not self.cr.alive():
            self.fail("courtrouted (threads=%s) died; log: %s" % (self.cr_threads, self.cr.tail()))

    # --- sanity: each side answers the logged-in page ---

    def sanity(self, label, args, cpus, is_cr=False):
        res = self.loadgen(args + ["--requests", 1, "--duration", 0, "--expect", EXPECT], cpus=cpus, timeout=30)
        ok = res["requests"] == 1 and res["status"]["2xx"] == 1 and res["bad_body"] == 0
        if not ok:
            extra = (" courtrouted log: " + self.redact(self.cr.tail())) if is_cr and self.cr else ""
            raise HarnessError("%s does not serve the logged-in page: %s%s" % (
                label, json.dumps({k: res[k] for k in ("status", "errors", "bad_body")}), extra))

    # ------------------------------------------------------------------ sides

    def side_args(self, side, path=PAGE_PATH):
        """loadgen arguments of a B1/B5 side."""
        if side == "cr":
            return ["--mode", "http", "--connect", "127.0.0.1:%d" % self.cr_port, "--path", "/court/azb" + path,
                    "--header-file", self.auth_header]
        if side == "ng":
            return ["--mode", "http", "--connect", "127.0.0.1:%d" % self.ng_port, "--path", path]
        if side == "direct":
            return ["--mode", "https", "--connect", self.up_url, "--host", MAIN_HOST, "--ca", self.ca,
                    "--path", path]
        raise ValueError(side)

    def pin_upstream(self, cpus):
        if cpus is None and self.ncpu >= 2:
            cpus = "0-%d" % (self.ncpu - 1)
        pin(self.up.pid, cpus)

    # ------------------------------------------------------------------ profiling

    def start_profile(self, name):
        """With BENCH_PERF=1: samples courtrouted with `perf record -g` during one load (the
        first round of each B1 courtroute side); stop_profile writes the report beside the results."""
        if os.environ.get("BENCH_PERF") != "1" or self.cr is None or not shutil.which("perf"):
            return None
        data = os.path.join(self.out, "perf-%s.data" % name)
        p = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-p", str(self.cr.pid), "-o", data],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        return (p, data, name)

    def stop_profile(self, profile):
        if profile is None:
            return
        p, data, name = profile
        p.send_signal(signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        for kind, args in (("self", ["--no-children"]), ("children", ["--children"])):
            out = os.path.join(self.out, "perf-%s-%s.txt" % (name, kind))
            with open(out, "w", encoding="utf-8") as f:
                subprocess.run(["perf", "report", "-i", data, "--stdio", "--percent-limit", "0.7", "-g", "none"] + args,
                               stdout=f, stderr=subprocess.DEVNULL, timeout=300)
        log("  profile of courtrouted written to %s" % os.path.join(self.out, "perf-%s-*.txt" % name))

    # ------------------------------------------------------------------ B1

    def b1(self, threads):
        log("B1 path mode vs nginx vs direct, %d thread(s)" % threads)
        lg_cpus = self.cpus("other", threads)
        lg_threads = threads
        self.pin_upstream(self.cpus("other", threads))
        for side in ("cr", "ng", "direct"):
            self.sanity("B1 " + side, self.side_args(side), lg_cpus, side == "cr")
        for conns in self.conns:
            for rnd in range(1, self.rounds + 1):
                for side in ("cr", "ng", "direct"):
                    if side == "direct" and threads == 1:
                        self.pin_upstream(self.cpus("proxy", 1))  # the ceiling gets the proxy's core
                    profile = self.start_profile("b1-t%d-c%d" % (threads, conns)) if side == "cr" and rnd == 1 else None
                    try:
                        res = self.loadgen(self.side_args(side) + [
                            "--connections", conns, "--threads", min(lg_threads, conns),
                            "--duration", self.duration, "--warmup", self.warmup, "--expect", EXPECT],
                            cpus=lg_cpus, check_cr="B1 threads=%d conns=%d" % (threads, conns) if side == "cr" else None)
                    finally:
                        self.stop_profile(profile)
                        if side == "direct" and threads == 1:
                            self.pin_upstream(self.cpus("other", 1))
                    self.record({"s": "B1", "threads": threads, "conns": conns, "round": rnd, "side": side, "lg": res})
                    if side == "cr" and rnd == 1 and conns == max(self.conns):
                        os_threads = status_kib(self.cr.pid, "Threads")  # a count, not KiB
                        self.note("courtrouted configured with `[listen] threads = %d` ran %s OS thread(s) "
                                  "under load" % (threads, os_threads))
                    log("  B1 t=%d c=%d r=%d %-6s %8.0f req/s p50 %5.0f µs p99 %6.0f µs" % (
                        threads, conns, rnd, side, res["rps"], res["lat_us"]["p50"], res["lat_us"]["p99"]))
                    if res["requests"] == 0:
                        raise HarnessError("B1 %s produced no requests" % side)

    # ------------------------------------------------------------------ B5

    def b5(self):
        log("B5 a %d MiB document: path mode vs nginx (vs direct)" % self.b5_mib)
        lg_cpus = self.cpus("other", 1)
        self.pin_upstream(self.cpus("other", 1))
        for rnd in range(1, self.rounds + 1):
            for side in ("cr", "ng", "direct"):
                if side == "cr":
                    pids = [self.cr.pid]
                elif side == "ng":
                    pids = self.nginx_workers(self.ng)
                else:
                    pids = children(self.up.pid)
                    self.pin_upstream(self.cpus("proxy", 1))
                for p in pids:
                    reset_hwm(p)
                before = max((status_kib(p, "VmRSS") or 0) for p in pids) if pids else None
                try:
                    res = self.loadgen(self.side_args(side, DOC_PATH) + [
                        "--requests", 1, "--duration", 0, "--connections", 1, "--timeout", 60],
                        cpus=lg_cpus, timeout=300, check_cr="B5" if side == "cr" else None)
                finally:
                    if side == "direct":
                        self.pin_upstream(self.cpus("other", 1))
                hwm = max((status_kib(p, "VmHWM") or 0) for p in pids) if pids else None
                if res["bytes"] != self.b5_mib << 20:
                    if side == "cr":
                        self.fail("B5: courtroute delivered %d of %d bytes" % (res["bytes"], self.b5_mib << 20))
                    else:
                        raise HarnessError("B5 %s delivered %d of %d bytes" % (side, res["bytes"], self.b5_mib << 20))
                self.record({"s": "B5", "round": rnd, "side": side, "lg": res, "hwm_kib": hwm,
                             "rss_before_kib": before, "mib": self.b5_mib})
                log("  B5 r=%d %-6s %8.1f MB/s peak RSS %s KiB" % (rnd, side, res["mb_per_s"], hwm))

    # ------------------------------------------------------------------ B2 (forward proxies)

    def start_squid(self):
        """squid-openssl with ssl-bump (bump all), its own CA, the certificate generator, upstream
        verified against the test CA, court names from its own hosts_file; no caching."""
        squid = shutil.which("squid") or "/usr/sbin/squid"
        certgen = "/usr/lib/squid/security_file_certgen"
        if not os.access(squid, os.X_OK) or not os.access(certgen, os.X_OK):
            return None, "squid-openssl is not installed (apt-get install squid-openssl)"
        if self.up_port != 443:
            return None, "the upstream could not get port 443 (needs root)"
        sq = os.path.join(self.t, "squid-%d" % random.randint(0, 1 << 30))
        os.makedirs(sq)
        shutil.copy(os.path.join(self.pki, "squid-ca.pem"), os.path.join(sq, "ca.pem"))
        shutil.copy(os.path.join(self.pki, "squid-ca.key"), os.path.join(sq, "ca.key"))
        with open(os.path.join(sq, "hosts"), "w", encoding="ascii") as f:
            f.write("%s %s\n" % (self.up_addr, " ".join(self.hosts + [PACER])))
        port = free_port()
        run([certgen, "-c", "-s", os.path.join(sq, "ssl_db"), "-M", "16MB"])
        with open(os.path.join(sq, "squid.conf"), "w", encoding="ascii") as f:
            f.write("""http_port 127.0.0.1:%(port)d ssl-bump tls-cert=%(sq)s/ca.pem tls-key=%(sq)s/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program %(certgen)s -s %(sq)s/ssl_db -M 16MB
sslcrtd_children 4 startup=1 idle=1
ssl_bump bump all
tls_outgoing_options cafile=%(ca)s
hosts_file %(sq)s/hosts
http_access allow localhost
http_access deny all
cache deny all
access_log stdio:%(sq)s/access.log
cache_log %(sq)s/cache.log
pid_filename %(sq)s/squid.pid
coredump_dir %(sq)s
max_filedescriptors 16384
shutdown_lifetime 0 seconds
via off
forwarded_for delete
""" % {"port": port, "sq": sq, "certgen": certgen, "ca": self.ca})
        if self.root:
            subprocess.run(["chown", "-R", "proxy:proxy", sq], check=False)
        p = Proc("squid", [squid, "-N", "-f", os.path.join(sq, "squid.conf")], os.path.join(sq, "stdout.log"),
                 cpus=self.cpus("proxy", 1))
        if not wait_port("127.0.0.1", port, p, timeout=20):
            tail = self.file_tail(os.path.join(sq, "cache.log"))
            p.stop()
            raise HarnessError("squid did not start: %s" % tail)
        p.port, p.ca, p.dir = port, os.path.join(sq, "ca.pem"), sq
        return p, None

    def start_mitmproxy(self):
        """mitmdump, resolving the court names through a bind-mounted hosts file in its own
        mount namespace, verifying the upstream against the test CA."""
        mitm = shutil.which("mitmdump")
        if not mitm:
            return None, "mitmproxy is not installed (apt-get install mitmproxy)"
        if self.up_port != 443:
            return None, "the upstream could not get port 443 (needs root)"
        if not self.root or not shutil.which("unshare"):
            return None, "needs root and unshare (util-linux) for its own hosts file"
        md = os.path.join(self.t, "mitmproxy-%d" % random.randint(0, 1 << 30))
        os.makedirs(md)
        hosts = os.path.join(md, "hosts")
        with open(hosts, "w", encoding="ascii") as f:
            f.write("127.0.0.1 localhost\n%s %s\n" % (self.up_addr, " ".join(self.hosts + [PACER])))
        port = free_port()
        script = "mount --bind %s /etc/hosts && exec %s --listen-host 127.0.0.1 --listen-port %d " \
                 "--set confdir=%s --set ssl_verify_upstream_trusted_ca=%s -q" % (
                     shlex.quote(hosts), shlex.quote(mitm), port, shlex.quote(md), shlex.quote(self.ca))
        p = Proc("mitmdump", ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                 os.path.join(md, "mitmdump.log"), cpus=self.cpus("proxy", 1), env=dict(os.environ, HOME=md))
        if not wait_port("127.0.0.1", port, p, timeout=30):
            tail = p.tail()
            p.stop()
            raise HarnessError("mitmdump did not start: %s" % tail)
        ca = os.path.join(md, "mitmproxy-ca-cert.pem")
        for _ in range(100):
            if os.path.exists(ca):
                break
            time.sleep(0.05)
        p.port, p.ca, p.dir = port, ca, md
        return p, None

    def forward_args(self, side, peer=None):
        if side == "cr":
            return ["--mode", "proxy", "--connect", "127.0.0.1:%d" % self.cr_port, "--host", MAIN_HOST,
                    "--ca", self.cr_ca, "--proxy-header-file", self.proxy_auth_header, "--path", PAGE_PATH]
        return ["--mode", "proxy", "--connect", "127.0.0.1:%d" % peer.port, "--host", MAIN_HOST,
                "--ca", peer.ca, "--path", PAGE_PATH]

    def b2(self):
        log("B2 forward proxy with interception vs squid-openssl ssl-bump vs mitmproxy")
        lg_cpus = self.cpus("other", 1)
        self.pin_upstream(self.cpus("other", 1))
        peers = {}
        for name, starter in (("squid", self.start_squid), ("mitm", self.start_mitmproxy)):
            p, why = starter()
            if p is None:
                self.skip("B2 peer " + name, why)
            else:
                peers[name] = p
        try:
            self.sanity("B2 cr", self.forward_args("cr"), lg_cpus, True)
            for name, p in peers.items():
                self.sanity("B2 " + name, self.forward_args(name, p), lg_cpus)
            sides = ["cr"] + list(peers)
            for conns in self.b2_conns:
                for rnd in range(1, self.rounds + 1):
                    for side in sides:
                        res = self.loadgen(self.forward_args(side, peers.get(side)) + [
                            "--connections", conns, "--duration", self.duration, "--warmup", self.warmup,
                            "--expect", EXPECT], cpus=lg_cpus,
                            check_cr="B2 conns=%d" % conns if side == "cr" else None)
                        self.record({"s": "B2", "conns": conns, "round": rnd, "side": side, "lg": res})
                        log("  B2 c=%d r=%d %-6s %8.0f req/s p50 %5.0f µs p99 %6.0f µs" % (
                            conns, rnd, side, res["rps"], res["lat_us"]["p50"], res["lat_us"]["p99"]))
                        if res["requests"] == 0:
                            raise HarnessError("B2 %s produced no requests" % side)
        finally:
            for p in peers.values():
                p.stop()

    # ------------------------------------------------------------------ B3

    def warm_path_mode(self):
        """One path-mode request per court: logs in to PACER and opens a pooled upstream
        connection per court host, so the tunnel passes differ only in the leaf certificate."""
        with open(self.auth_header, encoding="ascii") as f:
            name, _, value = f.read().strip().partition(":")
        c = http.client.HTTPConnection("127.0.0.1", self.cr_port, timeout=10)
        try:
            for court in self.courts:
                c.request("GET", "/court/%s%s" % (court, PAGE_PATH), headers={name: value.strip()})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise HarnessError("B3 warm-up: /court/%s answered %d" % (court, r.status))
        finally:
            c.close()

    def b3(self):
        log("B3 a new tunnel per request over %d court hosts: leaf miss vs hit" % len(self.hosts))
        lg_cpus = self.cpus("other", 1)
        self.pin_upstream(self.cpus("other", 1))
        for rnd in range(1, self.rounds + 1):
            self.start_courtroute(1)
            try:
                self.warm_path_mode()
                for pss in ("miss", "hit"):
                    m0 = self.metrics()
                    samples = os.path.join(self.out, "b3-r%d-%s.txt" % (rnd, pss))
                    res = self.loadgen(["--mode", "tunnel", "--connect", "127.0.0.1:%d" % self.cr_port,
                                        "--hosts-file", self.hosts_file, "--ca", self.cr_ca,
                                        "--proxy-header-file", self.proxy_auth_header, "--path", PAGE_PATH,
                                        "--requests", len(self.hosts), "--duration", 0, "--connections", 1,
                                        "--expect", EXPECT, "--samples", samples],
                                       cpus=lg_cpus, timeout=120, check_cr="B3 " + pss)
                    m1 = self.metrics()
                    minted = m1.get("courtroute_leaf_certificates_minted_total", 0) - \
                        m0.get("courtroute_leaf_certificates_minted_total", 0)
                    hits = m1.get("courtroute_leaf_cache_hits_total", 0) - m0.get("courtroute_leaf_cache_hits_total", 0)
                    with open(samples, encoding="ascii") as f:
                        lat = [int(x) for x in f.read().split()]
                    self.record({"s": "B3", "round": rnd, "pass": pss, "lg": res, "samples_us": lat,
                                 "minted": minted, "hits": hits, "hosts": len(self.hosts)})
                    log("  B3 r=%d %-4s p50 %5.0f µs mean %6.0f µs (minted %d, cache hits %d)" % (
                        rnd, pss, res["lat_us"]["p50"], res["lat_us"]["mean"], minted, hits))
                    if res["requests"] != len(self.hosts):
                        raise HarnessError("B3 %s pass completed %d of %d requests" % (pss, res["requests"],
                                                                                       len(self.hosts)))
            finally:
                self.stop_courtroute()

    # ------------------------------------------------------------------ B6

    def hold(self, side, proc_pid, args):
        """Opens the tunnels, samples RSS with them open; returns the record."""
        lg_cpus = self.cpus("other", 1)
        # Warm: one tunnel and request, so the leaf, the upstream connection and PACER session exist.
        self.loadgen(args + ["--requests", 1, "--duration", 0], cpus=lg_cpus, timeout=30,
                     check_cr="B6 warm-up" if side == "cr" else None)
        time.sleep(0.5)
        before = tree_rss_kib(proc_pid)
        cmd = [self.loadgen_bin, "--mode", "hold"] + [str(a) for a in args[2:]] + [
            "--connections", str(self.b6_tunnels), "--parallel", "16", "--hold", "120", "--settle", "1"]
        if lg_cpus:
            cmd = ["taskset", "-c", lg_cpus] + cmd
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=self.t)
        try:
            line = ""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = p.stdout.readline()
                if not line or line.startswith("{"):
                    break
            if not line.startswith("{"):
                raise HarnessError("B6 %s: loadgen hold printed nothing: %s" % (side, self.redact(p.stderr.read()[-300:])))
            res = json.loads(line)
            after = tree_rss_kib(proc_pid)
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return {"before_kib": before, "after_kib": after, "lg": res}

    def b6(self):
        log("B6 RSS per idle intercepted tunnel at %d tunnels: courtroute vs squid" % self.b6_tunnels)
        self.pin_upstream(self.cpus("other", 1))
        have_squid = True
        for rnd in range(1, self.rounds + 1):
            self.start_courtroute(1)
            try:
                rec = self.hold("cr", self.cr.pid, self.forward_args("cr"))
                rec.update({"s": "B6", "round": rnd, "side": "cr", "tunnels": self.b6_tunnels})
                self.record(rec)
                self.b6_log(rec)
                if rec["lg"]["opened"] != self.b6_tunnels or rec["lg"]["socket_errors"]:
                    self.fail("B6: courtroute held %d of %d tunnels (errors %s)" % (
                        rec["lg"]["opened"], self.b6_tunnels, json.dumps(rec["lg"]["errors"])))
            finally:
                self.stop_courtroute()
            if not have_squid:
                continue
            sq, why = self.start_squid()
            if sq is None:
                self.skip("B6 peer squid", why)
                have_squid = False
                continue
            try:
                rec = self.hold("squid", sq.pid, self.forward_args("squid", sq))
                rec.update({"s": "B6", "round": rnd, "side": "squid", "tunnels": self.b6_tunnels})
                self.record(rec)
                self.b6_log(rec)
            finally:
                sq.stop()

    def b6_log(self, rec):
        lg = rec["lg"]
        per = (rec["after_kib"] - rec["before_kib"]) / lg["opened"] if lg["opened"] else float("nan")
        log("  B6 r=%d %-6s opened %d alive %d: RSS %d → %d KiB, %.1f KiB per tunnel" % (
            rec["round"], rec["side"], lg["opened"], lg["alive"], rec["before_kib"], rec["after_kib"], per))

    # ------------------------------------------------------------------ B8

    def b8(self):
        log("B8 sessions expiring during %.0f s of load (tests/sim)" % self.b8_seconds)
        from sim.sim import Simulator  # noqa: E402  (tests/ on sys.path)
        d = os.path.join(self.t, "b8")
        os.makedirs(d)
        sim = Simulator(os.path.join(d, "sim"), courts={"azb": {"type": "bankruptcy", "system": "nextgen"}})
        sim.start()
        daemon = None
        try:
            password = secrets.token_hex(16)
            self.secrets.append(("sim password", password))
            sim.add_pacer_account("b8user", password)
            sim.link("azb", "b8user")
            port = free_port()
            courts_dir = os.path.join(d, "courts.d")
            os.makedirs(courts_dir)
            shutil.copy(os.path.join(REPO, "courts.d", "azb.toml"), courts_dir)
            resolve = ", ".join('"%s:443" = "127.0.0.1:%d"' % (h, sim.port) for h in sim.hosts)
            config = os.path.join(d, "courtroute.toml")
            with open(config, "w", encoding="utf-8") as f:
                f.write('[listen]\nproxy = "127.0.0.1:%d"\nthreads = 1\n\n[registry]\ndirs = ["%s"]\n\n'
                        '[state]\ndir = "%s/state"\n\n[upstream]\nca_file = "%s"\nresolve = { %s }\n'
                        % (port, courts_dir, d, sim.ca_pem, resolve))
            cli = [os.path.join(self.bin, "courtroute"), "--config", config]
            token = run(cli + ["user", "add", "b8"]).stdout.strip().splitlines()[-1].strip()
            self.secrets.append(("b8 token", token))
            run(cli + ["pacer", "set", "b8", "--login", "b8user"], stdin=password + "\n")
            run(cli + ["link", "b8", "azb"])
            header = os.path.join(d, "auth-header")
            old = os.umask(0o077)
            with open(header, "w", encoding="ascii") as f:
                f.write("Authorization: Bearer %s\n" % token)
            os.umask(old)
            daemon = Proc("courtrouted (B8)", [os.path.join(self.bin, "courtrouted"), "--config", config],
                          os.path.join(d, "courtrouted.log"), cwd=d)
            if not wait_port("127.0.0.1", port, daemon):
                raise HarnessError("courtrouted (B8) did not start: %s" % self.redact(daemon.tail()))
            args = ["--mode", "http", "--connect", "127.0.0.1:%d" % port, "--path", "/court/azb/cgi-bin/DktRpt.pl",
                    "--header-file", header, "--expect", EXPECT]
            self.loadgen(args + ["--requests", 1, "--duration", 0], timeout=30, check_cr="B8 warm-up")
            logins0 = sum(1 for a in list(sim.pacer_attempts) if a.result == "0")
            cmd = [self.loadgen_bin] + [str(a) for a in args] + [
                "--connections", str(self.b8_conns), "--duration", str(self.b8_seconds), "--timeout", "20"]
            lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.t)
            start = time.monotonic()
            interval = self.b8_seconds / (self.b8_expiries + 1)
            expiries = 0
            for i in range(1, self.b8_expiries + 1):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if lg.poll() is not None:
                    break
                sim.expire_all_sessions()
                expiries += 1
            out, err = lg.communicate(timeout=self.b8_seconds + 60)
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            if not lines:
                raise HarnessError("B8 loadgen printed no result: %s" % self.redact(err[-300:]))
            res = json.loads(lines[-1])
            attempts = list(sim.pacer_attempts)
            logins = sum(1 for a in attempts if a.result == "0") - logins0
            failed_logins = sum(1 for a in attempts if a.result != "0")
            mlog = 0
            for k, v in self.metrics_of(port).items():
                if k.startswith("courtroute_logins_total{") and 'result="success"' in k:
                    mlog += v
            rec = {"s": "B8", "seconds": self.b8_seconds, "expiries": expiries, "conns": self.b8_conns,
                   "logins": logins, "failed_logins": failed_logins, "metrics_logins": mlog, "lg": res,
                   "sim_errors": len(sim.errors)}
            self.record(rec)
            log("  B8 %d expiries, %d logins, %d 5xx, %d not-logged-in bodies, %d socket errors, %.0f req/s" % (
                expiries, logins, res["status"]["5xx"], res["bad_body"], res["socket_errors"], res["rps"]))
            self.check_cr("B8", res)
            if res["requests"] == 0:
                raise HarnessError("B8 produced no requests")
        finally:
            if daemon is not None:
                daemon.stop()
            sim.stop()

    # ------------------------------------------------------------------ B9

    def b9(self):
        """Three daemons on one PostgreSQL store (issue 14) vs one daemon on the embedded SQLite
        store. Court pages come from the bench's nginx upstream (so the daemons, not the upstream,
        are what is measured); PACER's cso-auth goes to tests/sim, which counts every login by
        PACER account. Each round and side starts from an empty store (a new SQLite state dir, a
        new PostgreSQL database), adds the attorneys through the CLI and starts fresh daemons, so
        every attorney's first login happens under the load and is counted."""
        import pgcluster  # noqa: E402  (tests/e2e on sys.path)
        why = pgcluster.available()
        if why:
            self.skip("B9 (three daemons on one PostgreSQL store)", why)
            return
        from sim.sim import Simulator  # noqa: E402
        n_d, n_u, conns = self.b9_daemons, self.b9_users, self.b9_conns
        log("B9 %d daemons on one PostgreSQL store vs 1 daemon on SQLite: %d attorneys, %d connections, "
            "%.0f s per side and round" % (n_d, n_u, n_d * n_u * conns, self.b9_seconds))
        d = os.path.join(self.t, "b9")
        os.makedirs(d)
        os.chmod(d, 0o700)
        sim = Simulator(os.path.join(d, "sim"), courts={})   # PACER only; courts are the nginx upstream
        sim.start()
        pg = None
        try:
            ca = os.path.join(d, "upstream-ca.pem")   # the bench upstream's CA and the simulator's
            with open(ca, "w", encoding="ascii") as f:
                for src in (self.ca, sim.ca_pem):
                    with open(src, encoding="ascii") as g:
                        f.write(g.read().rstrip("\n") + "\n")
            courts_dir = os.path.join(d, "courts.d")
            os.makedirs(courts_dir)
            shutil.copy(os.path.join(REPO, "courts.d", "azb.toml"), courts_dir)
            resolve = '"%s:443" = "%s", "%s:443" = "127.0.0.1:%d"' % (MAIN_HOST, self.up_url, PACER, sim.port)
            self.b9_base = ('[registry]\ndirs = ["%s"]\n\n[upstream]\nca_file = "%s"\nresolve = { %s }\n'
                            % (courts_dir, ca, resolve))
            self.b9_pacer = []
            for i in range(n_u):
                login, pw = "b9pacer%02d" % i, secrets.token_hex(16)
                self.secrets.append(("pacer password", pw))
                sim.add_pacer_account(login, pw)
                self.b9_pacer.append((login, pw))
            db_password = secrets.token_hex(18)
            self.secrets.append(("store password", db_password))
            pg = pgcluster.PgCluster(db_password)
            Proc.all.append(_PgProc(pg))   # registered first: a failed start is cleaned up too
            try:
                pg.start()
            except RuntimeError as e:
                raise HarnessError("B9: PostgreSQL did not start: %s" % self.redact(str(e)))
            pwfile = os.path.join(d, "store.password")
            key = os.path.join(d, "firm.key")
            old = os.umask(0o077)
            try:
                with open(pwfile, "w", encoding="ascii") as f:
                    f.write(db_password + "\n")
                with open(key, "wb") as f:
                    f.write(os.urandom(32))
            finally:
                os.umask(old)
            for rnd in range(1, self.b9_rounds + 1):
                for side in ("sqlite", "pg"):
                    if side == "pg":
                        db = "courtroute_r%d" % rnd
                        try:
                            pg.query("CREATE DATABASE %s OWNER courtroute" % db, db="postgres")
                        except RuntimeError as e:
                            raise HarnessError("B9: %s" % self.redact(str(e)))
                        extra = ('\n[store]\nurl = "%s"\npassword_file = "%s"\n\n[secrets]\nkey_file = "%s"\n'
                                 % (pg.url(db), pwfile, key))
                        rec = self.b9_side(sim, os.path.join(d, "pg-r%d" % rnd), n_d, extra, pg, db)
                    else:
                        rec = self.b9_side(sim, os.path.join(d, "sqlite-r%d" % rnd), 1, "")
                    rec.update({"s": "B9", "round": rnd, "side": side, "users": n_u, "seconds": self.b9_seconds})
                    self.record(rec)
                    per = sorted(rec["logins"].values())
                    log("  B9 r=%d %-6s %d daemon(s) %8.0f req/s (each %s) p50 %5.0f µs p99 %6.0f µs; PACER "
                        "logins per attorney min %d max %d total %d; %d non-2xx, %d bad bodies, %d socket errors" % (
                            rnd, side, rec["daemons"], rec["lg"]["rps"],
                            "/".join("%.0f" % x for x in rec["each_rps"]), rec["lg"]["lat_us"]["p50"] or 0,
                            rec["lg"]["lat_us"]["p99"] or 0, per[0] if per else 0, per[-1] if per else 0, sum(per),
                            rec["lg"]["non2xx"], rec["lg"]["bad_body"], rec["lg"]["socket_errors"]))
                    if rec.get("store"):
                        log("         store: %d commits, %d link_observations writes for %d responses" % (
                            rec["store"]["commits"], rec["store"]["observation_writes"], rec["lg"]["responses"]))
                    self.check_cr("B9 %s round %d" % (side, rnd), rec["lg"])
                    if rec["lg"]["responses"] == 0:
                        raise HarnessError("B9 %s produced no requests" % side)
                    if rec["lg"]["bad_body"]:
                        self.fail("B9 %s round %d: %d responses were not the logged-in page" % (
                            side, rnd, rec["lg"]["bad_body"]))
                    if side == "pg" and (not per or per[0] != 1 or per[-1] != 1):
                        self.note("B9 round %d: PACER logins per attorney across %d daemons were %s (1 each "
                                  "expected)" % (rnd, n_d, per))
        finally:
            sim.stop()
            if pg is not None:
                for p in list(Proc.all):
                    if isinstance(p, _PgProc) and p.pg is pg:
                        p.stop()

    @staticmethod
    def b9_store_counts(pg, db):
        """Commits in the round's database and writes to link_observations (PostgreSQL's own
        statistics), to see what the daemons write per request."""
        try:
            commits = int(pg.query("SELECT xact_commit FROM pg_stat_database WHERE datname = '%s'" % db,
                                   db="postgres") or 0)
            obs = int(pg.query("SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables "
                               "WHERE relname = 'link_observations'", db=db) or 0)
            return commits, obs
        except (RuntimeError, ValueError):
            return None, None

    def b9_prewarm_store(self, dm, headers):
        """BENCH_B9_PREWARM=1 (a diagnostic, not the default): one request per attorney through
        a throwaway daemon on the first daemon's config, stopped before the measured daemons
        start, so the store already holds each attorney's PACER session (PostgreSQL) and link
        observation when they load their users."""
        p = Proc("courtrouted (B9 pre-warm)", [os.path.join(self.bin, "courtrouted"), "--config", dm["config"]],
                 os.path.join(dm["dir"], "prewarm.log"), cwd=dm["dir"])
        try:
            if not wait_port("127.0.0.1", dm["port"], p):
                raise HarnessError("courtrouted (B9 pre-warm) did not start: %s" % self.redact(p.tail()))
            for h in headers:
                with open(h, encoding="ascii") as f:
                    name, _, value = f.read().strip().partition(":")
                c = http.client.HTTPConnection("127.0.0.1", dm["port"], timeout=20)
                try:
                    c.request("GET", "/court/azb" + PAGE_PATH, headers={name: value.strip()})
                    r = c.getresponse()
                    r.read()
                finally:
                    c.close()
                if r.status != 200:
                    raise HarnessError("B9 pre-warm: /court/azb answered %d" % r.status)
        finally:
            p.stop()

    def b9_side(self, sim, d, n_daemons, store_extra, pg=None, db=None):
        """One side of one B9 round: an empty store, the attorneys added through the first
        daemon's CLI, n_daemons fresh courtrouted, then every (attorney, daemon) pair loaded by
        its own loadgen (one Authorization header each) for the same window. Returns the record."""
        os.makedirs(d)
        daemons = []
        for i in range(n_daemons):
            dd = os.path.join(d, "d%d" % i)
            os.makedirs(dd)
            port = free_port()
            threads = "" if self.b9_threads is None else "threads = %d\n" % self.b9_threads
            config = os.path.join(dd, "courtroute.toml")
            with open(config, "w", encoding="utf-8") as f:
                f.write('[listen]\nproxy = "127.0.0.1:%d"\n%s\n[state]\ndir = "%s/state"\n\n%s%s'
                        % (port, threads, dd, self.b9_base, store_extra))
            daemons.append({"dir": dd, "port": port, "config": config})
        cli = [os.path.join(self.bin, "courtroute"), "--config", daemons[0]["config"]]
        headers = []
        old = os.umask(0o077)
        try:
            for i, (login, pw) in enumerate(self.b9_pacer):
                user = "b9att%02d" % i
                token = run(cli + ["user", "add", user]).stdout.strip().splitlines()[-1].strip()
                self.secrets.append(("token", token))
                run(cli + ["pacer", "set", user, "--login", login], stdin=pw + "\n")
                run(cli + ["link", user, "azb"])
                h = os.path.join(d, "auth-%s" % user)
                with open(h, "w", encoding="ascii") as f:
                    f.write("Authorization: Bearer %s\n" % token)
                headers.append(h)
        finally:
            os.umask(old)
        before = self.b9_store_counts(pg, db) if pg is not None else (None, None)
        mark = len(sim.pacer_attempts)
        if self.b9_prewarm:
            self.b9_prewarm_store(daemons[0], headers)
        procs, loads = [], []
        try:
            for i, dm in enumerate(daemons):
                p = Proc("courtrouted (B9 %s)" % os.path.basename(d), [os.path.join(self.bin, "courtrouted"), "--config",
                                                                     dm["config"]],
                         os.path.join(dm["dir"], "courtrouted.log"), cwd=dm["dir"])
                procs.append(p)
                if not wait_port("127.0.0.1", dm["port"], p):
                    raise HarnessError("courtrouted (B9) did not start: %s" % self.redact(p.tail()))
            # Every attorney on every slot: with one daemon, its slots all go to that daemon, so both
            # sides have the same clients (processes, connections, attorneys); only the targets differ.
            for slot in range(self.b9_daemons):
                dm = daemons[slot % n_daemons]
                for u, h in enumerate(headers):
                    samples = os.path.join(d, "lat-%d-%d.txt" % (slot, u))
                    cmd = [self.loadgen_bin, "--mode", "http", "--connect", "127.0.0.1:%d" % dm["port"],
                           "--path", "/court/azb" + PAGE_PATH, "--header-file", h, "--expect", EXPECT,
                           "--connections", str(self.b9_conns), "--duration", str(self.b9_seconds),
                           "--warmup", str(self.warmup), "--timeout", "20", "--samples", samples]
                    loads.append((slot % n_daemons, samples,
                                  Proc("loadgen (B9)", cmd, os.path.join(d, "loadgen-%d-%d.log" % (slot, u)), cwd=d)))
            results = []
            for di, samples, lp in loads:
                try:
                    lp.popen.wait(self.warmup + self.b9_seconds + 60)
                except subprocess.TimeoutExpired:
                    raise HarnessError("B9 loadgen did not finish")
                lp.stop()
                with open(lp.log_path, encoding="utf-8", errors="replace") as f:
                    lines = [ln for ln in f.read().splitlines() if ln.startswith("{")]
                if not lines:
                    raise HarnessError("B9 loadgen printed no result: %s" % self.redact(lp.tail(3)))
                results.append((di, samples, json.loads(lines[-1])))
            attempts = list(sim.pacer_attempts)[mark:]
            m_logins, m_upstream = [], []
            for dm in daemons:
                m = self.metrics_of(dm["port"])
                m_logins.append(sum(v for k, v in m.items()
                                    if k.startswith("courtroute_logins_total{") and 'result="success"' in k))
                m_upstream.append(m.get("courtroute_upstream_connections_total"))
            for i, p in enumerate(procs):
                if not p.alive():
                    self.fail("courtrouted (B9, daemon %d of %d) died: %s" % (i + 1, n_daemons, self.redact(p.tail())))
        finally:
            for _, _, lp in loads:
                lp.stop()
            for p in procs:
                p.stop()
        store = {}
        if pg is not None:
            time.sleep(0.6)   # the exited backends' statistics reach pg_stat_database
            after = self.b9_store_counts(pg, db)
            if None not in before and None not in after:
                store = {"commits": after[0] - before[0], "observation_writes": after[1] - before[1]}
        events = {}
        for dm in daemons:
            try:
                with open(os.path.join(dm["dir"], "courtrouted.log"), "rb") as f:
                    for line in f:
                        name = line.split(b" ", 1)[0].decode("ascii", "replace").strip()
                        events[name] = events.get(name, 0) + 1
            except OSError:
                pass
        unusual = {k: v for k, v in events.items()
                   if k not in ("request", "listening", "stopping", "stopped", "login", "session_expired")}
        if unusual:
            self.note("B9 courtrouted (%d daemon(s)) logged events other than request/login: %s" % (
                n_daemons, ", ".join("%s×%d" % kv for kv in sorted(unusual.items()))))
        lat = []
        for _, samples, _ in results:
            try:
                with open(samples, encoding="ascii") as f:
                    lat += [int(x) for x in f.read().split()]
            except OSError:
                pass
        lat.sort()

        def pct(q):
            return float(lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else None
        lgs = [r for _, _, r in results]
        agg = {"rps": sum(r["rps"] for r in lgs), "requests": sum(r["requests"] for r in lgs),
               "responses": sum(r["responses"] for r in lgs),
               "lat_us": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0),
                          "mean": sum(lat) / len(lat) if lat else None},
               "status": {k: sum(r["status"][k] for r in lgs) for k in ("1xx", "2xx", "3xx", "4xx", "5xx")},
               "non2xx": sum(r["non2xx"] for r in lgs), "bad_body": sum(r["bad_body"] for r in lgs),
               "socket_errors": sum(r["socket_errors"] for r in lgs),
               "errors": {k: sum(r["errors"][k] for r in lgs) for k in lgs[0]["errors"]},
               "mb_per_s": sum(r["mb_per_s"] for r in lgs)}
        each = [sum(r["rps"] for di, _, r in results if di == i) for i in range(n_daemons)]
        logins = {}
        for login, _ in self.b9_pacer:
            logins[login] = sum(1 for a in attempts if a.login == login and a.result == "0")
        return {"daemons": n_daemons, "conns": len(loads) * self.b9_conns, "loadgens": len(loads), "lg": agg,
                "threads": self.b9_threads, "prewarm": self.b9_prewarm,
                "each_rps": each, "logins": logins,
                "failed_logins": sum(1 for a in attempts if a.result != "0"),
                "metrics_logins": m_logins, "upstream_connections": m_upstream, "store": store}

    def metrics_of(self, port):
        saved = self.cr_port
        self.cr_port = port
        try:
            return self.metrics()
        finally:
            self.cr_port = saved

    # ------------------------------------------------------------------ main

    def meta(self):
        cpu = "?"
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        osname = "?"
        try:
            with open("/etc/os-release", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        osname = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass

        def out(cmd):
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=REPO)
                return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"
            except (OSError, subprocess.TimeoutExpired):
                return "?"
        build_type = "?"
        try:
            with open(os.path.join(os.path.dirname(self.bin), "CMakeCache.txt"), encoding="utf-8") as f:
                m = re.search(r"^CMAKE_BUILD_TYPE:STRING=(.*)$", f.read(), re.M)
                build_type = m.group(1) if m else "?"
        except OSError:
            pass
        return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "nproc": self.ncpu, "cpu": cpu,
                "os": "%s, kernel %s" % (osname, platform.release()),
                "commit": out(["git", "rev-parse", "--short", "HEAD"]),
                "dirty": self.changed_files(),
                "branch": out(["git", "rev-parse", "--abbrev-ref", "HEAD"]),
                "build_type": build_type, "courtrouted": os.path.join(self.bin, "courtrouted"),
                "nginx": out([self.nginx, "-v"]).replace("nginx version: ", ""),
                "squid": out(["squid", "-v"]) if shutil.which("squid") else None,
                "mitmproxy": out(["mitmdump", "--version"]) if shutil.which("mitmdump") else None,
                "rounds": self.rounds, "duration": self.duration, "warmup": self.warmup,
                "conns": self.conns, "threads": self.threads, "b2_conns": self.b2_conns,
                "b3_hosts": len(self.hosts) if hasattr(self, "hosts") else None, "b5_mib": self.b5_mib,
                "b6_tunnels": self.b6_tunnels, "b8_seconds": self.b8_seconds, "b8_conns": self.b8_conns,
                "b9": {"rounds": self.b9_rounds, "seconds": self.b9_seconds, "daemons": self.b9_daemons,
                       "users": self.b9_users, "conns": self.b9_conns, "threads": self.b9_threads,
                       "prewarm": self.b9_prewarm,
                       "postgresql": self.pg_version()},
                "upstream": getattr(self, "up_url", None), "smoke": self.smoke,
                "scenarios": sorted(self.only), "label": os.environ.get("BENCH_LABEL") or None, "notes": self.notes, "skipped": self.skipped,
                "failures": self.failures}

    @staticmethod
    def pg_version():
        exe = "/usr/lib/postgresql/15/bin/postgres"
        if not os.access(exe, os.X_OK):
            return None
        try:
            return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None

    @staticmethod
    def changed_files():
        """Tracked files changed in the work tree (the measured binary may not match the commit)."""
        try:
            r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=20, cwd=REPO)
            return [ln[3:] for ln in r.stdout.splitlines() if len(ln) > 3]
        except (OSError, subprocess.TimeoutExpired):
            return []

    def main(self):
        t0 = time.monotonic()
        log("work dir %s, results %s" % (self.t, self.out))
        self.setup()
        timings = {}

        def timed(name, fn, *a):
            self.scenario = name
            s = time.monotonic()
            fn(*a)
            timings[name] = timings.get(name, 0) + time.monotonic() - s

        phase_threads = sorted(set(self.threads)) if "B1" in self.only else []
        need_t1 = bool({"B1", "B2", "B5"} & self.only)
        if need_t1 and 1 not in phase_threads:
            phase_threads = [1] + phase_threads
        for n in phase_threads:
            self.start_courtroute(n)
            self.start_nginx_proxy(n)
            try:
                if "B1" in self.only and n in self.threads:
                    timed("B1", self.b1, n)
                if n == 1 and "B5" in self.only:
                    timed("B5", self.b5)
                if n == 1 and "B2" in self.only:
                    timed("B2", self.b2)
            finally:
                self.stop_courtroute()
                self.ng.stop()
        if "B3" in self.only:
            timed("B3", self.b3)
        if "B6" in self.only:
            timed("B6", self.b6)
        if "B8" in self.only:
            timed("B8", self.b8)
        if "B9" in self.only:
            timed("B9", self.b9)
        meta = self.meta()
        meta["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        meta["total_s"] = round(time.monotonic() - t0, 1)
        with open(os.path.join(self.out, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        log("done in %.0f s" % meta["total_s"])


def main():
    smoke = "--smoke" in sys.argv[1:]
    bench = Bench(smoke)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    rc = 0
    try:
        bench.main()
        rc = finish(bench)
    except HarnessError as e:
        log("error: %s" % bench.redact(str(e)))
        rc = 1
    finally:
        stop_all()
        if os.environ.get("BENCH_KEEP") == "1" or (smoke and rc):
            log("kept %s (configs and logs)" % bench.t)
        else:
            shutil.rmtree(bench.t, ignore_errors=True)
    return rc


def finish(bench):
    """Renders the table; a full run of every scenario rewrites RESULTS.md. Returns the exit code."""
    import report  # noqa: E402  (bench/ is on sys.path as the script's directory)
    text = report.render(bench.out)
    with open(os.path.join(bench.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    if bench.smoke:
        if bench.failures:
            log("smoke run FAILED: " + "; ".join(bench.failures))
            return 1
        log("smoke run passed (figures are not judged)")
        return 0
    path = os.environ.get("BENCH_RESULTS") or os.path.join(HERE, "RESULTS.md")
    if bench.only != set(ALL_SCENARIOS) and not os.environ.get("BENCH_RESULTS"):
        log("a partial run (BENCH_ONLY): RESULTS.md left alone; the table is in %s/report.md" % bench.out)
        return 0
    report.write_results(path, text, os.environ.get("BENCH_PREVIOUS", "/tmp/bench_before.md"))
    log("written %s (raw results in %s)" % (path, bench.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
