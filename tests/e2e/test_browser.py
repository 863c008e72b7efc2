"""End-to-end tests in a real browser (issue 11): Debian's headless Chromium through courtroute.

The real courtrouted and courtroute, the simulated PACER and courts (tests/sim), and
/usr/bin/chromium with a temporary HOME whose NSS database (made with certutil) trusts the
daemon's local CA, a fresh --user-data-dir per run. Browsers cannot add bearer tokens, so the
daemon runs with `[policy] anonymous_user = "alice"`.

- `--proxy-server`: a NextGen court's page opens through the proxy, intercepted with a leaf of
  the local CA (no certificate interstitial) and with alice's PACER session injected.
- `--proxy-pac-url` (the daemon's /proxy.pac): the court goes through the proxy, a non-court
  host (www.uscourts.gov, mapped to a local HTTP server) goes DIRECT and never reaches the daemon.
- The status page `/`: alice's courts, link states and to-do list with the linking steps; a
  screenshot kept under the build tree (<build>/test-artifacts/status-page.png).
- No browser: /proxy.pac evaluated in node with the standard PAC helpers for every host of the
  daemon's courts.d (PROXY) and non-court hosts and look-alikes (DIRECT), before and after a
  court is added and the daemon reloaded.

Every browser runs in its own process group with a hard timeout and is killed by that group;
afterwards no process whose command line holds the run's user-data-dir may be left.
Every DOM, page and log is checked for secrets (passwords, tokens, session tokens).

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_browser`.
"""

import base64
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, clean_env, curl  # noqa: E402
from sim.sim import LIMITED_MENU, full_menu  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"
CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"
BROWSER_TIMEOUT = 60.0   # seconds per Chromium run, hard
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--no-default-browser-check", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--metrics-recording-only",
                  # No automatic http->https upgrade of the DIRECT test page (it speaks plain HTTP).
                  "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"]
# Loopback only: every name the browser would resolve itself fails, except the ones a test maps.
NO_DNS = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
# What Chromium shows instead of the page when the certificate or the connection fails.
ERROR_PAGE_MARKS = ("Your connection is not private", "NET::ERR", "ERR_CERT", "ERR_PROXY",
                    "ERR_TUNNEL", "ERR_CONNECTION", "main-frame-error", "This site can")

# Simulated courts: azb (NextGen bankruptcy, alice not linked), azd (NextGen district, linked).
SIM_COURTS = {"azb": dict(type="bankruptcy"), "azd": dict(type="district")}
LINKED, UNLINKED = "azd", "azb"
EXTRA_HOST = "ca9-showdoc.azurewebsites.us"        # an ACMS host outside uscourts.gov
ADDED = "ctb"                                       # the court added before the reload
ADDED_EXTRA = "ctb-acms.azurewebsites.us"
PACER_LOGIN = "alice01"
PACER_PASSWORD = "alice-browser-PACER-pw-4410zk"
LINK_STEPS = "Link a CM/ECF account to my PACER account"

# Non-court hosts the PAC must send DIRECT (look-alikes of the court hosts included).
DIRECT_HOSTS = [
    "example.com", "www.example.com", "www.uscourts.gov", "pacer.uscourts.gov", "uscourts.gov",
    "pacer.login.uscourts.gov", "azb.uscourts.gov", "ecf.uscourts.gov",
    "ecf.azb.uscourts.gov.evil.com", "xecf.azb.uscourts.gov", "www.ecf.azb.uscourts.gov",
    "ecf.azbx.uscourts.gov", "ecf-azb.uscourts.gov", "ecf.azb.uscourts.gov-evil.com",
    "ecf.azb.uscourts.govx", "evil-ecf.azb.uscourts.gov", "ca9-showdoc.azurewebsites.us.evil.com",
    "showdoc.azurewebsites.us", "azurewebsites.us", "localhost", "127.0.0.1", "intranet",
    "ecf.ctb.uscourts.gov.example.com",
]


def tail(text, lines=30):
    return "\n".join(text.splitlines()[-lines:])


def chromium_errors(stderr, lines=12):
    """The telling part of Chromium's stderr: its load failure first (`Page load failed:
    net::ERR_...`), then the last lines without the D-Bus noise of a machine without a bus."""
    kept = [ln for ln in stderr.splitlines() if "dbus" not in ln.lower() and "/usr/bin/chromium:" not in ln]
    failed = [ln for ln in kept if "Page load failed" in ln or "net_error" in ln]
    return "\n".join(failed[:3] + ["..."] + kept[-lines:]) if failed else "\n".join(kept[-lines:])


