#!/usr/bin/env bash
# Runs every test: unit-test binaries ($SQ_BUILD/tests/<area>/test_*) and
# scripts (tests/<area>/test_*.sh), one at a time, each under a time limit.
# Exit status 77 means skipped (the test prints why).  Ends with one line:
# "N passed, M failed, K skipped".  An argument filters tests by substring.
set -u
cd "$(dirname "$0")/.."
export SQ_ROOT=$PWD
export SQ_BIN=${SQ_BIN:-$PWD/bin}
export SQ_BUILD=${SQ_BUILD:-build}
[[ $SQ_BIN = /* ]] || SQ_BIN=$PWD/$SQ_BIN
if [ -z "${SQ_SHARED:-}" ] && [ -d ../shared/data ]; then export SQ_SHARED=$(cd ../shared && pwd); fi
export SQ_SHARED=${SQ_SHARED:-}
filter=${1:-}
limit=${SQ_TEST_TIMEOUT:-900}
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

tests=()
for t in "$SQ_BUILD"/tests/*/test_*; do
    [[ -x $t && $t != *.o && $t != *.d ]] && tests+=("$t")
done
for t in tests/*/test_*.sh; do [ -f "$t" ] && tests+=("$t"); done
if [ "${SQ_SLURM_TEST:-0}" = 1 ] && [ -x tests/slurm/run.sh ]; then tests+=(tests/slurm/run.sh); fi

pass=0 fail=0 skip=0 failed=()
[ -n "$SQ_SHARED" ] || echo "note: ../shared is absent: tests that need it are skipped"
for t in "${tests[@]}"; do
    name=${t#"$SQ_BUILD"/}
    [[ -z $filter || $name == *"$filter"* ]] || continue
    log=$logdir/$(echo "$name" | tr / _).log
    t0=$(date +%s.%N)
    if [[ $t == *.sh ]]; then
        timeout "$limit" bash "$t" >"$log" 2>&1
    else
        timeout "$limit" "$t" >"$log" 2>&1
    fi
    rc=$?
    dt=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
    case $rc in
    0) pass=$((pass + 1)); echo "PASS $name (${dt}s)" ;;
    77) skip=$((skip + 1)); echo "SKIP $name: $(grep -m1 -i 'skip' "$log" || tail -n1 "$log")" ;;
    *) fail=$((fail + 1)); failed+=("$name")
       echo "FAIL $name (exit $rc, ${dt}s)"; tail -n 30 "$log" | sed 's/^/    /' ;;
    esac
done
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
