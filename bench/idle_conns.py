"""Opens N idle HTTP/1.1 keep-alive connections to a local server and measures its RSS.

Used by bench/run.sh: each connection sends one `GET PATH` (keep-alive), reads the whole
answer and then stays open, idle. With all of them open the script samples VmRSS of the
given process (and of its children, for nginx's master/worker pair if asked), then closes
everything. Prints one JSON line: {"opened": N, "rss_before_kib": .., "rss_with_kib": ..}.

Only 127.0.0.1; every wait is bounded. Python standard library only.
"""

import argparse
import json
import resource
import socket
import sys
import time


def rss_kib(pid, field="VmRSS"):
    """The `field` line of /proc/PID/status in KiB (None if the process is gone)."""
    try:
        with open("/proc/%d/status" % pid, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def read_response(sock, deadline):
    """Reads one HTTP response with a Content-Length body; True if complete."""
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            return False
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"connection" and value.strip().lower() == b"close":
            return False
    while len(body) < length:
        if time.monotonic() > deadline:
            return False
        chunk = sock.recv(4096)
        if not chunk:
            return False
        body += chunk
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="process whose RSS is measured")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before sampling")
    ap.add_argument("--timeout", type=float, default=30.0, help="bound on the whole opening phase")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    before = rss_kib(args.pid)
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (args.path, args.port)).encode()
    deadline = time.monotonic() + args.timeout
    socks = []
    failed = 0
    try:
        for _ in range(args.count):
            if time.monotonic() > deadline:
                break
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5.0)
            try:
                s.sendall(request)
                ok = read_response(s, deadline)
            except OSError:
                ok = False
            if ok:
                socks.append(s)
            else:
                failed += 1
                s.close()
        time.sleep(args.settle)
        # Still open? A closed peer makes a non-blocking recv return b"" (EOF).
        alive = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) != b"":
                    alive += 1  # unexpected bytes, but the connection is open
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        with_conns = rss_kib(args.pid)
    finally:
        for s in socks:
            s.close()
    print(json.dumps({"opened": len(socks), "alive": alive, "failed": failed,
                      "rss_before_kib": before, "rss_with_kib": with_conns}))
    return 0 if socks else 1


if __name__ == "__main__":
    sys.exit(main())
