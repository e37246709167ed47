#!/usr/bin/env bash
# Runs the whole test suite N times while stress-ng keeps the CPUs at 100%, to show that no test
# depends on the machine being fast (issue 8). Reports pass/fail per run and which tests failed.
#
# Usage: bash scripts/test-busy.sh [N]        N runs, default 3
#   STRESS_CPUS=k   stress-ng CPU workers (default 2: both cores of the usual 2-core test machine)
#   SKIP_SETUP=1    skip `scripts/setup.sh --test` (Bun, dependencies, dist/aegis, test packages)
#   BUN_TEST_ARGS   extra arguments for `bun test`, e.g. a file name to run just that file
# Exits 0 when every run passed. stress-ng is stopped by its PID when the script exits, however.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS="${1:-3}"
CPUS="${STRESS_CPUS:-2}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "test-busy: N must be a positive integer, got '$RUNS'" >&2; exit 2; }

say() { printf 'test-busy: %s\n' "$*" >&2; }

if ! command -v stress-ng >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing stress-ng (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null \
      || { say "apt-get install stress-ng failed"; exit 2; }
  else
    say "stress-ng is missing: install it as root with 'apt-get install stress-ng' (Debian/Ubuntu), then run again"
    exit 2
  fi
fi

if [[ "${SKIP_SETUP:-}" != 1 ]]; then
  bash scripts/setup.sh --test || { say "scripts/setup.sh --test failed"; exit 2; }
fi

LOGS="$(mktemp -d "${TMPDIR:-/tmp}/aegis-test-busy.XXXXXX")"

# Its own session and process group, so the stressors it forks can be stopped with it. --timeout is
# a backstop only, should this script be killed with SIGKILL and the trap never run.
setsid stress-ng --cpu "$CPUS" --cpu-load 100 --timeout 4h --quiet &
STRESS_PID=$!
stop_stress() {
  [[ -n "${STRESS_PID:-}" ]] || return 0
  kill -TERM "$STRESS_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$STRESS_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$STRESS_PID" 2>/dev/null # stressors left behind, if any: the group led by that PID
  wait "$STRESS_PID" 2>/dev/null
  STRESS_PID=""
}
TEST_PID=""
trap stop_stress EXIT
trap '[[ -n "$TEST_PID" ]] && kill -TERM "$TEST_PID" 2>/dev/null; exit 130' INT TERM
sleep 1
kill -0 "$STRESS_PID" 2>/dev/null || { say "stress-ng did not start"; exit 2; }
say "stress-ng --cpu $CPUS running (pid $STRESS_PID); $RUNS run(s) of the suite; logs in $LOGS"

failed_runs=0
declare -a summary
for run in $(seq "$RUNS"); do
  log="$LOGS/run-$run.log"
  started=$SECONDS
  # shellcheck disable=SC2086 # BUN_TEST_ARGS is split on purpose
  bun test --timeout 30000 ${BUN_TEST_ARGS:-} >"$log" 2>&1 &
  TEST_PID=$! # in the background and waited for, so Ctrl-C or SIGTERM stops it and stress-ng at once
  wait "$TEST_PID"
  code=$?
  TEST_PID=""
  took=$((SECONDS - started))
  counts="$(grep -E '^ *[0-9]+ (pass|fail|skip)$' "$log" | tr -s ' \n' ' ' | sed 's/^ //')"
  if [[ $code -eq 0 ]]; then
    result="run $run: PASS in ${took}s ($counts)"
    summary+=("$result")
  else
    failed_runs=$((failed_runs + 1))
    result="run $run: FAIL (exit $code) in ${took}s ($counts), log $log"
    summary+=("$result")
    while IFS= read -r line; do summary+=("    $line"); done < <(grep -E '^\(fail\)' "$log" | sort -u)
  fi
  say "$result"
done

stop_stress
echo
echo "test-busy: $RUNS run(s) under stress-ng --cpu $CPUS:"
printf '  %s\n' "${summary[@]}"
[[ $failed_runs -eq 0 ]]
