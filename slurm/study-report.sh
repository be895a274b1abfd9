#!/usr/bin/env bash
#SBATCH --job-name=sq-study-report
#SBATCH --ntasks=1
# The report of a study made by slurm/study.sh (its last job; also runnable
# alone, on or off the cluster, to write it again):
#
#   slurm/study-report.sh STUDYDIR
#
# Reads STUDYDIR/settings.tsv and runs.tsv (written by study.sh) and, for each
# run, its RUNDIR (run.json, metrics.jsonl, dev-eval.json) and its training
# log (sq-train's memory report and --profile table), and writes
# STUDYDIR/STUDY.md, STUDYDIR/study.json (the same rows for programs) and,
# when gnuplot is there, the plots of scripts/report.sh in STUDYDIR/plots/.
# A run without a model is a row saying why: the last error line of its log,
# else what Slurm says of its job.  Needs jq.
set -euo pipefail

me="study-report.sh"
die() { echo "$me: error: $*" >&2; exit 1; }
case ${1:-} in
-h|--help) sed -n '4,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ $# = 1 ] || { echo "usage: $me STUDYDIR" >&2; exit 2; }
study=$1
for f in settings.tsv runs.tsv; do [ -f "$study/$f" ] || die "$study/$f: no such file (not a study made by slurm/study.sh?)"; done
command -v jq >/dev/null || die "jq: not found (scripts/install-deps.sh installs it)"
# Under Slurm this script runs from a copy in slurmd's spool: study.sh says
# where scripts/report.sh is.
report_sh=${SQ_REPORT_SH:-$(cd "$(dirname "$0")" && pwd)/../scripts/report.sh}
setting() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$study/settings.tsv"; }

# job_says JOB: "STATE (Reason, exit X)" from scontrol while Slurm remembers
# the job (MinJobAge), else from sacct where accounting runs, else nothing.
job_says() {
    local line st rs ec
    [[ $1 =~ ^[0-9]+$ ]] || return 0
    if line=$(scontrol -o show job "$1" 2>/dev/null) && [ -n "$line" ]; then
        st=$(tr ' ' '\n' <<<"$line" | sed -n 's/^JobState=//p')
        rs=$(tr ' ' '\n' <<<"$line" | sed -n 's/^Reason=//p')
        ec=$(tr ' ' '\n' <<<"$line" | sed -n 's/^ExitCode=//p')
        echo "$st${rs:+ ($rs}${rs:+, exit $ec)}"
    elif line=$(sacct -n -X -P -j "$1" -o State,ExitCode 2>/dev/null) && [ -n "$line" ]; then
        echo "${line%%|*} (exit ${line##*|})"
    fi
}

# why_failed JOB LOG: one line: what Slurm says of the job, then the error
# that started it: a tool's own error (sq-train, the batch script), the one
# naming a cause rather than "another rank failed"; else srun's first error
# (the tasks that died first; it kills the rest after them); else the last
# line saying error.
why_failed() {
    local err state
    err=$(grep -hE '^(sq-[a-z]+|[a-z]+\.sbatch): error: ' "$2" 2>/dev/null | grep -v 'another rank failed' | head -n 1 || true)
    [ -n "$err" ] || err=$(grep -hE '^srun: error: ' "$2" 2>/dev/null | grep -vE 'launch failed|Job step aborted' | head -n 1 || true)
    [ -n "$err" ] || err=$(grep -hiE 'error' "$2" 2>/dev/null | tail -n 1 || true)
    state=$(job_says "$1")
    if [ -n "$err" ]; then echo "${state:+$state: }$err"
    elif [ -f "$2" ]; then echo "${state:-failed}: no error line in $(basename "$2")"
    else echo "${state:-not run}: the job never started"; fi
}

