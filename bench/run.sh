#!/usr/bin/env bash
# courtroute benchmark: courtrouted's path mode side by side with an nginx TLS re-encrypting
# reverse proxy (upstream keep-alive pool), both in front of the same local TLS upstream.
# Reports RATIOS (the machine is shared and noisy). Run by hand, as root on Debian 12:
#     bash bench/run.sh
# Not part of CI or ctest. Everything listens on 127.0.0.1, the whole run takes about two
# minutes, every process it starts is stopped on exit, and the user token and PACER password
# it makes are never printed (they live in files under the temporary directory only).
#
# Knobs (environment): BENCH_DURATION (s per measured run, default 8), BENCH_WARMUP (s, 2),
# BENCH_IDLE (idle connections for the memory test, 500), COURTROUTE_BIN (dir holding
# courtrouted and courtroute, default build/daemon), BENCH_KEEP=1 keeps the temporary directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DURATION="${BENCH_DURATION:-8}"
WARMUP="${BENCH_WARMUP:-2}"
IDLE="${BENCH_IDLE:-500}"
BIN="${COURTROUTE_BIN:-$REPO/build/daemon}"
PY=/usr/bin/python3
RESULTS="$HERE/results"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------- tools
install_tools() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    [ -x "$PY" ] || missing+=(python3)
    command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # nginx-light if the archive has it (Debian 12 does), else nginx.
    local i pkgs=()
    for i in "${missing[@]}"; do
        if [ "$i" = nginx-light ] && ! apt-cache show nginx-light >/dev/null 2>&1; then i=nginx; fi
        pkgs+=("$i")
    done
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}
install_tools
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ ! -x "$BIN/courtrouted" ] || [ ! -x "$BIN/courtroute" ]; then
    [ -z "${COURTROUTE_BIN:-}" ] || die "no courtrouted/courtroute in $BIN"
    log "building courtroute (build/)"
    (cd "$REPO" && cmake -S . -B build -G Ninja >/dev/null && cmake --build build -j2 >/dev/null)
fi
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 cores; wrk and the proxy will share one"

# ----------------------------------------------------------------------------- cleanup
T="$(mktemp -d /tmp/courtroute-bench.XXXXXX)"
chmod 0755 "$T"
PIDS=()
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_http URL [curl args...]: until it answers (any HTTP status), at most 10 s.
wait_http() {
    local url=$1; shift
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$@" "$url" && return 0
        sleep 0.1
    done
    return 1
}
NOTES="$T/notes.txt"; : >"$NOTES"
note() { printf '%s\n' "$*" >>"$NOTES"; log "note: $*"; }

# ----------------------------------------------------------------------------- test PKI
PKI="$T/pki"; mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/ca.key" \
    -out "$PKI/ca.pem" -days 2 -subj "/O=courtroute bench/CN=courtroute bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
cat >"$PKI/leaf.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
subjectAltName=DNS:ecf.azb.uscourts.gov,DNS:pacer.login.uscourts.gov
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/leaf.key" \
    -out "$PKI/leaf.csr" -subj "/CN=ecf.azb.uscourts.gov" 2>/dev/null
openssl x509 -req -in "$PKI/leaf.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -set_serial "$$" \
    -days 1 -sha256 -extfile "$PKI/leaf.ext" -out "$PKI/leaf.pem" 2>/dev/null
chmod 0600 "$PKI/ca.key" "$PKI/leaf.key"

# ----------------------------------------------------------------------------- ports
P_UP="$(free_port)"; P_CR="$(free_port)"; P_NG="$(free_port)"
[ "$P_UP" != "$P_CR" ] && [ "$P_UP" != "$P_NG" ] && [ "$P_CR" != "$P_NG" ] || die "port clash, run again"