def processes_holding(needle):
    """PIDs of live processes whose command line contains `needle` (a user-data-dir)."""
    found = []
    key = needle.encode()
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if key in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return found


def refreshes_every_30s(html_text):
    """Whether a <meta http-equiv="refresh" content="30"> is there (any attribute order)."""
    for tag in re.findall(r"<meta\b[^>]*>", html_text, re.I):
        attrs = {k.lower(): v for k, v in re.findall(r'([\w-]+)\s*=\s*"([^"]*)"', tag)}
        if attrs.get("http-equiv", "").lower() == "refresh" and attrs.get("content", "").strip() == "30":
            return True
    return False


def png_facts(data):
    """(width, height, inked rows, inked bytes) of an 8-bit non-interlaced PNG. A row is inked
    when its filtered bytes after the first pixel are not all zero: a row of one colour filters
    to zeros (Sub, Up, Average and Paeth alike), text and borders do not."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG (signature %r)" % data[:8])
    pos, ihdr, idat = 8, None, []
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise AssertionError("PNG chunk %r has a bad CRC" % kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None or not idat:
        raise AssertionError("PNG without IHDR or IDAT")
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or interlace != 0 or color not in (0, 2, 4, 6):
        raise AssertionError("unexpected PNG format: depth %d, colour type %d, interlace %d"
                             % (depth, color, interlace))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = zlib.decompress(b"".join(idat))
    stride = 1 + width * bpp
    if len(raw) != height * stride:
        raise AssertionError("PNG image data is %d bytes, %d expected" % (len(raw), height * stride))
    rows = ink = 0
    for y in range(1, height):
        rest = raw[y * stride + 1 + bpp:(y + 1) * stride]
        nonzero = len(rest) - rest.count(0)
        if nonzero:
            rows += 1
            ink += nonzero
    return width, height, rows, ink


# Standard PAC helpers (Netscape's list), simple implementations with no network: DNS answers
# nothing, so a PAC that resolves names shows it in `dnsCalls`.
NODE_HARNESS = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
const pac = fs.readFileSync(process.argv[2], 'utf8');
const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
let dnsCalls = 0;
function ip4(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(String(s));
  if (!m) return null;
  const p = m.slice(1).map(Number);
  return p.some(x => x > 255) ? null : ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}
const sandbox = {
  isPlainHostName: h => String(h).indexOf('.') < 0,
  dnsDomainIs: (h, d) => String(h).length >= String(d).length &&
      String(h).substring(String(h).length - String(d).length) === String(d),
  localHostOrDomainIs: (h, hd) => h === hd || (String(h).indexOf('.') < 0 && String(hd).indexOf(String(h) + '.') === 0),
  isResolvable: h => { dnsCalls++; return ip4(h) !== null || h === 'localhost'; },
  isInNet: (h, pat, mask) => {
    dnsCalls++;
    const a = ip4(h), p = ip4(pat), m = ip4(mask);
    return a !== null && p !== null && m !== null && ((a & m) >>> 0) === ((p & m) >>> 0);
  },
  dnsResolve: h => { dnsCalls++; return ip4(h) !== null ? String(h) : (h === 'localhost' ? '127.0.0.1' : null); },
  myIpAddress: () => '127.0.0.1',
  dnsDomainLevels: h => String(h).split('.').length - 1,
  shExpMatch: (s, e) => new RegExp('^' + String(e).replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*').replace(/\?/g, '.') + '$').test(String(s)),
  weekdayRange: () => true,
  dateRange: () => true,
  timeRange: () => true,
  alert: () => {},
};
const ctx = vm.createContext(sandbox);
vm.runInContext(pac, ctx, {filename: 'proxy.pac', timeout: 5000});
if (typeof ctx.FindProxyForURL !== 'function') {
  console.log(JSON.stringify({error: 'no FindProxyForURL function'}));
  process.exit(0);
}
const results = cases.map(([url, host]) => {
  try { return String(ctx.FindProxyForURL(url, host)); } catch (e) { return 'THROWS ' + e; }
});
console.log(JSON.stringify({results: results, dnsCalls: dnsCalls}));
"""


