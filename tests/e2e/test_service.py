"""End-to-end tests of courtroute as a systemd service and a Debian package (CONTRACT §8).

- the unit file: `systemd-analyze verify` passes and `systemd-analyze security --offline=yes`
  rates it 2.0 or lower;
- the sd_notify protocol of the real courtrouted, seen on a notify socket this test binds:
  READY=1 once /healthz answers, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 and exit 0 on
  SIGTERM; the key comes from $CREDENTIALS_DIRECTORY as LoadCredential= hands it over;
- `cmake --install` into a DESTDIR lays out binaries, unit, config and the court registry;
- `cpack -G DEB` builds courtroute_VERSION_amd64.deb with the right control data, conffiles,
  maintainer scripts and files (lintian too, when it is installed);
- courtroute-admin runs the CLI as the service user with a private copy of the key (as root).

Run with `COURTROUTE_BIN=<dir with courtroute and courtrouted> COURTROUTE_SRC=<repo>
python3 -m unittest -v test_service`. The build directory is the parent of COURTROUTE_BIN.
Nothing is left in the repository or the build directory: cpack works in a temporary
directory and the install manifest `cmake --install` writes is put back as it was.
"""

import glob
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.path.abspath(os.environ.get("COURTROUTE_BIN", ""))
SRC = os.path.abspath(os.environ.get("COURTROUTE_SRC", ""))
BUILD = os.path.dirname(BIN)
COURTROUTED = os.path.join(BIN, "courtrouted")
COURTROUTE = os.path.join(BIN, "courtroute")
UNIT = os.path.join(SRC, "systemd", "courtroute.service")
ADMIN = os.path.join(SRC, "packaging", "courtroute-admin")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.0

# lintian errors tolerated, each with its reason. None today: any `E:` line fails the test.
LINTIAN_ALLOWED_ERRORS = {}


def repo_courts():
    return sorted(glob.glob(os.path.join(SRC, "courts.d", "*.toml")))


def have_build():
    return all(os.access(p, os.X_OK) for p in (COURTROUTED, COURTROUTE)) and os.path.isfile(UNIT)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """The environment without proxies or systemd hand-overs; the tests set what they need."""
    drop = {"CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "DESTDIR",
            "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    return env


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path, port, state_dir, extra=""):
    with open(path, "w") as f:
        f.write(f"[listen]\nproxy = \"127.0.0.1:{port}\"\n\n"
                f"[registry]\ndirs = [{toml_str(os.path.join(SRC, 'courts.d'))}]\n\n"
                f"[state]\ndir = {toml_str(state_dir)}\n{extra}")
    os.chmod(path, 0o644)


def unit_settings(path):
    """The unit's (section, key) -> [values], in file order."""
    out, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def verifiable_unit(tmp):
    """A copy of the unit whose ExecStart= names the built binary: `systemd-analyze verify`
    checks that the binaries exist, and /usr/sbin/courtrouted is not installed on a build host."""
    with open(UNIT) as f:
        text = f.read()
    if "ExecStart=/usr/sbin/courtrouted " not in text:
        raise AssertionError("the unit's ExecStart= no longer starts /usr/sbin/courtrouted")
    copy = os.path.join(tmp, "courtroute.service")
    with open(copy, "w") as f:
        f.write(text.replace("ExecStart=/usr/sbin/courtrouted ", "ExecStart=" + COURTROUTED + " "))
    return copy


def exposure(unit_path):
    """systemd-analyze's overall exposure level of the unit file (offline: no running manager)."""
    r = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", unit_path],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)", r.stdout + r.stderr)
    if not m:
        raise AssertionError("no exposure level in systemd-analyze security output:\n" + r.stdout + r.stderr)
    return float(m.group(1)), r.stdout


