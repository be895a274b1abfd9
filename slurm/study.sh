#!/usr/bin/env bash
# The course's study as one command: tokenize and pack once (reused when up
# to date), then a baseline on one task and each strategy (ddp, zero1, zero2,
# fsdp) on N nodes x G tasks per node, all with the same global batch, seed
# and steps and with --profile, each evaluated on the dev set, then one
# report job that runs after all of them, whatever became of them, and writes
# OUT/STUDY.md (a row per run: time, speedup, samples/s, memory per rank,
# communication per step, EM/F1, or why it failed; each run's profile; the
# plots of scripts/report.sh).  See slurm/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    cat <<EOF
usage: slurm/study.sh --train TRAIN.json --dev DEV.json (--config FILE | --init FILE) --out DIR [options]
Data (as slurm/pipeline.sh; tokenize and pack are skipped when up to date):
  --train FILE  --dev FILE  --work DIR [./sq-work]  --vocab FILE  --cased
  --max-seq N [384]  --doc-stride N [128]  --max-query N [64]  --force
The runs:
  --out DIR            the study: DIR/<run>/ (each run's RUNDIR), DIR/logs/, DIR/STUDY.md
  --config FILE        model config.json to train from scratch, or
  --init FILE          weights to start from
  --nodes N            nodes of each strategy's run [2]
  --tasks-per-node G   tasks (GPUs, or CPU ranks) per node [2]
  --device D           cuda (one GPU per task: --gpus-per-node=G) or cpu [cuda]
  --strategies "S..."  the strategies to compare with the baseline [ddp zero1 zero2 fsdp]
  --epochs N  --max-steps N  --batch-size N (global, the same for every run)  --lr X
  --seed N             the same for every run [sq-train's]
  --checkpoint-every N
  --comm C             nccl or mpi [sq-train's: nccl on cuda, mpi on cpu]
  --profile STEPS      steps each run's --profile records [5]
  --train-args "ARGS"  more sq-train options, for every run
  --concurrent         let Slurm run the runs side by side; by default each run's
                       training starts after the previous run (and its eval) ended,
                       so the runs do not compete for nodes, network or filesystem
Slurm:
  --sbatch "OPTS"        sbatch options for every job (--partition, --account, ...)
  --prep-sbatch "OPTS"   for tokenize and pack
  --train-sbatch "OPTS"  for every training job (--cpus-per-task, --time, --exclusive, ...)
  --eval-sbatch "OPTS"   for the eval jobs
  --report-sbatch "OPTS" for the report job
Other:
  --bin DIR            the sq-* tools [$(realpath -m "$here/../bin")]
  --dry-run            print the sbatch commands instead of running them
  -h, --help           this text
Prints one line per job; the report job writes DIR/STUDY.md and DIR/study.json.
EOF
}

die() { echo "study.sh: error: $*" >&2; exit 1; }
die_usage() { echo "study.sh: error: $*" >&2; echo "Try 'slurm/study.sh --help'." >&2; exit 2; }

train_json="" dev_json="" out="" config="" init="" work=sq-work bin=$here/../bin
nodes=2 tpn=2 device=cuda strategies="ddp zero1 zero2 fsdp" profile=5 concurrent=0 dry_run=0
sb_all="" sb_train="" sb_eval="" sb_report=""
prep=()          # options passed on to pipeline.sh --prep-only
declare -A env=() # SQ_* settings of train.sbatch
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift; set -- "$opt" "$val" "$@" ;;
    esac
    case $opt in
    -h|--help) usage; exit 0 ;;
    --cased|--force) prep+=("$opt"); shift; continue ;;
    --concurrent) concurrent=1; shift; continue ;;
    --dry-run) dry_run=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || die_usage "$opt needs a value"
    val=$2
    case $opt in
    --train) train_json=$val ;;
    --dev) dev_json=$val ;;
    --work) work=$val ;;
    --vocab|--max-seq|--doc-stride|--max-query|--prep-sbatch) prep+=("$opt" "$val") ;;
    --out) out=$val ;;
    --config) config=$val ;;
    --init) init=$val ;;
    --nodes) nodes=$val ;;
    --tasks-per-node) tpn=$val ;;
    --device) device=$val ;;
    --strategies) strategies=${val//,/ } ;;
    --epochs) env[SQ_EPOCHS]=$val ;;
    --max-steps) env[SQ_MAX_STEPS]=$val ;;
    --batch-size) env[SQ_BATCH_SIZE]=$val ;;
    --lr) env[SQ_LR]=$val ;;
    --seed) env[SQ_SEED]=$val ;;
    --checkpoint-every) env[SQ_CHECKPOINT_EVERY]=$val ;;
    --comm) env[SQ_COMM]=$val ;;
    --profile) profile=$val ;;
    --train-args) env[SQ_TRAIN_ARGS]=$val ;;
    --sbatch) sb_all=$val ;;
    --train-sbatch) sb_train=$val ;;
    --eval-sbatch) sb_eval=$val ;;
    --report-sbatch) sb_report=$val ;;
    --bin) bin=$val ;;
    *) die_usage "unknown option $opt" ;;
    esac
    shift 2
