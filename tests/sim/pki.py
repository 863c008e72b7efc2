"""A throwaway test CA and server certificates made with the openssl CLI.

ECDSA P-256 throughout (fast to make, and what the daemon's own CA uses). Every file lives
under the directory the test gives, so nothing outlives the test's temporary directory.
"""

import os
import re
import subprocess

_OPENSSL = "/usr/bin/openssl"
_TIMEOUT = 30


def _run(args, cwd):
    done = subprocess.run([_OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d): %s"
                           % (args[0], done.returncode, done.stderr.strip()[-2000:]))
    return done


def _safe_name(host):
    return re.sub(r"[^A-Za-z0-9.-]", "_", host)[:80] or "host"


class TestPKI:
    """A test CA in `directory`: `ca_pem` is its certificate, `issue(hosts)` makes leaves."""

    __test__ = False  # not a unittest case despite the name

    def __init__(self, directory, name="courtroute test CA"):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.ca_pem = os.path.join(self.dir, "test-ca.pem")
        self.ca_key = os.path.join(self.dir, "test-ca.key")
        self._serial = 0
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", self.ca_key, "-out", self.ca_pem, "-days", "3",
              "-subj", "/O=courtroute tests/CN=" + name,
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"], self.dir)
        os.chmod(self.ca_key, 0o600)

    def issue(self, hosts, name=None):
        """A server certificate for every name in `hosts` (DNS names or IP literals).

        Returns (cert_path, key_path); the certificate file holds the leaf only.
        """
        hosts = [h for h in hosts if h]
        if not hosts:
            raise ValueError("issue() needs at least one host name")
        self._serial += 1
        base = "%s-%d" % (_safe_name(name or hosts[0]), self._serial)
        cert = os.path.join(self.dir, base + ".pem")
        key = os.path.join(self.dir, base + ".key")
        csr = os.path.join(self.dir, base + ".csr")
        ext = os.path.join(self.dir, base + ".ext")
        sans = []
        for h in hosts:
            if re.fullmatch(r"[0-9.]+|[0-9A-Fa-f:]+:[0-9A-Fa-f:]*", h):
                sans.append("IP:" + h)
            else:
                sans.append("DNS:" + h)
        with open(ext, "w", encoding="ascii") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\n"
                    "subjectAltName=" + ",".join(sans) + "\n")
        _run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-out", csr, "-subj", "/CN=" + hosts[0][:64]], self.dir)
        os.chmod(key, 0o600)
        _run(["x509", "-req", "-in", csr, "-CA", self.ca_pem, "-CAkey", self.ca_key,
              "-set_serial", str(1000 + self._serial) + str(os.getpid()),
              "-days", "2", "-sha256", "-extfile", ext, "-out", cert], self.dir)
        return cert, key