class BuildDirGuard:
    """Puts the build directory's install manifest back as it was: `cmake --install` (and the
    cpack install step) rewrite <build>/install_manifest.txt, and the tests leave no trace."""

    def __init__(self):
        self.path = os.path.join(BUILD, "install_manifest.txt")
        self.before = None
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                self.before = f.read()

    def restore(self):
        if self.before is None:
            if os.path.exists(self.path):
                os.unlink(self.path)
        else:
            with open(self.path, "wb") as f:
                f.write(self.before)


@unittest.skipUnless(have_build(), "COURTROUTE_BIN/COURTROUTE_SRC do not point at a build and its sources")
@unittest.skipUnless(SYSTEMD_ANALYZE, "systemd-analyze is not installed")
class UnitFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="courtroute-unit-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_unit_declares_the_contracted_service(self):
        s = unit_settings(UNIT)
        svc = lambda k: s.get(("Service", k), [])  # noqa: E731
        self.assertEqual(svc("Type"), ["notify"])
        self.assertEqual(svc("ExecStart"), ["/usr/sbin/courtrouted --config /etc/courtroute/courtroute.toml"])
        self.assertEqual(svc("ExecReload"), ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(svc("User"), ["courtroute"])
        self.assertEqual(svc("StateDirectory"), ["courtroute"])
        self.assertEqual(svc("StateDirectoryMode"), ["0700"])
        self.assertEqual(svc("ConfigurationDirectory"), ["courtroute"])
        self.assertEqual(svc("LoadCredential"), ["courtroute.key:/etc/courtroute/courtroute.key"])
        self.assertEqual(svc("ProtectSystem"), ["strict"])
        self.assertEqual(svc("NoNewPrivileges"), ["yes"])
        self.assertIn("@system-service", svc("SystemCallFilter"))
        self.assertEqual(svc("TimeoutStopSec"), ["15"])
        # Secrets never in a core file; bounded descriptors and memory (issue 9.8).
        self.assertEqual(svc("LimitCORE"), ["0"])
        self.assertGreaterEqual(int(svc("LimitNOFILE")[0]), 2 * 4096 + 64)
        self.assertTrue(svc("MemoryMax"), "MemoryMax is set")
        # STYLE 13: no secret in the environment or on the command line.
        self.assertEqual(svc("Environment") + svc("EnvironmentFile"), [])
        # The daemon must reach PACER and every court: outbound addresses stay open.
        self.assertEqual(svc("IPAddressDeny"), [])
        self.assertEqual(s.get(("Install", "WantedBy")), ["multi-user.target"])

    def test_systemd_analyze_verify_passes(self):
        unit = verifiable_unit(self.tmp)
        r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                           capture_output=True, text=True, timeout=60, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # verify reports problems it tolerates (unknown keys, bad values) on stderr with rc 0.
        own = [l for l in (r.stdout + r.stderr).splitlines() if "courtroute.service" in l]
        self.assertEqual(own, [], "systemd-analyze verify complained about the unit")

    def test_verify_catches_a_broken_unit(self):
        # The check above can fail: the same unit with a missing binary does not verify.
        unit = verifiable_unit(self.tmp)
        with open(unit) as f:
            text = f.read()
        with open(unit, "w") as f:
            f.write(text.replace(COURTROUTED, os.path.join(self.tmp, "no-such-courtrouted")))
        r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", unit],
                           capture_output=True, text=True, timeout=60, cwd=self.tmp)
        self.assertNotEqual(r.returncode, 0)

    def test_security_exposure_is_at_most_2(self):
        level, report = exposure(UNIT)
        self.assertLessEqual(level, MAX_EXPOSURE, report)
        # The measure responds to the unit: without its hardening the same service rates worse.
        with open(UNIT) as f:
            lines = f.read().splitlines()
        keep = ("Type=", "ExecStart=", "ExecReload=", "User=", "Group=", "[")
        bare = os.path.join(self.tmp, "courtroute.service")
        with open(bare, "w") as f:
            f.write("\n".join(l for l in lines if l.startswith(keep)) + "\n")
        bare_level, _ = exposure(bare)
        self.assertGreater(bare_level, MAX_EXPOSURE)


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notify socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def next(self, timeout):
        """The next notification as a dict of its KEY=VALUE lines, or None after `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key, timeout):
        """Notifications up to and including the first carrying `key`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            msg = self.next(max(left, 0.01)) if left > 0 else None
            if msg is None:
                raise AssertionError(f"no {key} within {timeout} s; got {seen}")
            seen.append(msg)
            if key in msg:
                return seen

    def close(self):
        self.sock.close()