done

[ -n "$train_json" ] || die_usage "--train is required"
[ -n "$dev_json" ] || die_usage "--dev is required (every run is evaluated)"
[ -n "$out" ] || die_usage "--out is required"
[ -n "$config" ] || [ -n "$init" ] || die_usage "--config or --init is required"
[ -z "$config" ] || [ -z "$init" ] || die_usage "--config and --init exclude each other"
for n in "$nodes" "$tpn" "$profile"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die_usage "--nodes, --tasks-per-node and --profile take positive whole numbers, not '$n'"
done
[ "$device" = cuda ] || [ "$device" = cpu ] || die_usage "--device: '$device' is not cuda or cpu"
[ $((nodes * tpn)) -gt 1 ] || die_usage "--nodes $nodes x --tasks-per-node $tpn is one task: nothing to compare with the baseline"
for s in $strategies; do
    case $s in ddp|zero1|zero2|fsdp) ;; *) die_usage "--strategies: '$s' is not ddp, zero1, zero2 or fsdp" ;; esac
done
[ -n "$strategies" ] || die_usage "--strategies is empty"
for f in ${config:+"$config"} ${init:+"$init"}; do [ -f "$f" ] || die "$f: no such file"; done
[ -x "$here/study-report.sh" ] || die "$here/study-report.sh: missing or not executable"
[ "$dry_run" = 1 ] || command -v sbatch >/dev/null || die "sbatch: not found (is this a Slurm login node?)"

abs() { realpath -m "$1"; }
out=$(abs "$out"); bin=$(abs "$bin"); dev_json=$(abs "$dev_json")
[ -z "$config" ] || config=$(abs "$config")
[ -z "$init" ] || init=$(abs "$init")
logs=$out/logs

# Tokenize and pack, once: pipeline.sh submits what is not up to date and
# says where the features are and which job makes them.
[ "$dry_run" = 0 ] || prep+=(--dry-run)
[ -z "$sb_all" ] || prep+=(--sbatch "$sb_all")
prep_out=$(bash "$here/pipeline.sh" --prep-only --train "$train_json" --dev "$dev_json" --work "$work" \
           --bin "$bin" "${prep[@]}") || die "preparing the data failed (see above)"
