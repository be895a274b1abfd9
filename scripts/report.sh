#!/usr/bin/env bash
# Plots and a report for one or more sq-train runs:
#   scripts/report.sh [-o OUTDIR] RUNDIR...      (make report RUNS="RUNDIR..." [OUT=OUTDIR])
# reads each RUNDIR/metrics.jsonl and RUNDIR/run.json and writes, in OUTDIR
# (default: ./report, in the current directory), REPORT.md and PNGs rendered
# with gnuplot: loss and learning rate against step, throughput, dev F1, and a
# speedup chart.  REPORT.md gives each run's settings (model, data, global
# batch, lr) and results (steps, final loss, dev EM/F1), then its speed.  A
# speedup is computed only between runs of the same model, data and global
# batch (over the first such run with one process on one node, else the
# first); other runs are listed, not compared.
#
# A resumed run may have logged a step twice: the line written last wins.
set -euo pipefail

me=report.sh
die() { echo "$me: error: $*" >&2; exit 1; }
usage() { echo "Usage: $me [-o OUTDIR] RUNDIR..." >&2; exit 2; }

out=report
while getopts "o:h" opt; do
    case $opt in
    o) out=$OPTARG ;;
    h) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
for tool in jq gnuplot awk; do
    command -v "$tool" >/dev/null || die "$tool: not found (scripts/install-deps.sh installs it)"
done
for rd in "$@"; do [ -d "$rd" ] || die "$rd: not a directory"; done

mkdir -p "$out/data" || die "$out: cannot create it"
data=$out/data

