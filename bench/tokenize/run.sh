#!/usr/bin/env bash
# sq-tokenize against HuggingFace tokenizers' encode_batch on SQuAD v1.1
# train, in one run: HF's encode_batch time alone (best of RUNS, JSON loading
# not counted), sq-tokenize's whole process (best of RUNS: reading, hashing,
# parsing, tokenizing, compressing, fsync), the ratio, and sq-tokenize's peak
# memory against the input size.
#
#   bench/tokenize/run.sh [SQUAD.json] [RUNS]     (default: ../shared train, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SQ_SHARED:-../shared}
in=${1:-$shared/data/squad/train-v1.1.reconstructed.json}
runs=${2:-3}
vocab=data/vocab.txt
[ -f "$in" ] || { echo "no input: $in (needs ../shared or an argument)" >&2; exit 1; }
make -s bin/sq-tokenize
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

read -r hf hf_cpu n_texts n_tokens < <(python3 bench/tokenize/hf_encode_batch.py "$shared/tools" "$vocab" "$in" "$runs")
best= cpu= peak=0
for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" bin/sq-tokenize -q --vocab "$vocab" -o "$tmp/out.sqt" "$in"
    read -r s u k kb < "$tmp/time"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(not $s < $best)"; then
        best=$s
        cpu=$(python3 -c "print('%.2f' % ($u + $k))")
    fi
    peak=$(( kb > peak ? kb : peak ))
done
bytes=$(stat -c %s "$in")
echo "machine:        $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "input:          $in ($bytes bytes, $n_texts texts, $n_tokens tokens)"
echo "load average:   $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine stretches wall times)"
echo "HF encode_batch: ${hf} s wall, ${hf_cpu} s CPU (tokenizers $(python3 -c 'import tokenizers; print(tokenizers.__version__)'), best of $runs)"
echo "sq-tokenize:    ${best} s wall, ${cpu} s CPU, whole process (best of $runs), peak RSS $((peak / 1024)) MiB"
python3 -c "print('ratio:          %.1fx faster in wall time (target >= 5x), %.1fx in CPU time; peak memory %.2fx the input (target < 3x)' % ($hf / $best, $hf_cpu / $cpu, $peak * 1024 / $bytes))"