# nginx bits shared by both nginx instances.
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
nginx_common() {  # $1 = prefix dir
    cat <<EOF
$USER_LINE
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
EOF
}
nginx_temp() {  # $1 = prefix dir
    cat <<EOF
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

# ----------------------------------------------------------------------------- upstream (TLS)
UP="$T/upstream"; mkdir -p "$UP/www"
cp "$HERE/page.html" "$UP/www/page.html"
CSO="$(openssl rand -hex 64)"   # a 128-character stand-in for PACER's nextGenCSO token
{
    nginx_common "$UP"
    cat <<EOF
http {
$(nginx_temp "$UP")
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$P_UP ssl;
        server_name ecf.azb.uscourts.gov pacer.login.uscourts.gov;
        ssl_certificate $PKI/leaf.pem;
        ssl_certificate_key $PKI/leaf.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:BENCH:1m;
        location = /services/cso-auth {
            default_type application/json;
            return 200 '{"loginResult":"0","nextGenCSO":"$CSO","errorDescription":""}';
        }
        location = /services/cso-logout {
            default_type application/json;
            return 200 '{}';
        }
        location / {
            root $UP/www;
            default_type text/html;
            try_files /page.html =404;
        }
    }
}
EOF
} >"$UP/nginx.conf"
chmod -R a+rX "$UP"
taskset -c 1 "$NGINX" -p "$UP" -c "$UP/nginx.conf" -e "$UP/error.log" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_http "https://127.0.0.1:$P_UP/" -k || die "upstream nginx did not start: $(tail -5 "$UP/error.log")"

# ----------------------------------------------------------------------------- peer: nginx proxy
NG="$T/nginx-proxy"; mkdir -p "$NG"
{
    nginx_common "$NG"
    cat <<EOF
http {
$(nginx_temp "$NG")
    # One access-log line per request, as courtrouted logs one line per request.
    access_log $NG/access.log;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    upstream court {
        server 127.0.0.1:$P_UP;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$P_NG;
        location = /healthz {
            default_type text/plain;
            return 200 "ok\n";
        }
        location / {
            proxy_pass https://court;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host ecf.azb.uscourts.gov;
            proxy_ssl_server_name on;
            proxy_ssl_name ecf.azb.uscourts.gov;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate $PKI/ca.pem;
            proxy_ssl_session_reuse on;
        }
    }
}
EOF
} >"$NG/nginx.conf"
chmod -R a+rX "$NG"
taskset -c 0 "$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" &
NG_PID=$!; PIDS+=("$NG_PID")
wait_http "http://127.0.0.1:$P_NG/healthz" || die "nginx proxy did not start: $(tail -5 "$NG/error.log")"

# ----------------------------------------------------------------------------- courtrouted
CR="$T/courtroute"; mkdir -p "$CR/courts.d"
cp "$REPO/courts.d/azb.toml" "$CR/courts.d/azb.toml"
cat >"$CR/courtroute.toml" <<EOF
[listen]
proxy = "127.0.0.1:$P_CR"

[registry]
dirs = ["$CR/courts.d"]

[state]
dir = "$CR/state"

[upstream]
ca_file = "$PKI/ca.pem"
resolve = { "ecf.azb.uscourts.gov:443" = "127.0.0.1:$P_UP", "pacer.login.uscourts.gov:443" = "127.0.0.1:$P_UP" }
EOF
C=("$BIN/courtroute" --config "$CR/courtroute.toml")
(umask 077; "${C[@]}" user add bench >"$CR/user-add.out" 2>"$CR/cli.err") \
    || die "courtroute user add failed: $(cat "$CR/cli.err")"
(umask 077; tail -n 1 "$CR/user-add.out" | tr -d '[:space:]' >"$CR/token"; rm -f "$CR/user-add.out")
[ -s "$CR/token" ] || die "courtroute user add printed no token"
(umask 077; openssl rand -hex 16 >"$CR/password")
"${C[@]}" pacer set bench --login benchuser <"$CR/password" >/dev/null 2>"$CR/cli.err" \
    || die "courtroute pacer set failed: $(cat "$CR/cli.err")"
"${C[@]}" link bench azb >/dev/null 2>"$CR/cli.err" || die "courtroute link failed: $(cat "$CR/cli.err")"
# curl reads the header from a file and wrk from a Lua script: the token stays out of argv.
(umask 077; printf 'Authorization: Bearer %s\n' "$(cat "$CR/token")" >"$CR/auth-header")
cat >"$CR/auth.lua" <<EOF
local f = assert(io.open("$CR/token", "r"))
local token = f:read("*l")
f:close()
wrk.headers["Authorization"] = "Bearer " .. token
EOF

