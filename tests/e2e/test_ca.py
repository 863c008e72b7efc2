"""End-to-end tests of the local CA (issue 9 finding 1, issue 11 item 2) with the real binaries.

- `courtroute ca` makes a CA whose certificate carries critical X.509 name constraints (the
  court domains and the registry's other hosts, no IP addresses) and whose key is sealed with
  the store key. The proof is done with the stock `openssl` CLI: the CA key (unsealed by a
  test-only helper, so the signing is plain OpenSSL and not courtroute's minting code) signs a
  leaf for a court host and one for www.example.com; `openssl verify` accepts the first and
  refuses the second.
- `courtroute ca --rotate` replaces an old unconstrained plain-PEM CA (made here with openssl).
- `courtroute ca --install/--uninstall` against a temporary system store (the real
  update-ca-certificates, pointed at temporary directories) and a temporary HOME holding NSS
  databases made with `certutil -N`; nothing on this machine's trust store or homes changes.
- The daemon refuses a CONNECT to a registry host its CA may not sign for, and picks up a
  rotated CA on SIGHUP.
"""

import base64
import os
import re
import time
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness
from harness import Daemon, clean_env, court_toml

BIN = os.environ.get("COURTROUTE_BIN", "")
COURTROUTE = os.path.join(BIN, "courtroute")
UNSEAL = os.environ.get("COURTROUTE_TEST_UNSEAL", "")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CERTUTIL = shutil.which("certutil")
UPDATE_CA = "/usr/sbin/update-ca-certificates"
EXTRA_HOST = "ca9-showdoc.azurewebsites.us"
NICK_RE = re.compile(r"courtroute local CA \([0-9a-f]{8}\)")


def run(cmd, env=None, stdin="", check=False):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120,
                       env=env if env is not None else clean_env())
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr))
    return r


def trust_env(sandbox=None, extra=None):
    """The CLI's environment: never $SUDO_USER (a test must not pick the invoking user) and,
    with a sandbox, the test-only overrides that keep install/uninstall off the real machine."""
    env = clean_env(extra)
    for k in ("SUDO_USER", "COURTROUTE_CA_STORE_DIR", "COURTROUTE_UPDATE_CA_CERTIFICATES",
              "COURTROUTE_CA_HOME_BASE"):
        env.pop(k, None)
    if sandbox is not None:
        env.update(sandbox.env())
    env.update(extra or {})
    return env


class Sandbox:
    """A system store, an update-ca-certificates and homes, all under one temporary directory."""

    def __init__(self, root):
        self.root = root
        self.local = os.path.join(root, "local-certs")     # stands for /usr/local/share/ca-certificates
        self.etc = os.path.join(root, "etc-ssl-certs")     # stands for /etc/ssl/certs
        self.homes = os.path.join(root, "homes")
        for d in (self.local, self.etc, self.homes, os.path.join(root, "certs"), os.path.join(root, "hooks")):
            os.makedirs(d, exist_ok=True)
        open(os.path.join(root, "ca-certificates.conf"), "w").close()
        self.update = os.path.join(root, "update-ca-certificates")
        log = os.path.join(root, "update.log")
        if os.access(UPDATE_CA, os.X_OK):
            # Debian's own script, every path redirected into the sandbox.
            body = ('exec %s --certsconf %s/ca-certificates.conf --certsdir %s/certs --localcertsdir %s '
                    '--etccertsdir %s --hooksdir %s/hooks' % (UPDATE_CA, root, root, self.local, self.etc, root))
        else:
            body = "echo '0 added, 0 removed; done.'"
        with open(self.update, "w") as f:
            f.write("#!/bin/sh\necho run >> %s\n%s\n" % (log, body))
        os.chmod(self.update, 0o755)
        self.log = log

    def env(self):
        return {"COURTROUTE_CA_STORE_DIR": self.local, "COURTROUTE_UPDATE_CA_CERTIFICATES": self.update,
                "COURTROUTE_CA_HOME_BASE": self.homes}

    def updates(self):
        try:
            with open(self.log) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def bundle(self):
        try:
            with open(os.path.join(self.etc, "ca-certificates.crt")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def nss_db(self, user, kind):
        """Creates an empty NSS database (certutil -N) for `user`: kind 'chromium' or 'firefox'."""
        home = os.path.join(self.homes, user)
        path = (os.path.join(home, ".pki", "nssdb") if kind == "chromium"
                else os.path.join(home, ".mozilla", "firefox", "t3st.default-release"))
        os.makedirs(path, exist_ok=True)
        run([CERTUTIL, "-N", "--empty-password", "-d", "sql:" + path], check=True)
        return path


def certutil_list(db):
    r = run([CERTUTIL, "-L", "-d", "sql:" + db], check=True)
    return {m.group(1).strip(): m.group(2).strip()
            for m in re.finditer(r"^(\S.*?)[ \t]{2,}(\S*,\S*,\S*)[ \t]*$", r.stdout, re.M)}


def pem_body(pem_text):
    """The base64 of the first certificate in a PEM text, on one line."""
    m = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem_text, re.S)
    return "".join(m.group(1).split()) if m else ""


