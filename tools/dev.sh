#!/usr/bin/env bash
# Set up, build, run or test courtroute from a checkout, as root on Debian 12.
#   bash tools/dev.sh run    install packages, build, start courtrouted on config/local.toml
#   bash tools/dev.sh test   install packages, build (warnings are errors), run every test, then
#                            the same tests under ASan+UBSan (build-asan) and every fuzzer for
#                            FUZZ_SECONDS (default 10) each (build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running need; the tests also need real clients, openssl for test
# certificates, systemd-analyze for the unit, dpkg-dev/lintian for the package, certutil
# (libnss3-tools) for `courtroute ca --install` into NSS databases, clang with its
# compiler-rt (libFuzzer, ASan, UBSan) for the sanitizer and fuzz builds, and the benchmark
# smoke run (bench.smoke) its peers: nginx, squid with ssl-bump, mitmproxy, taskset; the browser
# tests (test_browser) headless Chromium and node (to evaluate /proxy.pac).
build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libssl-dev libtomlplusplus-dev
  libsqlitecpp-dev libsqlite3-dev libpq-dev libgtest-dev libgmock-dev libsystemd-dev
)
test_packages=(curl openssl python3 python3-requests systemd dpkg-dev lintian libnss3-tools
               clang-14 libclang-rt-14-dev nginx-light squid-openssl mitmproxy util-linux
               chromium nodejs postgresql-15)

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURTROUTE_WERROR=ON >/dev/null
  cmake --build build -j"$(nproc)"
}

section() { printf '\n===== %s =====\n' "$*"; }

# What the tests tried, as they printed it (hostile cases, faults, requests, logins): ctest shows
# the output of failing tests only, so the counts are read back from its log for CI's log.
print_counts() {
  local log="$1/Testing/Temporary/LastTest.log"
  [ -f "$log" ] || return 0
  section "what the tests tried (counts printed by the tests)"
  { grep -hE '\) \.\.\. .*[0-9]' "$log" | sed -E 's/^.*\) \.\.\. //' | grep -vE '^(ok|skipped|FAIL|ERROR)\b|^/' || true
    grep -hE '^[A-Za-z0-9 /-]{2,40}: [0-9]+ (requests|runs|kills|attempts)' "$log" || true
  } | cut -c1-400
}

# The unit and e2e suites again under AddressSanitizer + UndefinedBehaviorSanitizer, and every
# fuzzer for a bounded time. Both builds use clang 14 (libFuzzer; and it compiles the proxy's
# coroutines under ASan in a third of gcc's time), at -O0 for build-asan to keep CI short.
# The sanitized suite is mostly waiting on sockets, so the fuzzers run beside it, one at a time;
# the benchmark smoke run measures nothing under sanitizers and is left to the normal build.
sanitizers_and_fuzzing() {
  local t0=$SECONDS fuzz_seconds="${FUZZ_SECONDS:-10}"
  section "fuzz build (clang-14, -fsanitize=fuzzer,address,undefined): build-fuzz"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" -DCOURTROUTE_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
  cmake --build build-fuzz --target courtroute_fuzzers -j"$(nproc)"
  section "sanitizer build (clang-14, -fsanitize=address,undefined): build-asan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -gline-tables-only" -DCOURTROUTE_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$(nproc)"
  echo "builds took $((SECONDS - t0)) s"

  # Any report fails: each one aborts its process (a test binary, or a daemon or CLI the e2e
  # tests run) and is also written under $reports, which must stay empty, since the e2e
  # harness does not look at every process's exit status.
  local reports="$PWD/build-asan/sanitizer-reports" ctest_rc=0 fuzz_rc=0 t1=$SECONDS
  rm -rf "$reports" && mkdir -p "$reports"
  section "ASan+UBSan unit and e2e tests, and each fuzzer for ${fuzz_seconds} s beside them"
  # One log_path for both: clang's combined runtime takes the last one set. Fast unwinding on a
  # report, so a daemon's report is complete before a test gives up on it and stops the daemon.
  ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer \
  ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:fast_unwind_on_fatal=1:log_path=$reports/report" \
  UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$reports/report" \
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 300 -LE bench >build-asan/ctest.log 2>&1 &
  local ctest_pid=$!
  FUZZ_JOBS=1 bash tests/fuzz/run.sh build-fuzz "$fuzz_seconds" >build-fuzz/fuzz.log 2>&1 || fuzz_rc=$?
  wait "$ctest_pid" || ctest_rc=$?

  section "fuzzing: ${fuzz_seconds} s per target (artifacts of failures: build-fuzz/fuzz-artifacts/)"
  cat build-fuzz/fuzz.log
  section "sanitizer reports"
  if compgen -G "$reports/*" >/dev/null; then
    for f in "$reports"/*; do echo "--- $f"; cat "$f"; done
    ctest_rc=1
  else
    echo "none"
  fi
  section "ASan+UBSan unit and e2e tests (build-asan)"
  cat build-asan/ctest.log
  echo "sanitizer and fuzz runs took $((SECONDS - t1)) s; with builds $((SECONDS - t0)) s"
  [ "$ctest_rc" = 0 ] && [ "$fuzz_rc" = 0 ]
}

case "${1:-}" in
  run)
    install_packages "${build_packages[@]}"
    build
    exec build/daemon/courtrouted --config config/local.toml
    ;;
  test)
    install_packages "${build_packages[@]}" "${test_packages[@]}"
    t0=$SECONDS
    section "build (warnings are errors): build"
    build
    section "unit and e2e tests (build)"
    ctest --test-dir build --output-on-failure -j2 --timeout 300
    print_counts build
    echo "build and tests took $((SECONDS - t0)) s"
    sanitizers_and_fuzzing
    echo "all of tools/dev.sh test took $((SECONDS - t0)) s"
    ;;
  *)
    echo "usage: bash tools/dev.sh run|test" >&2
    exit 2
    ;;
esac