taskset -c 0 "$BIN/courtrouted" --config "$CR/courtroute.toml" </dev/null >"$CR/courtrouted.log" 2>&1 &
CR_PID=$!; PIDS+=("$CR_PID")
wait_http "http://127.0.0.1:$P_CR/healthz" || die "courtrouted did not start: $(tail -5 "$CR/courtrouted.log")"

# Every log or output line shown goes through this: no token, password or CSO value.
sed_quote() { printf '%s' "$1" | sed 's/[][\/.^$*&]/\\&/g'; }
RED_TOKEN="$(sed_quote "$(cat "$CR/token")")"; RED_PW="$(sed_quote "$(cat "$CR/password")")"
redact() { sed -e "s/$RED_TOKEN/<token>/g" -e "s/$RED_PW/<password>/g" -e "s/$CSO/<cso>/g"; }

# ----------------------------------------------------------------------------- sanity
CR_URL="http://127.0.0.1:$P_CR/court/azb/cgi-bin/page"
NG_URL="http://127.0.0.1:$P_NG/cgi-bin/page"
DIRECT_URL="https://127.0.0.1:$P_UP/cgi-bin/page"
check_page() {  # name, url, curl args...
    local name=$1 url=$2; shift 2
    local code
    code="$(curl -s -o "$T/check.body" -D "$T/check.head" -w '%{http_code}' --max-time 10 "$@" "$url" || true)"
    if [ "$code" != 200 ] || ! grep -q 'login.pl?logout' "$T/check.body"; then
        log "$name answered HTTP $code; headers:"; redact <"$T/check.head" >&2
        [ "$name" != courtroute ] || { log "courtrouted log:"; tail -20 "$CR/courtrouted.log" | redact >&2; }
        die "$name does not serve the logged-in page"
    fi
}
check_page courtroute "$CR_URL" -H @"$CR/auth-header"
grep -qi '^courtroute-route: pacer' "$T/check.head" || note "courtroute answered without 'Courtroute-Route: pacer'"
if grep -qi '^courtroute-warning' "$T/check.head"; then
    note "courtroute warned: $(grep -i '^courtroute-warning' "$T/check.head" | tr -d '\r' | redact | paste -sd ' ')"
fi
check_page nginx "$NG_URL"
check_page direct "$DIRECT_URL" -k --resolve "ecf.azb.uscourts.gov:$P_UP:127.0.0.1"

# ----------------------------------------------------------------------------- load
# run_wrk SIDE CONNS RUN URL [lua]: RUN "warm" discards the output.
run_wrk() {
    local side=$1 conns=$2 run=$3 url=$4 script=${5:-} secs=$DURATION out
    local args=(-t1 "-c$conns" --latency --timeout 5s)
    [ -n "$script" ] && args+=(-s "$script")
    if [ "$run" = warm ]; then secs=$WARMUP; out=/dev/null; else out="$T/wrk-$side-c$conns-$run.txt"; fi
    log "wrk $side c=$conns ${secs}s${run:+ ($run)}"
    timeout $((secs + 30)) taskset -c 1 wrk "${args[@]}" "-d${secs}s" "$url" >"$out" 2>&1 \
        || { log "wrk $side c=$conns failed"; [ "$out" = /dev/null ] || redact <"$out" >&2; }
}
START=$SECONDS
for conns in 1 32; do
    run_wrk cr "$conns" warm "$CR_URL" "$CR/auth.lua"
    run_wrk ng "$conns" warm "$NG_URL"
    for run in 1 2; do
        run_wrk cr "$conns" "$run" "$CR_URL" "$CR/auth.lua"
        run_wrk ng "$conns" "$run" "$NG_URL"
    done
done
kill -0 "$CR_PID" 2>/dev/null || note "courtrouted DIED during the load runs; last log lines: $(tail -5 "$CR/courtrouted.log" | redact | paste -sd '|')"

# The ceiling: wrk straight to the TLS upstream, which moves to core 0 (the proxies' core).
UP_WORKERS="$(pgrep -P "$UP_PID" || true)"
for pid in $UP_PID $UP_WORKERS; do taskset -a -p -c 0 "$pid" >/dev/null; done
run_wrk direct 32 warm "$DIRECT_URL"
run_wrk direct 1 1 "$DIRECT_URL"
run_wrk direct 32 1 "$DIRECT_URL"
log "load phase took $((SECONDS - START)) s"

