#!/usr/bin/env bash
# bench/scaling/netns_run.sh: the scaling model's communication time against
# a measurement over a link of known speed.  Starts the two-node test cluster
# of tests/slurm/cluster.sh (network namespaces joined by veths), shapes each
# node's uplink with tc to each RATE in turn, runs ddp and fsdp on 2 nodes x 2
# CPU ranks (srun --mpi=pmix, Open MPI over TCP between the namespaces) and
# prints, per link and strategy: the bytes a rank's communication layer
# counted per step, the bytes that crossed node 1's link per step, the
# seconds a rank waited for collectives per step (metrics.jsonl comm_s,
# median after 2 warm-up steps), the seconds `scaling.py comm` predicts for
# the same bytes on that link, and their ratio.  A check of the model, not a
# pass/fail test: 4 ranks share the cores of the machine.
# Usage: bench/scaling/netns_run.sh [STEPS [RATE...]]   [8; 1gbit 200mbit]
# (root: network namespaces; needs slurm-wlm, munge, Open MPI, jq, python3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SQ_BIN:-$ROOT/bin}
steps=${1:-8}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1gbit 200mbit)
die() { echo "netns_run.sh: error: $*" >&2; exit 1; }
[[ $steps =~ ^[0-9]+$ ]] && [ "$steps" -ge 4 ] || die "STEPS: '$steps' is not a whole number of at least 4"
for t in jq python3 tc; do command -v "$t" >/dev/null || die "$t: not found"; done
[ -x "$BIN/sq-train" ] || die "$BIN/sq-train: not built (make)"
# shellcheck source=tests/slurm/cluster.sh
source "$ROOT/tests/slurm/cluster.sh"
T=$(mktemp -d)
cluster=$T/cluster
trap 'slurm_stop "$cluster"; rm -rf "$T"' EXIT
trap 'exit 143' TERM INT
slurm_install >/dev/null || die "could not install slurm-wlm and munge"
slurm_start "$cluster" 2 >"$T/start.log" 2>&1 || die "could not start the two-node cluster: $(tail -n 5 "$T/start.log")"
# shellcheck disable=SC1091
source "$cluster/env"

bash "$ROOT/tests/train/make_synthetic.sh" 64 5 >"$T/syn.json"
"$BIN/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$T/syn.sqt" "$T/syn.json"
"$BIN/sq-pack" -q --max-seq 64 --doc-stride 16 --max-query 16 -o "$T/feat" "$T/syn.sqt"
cfg=$ROOT/data/sample/bert-small-config.json

echo "| link (each way) | strategy | comm MB/step counted (rank 0) | MB/step across node 1's link (rx + tx) | comm ms/step measured | predicted | measured / predicted | step ms |"
echo "|---|---|---|---|---|---|---|---|"
for rate in "${rates[@]}"; do
    slurm_shape "$cluster" "$rate" >"$T/shape.log" 2>&1 || die "tc: $(cat "$T/shape.log")"
    case $rate in *gbit) gbs=$(awk -v r="${rate%gbit}" 'BEGIN { print r / 8 }') ;;
                  *mbit) gbs=$(awk -v r="${rate%mbit}" 'BEGIN { print r / 8000 }') ;; esac
    for s in ddp fsdp; do
        run=$T/$s-$rate
        b0=$(slurm_link_bytes "$cluster" 1)
        sbatch --wait -Q -N 2 --ntasks-per-node=2 -o "$run.log" --wrap \
            "srun --mpi=pmix --kill-on-bad-exit=1 $BIN/sq-train --data $T/feat --config $cfg -o $run --device cpu \
             --threads 1 --max-steps $steps --batch-size 12 --log-every 1 --strategy $s -q" ||
            die "$s over $rate failed: $(tail -n 5 "$run.log")"
        link=$(( $(slurm_link_bytes "$cluster" 1) - b0 ))
        pred=$(python3 "$ROOT/bench/scaling/scaling.py" comm --config "$cfg" --strategy "$s" --world 4 --nodes 2 \
               --link-gbs "$gbs" | jq .seconds)
        jq -rs --arg rate "$rate" --arg s "$s" --argjson pred "$pred" --argjson link "$link" --argjson steps "$steps" '
            [.[] | select(has("loss"))] as $r
            | def med(f): [$r[2:][] | f] | sort | .[(length - 1) / 2 | floor];
            ([$r | range(1; length) as $i | $r[$i].elapsed_s - $r[$i - 1].elapsed_s] | .[1:] | sort
             | .[(length - 1) / 2 | floor]) as $step
            | "| \($rate) | \($s) | \(med(.comm_bytes) / 1e6 * 1000 | round / 1000) | \($link / $steps / 1e6 * 10 | round / 10) | \(med(.comm_s) * 1e4 | round / 10) | \($pred * 1e4 | round / 10) | \(med(.comm_s) / $pred * 100 | round / 100) | \($step * 1e4 | round / 10) |"' \
            "$run/metrics.jsonl"
    done
done
slurm_shape "$cluster" off >/dev/null