class CaTestBase(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(COURTROUTE, os.X_OK), "no courtroute in COURTROUTE_BIN=%r" % BIN)
        self.tmp = tempfile.mkdtemp(prefix="courtroute-ca-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state = os.path.join(self.tmp, "state")
        self.ca_dir = os.path.join(self.state, "ca")
        self.courts = os.path.join(self.tmp, "courts.d")
        os.mkdir(self.courts)
        with open(os.path.join(self.courts, "azb.toml"), "w") as f:
            f.write(court_toml("azb"))
        with open(os.path.join(self.courts, "ca9.toml"), "w") as f:
            f.write(court_toml("ca9", type="appellate", extra_hosts=[EXTRA_HOST]))
        self.config = os.path.join(self.tmp, "courtroute.toml")
        with open(self.config, "w") as f:
            f.write('[registry]\ndirs = ["%s"]\n[state]\ndir = "%s"\n' % (self.courts, self.state))

    def cli(self, *args, env=None):
        return run([COURTROUTE, "--config", self.config] + list(args), env=env or trust_env())

    def ok(self, *args, env=None):
        r = self.cli(*args, env=env)
        self.assertEqual(r.returncode, 0, "courtroute %s: %s" % (" ".join(args), r.stderr))
        return r

    def x509_text(self, path):
        return run([OPENSSL, "x509", "-in", path, "-noout", "-text"], check=True).stdout

    def make_old_ca(self):
        """The layout an older courtroute left: plain PEM ca.key (0600), unconstrained ca.pem."""
        os.makedirs(self.ca_dir, mode=0o700)
        key, cert = os.path.join(self.ca_dir, "ca.key"), os.path.join(self.ca_dir, "ca.pem")
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=courtroute local CA/O=courtroute",
             "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True)
        os.chmod(key, 0o600)
        os.chmod(cert, 0o644)
        with open(cert) as f:
            return f.read()


class CreateAndVerifyTest(CaTestBase):
    def test_new_ca_is_constrained_and_its_key_sealed(self):
        r = self.ok("ca")
        path = r.stdout.strip()
        self.assertEqual(path, os.path.join(self.ca_dir, "ca.pem"))
        self.assertEqual(r.stderr, "", "a new CA needs no warning")
        sealed = os.path.join(self.ca_dir, "ca.key.sealed")
        self.assertEqual(os.stat(sealed).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        self.assertEqual(os.stat(self.ca_dir).st_mode & 0o777, 0o700)
        self.assertFalse(os.path.exists(os.path.join(self.ca_dir, "ca.key")), "no key in clear")
        with open(sealed, "rb") as f:
            data = f.read()
        self.assertNotIn(b"-----BEGIN", data)
        # Neither as PEM nor as DER does openssl find a key in it.
        for form in ("PEM", "DER"):
            self.assertNotEqual(run([OPENSSL, "pkey", "-inform", form, "-in", sealed, "-noout"]).returncode, 0, form)

        text = self.x509_text(path)
        self.assertRegex(text, r"X509v3 Name Constraints: critical\s+Permitted:\s+DNS:uscourts\.gov\s+DNS:"
                         + re.escape(EXTRA_HOST) + r"\s+Excluded:\s+IP:0\.0\.0\.0/0\.0\.0\.0\s+"
                         r"IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0")
        self.assertRegex(text, r"X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(text, r"X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertEqual(self.ok("ca").stdout.strip(), path, "the same CA on the second call")

    def sign_leaf(self, ca_key, name, ip=False):
        """A leaf for `name` signed with the CA key by the openssl CLI; returns its path."""
        d = tempfile.mkdtemp(dir=self.tmp)
        key, csr, leaf, ext = (os.path.join(d, n) for n in ("leaf.key", "leaf.csr", "leaf.pem", "ext.cnf"))
        with open(ext, "w") as f:
            f.write("subjectAltName=%s:%s\nbasicConstraints=critical,CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid:always\n"
                    % ("IP" if ip else "DNS", name))
        run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name], check=True)
        run([OPENSSL, "x509", "-req", "-in", csr, "-CA", os.path.join(self.ca_dir, "ca.pem"), "-CAkey", ca_key,
             "-set_serial", "4242", "-days", "2", "-extfile", ext, "-out", leaf], check=True)
        return leaf

    def verify(self, leaf):
        return run([OPENSSL, "verify", "-CAfile", os.path.join(self.ca_dir, "ca.pem"), leaf])

    def test_openssl_verify_refuses_a_leaf_for_another_name_signed_by_the_ca(self):
        self.assertTrue(os.access(UNSEAL, os.X_OK), "no unseal helper in COURTROUTE_TEST_UNSEAL=%r" % UNSEAL)
        self.ok("ca")
        sealed = os.path.join(self.ca_dir, "ca.key.sealed")
        store_key = os.path.join(self.state, "secret.key")
        # The sealed key opens with the store key only.
        wrong = os.path.join(self.tmp, "wrong.key")
        with open(wrong, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(wrong, 0o600)
        r = run([UNSEAL, wrong, sealed, os.path.join(self.tmp, "never.pem")])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "never.pem")))
        ca_key = os.path.join(self.tmp, "ca-key.pem")
        run([UNSEAL, store_key, sealed, ca_key], check=True)
        # It is this CA's key: the public halves match.
        pub_key = run([OPENSSL, "pkey", "-in", ca_key, "-pubout"], check=True).stdout
        pub_cert = run([OPENSSL, "x509", "-in", os.path.join(self.ca_dir, "ca.pem"), "-noout", "-pubkey"],
                       check=True).stdout
        self.assertEqual(pub_key, pub_cert)

        for name in ("ecf.azb.uscourts.gov", "new-court.uscourts.gov", EXTRA_HOST):
            r = self.verify(self.sign_leaf(ca_key, name))
            self.assertEqual(r.returncode, 0, "%s: %s%s" % (name, r.stdout, r.stderr))
            self.assertIn(": OK", r.stdout)
        for name, error in (("www.example.com", "permitted subtree violation"),
                            ("uscourts.gov.example.com", "permitted subtree violation"),
                            ("notuscourts.gov", "permitted subtree violation"),
                            ("ca2-showdoc.azurewebsites.us", "permitted subtree violation")):
            r = self.verify(self.sign_leaf(ca_key, name))
            self.assertNotEqual(r.returncode, 0, "%s must fail: %s" % (name, r.stdout))
            self.assertIn(error, r.stdout + r.stderr, name)
        for ip in ("127.0.0.1", "::1"):
            r = self.verify(self.sign_leaf(ca_key, ip, ip=True))
            self.assertNotEqual(r.returncode, 0, ip)
            self.assertIn("excluded subtree violation", r.stdout + r.stderr, ip)