grep -v '^features-' <<<"$prep_out" || true
# features NAME: sets feat (the features directory) and pack (the job that
# makes it; empty when it is ready) from pipeline.sh's "features-NAME: DIR
# (after JOB)" or "(ready)".
features() {
    local line
    line=$(sed -n "s/^features-$1: //p" <<<"$prep_out")
    [ -n "$line" ] || die "pipeline.sh --prep-only printed no features-$1 line"
    feat=${line% (*}
    pack=${line##* (}
    pack=${pack%)}
    pack=${pack#after }
    [ "$pack" != ready ] || pack=""
}
features train
train_feat=$feat train_pack=$pack
features dev
dev_feat=$feat dev_pack=$pack
[ "$dry_run" = 1 ] || mkdir -p "$logs"

SQ_REPORT_SH=$(cd "$here/.." && pwd)/scripts/report.sh
export SQ_BIN=$bin SQ_DEVICE=$device SQ_REPORT_SH
for k in "${!env[@]}"; do export "$k=${env[$k]}"; done
if [ -n "$config" ]; then export SQ_CONFIG=$config; unset SQ_INIT; else export SQ_INIT=$init; unset SQ_CONFIG; fi
export SQ_TRAIN_ARGS="--profile=$profile${SQ_TRAIN_ARGS:+ $SQ_TRAIN_ARGS}"
unset SQ_EVAL_DATA SQ_EVAL_DATASET SQ_SRUN_MPI
# The jobs take their settings from these (sbatch passes the environment on).
[ "$dry_run" = 0 ] || env | grep '^SQ_' | sort | sed 's/^/+ export /'

# submit NAME LOG DEPS SBATCH_OPTS SCRIPT ARGS...: sets $job; DEPS is a
# --dependency value or empty.
submit() {
    local name=$1 log=$2 deps=$3 extra=$4
    shift 4
    local opts=(--parsable --job-name="sq-study-$name" --output="$log")
    [ -z "$deps" ] || opts+=(--dependency="$deps")
    local more
    read -r -a more <<<"$sb_all $extra"
    opts+=("${more[@]}")
    if [ "$dry_run" = 1 ]; then
        job=$name
        echo "+ ${SQ_STRATEGY:+SQ_STRATEGY=$SQ_STRATEGY }sbatch ${opts[*]} $*"
    else
        job=$(sbatch "${opts[@]}" "$@") || die "sbatch for $name failed (see above)"
        job=${job%%;*}
    fi
}
# dep TYPE JOB...: "TYPE:j1:j2" over the non-empty ids, or nothing.
dep() {
    local type=$1 ids="" j
    shift
    for j in "$@"; do [ -z "$j" ] || ids+=":$j"; done
    [ -z "$ids" ] || echo "$type$ids"
}
# human DEPS: "afterok:3,afterany:6:7" -> "3 succeeded; 6, 7 ended".
human() { sed -e 's/afterok:\([0-9a-z:-]*\)/\1 succeeded/; s/afterany:\([0-9a-z:-]*\)/\1 ended/' -e 's/,/; /g; s/:/, /g' <<<"$1"; }
joindeps() { local IFS=,; local a=() d; for d in "$@"; do [ -z "$d" ] || a+=("$d"); done; echo "${a[*]}"; }

if [ "$device" = cuda ]; then
    base_res="--nodes=1 --ntasks=1 --gpus-per-node=1"
    dist_res="--nodes=$nodes --ntasks-per-node=$tpn --gpus-per-node=$tpn"
    eval_res="--gpus=1"
else
    base_res="--nodes=1 --ntasks=1"
    dist_res="--nodes=$nodes --ntasks-per-node=$tpn"
    eval_res=""
fi

[ "$dry_run" = 1 ] || {
    mkdir -p "$out"
    {
        printf 'device\t%s\nnodes\t%s\ntasks_per_node\t%s\nstrategies\t%s\nprofile\t%s\n' \
            "$device" "$nodes" "$tpn" "$strategies" "$profile"
        printf 'train\t%s\ndev\t%s\ntrain_features\t%s\ndev_features\t%s\nmodel\t%s\n' \
            "$(abs "$train_json")" "$dev_json" "$train_feat" "$dev_feat" "${config:-$init}"
        printf 'submitted\t%s\n' "$(date -u +%FT%TZ)"
    } >"$out/settings.tsv"
    printf 'name\tstrategy\tnodes\ttasks_per_node\ttrain_job\teval_job\trundir\ttrain_log\teval_log\n' >"$out/runs.tsv"
}

all=() prev=()
for name in baseline $strategies; do
    if [ "$name" = baseline ]; then strategy=single res=$base_res n=1 g=1
    else strategy=$name res=$dist_res n=$nodes g=$tpn; fi
    rundir=$out/$name
    after=$(dep afterok "$train_pack")
    [ "$concurrent" = 1 ] || after=$(joindeps "$after" "$(dep afterany "${prev[@]}")")
    SQ_STRATEGY=$strategy submit "$name" "$logs/train-$name-%j.out" "$after" "$res $sb_train" \
        ${after:+--kill-on-invalid-dep=yes} "$here/train.sbatch" "$train_feat" "$rundir"
    tjob=$job
    echo "$name: train job $tjob ($strategy on $n x $g${after:+, after $(human "$after")}), log $logs/train-$name-$tjob.out"
    submit "$name-eval" "$logs/eval-$name-%j.out" "$(dep afterok "$tjob" "$dev_pack")" "$eval_res $sb_eval" \
        --kill-on-invalid-dep=yes "$here/eval.sbatch" "$dev_json" "$dev_feat" "$rundir"
    ejob=$job
    echo "$name: eval job $ejob (after $tjob), log $logs/eval-$name-$ejob.out"
    [ "$dry_run" = 1 ] ||
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$strategy" "$n" "$g" "$tjob" "$ejob" "$rundir" \
            "$logs/train-$name-$tjob.out" "$logs/eval-$name-$ejob.out" >>"$out/runs.tsv"
    all+=("$tjob" "$ejob")
    prev=("$tjob" "$ejob")
done

# afterany: the report runs whatever became of the runs, so a failed one is a
# row that says why.
submit report "$logs/report-%j.out" "$(dep afterany "${all[@]}")" "--ntasks=1 $sb_report" \
    "$here/study-report.sh" "$out"
echo "report: job $job (after all of them), writes $out/STUDY.md"
