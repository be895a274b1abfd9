# Helpers for test scripts: source it first.  Tools live in $SQ_BIN; scratch
# space in $T (removed at exit); ../shared (when present) in $SQ_SHARED.
set -euo pipefail
: "${SQ_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${SQ_BIN:=$SQ_ROOT/bin}"
: "${SQ_SHARED:=$([ -d "$SQ_ROOT/../shared/data" ] && cd "$SQ_ROOT/../shared" && pwd || true)}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DATA=$SQ_ROOT/data
VOCAB=$DATA/vocab.txt

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
need_shared() { [ -n "$SQ_SHARED" ] && [ -d "$SQ_SHARED/data" ] || skip "needs ../shared ($*)"; }
need_python() { python3 -c "import $1" 2>/dev/null || skip "needs the Python package $1"; }

# expect_fail CODE PATTERN cmd...: the command exits CODE and prints exactly one
# stderr line matching PATTERN (an extended regex), and nothing on stdout.
expect_fail() {
    local code=$1 pat=$2; shift 2
    local rc=0
    "$@" >"$T/.out" 2>"$T/.err" || rc=$?
    [ "$rc" = "$code" ] || fail "$* exited $rc, wanted $code; stderr: $(cat "$T/.err")"
    grep -Eq "$pat" "$T/.err" || fail "$*: stderr '$(cat "$T/.err")' does not match '$pat'"
    if [ "$code" = 1 ]; then
        [ "$(wc -l <"$T/.err")" = 1 ] || fail "$*: wanted one stderr line, got: $(cat "$T/.err")"
    fi
}