class RotateTest(CaTestBase):
    def test_rotate_replaces_an_old_unconstrained_plain_ca(self):
        old_pem = self.make_old_ca()
        r = self.ok("ca")
        self.assertEqual(r.stdout.strip(), os.path.join(self.ca_dir, "ca.pem"))
        self.assertIn("unconstrained", r.stderr)
        self.assertIn("courtroute ca --rotate", r.stderr)
        self.assertIn("stored in clear", r.stderr)

        # An unconstrained CA is never installed.
        sandbox = Sandbox(os.path.join(self.tmp, "sandbox"))
        r = self.cli("ca", "--install", env=trust_env(sandbox))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("unconstrained", r.stderr)
        self.assertIn("--rotate", r.stderr)
        self.assertEqual(os.listdir(sandbox.local), [])
        self.assertEqual(sandbox.updates(), 0)

        r = self.ok("ca", "--rotate")
        new_path = os.path.join(self.ca_dir, "ca.pem")
        self.assertIn("created a new local CA: " + new_path, r.stdout)
        self.assertIn("removed the old CA key " + os.path.join(self.ca_dir, "ca.key"), r.stdout)
        self.assertIn("kept the old certificate as " + os.path.join(self.ca_dir, "ca.pem.old"), r.stdout)
        self.assertIn("re-trust: clients must now trust " + new_path, r.stdout)
        self.assertIn("courtroute ca --install", r.stdout)
        self.assertIn("SIGHUP", r.stdout)
        self.assertNotIn("BEGIN", r.stdout + r.stderr)

        self.assertFalse(os.path.exists(os.path.join(self.ca_dir, "ca.key")))
        self.assertEqual(sorted(os.listdir(self.ca_dir)), ["ca.key.sealed", "ca.pem", "ca.pem.old"])
        with open(os.path.join(self.ca_dir, "ca.pem.old")) as f:
            self.assertEqual(f.read(), old_pem)
        with open(new_path) as f:
            self.assertNotEqual(pem_body(f.read()), pem_body(old_pem))
        self.assertIn("X509v3 Name Constraints: critical", self.x509_text(new_path))
        r = self.ok("ca")
        self.assertEqual(r.stderr, "", "no warning once rotated")

    def test_rotate_when_installed_says_to_install_again(self):
        if not CERTUTIL:
            self.skipTest("certutil (libnss3-tools) is not installed")
        sandbox = Sandbox(os.path.join(self.tmp, "sandbox"))
        db = sandbox.nss_db("root", "chromium")
        self.ok("ca", "--install", "--user", "root", env=trust_env(sandbox))
        r = self.ok("ca", "--rotate")
        self.assertIn("the old CA is still installed in:", r.stdout)
        self.assertIn(db, r.stdout)
        self.assertIn("run courtroute ca --install again", r.stdout)
        # Installing again replaces the old CA everywhere it was, for the same users.
        r = self.ok("ca", "--install", env=trust_env(sandbox))
        self.assertIn("the CA installed before a rotation: removed", r.stdout)
        with open(os.path.join(self.ca_dir, "ca.pem")) as f:
            new_body = pem_body(f.read())
        self.assertIn(new_body, "".join(sandbox.bundle().split()))
        nick = [n for n in certutil_list(db) if NICK_RE.fullmatch(n)]
        self.assertEqual(len(nick), 1)
        pem = run([CERTUTIL, "-L", "-d", "sql:" + db, "-n", nick[0], "-a"], check=True).stdout
        self.assertEqual(pem_body(pem), new_body)
        self.ok("ca", "--uninstall", env=trust_env(sandbox))