rows=()
while IFS=$'\t' read -r name strategy nodes tpn tjob ejob rundir tlog elog; do
    [ "$name" = name ] && continue
    row=$(jq -n --arg name "$name" --arg strategy "$strategy" --argjson nodes "$nodes" --argjson tpn "$tpn" \
        --arg train_job "$tjob" --arg eval_job "$ejob" --arg rundir "$rundir" \
        '{name: $name, strategy: $strategy, nodes: $nodes, tasks_per_node: $tpn, train_job: $train_job,
          eval_job: $eval_job, rundir: $rundir}')
    if [ ! -f "$rundir/model.safetensors" ] || [ ! -s "$rundir/metrics.jsonl" ]; then
        row=$(jq --arg why "$(why_failed "$tjob" "$tlog")" '. + {ok: false, why: $why}' <<<"$row")
        rows+=("$row")
        continue
    fi
    # metrics.jsonl: the last line of each step wins (a resumed run logs the
    # steps after its checkpoint again).
    m=$(jq -s '[.[] | select(has("loss"))] | reverse | unique_by(.step) | sort_by(.step) as $s
        | def med(f): [$s[] | f | select(. != null)] | sort | if length == 0 then null
                      else .[(length - 1) / 2 | floor] end;
        {steps: ($s[-1].step), train_s: ($s[-1].elapsed_s), comm_bytes: med(.comm_bytes),
         comm_s: med(.comm_s), gpu_mem_gib: ([$s[] | .gpu_mem_gib // empty] | max)}' "$rundir/metrics.jsonl")
    batch=$(jq '.options.batch_size' "$rundir/run.json")
    # What each rank holds, from sq-train's memory report (the largest rank).
    held=$(sed -n 's/.*memory: rank [0-9]*\/[0-9]* [a-z0-9]* holds .* total=\([0-9]*\) bytes.*/\1/p' "$tlog" 2>/dev/null |
           sort -n | tail -n 1)
    # The --profile table: the last launch's (a requeued job appends).
    prof=$(awk '/^sq-train: profile of / { n = 0; p = 1 }
                p && /^(sq-train: profile of |track |host |gpu |comm )/ { t[++n] = $0; next }
                { p = 0 }
                END { for (i = 1; i <= n; i++) print t[i] }' "$tlog" 2>/dev/null || true)
    ev='null'
    [ -s "$rundir/dev-eval.json" ] && ev=$(jq -c '{em: (.exact_match // .exact), f1: .f1}' "$rundir/dev-eval.json")
    row=$(jq --argjson m "$m" --argjson batch "$batch" --arg held "$held" --arg prof "$prof" --argjson ev "$ev" \
        --arg eval_why "$([ "$ev" != null ] || why_failed "$ejob" "$elog")" '
        . + {ok: true, steps: $m.steps, global_batch: $batch, train_s: $m.train_s,
             samples_per_s: (if $m.train_s > 0 then $m.steps * $batch / $m.train_s else null end),
             held_bytes_per_rank: (if $held == "" then null else ($held | tonumber) end),
             gpu_mem_gib: $m.gpu_mem_gib, comm_bytes_per_step: $m.comm_bytes, comm_s_per_step: $m.comm_s,
             em: $ev.em, f1: $ev.f1, profile: $prof}
        + (if $ev == null then {eval_why: $eval_why} else {} end)' <<<"$row")
    rows+=("$row")
done <"$study/runs.tsv"

# Speedup: the baseline's training time over the run's (the same steps and
# global batch, so the same work).
json=$(printf '%s\n' "${rows[@]}" | jq -s '
    (map(select(.name == "baseline" and .ok)) | .[0].train_s) as $b
    | map(if .ok and $b != null and .train_s > 0 then . + {speedup: ($b / .train_s)} else . end)')

# Plots of the runs that trained (scripts/report.sh: loss, throughput, speedup).
plots=""
mapfile -t trained < <(jq -r '.[] | select(.ok) | .rundir' <<<"$json")
if [ ${#trained[@]} -gt 0 ] && [ ! -f "$report_sh" ]; then
    plots="none: $report_sh is missing"
elif [ ${#trained[@]} -gt 0 ] && command -v gnuplot >/dev/null; then
    if bash "$report_sh" -o "$study/plots" "${trained[@]}" 2>"$study/plots.log"; then
        for p in "$study"/plots/*.png; do [ -f "$p" ] && plots+="${plots:+ }$(basename "$p")"; done
    else
        plots="failed: $(tail -n 1 "$study/plots.log")"
    fi
elif [ ${#trained[@]} -gt 0 ]; then
    plots="none: gnuplot is not installed"
fi

settings=$(jq -R 'split("\t") | {(.[0]): .[1]}' "$study/settings.tsv" | jq -s add)
jq --argjson s "$settings" --arg date "$(date -u +%FT%TZ)" '{written: $date, settings: $s, runs: .}' \
    <<<"$json" >"$study/study.json.tmp"
mv "$study/study.json.tmp" "$study/study.json"

{
    echo "# Study: baseline and $(setting strategies | sed 's/ /, /g') on $(setting nodes) nodes × $(setting tasks_per_node) tasks"
    echo
    first=$(jq -r 'map(select(.ok)) | .[0] // empty | "\(.global_batch) \(.steps)"' <<<"$json")
    echo "Written by slurm/study-report.sh${SLURM_JOB_ID:+ (job $SLURM_JOB_ID)} on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "Device $(setting device); model $(setting model); data $(setting train_features);"
    [ -z "$first" ] || echo "global batch ${first% *}, ${first#* } steps for every run (the same seed)."
    cat <<'EOF'

Training time: sq-train's `elapsed_s` at the last step (training only, without start-up
and evaluation); speedup: the baseline's training time over the run's (the same steps and
global batch); samples/s: steps × global batch / training time; held/rank: the largest
per-rank total of sq-train's memory report (parameters, gradients, optimizer state and
activations the strategy keeps; the CPU backend allocates the full buffers anyway, see
docs/distributed.md); GPU GiB: the device memory rank 0's CUDA backend holds; comm: rank
0's median per step of the bytes it moved and of the seconds it waited for collectives
(`metrics.jsonl` `comm_bytes`, `comm_s`).

| run | strategy | nodes × tasks | training time (s) | speedup | samples/s | held/rank (MiB) | GPU GiB | comm MB/step | comm ms/step | EM | F1 |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
    # f(d): the number with d decimals (jq has no printf), "–" for none.
    jq -r '.[] | def f(d): if . == null then "–" else
                 (. * pow(10; d) | round | tostring) as $s
                 | (if ($s | length) <= d then ([range(d + 1 - ($s | length))] | map("0") | add) + $s else $s end) as $t
                 | if d == 0 then $t else $t[0:-d] + "." + $t[-d:] end end;
        if .ok then
          "| \(.name) | \(.strategy) | \(.nodes) × \(.tasks_per_node) | \(.train_s | f(2)) | \(.speedup | f(2)) | \(.samples_per_s | f(1)) | \(if .held_bytes_per_rank then .held_bytes_per_rank / 1048576 else null end | f(1)) | \(.gpu_mem_gib | f(2)) | \(if .comm_bytes_per_step then .comm_bytes_per_step / 1e6 else null end | f(3)) | \(if .comm_s_per_step then .comm_s_per_step * 1000 else null end | f(1)) | \(if .em == null then "eval failed: " + (.eval_why // "?") else (.em | f(2)) end) | \(.f1 | f(2)) |"
        else
          "| \(.name) | \(.strategy) | \(.nodes) × \(.tasks_per_node) | failed: \(.why | gsub("\\|"; "/")) | | | | | | | | |"
        end' <<<"$json"
    echo
    echo "## Profiles (\`--profile=$(setting profile)\`, rank 0)"
    jq -r '.[] | select(.ok) | "\n### \(.name)\n\n```\n\(if .profile == "" then "(no profile table in the log)" else .profile end)\n```"' <<<"$json"
    echo
    echo "## Plots"
    echo
    if [ -z "$plots" ]; then echo "No run trained."
    elif [[ $plots == none:* || $plots == failed:* ]]; then echo "${plots/:/ (scripts/report.sh):}"
    else for p in $plots; do echo "![${p%.png}](plots/$p)"; echo; done; fi
} >"$study/STUDY.md.tmp"
mv "$study/STUDY.md.tmp" "$study/STUDY.md"
echo "$me: wrote $study/STUDY.md"
cat "$study/STUDY.md"
