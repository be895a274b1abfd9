# Helpers for the distributed-training tests (source after ../lib.sh): a small
# feature directory and model config in $T, sq-train runs on one process and
# under mpirun, and the comparison of two models' parameters.
command -v mpirun >/dev/null || skip "needs mpirun (Open MPI)"
"$SQ_BIN/sq-train" --help | grep -- --strategy >/dev/null || fail "sq-train has no --strategy"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI keeps memory until exit on purpose; LeakSanitizer would call that a leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Every run names --device cpu: on a machine with a GPU the default is cuda.
# $T/feat and $T/cfg.json: 24 synthetic questions, BERT of 2 layers x 32
# channels, dropout 0.1 everywhere.
make_data() {
    bash "$SQ_ROOT/tests/train/make_synthetic.sh" 24 5 >"$T/syn.json"
    "$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/syn.sqt" "$T/syn.json"
    "$SQ_BIN/sq-pack" -q --max-seq 48 --doc-stride 16 --max-query 16 -o "$T/feat" "$T/syn.sqt"
    cp "$HERE/fixtures/tiny-config.json" "$T/cfg.json"
}

# train OUT [sq-train options]: one process.
train() {
    local out=$1; shift
    "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$out" --device cpu --threads 1 --lr 1e-3 "$@" \
        >"$out.log" 2>&1 || fail "sq-train $*: $(tail -n 5 "$out.log")"
}

# mpi_train N OUT [sq-train options]: N ranks under mpirun.
mpi_train() {
    local n=$1 out=$2; shift 2
    mpirun --oversubscribe -np "$n" "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$out" \
        --device cpu --threads 1 --lr 1e-3 "$@" >"$out.log" 2>&1 || fail "mpirun -np $n sq-train $*: $(tail -n 8 "$out.log")"
}

# same_params A B TOL: every tensor of A.safetensors within TOL of B's,
# relative to the largest magnitude of B's tensor (B's dump is kept: it is
# usually the reference of several comparisons).
same_params() {
    local ref=$T/ref.$(echo "$2" | tr / _).jsonl
    "$SQ_BIN/sq-inspect" -v "$1" >"$T/a.jsonl"
    [ -s "$ref" ] || "$SQ_BIN/sq-inspect" -v "$2" >"$ref"
    paste -d '\n' "$T/a.jsonl" "$ref" | awk -v tol="$3" '
        function vals(line, out,   s, n) {
            if (!match(line, /"values":\[[^]]*\]/)) return -1
            s = substr(line, RSTART + 10, RLENGTH - 11)
            return split(s, out, ",")
        }
        function name(line) { match(line, /"name":"[^"]*"/); return substr(line, RSTART + 8, RLENGTH - 9) }
        NR % 2 == 1 { a = $0; next }
        {
            if (a !~ /"type":"tensor"/) next
            if (name(a) != name($0)) { print "tensor order differs: " name(a) " / " name($0); bad = 1; exit }
            na = vals(a, x); nb = vals($0, y)
            if (na != nb) { print name(a) ": " na " vs " nb " values"; bad = 1; exit }
            big = 0; worst = 0
            for (i = 1; i <= nb; i++) { v = y[i] < 0 ? -y[i] : y[i]; if (v > big) big = v }
            for (i = 1; i <= nb; i++) { d = x[i] - y[i]; d = d < 0 ? -d : d; if (d > worst) worst = d }
            if (worst > tol * big) { printf "%s: max difference %.3g, largest value %.3g\n", name(a), worst, big; bad = 1 }
            n++
        }
        END { if (!n && !bad) { print "no tensors compared"; bad = 1 } exit bad }' ||
        fail "$1 and $2 differ by more than $3 relative"
}

# The memory line of rank R in a log: "params grads optimizer shard window"
# in bytes.
memory_of() {
    sed -n "s/.*memory: rank $2\/[0-9]* [a-z0-9]* holds params=\([0-9]*\) grads=\([0-9]*\) optimizer=\([0-9]*\) .* shard=\([0-9]*\) of [0-9]*, window=\([0-9]*\).*/\1 \2 \3 \4 \5/p" "$1"
}