class _DirectHandler(http.server.BaseHTTPRequestHandler):
    """The DIRECT target: a plain HTTP page with a unique marker; records every request."""
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep stderr quiet
        pass

    def do_GET(self):
        srv = self.server
        with srv.lock:
            srv.seen.append((self.command, self.path, self.headers.get("Host", "")))
        if self.path == "/":
            body = srv.page.encode()
            ctype = "text/html; charset=utf-8"
        else:
            body, ctype = b"not here\n", "text/plain"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class BrowserRun:
    def __init__(self, returncode, timed_out, stdout, stderr, user_data_dir, seconds):
        self.returncode = returncode
        self.timed_out = timed_out
        self.stdout = stdout
        self.stderr = stderr
        self.user_data_dir = user_data_dir
        self.seconds = seconds


class BrowserTest(unittest.TestCase):
    """One simulator, one daemon (anonymous_user = alice), one trusting HOME for every browser."""

    runs = 0            # Chromium runs
    pac_checks = 0      # FindProxyForURL evaluations checked in node
    user_data_dirs = []

    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise unittest.SkipTest("%s is missing (Debian package chromium): no browser tests" % CHROMIUM)
        if not harness.have_binaries():
            raise unittest.SkipTest("no courtrouted/courtroute in %s" % harness.build_dir())
        cls.tmp = tempfile.mkdtemp(prefix="courtroute-browser-")
        cls.d = None
        cls.sim = None
        cls.direct = None
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        cls.sim = Simulator(os.path.join(cls.tmp, "sim"), courts=SIM_COURTS).start()
        cls.watch = SecretWatch(cls.sim)
        cls.sim.add_pacer_account(PACER_LOGIN, cls.watch.add("pacer password", PACER_PASSWORD))
        cls.sim.link(LINKED, PACER_LOGIN)

        courts = {c.id: dict(type=c.type, system=c.system, host=c.host) for c in cls.sim.courts.values()}
        courts["ca9"] = dict(type="appellate", extra_hosts=[EXTRA_HOST])   # not simulated: PAC only
        courts["ohndad"] = dict(type="district")                             # ecf.ohndad.ohnd.uscourts.gov
        cls.d = Daemon(os.path.join(cls.tmp, "daemon"), sim=cls.sim, courts=courts, watch=cls.watch,
                       extra='[policy]\nanonymous_user = "alice"\n')
        cls.token = cls.d.add_user("alice")
        cls.cli_ok(["pacer", "set", "alice", "--login", PACER_LOGIN], PACER_PASSWORD + "\n")
        cls.cli_ok(["link", "alice", LINKED])
        cls.d.start()
        # The CA the browsers trust: `courtroute ca` makes it if needed and prints its PEM path.
        r = cls.cli_ok(["ca"])
        cls.ca_pem = r.stdout.strip().splitlines()[-1].strip()
        if not os.path.isfile(cls.ca_pem):
            raise AssertionError("courtroute ca printed %r, which is not a file" % cls.ca_pem)
        # alice uses the unlinked court once (anonymously, as a browser would): the court is then
        # one of hers on the status page, and the proxy is known to work before any browser runs.
        r = curl(["https://%s/cgi-bin/iquery.pl" % cls.sim.courts[UNLINKED].host],
                 proxy="http://127.0.0.1:%d" % cls.d.port, cacert=cls.ca_pem)
        cls.watch.assert_absent(curl_body=r.body, curl_stderr=r.stderr)
        if r.status != 200 or r.headers.get("Courtroute-Route") != "pacer":
            raise AssertionError("anonymous curl through the proxy: %d %s (%s); daemon log:\n%s"
                                 % (r.status, r.headers.get("Courtroute-Warning"), r.stderr.strip(),
                                    cls.d.log_tail()))

        # The browsers' HOME: an NSS database trusting the daemon's CA (what `ca --install` does).
        cls.home = os.path.join(cls.tmp, "home")
        nssdb = os.path.join(cls.home, ".pki", "nssdb")
        os.makedirs(nssdb)
        for args in (["-N", "-d", "sql:" + nssdb, "--empty-password"],
                     ["-A", "-d", "sql:" + nssdb, "-t", "C,,", "-n", "courtroute", "-i", cls.ca_pem]):
            p = subprocess.run([CERTUTIL] + args, capture_output=True, text=True, timeout=60, env=clean_env())
            if p.returncode != 0:
                raise AssertionError("certutil %s failed (%d): %s" % (args[0], p.returncode, p.stderr))

        # The DIRECT target for the PAC test.
        cls.marker = "direct-marker-" + secrets.token_hex(8)
        cls.probe = "pacprobe-" + secrets.token_hex(6)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DirectHandler)
        srv.daemon_threads = True
        srv.lock = threading.Lock()
        srv.seen = []
        # The page names the court too: its image is fetched by the same browser through the PAC,
        # which proves the PAC was in force when this page went DIRECT.
        srv.page = ('<html><head><title>direct</title></head><body><p id="marker">%s</p>'
                    '<img alt="probe" src="https://%s/cgi-bin/%s.pl"></body></html>'
                    % (cls.marker, cls.sim.courts[UNLINKED].host, cls.probe))
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                         name="direct-server", daemon=True).start()
        cls.direct = srv  # shut down at teardown (only once it serves: shutdown() waits for that)

    @classmethod
    def cli_ok(cls, args, stdin=""):
        r = cls.d.cli(args, stdin=stdin)
        cls.watch.assert_absent(cli_stdout=r.stdout, cli_stderr=r.stderr)
        if r.returncode != 0:
            raise AssertionError("courtroute %s failed (%d): %s"
                                 % (" ".join(args[:2]), r.returncode, cls.watch.redact(r.stderr).strip()))
        return r

    @classmethod
    def tearDownClass(cls):
        leftovers = {ud: processes_holding(ud) for ud in cls.user_data_dirs}
        leftovers = {ud: pids for ud, pids in leftovers.items() if pids}
        for pids in leftovers.values():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        log = cls.d.log_text() if cls.d is not None else ""
        cls._tear_down()
        print("browser: %d runs of headless chromium, %d PAC checks in node, %d browser processes left"
              % (cls.runs, cls.pac_checks, sum(len(p) for p in leftovers.values())), flush=True)
        if leftovers:
            raise AssertionError("browser processes left behind: %s" % leftovers)
        cls.watch.assert_absent(daemon_log=log)

    @classmethod
    def _tear_down(cls):
        try:
            if cls.direct is not None:
                cls.direct.shutdown()
                cls.direct.server_close()
            if cls.d is not None:
                cls.d.stop()
            if cls.sim is not None:
                cls.sim.stop()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.sim.errors.clear()

    def tearDown(self):
        self.assertEqual(self.sim.errors, [], "simulator handler errors")
        self.watch.assert_absent(daemon_log=self.d.log_text())

    # ------------------------------------------------------------------ helpers

    def chromium(self, name, args, url):
        """Runs Chromium once (fresh user-data-dir, trusting HOME, own process group, hard
        timeout), kills its group, checks nothing is left; a BrowserRun."""
        cls = type(self)
        cls.runs += 1
        ud = os.path.join(self.tmp, "chromium-%02d-%s" % (cls.runs, name))
        os.makedirs(ud)
        cls.user_data_dirs.append(ud)
        env = clean_env({"HOME": self.home, "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
                         "XDG_CACHE_HOME": os.path.join(self.home, ".cache"),
                         "XDG_DATA_HOME": os.path.join(self.home, ".local", "share")})
        for k in ("DISPLAY", "WAYLAND_DISPLAY", "CHROME_WRAPPER", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        cmd = [CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + ud] + list(args) + [url]
        out_path, err_path = ud + ".stdout", ud + ".stderr"
        t0 = time.monotonic()
        timed_out = False
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # Output goes to files, not pipes: a helper that outlives the browser cannot hold
            # the test up waiting for EOF.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                    cwd=self.tmp, start_new_session=True)
            try:
                proc.wait(timeout=BROWSER_TIMEOUT)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # The whole group (renderer, GPU, utility processes, crashpad), by its id.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        seconds = time.monotonic() - t0
        left = processes_holding(ud)
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = processes_holding(ud)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        with open(out_path, "rb") as f:
            stdout = f.read().decode("utf-8", "replace")
        with open(err_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        self.watch.assert_absent(chromium_stdout=stdout, chromium_stderr=stderr)
        self.assertEqual(left, [], "chromium processes outside its process group left running")
        self.assertFalse(timed_out, "chromium %s did not finish within %.0f s; stderr:\n%s"
                         % (name, BROWSER_TIMEOUT, chromium_errors(stderr)))
        return BrowserRun(proc.returncode, timed_out, stdout, stderr, ud, seconds)

    def assert_court_page(self, run, court_id, path, menu):
        """The DOM Chromium dumped is the simulated court's logged-in page for `path`."""
        dom = run.stdout
        why = "court page expected; chromium exit %s, DOM:\n%s\nstderr tail:\n%s\ndaemon log tail:\n%s" % (
            run.returncode, dom[:2000], chromium_errors(run.stderr), self.d.log_tail(15))
        for mark in ERROR_PAGE_MARKS:
            self.assertNotIn(mark, dom, why)
        self.assertIn("<title>%s CM/ECF</title>" % court_id.upper(), dom, why)
        self.assertIn('<span id="sim-path">%s</span>' % path, dom, why)
        self.assertIn(">Logout</a>", dom, "the logged-in menu (a session was injected): " + why)
        for label in menu:
            self.assertIn(">%s</a>" % label, dom, why)
        for label in set(full_menu(self.sim.courts[court_id].type)) - set(menu):
            self.assertNotIn(">%s</a>" % label, dom, why)

    def browser_requests(self, court_id, path):
        """What the simulated court saw of a browser's request for `path`."""
        time.sleep(0.1)
        return [r for r in list(self.sim.requests)
                if r.court == court_id and r.path == path and "Chrome" in r.headers.get("user-agent", "")]

    def other_requests_metric(self):
        """Requests the daemon counted for no registry court (a non-court host would land here)."""
        code, _, body = self.d.http("GET", "/metrics")
        self.assertEqual(code, 200)
        return sum(float(m.group(1)) for m in re.finditer(
            r'^courtroute_requests_total\{court="other"[^}]*\} ([0-9.e+]+)$', body.decode(), re.M))

    def fetch(self, path, headers=None):
        status, hdrs, body = self.d.http("GET", path, headers=headers)
        h = harness.Headers(hdrs)
        self.watch.assert_absent(**{"%s headers" % path: "\n".join("%s: %s" % kv for kv in hdrs),
                                    "%s body" % path: body})
        return status, h, body

    def ecf_urls(self):
        """The scheme://host of every court's ecf_url in the daemon's courts.d."""
        out = set()
        for name in os.listdir(self.d.courts_dir):
            if name.endswith(".toml"):
                with open(os.path.join(self.d.courts_dir, name), "rb") as f:
                    u = urllib.parse.urlsplit(tomllib.load(f)["ecf_url"])
                out.add("%s://%s" % (u.scheme, u.netloc))
        return out

    def registry_hosts(self):
        """Every host of the daemon's courts.d: (court id, host) for ecf_url and extra_hosts."""
        out = []
        for name in sorted(os.listdir(self.d.courts_dir)):
            if not name.endswith(".toml"):
                continue
            with open(os.path.join(self.d.courts_dir, name), "rb") as f:
                doc = tomllib.load(f)
            out.append((doc["id"], urllib.parse.urlsplit(doc["ecf_url"]).hostname))
            out.extend((doc["id"], h) for h in doc.get("extra_hosts", []))
        return out

    def eval_pac(self, pac_text, cases):
        """FindProxyForURL(url, host) for every (url, host) in node: (results, dns calls)."""
        d = tempfile.mkdtemp(prefix="pac-", dir=self.tmp)
        paths = {n: os.path.join(d, n) for n in ("harness.js", "proxy.pac", "cases.json")}
        with open(paths["harness.js"], "w") as f:
            f.write(NODE_HARNESS)
        with open(paths["proxy.pac"], "w", encoding="utf-8") as f:
            f.write(pac_text)
        with open(paths["cases.json"], "w") as f:
            json.dump(cases, f)
        r = subprocess.run([NODE, paths["harness.js"], paths["proxy.pac"], paths["cases.json"]],
                           capture_output=True, text=True, timeout=60, env=clean_env())
        self.assertEqual(r.returncode, 0, "node failed on the PAC file: %s\nPAC:\n%s" % (r.stderr, pac_text[:1500]))
        doc = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertNotIn("error", doc, pac_text[:1500])
        self.assertEqual(len(doc["results"]), len(cases))
        return doc["results"], doc["dnsCalls"]

    def pac_text(self):
        status, h, body = self.fetch("/proxy.pac")
        self.assertEqual(status, 200, body[:300])
        ctype = h.get("Content-Type", "")
        self.assertEqual(ctype.split(";")[0].strip().lower(), "application/x-ns-proxy-autoconfig", ctype)
        return body.decode("utf-8")

    # ------------------------------------------------------------------ tests

    def test_a_court_page_through_proxy_server(self):
        # --proxy-server: the linked court's page, intercepted with the local CA's leaf, logged in.
        path = "/cgi-bin/DktRpt.pl"
        run = self.chromium("proxy-server", ["--proxy-server=http://127.0.0.1:%d" % self.d.port,
                                             "--host-resolver-rules=" + NO_DNS, "--dump-dom"],
                            "https://%s%s" % (self.sim.courts[LINKED].host, path))
        self.assert_court_page(run, LINKED, path, full_menu(self.sim.courts[LINKED].type))
        seen = self.browser_requests(LINKED, path)
        self.assertTrue(seen, "the court saw no request from Chromium for %s" % path)
        self.assertTrue(all(r.logged_in for r in seen), "the court saw Chromium's request without a live session")
        self.assertTrue(all("proxy-authorization" not in r.headers for r in seen))
        print("proxy-server: 1 chromium run, %d court requests from the browser, %.1f s"
              % (len(seen), run.seconds), flush=True)

    def test_b_pac_court_proxied_other_direct(self):
        # --proxy-pac-url: the court through courtroute, www.uscourts.gov DIRECT (never the daemon).
        pac_url = "http://127.0.0.1:%d/proxy.pac" % self.d.port
        court = self.sim.courts[UNLINKED]

        # The court: through the proxy (alice is not linked there: the limited menu).
        path = "/cgi-bin/iquery.pl"
        run = self.chromium("pac-court", ["--proxy-pac-url=" + pac_url, "--host-resolver-rules=" + NO_DNS,
                                          "--dump-dom"], "https://%s%s" % (court.host, path))
        self.assert_court_page(run, UNLINKED, path, LIMITED_MENU)
        self.assertTrue(self.browser_requests(UNLINKED, path), "the court saw no request from Chromium")

        # www.uscourts.gov: DIRECT to the local server; its page's image of the court goes
        # through the proxy in the same browser, so the PAC was in force.
        log_start = len(self.d.log_text())
        other_before = self.other_requests_metric()
        with self.direct.lock:
            self.direct.seen.clear()
        dport = self.direct.server_address[1]
        url = "http://www.uscourts.gov:%d/" % dport
        run = self.chromium("pac-direct", ["--proxy-pac-url=" + pac_url,
                                           "--host-resolver-rules=MAP www.uscourts.gov 127.0.0.1, " + NO_DNS,
                                           "--dump-dom"], url)
        dom = run.stdout
        why = "DOM:\n%s\nstderr tail:\n%s" % (dom[:1500], chromium_errors(run.stderr))
        self.assertIn('<p id="marker">%s</p>' % self.marker, dom, why)
        with self.direct.lock:
            seen = list(self.direct.seen)
        self.assertIn(("GET", "/", "www.uscourts.gov:%d" % dport), seen, "the local server's requests: %r" % seen)
        probe = self.browser_requests(UNLINKED, "/cgi-bin/%s.pl" % self.probe)
        self.assertTrue(probe, "the page's court image did not go through the proxy (PAC not in force?)")
        self.assertTrue(all(r.logged_in for r in probe))
        time.sleep(0.2)
        log = self.d.log_text()[log_start:]
        self.assertNotIn("www.uscourts.gov", log, "the daemon saw the DIRECT host:\n" + tail(log))
        self.assertNotIn(":%d" % dport, log, "the daemon saw the DIRECT port:\n" + tail(log))
        self.assertEqual(self.other_requests_metric(), other_before,
                         "the daemon counted a request for a non-court host during the DIRECT run")
        print("pac: 2 chromium runs, court proxied, www.uscourts.gov direct (%d requests at the local "
              "server, 0 at the daemon)" % len(seen), flush=True)

    def test_c_status_page(self):
        # GET / in Chromium: alice's courts, link states, the to-do list; a screenshot artifact.
        page_url = "http://127.0.0.1:%d/" % self.d.port
        status, h, raw = self.fetch("/")
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual(h.get("Content-Type", "").replace(" ", "").lower(), "text/html;charset=utf-8")
        text = raw.decode("utf-8")
        self.assertTrue(refreshes_every_30s(text), "no <meta http-equiv=\"refresh\" content=\"30\">")
        self.assertNotRegex(text.lower(), r"<script\b", "the status page runs no script")
        ecf_urls = self.ecf_urls()
        for m in re.finditer(r'\b(?:src|href|action)\s*=\s*["\']?([^"\'\s>]+)', text, re.I):
            ref = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:|^//", ref, re.I):
                base = urllib.parse.urlsplit(ref)
                self.assertIn("%s://%s" % (base.scheme, base.netloc), ecf_urls,
                              "the status page refers to %r, not one of the courts' own sites" % ref)

        run = self.chromium("status-dom", ["--host-resolver-rules=" + NO_DNS, "--dump-dom"], page_url)
        dom = run.stdout
        why = "DOM:\n%s\nstderr tail:\n%s" % (dom[:3000], chromium_errors(run.stderr))
        for mark in ERROR_PAGE_MARKS:
            self.assertNotIn(mark, dom, why)
        self.assertIn("alice", dom, why)
        self.assertIn(LINK_STEPS, dom, "the linking steps for the unlinked NextGen court: " + why)
        self.assertTrue(refreshes_every_30s(dom), why)
        rows = [re.sub(r"<[^>]+>", " ", r) for r in re.findall(r"<tr\b.*?</tr>", dom, re.S | re.I)]
        for cid, state in ((LINKED, "linked"), (UNLINKED, "not linked")):
            court_rows = [r for r in rows if re.search(r"\b%s\b" % cid, r)
                          and re.search(r"\b(not )?linked\b", r)]
            self.assertTrue(court_rows, "no row for %s with its link state: %s" % (cid, why))
            row = " ".join(court_rows[0].split())
            self.assertIn("nextgen", row.lower(), row)
            self.assertIn("pacer", row.lower(), row)
            if state == "linked":
                self.assertNotRegex(row, r"\bnot linked\b", row)
                self.assertRegex(row, r"\blinked\b", row)
            else:
                self.assertRegex(row, r"\bnot linked\b", row)
        # One row per court alice uses (her /status entry), none for the registry's other courts;
        # the to-do list is her /status warnings in the same order (worst first).
        doc = self.d.status(token=self.token)
        self.watch.assert_absent(status_json=doc)
        mine = [u for u in doc["users"] if u["user"] == "alice"]
        self.assertEqual(len(mine), 1, doc)
        used = {c["court"] for c in mine[0]["courts"]}
        self.assertEqual(used, {LINKED, UNLINKED}, "alice's courts in /status")
        for cid in {cid for cid, _ in self.registry_hosts()}:
            n = len([r for r in rows if re.search(r"\b%s\b" % re.escape(cid), r)])
            self.assertEqual(n, 1 if cid in used else 0, "rows naming %s: %s" % (cid, why))
        codes = [w["code"] for w in doc["warnings"]]
        self.assertIn("unlinked_nextgen", codes)
        pos = 0
        for code in codes:
            at = dom.find(code, pos)
            self.assertGreaterEqual(at, 0, "to-do item %s missing or out of /status order (%s): %s"
                                    % (code, codes, why))
            pos = at + len(code)
        self.watch.assert_absent(status_page_dom=dom)
        self.assertNotIn(PACER_PASSWORD, dom)
        self.assertNotIn(self.token, dom)

        # The screenshot, kept for people (and CI artifacts) to look at.
        artifacts = os.path.join(os.path.dirname(harness.build_dir()), "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        run = self.chromium("status-screenshot", ["--host-resolver-rules=" + NO_DNS, "--screenshot=" + shot,
                                                  "--window-size=1280,960", "--hide-scrollbars"], page_url)
        self.assertTrue(os.path.isfile(shot), "no screenshot written; stderr:\n" + chromium_errors(run.stderr))
        with open(shot, "rb") as f:
            data = f.read()
        width, height, inked_rows, ink = png_facts(data)
        self.assertEqual((width, height), (1280, 960))
        self.assertGreater(len(data), 8 * 1024, "a blank 1280x960 screenshot is about 5.5 KiB")
        self.assertGreater(inked_rows, 100, "the screenshot looks blank (%d rows with any ink)" % inked_rows)
        print("status page: 2 chromium runs, screenshot %s (%d bytes, %d of %d rows with ink)"
              % (shot, len(data), inked_rows, height), flush=True)

    def test_c2_status_page_auth_and_origin(self):
        # GET / outside the browser: Bearer and Basic, refused for a foreign Host or a cross-site
        # request, and 401 with a Basic challenge where no anonymous user is configured.
        basic = "Basic " + base64.b64encode(("alice:%s" % self.token).encode()).decode()
        for auth in ("Bearer " + self.token, basic):
            status, h, body = self.fetch("/", {"Authorization": auth})
            self.assertEqual(status, 200, body[:200])
            self.assertIn(b"alice", body)
        own = "127.0.0.1:%d" % self.d.port
        for name, headers in (("foreign Host", {"Host": "www.uscourts.gov:%d" % self.d.port}),
                              ("another port", {"Host": "127.0.0.1:%d" % (self.d.port + 1)}),
                              ("cross-site", {"Host": own, "Sec-Fetch-Site": "cross-site"}),
                              ("foreign Origin", {"Host": own, "Origin": "https://evil.example.com"})):
            with self.subTest(name):
                status, _, body = self.fetch("/", headers)
                self.assertEqual(status, 403, body[:200])
                self.assertNotIn(b"alice", body)
        status, _, _ = self.fetch("/", {"Host": "localhost:%d" % self.d.port})
        self.assertEqual(status, 200)

        # A daemon without anonymous_user asks the browser for credentials.
        d = Daemon(os.path.join(self.tmp, "daemon-noanon"), sim=self.sim, watch=self.watch,
                   courts={c.id: dict(type=c.type, system=c.system, host=c.host)
                           for c in self.sim.courts.values()})
        token = d.add_user("alice")
        self.addCleanup(d.stop)
        d.start()
        status, hdrs, body = d.http("GET", "/")
        self.assertEqual(status, 401, body[:200])
        self.assertEqual(harness.Headers(hdrs).get("WWW-Authenticate"), 'Basic realm="courtroute"')
        status, _, body = d.http("GET", "/", headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 200, body[:200])
        self.assertIn(b"alice", body)
        self.watch.assert_absent(noanon_body=body, noanon_log=d.log_text())

    def test_d_pac_in_node(self):
        # /proxy.pac evaluated in node: every court host and extra host PROXY, the rest DIRECT;
        # a court added to courts.d is proxied after SIGHUP.
        if not os.access(NODE, os.X_OK):
            self.fail("node is missing (Debian package nodejs)")
        proxy = "PROXY 127.0.0.1:%d" % self.d.port
        checks = 0

        def check(pac):
            nonlocal checks
            hosts = self.registry_hosts()
            cases, want = [], []
            for _, host in hosts:
                for variant in (host, host.upper(), host + ".", host[:1].upper() + host[1:] + "."):
                    cases.append(["https://%s/cgi-bin/DktRpt.pl" % variant, variant])
                    want.append(proxy)
            for host in DIRECT_HOSTS:
                if host in {h for _, h in hosts}:
                    continue
                for scheme in ("https", "http"):
                    cases.append(["%s://%s/" % (scheme, host), host])
                    want.append("DIRECT")
            results, dns = self.eval_pac(pac, cases)
            bad = [(c[1], w, r) for c, w, r in zip(cases, want, results) if r.strip() != w]
            self.assertEqual(bad, [], "(host, expected, FindProxyForURL) that differ")
            checks += len(cases)
            return hosts, dns

        hosts, dns = check(self.pac_text())
        ids = {cid for cid, _ in hosts}
        self.assertTrue({"azb", "azd", "ca9", "ohndad"} <= ids, ids)
        self.assertIn(("ca9", EXTRA_HOST), hosts)
        self.assertIn(("ohndad", "ecf.ohndad.ohnd.uscourts.gov"), hosts)

        # A court added to courts.d (with an extra host) appears after a reload.
        path = self.d.write_court(ADDED, type="bankruptcy", extra_hosts=[ADDED_EXTRA])
        self.addCleanup(self.d.reload)
        self.addCleanup(os.unlink, path)
        self.d.reload()
        deadline = time.monotonic() + 15
        while True:
            pac = self.pac_text()
            got, _ = self.eval_pac(pac, [["https://ecf.%s.uscourts.gov/" % ADDED, "ecf.%s.uscourts.gov" % ADDED],
                                         ["https://%s/" % ADDED_EXTRA, ADDED_EXTRA]])
            if got == [proxy, proxy]:
                break
            self.assertLess(time.monotonic(), deadline, "the PAC never proxied the added court: %r\n%s"
                            % (got, self.d.log_tail(10)))
            time.sleep(0.2)
        hosts, dns2 = check(pac)
        self.assertIn((ADDED, ADDED_EXTRA), hosts)
        type(self).pac_checks += checks
        print("pac in node: %d FindProxyForURL checks (%d hosts proxied before the reload, %d after), "
              "%d DNS helper calls" % (checks, len(hosts) - 2, len(hosts), dns + dns2), flush=True)


if __name__ == "__main__":
    unittest.main()