def healthz(port, timeout=3.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace").strip()
    finally:
        conn.close()


@unittest.skipUnless(have_build(), "COURTROUTE_BIN/COURTROUTE_SRC do not point at a build and its sources")
class NotifyProtocolTest(unittest.TestCase):
    """The real courtrouted under a stand-in for systemd: NOTIFY_SOCKET and
    CREDENTIALS_DIRECTORY as a Type=notify unit with LoadCredential= provides them."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="courtroute-notify-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.port = free_port()
        self.state = os.path.join(self.tmp, "state")
        self.config = os.path.join(self.tmp, "courtroute.toml")
        write_config(self.config, self.port, self.state)
        # What LoadCredential= provides: a directory with the key, 0400, and nothing else.
        self.creds = os.path.join(self.tmp, "credentials")
        os.mkdir(self.creds, 0o700)
        self.key = os.path.join(self.creds, "courtroute.key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o400)
        os.chmod(self.creds, 0o500)
        self.notify = NotifySocket(os.path.join(self.tmp, "notify"))
        self.addCleanup(self.notify.close)
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w+")
        self.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [COURTROUTED, "--config", self.config],
            env=clean_env({"NOTIFY_SOCKET": self.notify.path, "CREDENTIALS_DIRECTORY": self.creds}),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.addCleanup(self._kill)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def expected_courts(self):
        # Every shipped court file holds one court (none is an empty mask).
        return sum(1 for p in repo_courts() if os.path.getsize(p) > 0)

    def test_ready_reload_stop(self):
        # READY=1, and no notification claiming readiness before it.
        seen = self.notify.wait_for("READY", timeout=20)
        ready = seen[-1]
        self.assertEqual(ready["READY"], "1", self.log_tail())
        # The listener is up when READY=1 arrives: /healthz answers at once, no retry.
        self.assertEqual(healthz(self.port), (200, "ok"))
        # The daemon turned core dumps off itself (it holds decrypted secrets).
        with open("/proc/%d/limits" % self.proc.pid) as f:
            core = [line.split() for line in f if line.startswith("Max core file size")][0]
        self.assertEqual(core[4:6], ["0", "0"], core)
        self.assertIn("STATUS", ready)
        self.assertRegex(ready["STATUS"], r"\b%d courts\b" % self.expected_courts())
        self.assertEqual(len(repo_courts()), 205)
        # The store was opened with the credential's key: none was made in the state dir.
        self.assertFalse(os.path.exists(os.path.join(self.state, "secret.key")))
        self.assertTrue(os.path.exists(os.path.join(self.state, "courtroute.db")))
        self.assertEqual(os.stat(self.state).st_mode & 0o777, 0o700)

        # SIGHUP: RELOADING=1 (with MONOTONIC_USEC) and then READY=1 again, still serving.
        self.proc.send_signal(signal.SIGHUP)
        seen = self.notify.wait_for("RELOADING", timeout=10)
        self.assertFalse(any("READY" in m or "STOPPING" in m for m in seen), seen)
        self.assertEqual(seen[-1]["RELOADING"], "1")
        self.assertRegex(seen[-1].get("MONOTONIC_USEC", ""), r"^[0-9]+$")
        seen = self.notify.wait_for("READY", timeout=10)
        self.assertEqual(seen[-1]["READY"], "1")
        self.assertRegex(seen[-1].get("STATUS", ""), r"\b%d courts\b" % self.expected_courts())
        self.assertEqual(healthz(self.port), (200, "ok"))
        self.assertIsNone(self.proc.poll())

        # SIGTERM: STOPPING=1, then exit status 0 within 10 s.
        self.proc.send_signal(signal.SIGTERM)
        seen = self.notify.wait_for("STOPPING", timeout=10)
        self.assertEqual(seen[-1]["STOPPING"], "1")
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("courtrouted did not exit within 10 s of SIGTERM:\n" + self.log_tail())
        self.assertEqual(code, 0, self.log_tail())

    # KNOWN BUG in daemon/store/crypto.cpp (secret_box::from_key_file), not in the unit: systemd
    # writes a credential 0400 and grants the service user read access with a POSIX ACL where
    # the file system supports ACLs (tmpfs; systemd >= 254 always), and stat() then shows the ACL
    # mask as group bits: mode 0440. Inside $CREDENTIALS_DIRECTORY (a directory only this
    # service can enter) the daemon tolerates that group-read bit.
    def test_credential_with_acl_mask_mode_0440_is_accepted(self):
        self.proc.kill()
        self.proc.wait(5)
        os.chmod(self.key, 0o440)
        proc = subprocess.Popen(
            [COURTROUTED, "--config", self.config],
            env=clean_env({"NOTIFY_SOCKET": self.notify.path, "CREDENTIALS_DIRECTORY": self.creds}),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            seen = self.notify.wait_for("READY", timeout=15)
            self.assertEqual(seen[-1]["READY"], "1")
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)

    def test_unusable_credential_is_refused_without_ready(self):
        # A key LoadCredential= could never have produced (wrong size) stops the start: no READY=1.
        self.proc.kill()
        self.proc.wait(5)
        os.chmod(self.creds, 0o700)
        os.chmod(self.key, 0o600)
        with open(self.key, "wb") as f:
            f.write(b"short")
        os.chmod(self.key, 0o400)
        proc = subprocess.Popen(
            [COURTROUTED, "--config", self.config],
            env=clean_env({"NOTIFY_SOCKET": self.notify.path, "CREDENTIALS_DIRECTORY": self.creds}),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            self.fail("courtrouted kept running with a 5-byte key")
        self.assertNotEqual(code, 0)
        while (msg := self.notify.next(0.2)) is not None:
            self.assertNotIn("READY", msg)
        self.assertIn("courtroute.key", self.log_tail())


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


# Paths every install and the package must contain (relative to the root).
EXPECTED_FILES = [
    "usr/sbin/courtrouted",
    "usr/bin/courtroute",
    "usr/sbin/courtroute-admin",
    "lib/systemd/system/courtroute.service",
    "etc/courtroute/courtroute.toml",
    "etc/courtroute/courts.d/README",
    "usr/share/courtroute/courts.d/azb.toml",
]


@unittest.skipUnless(have_build(), "COURTROUTE_BIN/COURTROUTE_SRC do not point at a build and its sources")
@unittest.skipUnless(os.path.isfile(os.path.join(BUILD, "cmake_install.cmake")),
                     "the parent of COURTROUTE_BIN is not a CMake build directory")
class InstallTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="courtroute-install-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.guard = BuildDirGuard()
        self.addCleanup(self.guard.restore)

    def test_cmake_install_layout(self):
        root = os.path.join(self.tmp, "root")
        r = run(["cmake", "--install", BUILD, "--prefix", "/usr"], env=clean_env({"DESTDIR": root}))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for rel in EXPECTED_FILES:
            self.assertTrue(os.path.isfile(os.path.join(root, rel)), rel + " not installed")
        for rel in ("usr/sbin/courtrouted", "usr/bin/courtroute", "usr/sbin/courtroute-admin"):
            self.assertTrue(os.access(os.path.join(root, rel), os.X_OK), rel + " not executable")
        installed = sorted(os.listdir(os.path.join(root, "usr/share/courtroute/courts.d")))
        self.assertEqual(installed, [os.path.basename(p) for p in repo_courts()])
        self.assertEqual(len(installed), 205)
        with open(os.path.join(root, "lib/systemd/system/courtroute.service")) as f, open(UNIT) as g:
            self.assertEqual(f.read(), g.read())
        with open(os.path.join(root, "etc/courtroute/courtroute.toml")) as f, \
                open(os.path.join(SRC, "config", "courtroute.toml")) as g:
            self.assertEqual(f.read(), g.read())
        # The local drop-in directory holds only its README: no court is overridden out of the box.
        self.assertEqual(os.listdir(os.path.join(root, "etc/courtroute/courts.d")), ["README"])
        # Nothing outside the expected top-level directories (no build paths leaking in).
        self.assertEqual(sorted(os.listdir(root)), ["etc", "lib", "usr"])
        # The installed daemon accepts the installed config and registry.
        cfg = os.path.join(self.tmp, "check.toml")
        with open(cfg, "w") as f:
            f.write(f"[registry]\ndirs = [{toml_str(os.path.join(root, 'usr/share/courtroute/courts.d'))}, "
                    f"{toml_str(os.path.join(root, 'etc/courtroute/courts.d'))}]\n"
                    f"[state]\ndir = {toml_str(os.path.join(self.tmp, 'state'))}\n")
        r = run([os.path.join(root, "usr/sbin/courtrouted"), "--config", cfg, "--check"], env=clean_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(shutil.which("dpkg-deb"), "dpkg-deb is not installed (dpkg)")
    @unittest.skipUnless(shutil.which("cpack"), "cpack is not installed (cmake)")
    @unittest.skipIf(os.environ.get("COURTROUTE_SANITIZED") == "1",
                     "packaging is checked on the normal build; the sanitizer run checks the code")
    def test_debian_package(self):
        if not shutil.which("dpkg-shlibdeps"):
            self.skipTest("dpkg-shlibdeps is not installed (dpkg-dev): CPACK_DEBIAN_PACKAGE_SHLIBDEPS needs it")
        out = os.path.join(self.tmp, "cpack")
        os.mkdir(out)
        before = set(os.listdir(BUILD))
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out],
                cwd=out, env=clean_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(set(os.listdir(BUILD)) - before - {"install_manifest.txt"}, set(),
                         "cpack left files in the build directory")
        with open(os.path.join(BUILD, "CPackConfig.cmake")) as f:
            version = re.search(r'CPACK_PACKAGE_VERSION "([^"]+)"', f.read()).group(1)
        deb = os.path.join(out, f"courtroute_{version}_amd64.deb")
        self.assertTrue(os.path.isfile(deb), f"no {os.path.basename(deb)} in {os.listdir(out)}")

        fields = {}
        for name in ("Package", "Version", "Architecture", "Depends", "Section", "Maintainer", "Description"):
            r = run(["dpkg-deb", "-f", deb, name])
            self.assertEqual(r.returncode, 0, r.stderr)
            fields[name] = r.stdout.strip()
        self.assertEqual(fields["Package"], "courtroute")
        self.assertEqual(fields["Version"], version)
        self.assertEqual(fields["Architecture"], "amd64")
        self.assertEqual(fields["Section"], "net")
        self.assertTrue(fields["Maintainer"])
        self.assertTrue(fields["Description"])
        depends = {d.strip().split()[0] for d in fields["Depends"].split(",") if d.strip()}
        # dpkg-shlibdeps found the libraries the binaries really link; the scripts need adduser.
        for pkg in ("libc6", "libssl3", "libsqlite3-0", "libsystemd0", "adduser"):
            self.assertIn(pkg, depends, fields["Depends"])

        info = run(["dpkg-deb", "-I", deb]).stdout
        for script in ("postinst", "prerm", "postrm", "conffiles"):
            self.assertRegex(info, r"\b%s\b" % script)
        conffiles = run(["dpkg-deb", "-I", deb, "conffiles"]).stdout.split()
        self.assertIn("/etc/courtroute/courtroute.toml", conffiles)
        # Every file the package puts under /etc is a conffile (Debian policy 10.7.2).
        listing = run(["dpkg-deb", "-c", deb]).stdout
        paths = {"/" + os.path.normpath(l.split()[-1]) for l in listing.splitlines() if l.strip()}
        etc_files = {l.split()[-1].lstrip(".") for l in listing.splitlines()
                     if l.startswith("-") and l.split()[-1].startswith("./etc/")}
        self.assertEqual(etc_files, set(conffiles))
        for rel in EXPECTED_FILES:
            self.assertIn("/" + rel, paths)
        self.assertEqual(sum(1 for p in paths if p.startswith("/usr/share/courtroute/courts.d/")
                             and p.endswith(".toml")), 205)
        # The key is made by postinst on the target, never shipped.
        self.assertNotIn("/etc/courtroute/courtroute.key", paths)
        for line in listing.splitlines():
            self.assertIn(" root/root ", line, line)

        # The maintainer scripts are valid sh and do what the README promises.
        ctl = os.path.join(self.tmp, "control")
        self.assertEqual(run(["dpkg-deb", "-e", deb, ctl]).returncode, 0)
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctl, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            self.assertEqual(run(["sh", "-n", path]).returncode, 0, script)
        with open(os.path.join(ctl, "postinst")) as f:
            postinst = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
        self.assertIn("adduser --system --group", postinst)
        self.assertIn("head -c 32 /dev/urandom", postinst)
        # Installing does not enable or start the service (the README's `systemctl enable --now`).
        self.assertNotRegex(postinst, r"systemctl (enable|start)\b")

        if shutil.which("lintian"):
            r = run(["lintian", "--no-tag-display-limit", deb], timeout=300)
            errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
            unexpected = [l for l in errors
                          if not any(re.search(r":\s*%s\b" % re.escape(t), l) for t in LINTIAN_ALLOWED_ERRORS)]
            self.assertEqual(unexpected, [], r.stdout)


@unittest.skipUnless(have_build(), "COURTROUTE_BIN/COURTROUTE_SRC do not point at a build and its sources")
@unittest.skipUnless(hasattr(os, "geteuid") and os.geteuid() == 0, "courtroute-admin switches users: needs root")
@unittest.skipUnless(shutil.which("setpriv"), "setpriv (util-linux) is not installed")
class AdminWrapperTest(unittest.TestCase):
    """courtroute-admin as the package uses it, with `nobody` standing in for the service user
    (the test creates no system user)."""

    USER = "nobody"

    def setUp(self):
        import pwd
        try:
            self.pw = pwd.getpwnam(self.USER)
        except KeyError:
            self.skipTest("no user 'nobody'")
        self.tmp = tempfile.mkdtemp(prefix="courtroute-admin-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.state, 0o700)
        os.chown(self.state, self.pw.pw_uid, self.pw.pw_gid)
        self.config = os.path.join(self.tmp, "courtroute.toml")
        write_config(self.config, free_port(), self.state)
        self.key = os.path.join(self.tmp, "courtroute.key")  # as postinst makes it: 0600 root
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)
        self.runtime = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime, 0o755)
        # The service user runs the CLI, as from /usr/bin once packaged: the checkout may sit
        # under a directory it cannot enter (mktemp -d makes 0700 ones), so use a copy.
        self.cli = os.path.join(self.tmp, "courtroute")
        shutil.copy2(COURTROUTE, self.cli)
        os.chmod(self.cli, 0o755)

    def admin(self, args, key=None):
        env = clean_env({"COURTROUTE_ADMIN_USER": self.USER, "COURTROUTE_KEY": key or self.key,
                         "COURTROUTE_CONFIG": self.config, "COURTROUTE_CLI": self.cli,
                         "COURTROUTE_RUNTIME": self.runtime})
        return run(["sh", ADMIN] + args, env=env, stdin=subprocess.DEVNULL, timeout=60)

    def test_cli_runs_as_service_user_with_the_key(self):
        r = self.admin(["user", "add", "alice"])
        self.assertEqual(r.returncode, 0, r.stderr)
        token = r.stdout.strip().splitlines()[-1]
        self.assertGreaterEqual(len(token), 16)
        # Every file the CLI made belongs to the service user, so the service can write it.
        made = []
        for d, dirs, files in os.walk(self.state):
            for n in dirs + files:
                p = os.path.join(d, n)
                made.append(p)
                self.assertEqual(os.lstat(p).st_uid, self.pw.pw_uid, p)
        self.assertTrue(any(p.endswith("courtroute.db") for p in made), made)
        self.assertFalse(os.path.exists(os.path.join(self.state, "secret.key")),
                         "the CLI did not use the key it was given")
        # The private copy of the key is gone.
        self.assertEqual(os.listdir(self.runtime), [])
        r = self.admin(["user", "list"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("alice", r.stdout)
        self.assertNotIn(token, r.stdout + r.stderr)

    def test_the_cli_reads_the_key_it_is_given(self):
        # A key of the wrong size is refused by the CLI, naming it: the wrapper really hands the
        # CLI this key (and the CLI does not fall back to <state>/secret.key).
        bad = os.path.join(self.tmp, "bad.key")
        with open(bad, "wb") as f:
            f.write(b"12345")
        os.chmod(bad, 0o600)
        r = self.admin(["user", "add", "bob"], key=bad)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("courtroute.key", r.stderr)
        self.assertIn("32 bytes", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "secret.key")))
        self.assertEqual(os.listdir(self.runtime), [])

    def test_ca_install_runs_as_root_after_the_service_user_made_the_ca(self):
        # The system store and update-ca-certificates are stand-ins under the test's directory
        # (test-only overrides), so the machine's trust store is never touched.
        store = os.path.join(self.tmp, "local-certs")
        os.mkdir(store)
        update = os.path.join(self.tmp, "update-ca-certificates")
        with open(update, "w") as f:
            f.write("#!/bin/sh\necho '1 added, 0 removed; done.'\n")
        os.chmod(update, 0o755)
        extra = {"COURTROUTE_CA_STORE_DIR": store, "COURTROUTE_UPDATE_CA_CERTIFICATES": update,
                 "COURTROUTE_CA_HOME_BASE": os.path.join(self.tmp, "homes")}
        env = clean_env({"COURTROUTE_ADMIN_USER": self.USER, "COURTROUTE_KEY": self.key,
                         "COURTROUTE_CONFIG": self.config, "COURTROUTE_CLI": self.cli,
                         "COURTROUTE_RUNTIME": self.runtime, **extra})
        env.pop("SUDO_USER", None)
        r = run(["sh", ADMIN, "ca", "--install"], env=env, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        ca_dir = os.path.join(self.state, "ca")
        # The CA (key sealed with the service's key) belongs to the service user...
        for name in ("ca.pem", "ca.key.sealed"):
            self.assertEqual(os.lstat(os.path.join(ca_dir, name)).st_uid, self.pw.pw_uid, name)
        self.assertFalse(os.path.exists(os.path.join(self.state, "secret.key")))
        # ...and root put it into the (stand-in) system store.
        installed = os.listdir(store)
        self.assertEqual(len(installed), 1, installed)
        self.assertIn("added " + os.path.join(store, installed[0]), r.stdout)
        self.assertEqual(os.listdir(self.runtime), [])
        r = run(["sh", ADMIN, "ca", "--uninstall"], env=env, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(store), [])
        # The service user still opens its CA (the key is sealed with the key it is given).
        r = self.admin(["ca"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), os.path.join(ca_dir, "ca.pem"))

    def test_refuses_without_key(self):
        r = self.admin(["user", "list"], key=os.path.join(self.tmp, "missing.key"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.key", r.stderr)


if __name__ == "__main__":
    unittest.main()