@unittest.skipUnless(CERTUTIL, "certutil (Debian's libnss3-tools) is not installed")
class InstallTest(CaTestBase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox(os.path.join(self.tmp, "sandbox"))
        self.env = trust_env(self.sandbox)

    def test_install_and_uninstall_change_exactly_what_they_say(self):
        sb = self.sandbox
        chromium = sb.nss_db("root", "chromium")
        firefox = sb.nss_db("root", "firefox")
        # Things that are not ours, which uninstall must leave alone.
        other_crt = os.path.join(sb.local, "someone-else.crt")
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", os.path.join(self.tmp, "other.key"), "-out", other_crt, "-days", "3",
             "-subj", "/CN=someone else's CA"], check=True)
        with open(other_crt) as f:
            run([CERTUTIL, "-A", "-d", "sql:" + chromium, "-n", "someone else's CA", "-t", "C,,", "-a"],
                stdin=f.read(), check=True)

        r = self.ok("ca", "--install", "--user", "root", env=self.env)
        ca_pem = os.path.join(self.ca_dir, "ca.pem")
        with open(ca_pem) as f:
            body = pem_body(f.read())
        crt = [n for n in os.listdir(sb.local) if n != "someone-else.crt"]
        self.assertEqual(len(crt), 1, crt)
        self.assertRegex(crt[0], r"^courtroute-[0-9a-f]{8}\.crt$")
        crt_path = os.path.join(sb.local, crt[0])
        with open(crt_path) as f:
            self.assertEqual(pem_body(f.read()), body)
        self.assertEqual(os.stat(crt_path).st_mode & 0o777, 0o644)
        self.assertIn("added " + crt_path, r.stdout)
        self.assertIn("ran update-ca-certificates", r.stdout)
        self.assertEqual(sb.updates(), 1)
        if os.access(UPDATE_CA, os.X_OK):
            self.assertIn(body, "".join(sb.bundle().split()), "the real update-ca-certificates took it in")
        for db, browser in ((chromium, "Chromium"), (firefox, "Firefox")):
            listed = certutil_list(db)
            ours = [n for n in listed if NICK_RE.fullmatch(n)]
            self.assertEqual(len(ours), 1, listed)
            self.assertEqual(listed[ours[0]], "C,,")
            self.assertIn("to root's %s NSS database %s" % (browser, db), r.stdout)
        self.assertIn("someone else's CA", certutil_list(chromium))
        manifest = os.path.join(self.ca_dir, "trust.json")
        self.assertTrue(os.path.exists(manifest))
        self.assertIn("courtroute ca --uninstall", r.stdout)

        # Again: nothing changes, and it says so.
        r = self.ok("ca", "--install", "--user", "root", env=self.env)
        self.assertEqual(r.stdout.count("unchanged:"), 3, r.stdout)
        self.assertNotIn("added", r.stdout)
        self.assertEqual(sb.updates(), 1, "nothing changed in the system store: no update run")

        r = self.ok("ca", "--uninstall", env=self.env)
        self.assertIn("removed " + crt_path, r.stdout)
        self.assertIn("from root's Chromium NSS database " + chromium, r.stdout)
        self.assertIn("from root's Firefox NSS database " + firefox, r.stdout)
        self.assertIn("ran update-ca-certificates", r.stdout)
        self.assertEqual(os.listdir(sb.local), ["someone-else.crt"])
        if os.access(UPDATE_CA, os.X_OK):
            self.assertNotIn(body, "".join(sb.bundle().split()))
        self.assertEqual(list(certutil_list(chromium)), ["someone else's CA"])
        self.assertEqual(list(certutil_list(firefox)), [])
        self.assertFalse(os.path.exists(manifest))
        # The CA itself is untouched: uninstall only takes back trust.
        self.assertTrue(os.path.exists(ca_pem))

        r = self.ok("ca", "--uninstall", env=self.env)
        self.assertIn("nothing to remove", r.stdout)
        self.assertEqual(sb.updates(), 2)

    def test_uninstall_leaves_what_changed_since(self):
        sb = self.sandbox
        db = sb.nss_db("root", "chromium")
        self.ok("ca", "--install", "--user", "root", env=self.env)
        crt = os.path.join(sb.local, [n for n in os.listdir(sb.local)][0])
        # Someone replaced the file's contents and removed the NSS entry by hand.
        with open(crt, "w") as f:
            f.write("replaced by the administrator\n")
        nick = [n for n in certutil_list(db) if NICK_RE.fullmatch(n)][0]
        run([CERTUTIL, "-D", "-d", "sql:" + db, "-n", nick], check=True)
        r = self.ok("ca", "--uninstall", env=self.env)
        self.assertIn("left " + crt, r.stdout)
        self.assertIn("already gone", r.stdout)
        self.assertTrue(os.path.exists(crt), "a file that changed is not ours any more")

    def test_missing_certutil_names_the_package_and_changes_nothing(self):
        self.sandbox.nss_db("root", "chromium")
        env = dict(self.env, PATH=os.path.join(self.tmp, "empty-path"))
        r = self.cli("ca", "--install", "--user", "root", env=env)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("certutil not found", r.stderr)
        self.assertIn("libnss3-tools", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(os.listdir(self.sandbox.local), [])
        self.assertFalse(os.path.exists(os.path.join(self.ca_dir, "trust.json")))
        self.assertEqual(self.sandbox.updates(), 0)

    def test_user_without_nss_database_and_unknown_user(self):
        r = self.ok("ca", "--install", "--user", "root", env=self.env)
        self.assertIn("no NSS database for root", r.stdout)
        r = self.cli("ca", "--install", "--user", "no-such-user-xq", env=self.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stderr)
        r = self.cli("ca", "--user", "root", env=self.env)
        self.assertEqual(r.returncode, 2)
        r = self.cli("ca", "--install", "--rotate", env=self.env)
        self.assertEqual(r.returncode, 2)
        self.ok("ca", "--uninstall", env=self.env)

    @unittest.skipUnless(os.geteuid() == 0, "switching to another user needs root")
    def test_sudo_user_is_the_default_and_certutil_runs_as_that_user(self):
        import pwd
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user 'nobody'")
        for d in (self.tmp, self.sandbox.root, self.sandbox.homes):
            os.chmod(d, 0o755)
        db = self.sandbox.nss_db("nobody", "chromium")
        for dirpath, dirs, files in os.walk(os.path.join(self.sandbox.homes, "nobody")):
            for n in [dirpath] + [os.path.join(dirpath, x) for x in files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
        env = dict(self.env, SUDO_USER="nobody")
        r = self.ok("ca", "--install", env=env)
        self.assertIn("to nobody's Chromium NSS database " + db, r.stdout)
        self.assertTrue(any(NICK_RE.fullmatch(n) for n in certutil_list(db)))
        # certutil ran as nobody: the database's files still belong to nobody.
        for n in os.listdir(db):
            self.assertEqual(os.stat(os.path.join(db, n)).st_uid, nobody.pw_uid, n)
        r = self.ok("ca", "--uninstall", env=env)
        self.assertFalse(any(NICK_RE.fullmatch(n) for n in certutil_list(db)))


class DaemonTest(unittest.TestCase):
    """The daemon and its CA: refusal outside the constraints, rotation picked up on SIGHUP."""

    def setUp(self):
        self.assertTrue(harness.have_binaries(), "no courtrouted/courtroute in %s" % harness.build_dir())
        self.tmp = tempfile.mkdtemp(prefix="courtroute-ca-daemon-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def connect(self, d, host, token):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        auth = base64.b64encode(("alice:%s" % token).encode()).decode()
        s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nProxy-Authorization: Basic %s\r\n\r\n"
                   % (host, host, auth)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            ch = s.recv(1)
            if not ch:
                break
            head += ch
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return s, (int(m.group(1)) if m else 0), head

    @staticmethod
    def read_some(s, until, timeout=5.0):
        """Reads from `s` until `until` arrives, the peer closes, or `timeout` passes."""
        data = b""
        deadline = time.monotonic() + timeout
        while until not in data and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")

    def handshake(self, d, host, token, cafile):
        """CONNECT, then a TLS handshake verifying the chain and the name against `cafile`."""
        s, status, _ = self.connect(d, host, token)
        self.assertEqual(status, 200, host)
        ctx = ssl.create_default_context(cafile=cafile)
        try:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                return t.getpeercert()
        finally:
            s.close()

    def test_refuses_a_host_outside_the_ca_then_rotation_and_sighup_fix_it(self):
        d = Daemon(self.tmp, courts={"azb": dict(type="bankruptcy")})
        with d:
            token = d.add_user("alice")
            ca = d.ca_path()
            self.handshake(d, "ecf.azb.uscourts.gov", token, ca)
            # A drop-in adds a court whose ACMS host is outside uscourts.gov.
            d.write_court("ca2", type="appellate", extra_hosts=["acms.example.org"])
            mark = len(d.log_text())
            d.reload()
            d.wait_for_log(r"ca_host_not_permitted host=acms\.example\.org court=ca2", start=mark)
            s, status, head = self.connect(d, "acms.example.org", token)
            body = self.read_some(s, b"--rotate")
            s.close()
            self.assertEqual(status, 502, head)
            self.assertIn("courtroute ca --rotate", body)
            d.wait_for_log(r"connect_refused .*host=acms\.example\.org .*reason=ca_not_permitted")
            # The court host under uscourts.gov still works with the same CA.
            self.handshake(d, "ecf.ca2.uscourts.gov", token, ca)

            r = d.cli(["ca", "--rotate"])
            self.assertEqual(r.returncode, 0, r.stderr)
            mark = len(d.log_text())
            d.reload()
            d.wait_for_log(r"ca_reloaded", start=mark)
            cert = self.handshake(d, "acms.example.org", token, ca)
            self.assertIn(("DNS", "acms.example.org"), cert["subjectAltName"])
            self.handshake(d, "ecf.azb.uscourts.gov", token, ca)
            # The old CA no longer vouches for what the daemon serves.
            s, status, _ = self.connect(d, "ecf.azb.uscourts.gov", token)
            ctx = ssl.create_default_context(cafile=os.path.join(d.state_dir, "ca", "ca.pem.old"))
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(s, server_hostname="ecf.azb.uscourts.gov")
            s.close()
            self.assertNotIn("ca_host_not_permitted", d.log_text()[mark:])

    def test_old_plain_ca_keeps_working_and_is_pointed_out_on_every_start(self):
        d = Daemon(self.tmp, courts={"azb": dict(type="bankruptcy")})
        ca_dir = os.path.join(d.state_dir, "ca")
        os.makedirs(ca_dir, mode=0o700)
        os.chmod(d.state_dir, 0o700)
        run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", os.path.join(ca_dir, "ca.key"), "-out", os.path.join(ca_dir, "ca.pem"), "-days", "30",
             "-subj", "/CN=courtroute local CA", "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True)
        os.chmod(os.path.join(ca_dir, "ca.key"), 0o600)
        token = None
        for _ in range(2):
            mark = len(d.log_text())
            with d:
                token = token or d.add_user("alice")
                d.wait_for_log(r"ca_unconstrained .*courtroute ca --rotate", start=mark)
                d.wait_for_log(r"ca_plain_key .*courtroute ca --rotate", start=mark)
                self.handshake(d, "ecf.azb.uscourts.gov", token, d.ca_path())
        self.assertNotIn("BEGIN", d.log_text())


if __name__ == "__main__":
    unittest.main()
