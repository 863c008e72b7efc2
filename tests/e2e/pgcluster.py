"""A real PostgreSQL 15 server for the tests (Debian's postgresql-15): a cluster created in a
temporary folder, on 127.0.0.1 and a free port, with password (SCRAM) authentication over TCP,
started and stopped by the test itself. PostgreSQL refuses to run as root: as root, initdb and
the server run as the `postgres` system user the package creates."""
import os
import pwd
import shutil
import subprocess
import tempfile

from harness import free_port

BIN = "/usr/lib/postgresql/15/bin"


def available():
    """None when a cluster can be made here, else why not."""
    if not os.access(os.path.join(BIN, "initdb"), os.X_OK):
        return "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


class PgCluster:
    """`url(db)` names a database; the role `courtroute` owns it; `password` is its password."""

    def __init__(self, password):
        # Its own folder under /tmp, not inside a test's 0700 folder: the server's user must reach it.
        self.dir = tempfile.mkdtemp(prefix="courtroute-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.password = password
        self.log = os.path.join(self.dir, "server.log")

    def _run(self, args, **kw):
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        os.chmod(self.dir, 0o700)
        self._chown(self.dir)
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w", encoding="ascii") as f:
            f.write(self.password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(pwfile)
        r = self._run([os.path.join(BIN, "initdb"), "-D", self.data, "-U", "courtroute", "--pwfile", pwfile,
                       "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        os.unlink(pwfile)
        if r.returncode != 0:
            raise RuntimeError("initdb failed: %s" % r.stderr[-800:])
        self.start_server()
        r = self._psql("postgres", "CREATE DATABASE courtroute OWNER courtroute")
        if r.returncode != 0:
            raise RuntimeError("createdb failed: %s" % r.stderr[-400:])
        return self

    def start_server(self):
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200" % (self.port, self.dir)
        r = self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-o", opts, "-w", "-t", "60",
                       "-l", self.log, "start"])
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: %s\n%s" % (r.stderr[-400:], self.log_tail()))

    def stop_server(self, mode="fast"):
        self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])

    def stop(self):
        self.stop_server("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _psql(self, db, sql):
        return self._run([os.path.join(BIN, "psql"), "-X", "-q", "-h", self.dir, "-p", str(self.port),
                          "-U", "courtroute", "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql])

    def query(self, sql, db="courtroute"):
        r = self._run([os.path.join(BIN, "psql"), "-X", "-A", "-t", "-h", self.dir, "-p", str(self.port),
                       "-U", "courtroute", "-d", db, "-c", sql])
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr[-400:])
        return r.stdout.strip()

    def url(self, db="courtroute"):
        return "postgresql://courtroute@127.0.0.1:%d/%s" % (self.port, db)

    def log_tail(self, n=2000):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""
