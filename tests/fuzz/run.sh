#!/usr/bin/env bash
# Runs every libFuzzer target of a COURTROUTE_FUZZ build for a bounded time, FUZZ_JOBS at a time.
#   bash tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]     (default: 20 s each, every target)
#   FUZZ_JOBS=1 bash tests/fuzz/run.sh ...                      (default 2: one per core)
# Each target first runs its hostile inputs once (tests/fuzz/hostile/<target>/: 64 KiB pages
# that a super-linear scan cannot judge within -timeout), then fuzzes from its committed seeds
# (tests/fuzz/corpus/<target>/, read only) plus a scratch corpus, with its dictionary. Any crash,
# property violation (abort), sanitizer report, leak, timeout or out-of-memory fails the run. Prints "fuzz <target>: N execs, 0 crashes" per target; a failing target's report and
# its input (base64) go to the log, the input itself to BUILD_DIR/fuzz-artifacts/ (not the repo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS] [TARGET...]}" && pwd)"
seconds="${2:-20}"
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("${f##*/fuzz_}"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets in $build/tests/fuzz" >&2; exit 1; }

# The sanitizers' own defaults report to stderr (the log below) and halt; leaks are checked.
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
artifacts="$build/fuzz-artifacts"
work="$(mktemp -d "${TMPDIR:-/tmp}/courtroute-fuzz.XXXXXX")"
# The config and registry targets write their inputs to files: on tmpfs when there is one.
scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base="$work"
export COURTROUTE_FUZZ_SCRATCH="$(mktemp -d "$scratch_base/courtroute-fuzz.XXXXXX")"
trap 'rm -rf "$work" "$COURTROUTE_FUZZ_SCRATCH"' EXIT
rm -rf "$artifacts"
mkdir -p "$artifacts"

dict_for() {
  case "$1" in
    url_host|parse_url) echo "$here/url.dict" ;;
    *) echo "$here/$1.dict" ;;
  esac
}

run_one() {
  local t="$1" dict args=()
  dict="$(dict_for "$t")"
  [ -f "$dict" ] && args+=("-dict=$dict")
  mkdir -p "$work/$t"
  # -timeout: seconds per input; -rss_limit_mb: the whole process; leaks are on by default.
  local common=(-timeout=5 -rss_limit_mb=2048 -artifact_prefix="$artifacts/$t-")
  local rc=0
  if [ -d "$here/hostile/$t" ]; then
    "$build/tests/fuzz/fuzz_$t" "${common[@]}" "$here/hostile/$t"/* >"$work/$t.hostile.log" 2>&1 || rc=$?
  fi
  if [ "$rc" = 0 ]; then
    "$build/tests/fuzz/fuzz_$t" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 "${args[@]}" \
      "$work/$t" "$here/corpus/$t" >"$work/$t.log" 2>&1 || rc=$?
  else
    cp "$work/$t.hostile.log" "$work/$t.log"
  fi
  echo "$rc" >"$work/$t.rc"
}

# Each fuzzer is one process: FUZZ_JOBS of them at a time (CI has two cores).
jobs="${FUZZ_JOBS:-2}"
running=0
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/fuzz_$t" ] || { echo "fuzz $t: no such target" >&2; exit 1; }
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

failed=0
for t in "${targets[@]}"; do
  rc="$(cat "$work/$t.rc" 2>/dev/null || echo 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n1)"
  crashes=0
  ls "$artifacts/$t-"* >/dev/null 2>&1 && crashes="$(ls "$artifacts/$t-"* | wc -l)"
  if [ "$rc" = 0 ] && [ "$crashes" = 0 ]; then
    echo "fuzz $t: ${execs:-?} execs, 0 crashes"
    continue
  fi
  failed=1
  [ "$crashes" = 0 ] && crashes=1
  echo "fuzz $t: ${execs:-?} execs, $crashes crashes (exit $rc) -- FAILED"
  echo "----- fuzz_$t log (tail) -----"
  tail -n 60 "$work/$t.log"
  for a in "$artifacts/$t-"*; do
    [ -f "$a" ] || continue
    echo "----- $a ($(stat -c %s "$a") bytes), base64 -----"
    head -c 65536 "$a" | base64
    echo "reproduce: base64 -d > input <<< '...'; $build/tests/fuzz/fuzz_$t input"
  done
done
exit "$failed"