# What run.json says, with defaults for keys a run does not have.  Options may
# sit at the top level or under "options"/"config" (sq-train writes them under
# "options", the model under "model_config").  Fields:
#   name device world nodes strategy precision seconds global_batch lr
#   model (a description) model_key data (a description) data_key
# separated by \x1f (a tab would let read merge empty fields).  The keys are
# what runs must share to be compared; empty when unknown.
run_info() { # RUNDIR
    local rd=$1 json='{}'
    [ -s "$rd/run.json" ] && json=$(cat "$rd/run.json")
    jq -r --arg dir "$(basename "$rd")" '
        def obj: if type == "object" then . else {} end;
        def str: if . == null then "" else tostring end;
        def millions: if . == null then "" elif . >= 1e6 then "\((. / 1e5 | round) / 10)M"
                      else "\((. / 1e2 | round) / 10)k" end;
        ((.options | obj) + (.config | obj) + .) as $r
        | ($r.world_size // $r.nprocs // $r.ranks // $r.gpus // 1) as $world
        | ($r.model_config | obj) as $m
        | ($r.parameters // $r.n_params) as $params
        | (if $m.num_hidden_layers then "\($m.num_hidden_layers)L-\($m.hidden_size)H" else "" end) as $shape
        | ([$shape, ($params | millions)] | map(select(. != "")) | join(" ")) as $model
        | (if ($m | length) > 0 then ($m | tojson) elif $params then "params \($params)" else "" end) as $model_key
        | ($r.data_manifest_sha256 // "" | str) as $sha
        | ($r.data // "" | str) as $data_path
        | [ ($r.name // $dir),
            ($r.device // "cpu"),
            $world,
            ($r.nodes // $r.num_nodes // 1),
            ($r.strategy // $r.parallel // (if $world > 1 then "ddp" else "single" end)),
            ($r.precision // $r.dtype // "fp32"),
            ($r.train_seconds // $r.training_seconds // $r.train_time_s // "" | str),
            ($r.global_batch // $r.batch_size // "" | str),
            ($r.lr // $r.learning_rate // "" | str),
            (if $model == "" then "-" else $model end),
            $model_key,
            (if $data_path != "" then ($data_path | sub("/+$"; "") | split("/") | last)
             elif $sha != "" then "sha256 \($sha[:12])" else "-" end),
            (if $sha != "" then $sha else $data_path end)
          ] | map(tostring | gsub("[\t\n|\u001f]"; " ")) | join("\u001f")' <<<"$json" 2>/dev/null || die "$rd/run.json: not valid JSON"
}

# metrics.jsonl -> step lines (step epoch loss lr grad_norm samples/s tokens/s
# elapsed_s) and eval lines (step epoch exact_match f1), last line per step wins.
split_metrics() { # RUNDIR INDEX
    local rd=$1 i=$2 f=$1/metrics.jsonl
    [ -s "$f" ] || die "$f: missing or empty"
    jq -r 'select(has("loss")) | [.step, .epoch, .loss, .lr, .grad_norm, .samples_per_s,
           .tokens_per_s, (.elapsed_s // "")] | map(if . == null then "nan" else tostring end)
           | join("\t")' "$f" >"$data/steps.$i.tmp" 2>/dev/null || die "$f: not JSON lines"
    jq -r 'select(has("f1")) | [.step, .epoch, .exact_match, .f1]
           | map(if . == null then "nan" else tostring end) | join("\t")' "$f" >"$data/eval.$i.tmp"
    # Keep the last line for each step, in order.
    tac "$data/steps.$i.tmp" | awk -F'\t' '!seen[$1]++' | sort -t$'\t' -k1,1n >"$data/steps.$i.tsv"
    tac "$data/eval.$i.tmp" | awk -F'\t' '!seen[$1]++' | sort -t$'\t' -k1,1n >"$data/eval.$i.tsv"
    rm -f "$data/steps.$i.tmp" "$data/eval.$i.tmp"
    [ -s "$data/steps.$i.tsv" ] || die "$f: no training steps logged"
}

# Throughput of a run: the mean samples/s over its logged intervals, leaving
# out the first when there are more (it holds start-up and warm-up).
mean_rate() { # TSV column printf-format
    awk -F'\t' -v c="$2" -v fmt="$3" '{ v[NR] = $c }
        END { s = 0; n = 0; for (i = (NR > 2 ? 2 : 1); i <= NR; i++) if (v[i] != "nan") { s += v[i]; n++ }
              if (n) printf fmt, s / n; else printf "nan" }' "$1"
}

n=0
names=() devices=() worlds=() nodes=() strategies=() precisions=() seconds=() rates=() tokrates=()
steps=() losses=() ems=() f1s=() batches=() lrs=() models=() model_keys=() datas=() data_keys=()
for rd in "$@"; do
    info=$(run_info "$rd") || exit 1
    IFS=$'\x1f' read -r name device world node strategy precision secs batch lr model model_key dname data_key <<<"$info"
    split_metrics "$rd" "$n"
    s=$data/steps.$n.tsv
    [ -n "$secs" ] || secs=$(awk -F'\t' 'END { print $8 }' "$s")
    names+=("$name") devices+=("$device") worlds+=("$world") nodes+=("$node")
    strategies+=("$strategy") precisions+=("$precision") seconds+=("${secs:-nan}")
    batches+=("$batch") lrs+=("$lr") models+=("$model") model_keys+=("$model_key")
    datas+=("$dname") data_keys+=("$data_key")
    rates+=("$(mean_rate "$s" 6 %.2f)") tokrates+=("$(mean_rate "$s" 7 %.0f)")
    steps+=("$(awk -F'\t' 'END { print $1 }' "$s")")
    losses+=("$(awk -F'\t' 'END { if ($3 == "nan") print "-"; else printf "%.4f", $3 }' "$s")")
    e=$data/eval.$n.tsv
    ems+=("$(awk -F'\t' 'END { if (NR) printf "%.2f", $3 }' "$e")")
    f1s+=("$(awk -F'\t' 'END { if (NR) printf "%.2f", $4 }' "$e")")
    n=$((n + 1))
done

# Runs are compared only with runs of the same model, data and global batch;
# a run missing any of the three is compared with none.  base[i] is the
# baseline of run i's group, -1 when the run is not compared.
base=()
for ((i = 0; i < n; i++)); do
    base[i]=-1
    [ -n "${model_keys[i]}" ] && [ -n "${data_keys[i]}" ] && [ -n "${batches[i]}" ] || continue
    members=()
    for ((k = 0; k < n; k++)); do
        [ "${model_keys[k]}" = "${model_keys[i]}" ] && [ "${data_keys[k]}" = "${data_keys[i]}" ] &&
            [ "${batches[k]}" = "${batches[i]}" ] && members+=("$k")
    done
    [ ${#members[@]} -ge 2 ] || continue
    base[i]=${members[0]}
    for k in "${members[@]}"; do
        if [ "${worlds[k]}" = 1 ] && [ "${nodes[k]}" = 1 ]; then base[i]=$k; break; fi
    done
done
compared=0
for ((i = 0; i < n; i++)); do [ "${base[i]}" -ge 0 ] && compared=$((compared + 1)); done

speedup() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b }'; }
hms() { awk -v s="$1" 'BEGIN { if (s == "" || s == "nan") { print "-"; exit }
        s = int(s + 0.5); if (s >= 3600) printf "%dh%02dm%02ds", s / 3600, s % 3600 / 60, s % 60;
        else if (s >= 60) printf "%dm%02ds", s / 60, s % 60; else printf "%ds", s }'; }

# gnuplot: one quoted title and data file per run.
gp_titles=()
for ((i = 0; i < n; i++)); do gp_titles+=("$(printf '%s' "${names[i]}" | sed 's/["\\]/\\&/g; s/_/\\\\_/g')"); done
plot_cmd() { # COLUMN-X COLUMN-Y FILE-PREFIX
    local sep="" cmd=""
    for ((i = 0; i < n; i++)); do
        [ -s "$data/$3.$i.tsv" ] || continue
        cmd+="$sep\"$data/$3.$i.tsv\" using $1:$2 with linespoints ls $((i % 8 + 1)) title \"${gp_titles[i]}\""
        sep=", "
    done
    echo "$cmd"
}
gp_common='set terminal pngcairo size 900,540 enhanced font "sans,11"
set grid lc rgb "#dddddd"
set key outside right top box opaque
set datafile separator "\t"
set datafile missing "nan"
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.8
set style line 2 lc rgb "#d62728" lw 2 pt 5 ps 0.8
set style line 3 lc rgb "#2ca02c" lw 2 pt 9 ps 0.8
set style line 4 lc rgb "#9467bd" lw 2 pt 11 ps 0.8
set style line 5 lc rgb "#ff7f0e" lw 2 pt 13 ps 0.8
set style line 6 lc rgb "#8c564b" lw 2 pt 7 ps 0.8
set style line 7 lc rgb "#e377c2" lw 2 pt 5 ps 0.8
set style line 8 lc rgb "#7f7f7f" lw 2 pt 9 ps 0.8'

# gnuplot's warnings (an empty range when a run has one point) are noise;
# its errors are shown when it fails.
gp() { # WHAT, script on stdin
    gnuplot >"$data/gnuplot.log" 2>&1 || die "gnuplot failed on the $1 plot: $(tail -n 3 "$data/gnuplot.log")"
}

pngs=()
gp loss <<EOF
$gp_common
set terminal pngcairo size 900,720 enhanced font "sans,11"
set output "$out/loss.png"
set multiplot layout 2,1 title "Training loss and learning rate"
set ylabel "loss"
unset xlabel
plot $(plot_cmd 1 3 steps)
set ylabel "learning rate"
set xlabel "step"
set format y "%.1e"
plot $(plot_cmd 1 4 steps)
unset multiplot
EOF
pngs+=(loss.png)

gp throughput <<EOF
$gp_common
set output "$out/throughput.png"
set title "Throughput"
set xlabel "step"
set ylabel "samples/s"
set yrange [0:*]
plot $(plot_cmd 1 6 steps)
EOF
pngs+=(throughput.png)

have_eval=0
for ((i = 0; i < n; i++)); do [ -s "$data/eval.$i.tsv" ] && have_eval=1; done
if [ $have_eval = 1 ]; then
    gp F1 <<EOF
$gp_common
set output "$out/f1.png"
set title "Dev F1"
set xlabel "step"
set ylabel "F1"
set offsets graph 0.05, graph 0.05, 0, 0
plot $(plot_cmd 1 4 eval)
EOF
    pngs+=(f1.png)
fi

if [ "$compared" -gt 0 ]; then
    # Speedup of each compared run over its group's baseline, beside the
    # ideal (its process count over the baseline's).
    : >"$data/speedup.tsv"
    for ((i = 0; i < n; i++)); do
        b=${base[i]}
        [ "$b" -ge 0 ] || continue
        ideal=$(awk -v a="${worlds[i]}" -v b="${worlds[b]}" 'BEGIN { printf "%.2f", a / b }')
        printf '%s\t%s\t%s\n' "${gp_titles[i]}" "$(speedup "${rates[i]}" "${rates[b]}")" "$ideal" \
            >>"$data/speedup.tsv"
    done
    gp speedup <<EOF
$gp_common
set output "$out/speedup.png"
set title "Speedup over the first run of the same model, data and global batch (samples/s)"
set ylabel "speedup"
set yrange [0:*]
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics nomirror
plot "$data/speedup.tsv" using 2:xtic(1) title "measured" lc rgb "#1f77b4", \
     "" using 3 title "ideal" lc rgb "#cccccc"
EOF
    pngs+=(speedup.png)
fi

{
    echo "# Training report"
    echo
    echo "Generated by scripts/report.sh on $(date -u '+%Y-%m-%d %H:%M UTC') from: $*."
    echo
    echo "## Settings and results"
    echo
    echo "| run | model | data | global batch | lr | steps | final loss | dev EM | dev F1 |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
    for ((i = 0; i < n; i++)); do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${names[i]}" "${models[i]}" "${datas[i]}" \
            "${batches[i]:--}" "${lrs[i]:--}" "${steps[i]}" "${losses[i]}" "${ems[i]:--}" "${f1s[i]:--}"
    done
    echo
    echo "## Speed"
    echo
    echo "Samples/s is the mean over the logged intervals after the first.  A speedup is"
    echo "computed only between runs of the same model, data and global batch, over the"
    echo "first of them with one process on one node (else the first of them)."
    echo
    echo "| run | device | GPUs / processes | nodes | strategy | precision | training time | samples/s | tokens/s | speedup | over |"
    echo "|---|---|---:|---:|---|---|---:|---:|---:|---:|---|"
    for ((i = 0; i < n; i++)); do
        b=${base[i]} sp=- over=-
        if [ "$b" -ge 0 ]; then sp=$(speedup "${rates[i]}" "${rates[b]}") over=${names[b]}; fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
            "${names[i]}" "${devices[i]}" "${worlds[i]}" "${nodes[i]}" "${strategies[i]}" \
            "${precisions[i]}" "$(hms "${seconds[i]}")" "${rates[i]}" "${tokrates[i]}" "$sp" "$over"
    done
    alone=()
    for ((i = 0; i < n; i++)); do [ "${base[i]}" -ge 0 ] || alone+=("${names[i]}"); done
    if [ "$n" -gt 1 ] && [ ${#alone[@]} -gt 0 ]; then
        echo
        echo "Not compared (no other run of the same model, data and global batch, or one of them unknown):"
        echo "$(printf '%s, ' "${alone[@]}" | sed 's/, $//')."
    fi
    echo
    for p in "${pngs[@]}"; do echo "![${p%.png}]($p)"; echo; done
} >"$out/REPORT.md.tmp"
mv "$out/REPORT.md.tmp" "$out/REPORT.md"
echo "$me: wrote $out/REPORT.md and ${pngs[*]}" >&2
