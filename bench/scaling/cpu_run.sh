#!/usr/bin/env bash
# bench/scaling/cpu_run.sh: each strategy on 1, 2 and 3 CPU ranks (mpirun,
# one thread each) on the synthetic task with data/sample/bert-small-config.json:
# step time, communication per step as counted at run time, and the bytes
# bench/scaling/scaling.py predicts, with their ratio (which must be 1).
# Usage: bench/scaling/cpu_run.sh [STEPS]   (needs mpirun and python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SQ_BIN:-$ROOT/bin}
steps=${1:-8}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bash "$ROOT/tests/train/make_synthetic.sh" 64 5 >"$T/syn.json"
"$BIN/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$T/syn.sqt" "$T/syn.json"
"$BIN/sq-pack" -q --max-seq 64 --doc-stride 16 --max-query 16 -o "$T/feat" "$T/syn.sqt"
cfg=$ROOT/data/sample/bert-small-config.json
echo "| ranks | strategy | ms/step (median) | comm MB/step counted | predicted | ratio | comm ms/step |"
echo "|---|---|---|---|---|---|---|"
for run in "1 single" "2 ddp" "2 zero1" "2 zero2" "2 fsdp" "3 ddp" "3 zero2" "3 fsdp"; do
    set -- $run
    "$(command -v mpirun)" --oversubscribe -np "$1" "$BIN/sq-train" --data "$T/feat" --config "$cfg" -o "$T/$2-$1" \
        --device cpu --threads 1 --max-steps "$steps" --batch-size 12 --log-every 1 --strategy "$2" -q
    params=$(sed -n 's/.*"parameters": \([0-9]*\).*/\1/p' "$T/$2-$1/run.json")
    want=$(python3 "$ROOT/bench/scaling/scaling.py" bytes --params "$params" --world "$1" --strategy "$2")
    python3 - "$T/$2-$1/metrics.jsonl" "$1" "$2" "$want" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][2:]  # after 2 warm-up steps
ms = statistics.median(12 / r["samples_per_s"] * 1e3 for r in rows)
b = statistics.median(r.get("comm_bytes", 0) for r in rows)
s = statistics.median(r.get("comm_s", 0) for r in rows)
w = float(sys.argv[4])
print("| %s | %s | %.1f | %.3f | %.3f | %s | %.1f |" % (sys.argv[2], sys.argv[3], ms, b / 1e6, w / 1e6,
      "%.6f" % (b / w) if w else "-", s * 1e3))
PY
done