# ----------------------------------------------------------------------------- memory
status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true; }
NG_WORKER="$(pgrep -P "$NG_PID" | head -n 1 || true)"
[ -n "$NG_WORKER" ] || die "no nginx proxy worker under $NG_PID"
CR_HWM="$(status_kib "$CR_PID" VmHWM)"; NG_HWM="$(status_kib "$NG_WORKER" VmHWM)"
log "idle connections: $IDLE to courtrouted, then to nginx"
CR_IDLE="$(timeout 60 "$PY" "$HERE/idle_conns.py" --port "$P_CR" --pid "$CR_PID" --count "$IDLE" || echo '{}')"
NG_IDLE="$(timeout 60 "$PY" "$HERE/idle_conns.py" --port "$P_NG" --pid "$NG_WORKER" --count "$IDLE" || echo '{}')"
kill -0 "$CR_PID" 2>/dev/null || note "courtrouted DIED during the idle-connection test"
cat >"$T/mem.json" <<EOF
{"cr_hwm_kib": ${CR_HWM:-null}, "ng_hwm_kib": ${NG_HWM:-null}, "cr_idle": $CR_IDLE, "ng_idle": $NG_IDLE}
EOF

# ----------------------------------------------------------------------------- what courtroute saw
METRICS="$(curl -s --max-time 5 "http://127.0.0.1:$P_CR/metrics" || true)"
printf '%s\n' "$METRICS" >"$T/metrics.txt"
connects="$(printf '%s\n' "$METRICS" | awk '$1 == "courtroute_upstream_connections_total" {print $2}')"
[ -z "$connects" ] || note "courtrouted opened $connects upstream TLS connection(s) in the whole run (courtroute_upstream_connections_total)"
mlines="$(printf '%s\n' "$METRICS" | grep -E '^courtroute_(requests|logins)_total' | paste -sd ';' || true)"
[ -z "$mlines" ] || note "courtrouted /metrics: $mlines"
logins="$(grep -ci 'login' "$CR/courtrouted.log" || true)"
bad="$(grep -Ei 'error|fail|warn|refus|timeout|crash|abort' "$CR/courtrouted.log" | grep -v ' 200 ' | redact | head -n 5 || true)"
if [ -n "$bad" ]; then note "courtrouted log has error-looking lines (first 5): $(printf '%s' "$bad" | paste -sd '|')"; fi
note "courtrouted log: $(wc -l <"$CR/courtrouted.log") lines, $logins mentioning a login"
ng_up_err="$(grep -c '\[error\]' "$NG/error.log" || true)"
[ "${ng_up_err:-0}" = 0 ] || note "nginx proxy error.log has $ng_up_err [error] lines"

# ----------------------------------------------------------------------------- report
BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BIN/../CMakeCache.txt" 2>/dev/null || true)"
export BENCH_NOTES="$NOTES" BENCH_META="$T/meta.json"
"$PY" - "$DURATION" "$WARMUP" "${BUILD_TYPE:-unknown}" "$BIN/courtrouted" "$("$NGINX" -v 2>&1)" <<'EOF'
import datetime, json, os, platform, sys
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
with open(os.environ["BENCH_NOTES"], encoding="utf-8") as f:
    notes = [l.rstrip("\n") for l in f if l.strip()]
meta = {"nproc": os.cpu_count(), "cpu": cpu, "os": osname + " " + platform.release(),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "duration": sys.argv[1], "warmup": sys.argv[2], "build_type": sys.argv[3],
        "courtrouted": sys.argv[4], "nginx": sys.argv[5].replace("nginx version: ", ""), "notes": notes}
with open(os.environ["BENCH_META"], "w", encoding="utf-8") as f:
    json.dump(meta, f)
EOF
mkdir -p "$RESULTS"
"$PY" "$HERE/report.py" --dir "$T" --out "$RESULTS/latest.md" | redact
cp "$T"/wrk-*.txt "$RESULTS/" 2>/dev/null || true
log "written $RESULTS/latest.md (raw wrk output beside it)"
