#!/usr/bin/env bash
# courtroute's side-by-side benchmark suite: one command, as root on Debian 12.
#     bash bench/run.sh            full run (about 15 minutes), writes bench/RESULTS.md
#     bash bench/run.sh --smoke    every scenario once, briefly (ctest's bench.smoke)
# bench/README.md explains the scenarios, the knobs (BENCH_* environment variables) and how to
# read the ratios. This script installs the peers from Debian packages when they are missing
# (a peer that cannot be installed is skipped, with a message), builds the daemon and the load
# generator when they are missing, and hands over to bench/bench.py, which starts every process,
# stops each by PID on exit and never prints the user token or the PACER password.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PY=/usr/bin/python3

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Required: nginx (peer and upstream), openssl (test PKI), python3, util-linux (taskset, unshare).
# Optional peers: squid-openssl, mitmproxy.
install_packages() {
    local required=(nginx-light openssl python3 util-linux) optional=(squid-openssl mitmproxy)
    local missing=() p
    for p in "${required[@]}" "${optional[@]}"; do
        [ "$p" = nginx-light ] && { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && continue
        installed "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "not root: cannot install ${missing[*]} (peers among them will be skipped)"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        # One at a time, so one unavailable peer does not keep the others out.
        for p in "${missing[@]}"; do
            apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || log "could not install $p"
        done
    fi
}
install_packages
[ -x "$PY" ] || die "no $PY (apt-get install python3)"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || die "nginx is required (apt-get install nginx-light)"
command -v openssl >/dev/null 2>&1 || die "openssl is required"

BIN="${COURTROUTE_BIN:-$REPO/build/daemon}"
LOADGEN="${BENCH_LOADGEN:-$(dirname "$BIN")/bench/loadgen}"
if [ ! -x "$BIN/courtrouted" ] || [ ! -x "$BIN/courtroute" ] || [ ! -x "$LOADGEN" ]; then
    [ -z "${COURTROUTE_BIN:-}" ] || [ -x "$LOADGEN" ] || die "no courtrouted/courtroute/loadgen beside $BIN"
    log "building courtrouted, courtroute and loadgen (build/)"
    (cd "$REPO" && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build -j2 --target courtrouted courtroute loadgen >/dev/null)
fi
export COURTROUTE_BIN="$BIN" BENCH_LOADGEN="$LOADGEN"

# 1,000 tunnels need file descriptors in loadgen, courtrouted and squid alike.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec "$PY" "$HERE/bench.py" "$@"
