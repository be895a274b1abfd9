#!/usr/bin/env bash
# Submits the sq chain to Slurm: tokenize -> pack -> train -> eval, each stage
# a batch job that starts only when the ones it needs succeeded
# (--dependency=afterok, and --kill-on-invalid-dep=yes so a failed stage
# cancels everything after it).  Stages whose outputs are up to date are not
# submitted, so one set of preprocessed features serves many training runs.
# See slurm/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    cat <<EOF
usage: slurm/pipeline.sh --train TRAIN.json --run-dir RUNDIR (--config FILE | --init FILE)
                         [--dev DEV.json] [options]
       slurm/pipeline.sh --prep-only --train TRAIN.json [--dev DEV.json] [data and Slurm options]
Data:
  --train FILE         SQuAD training set
  --dev FILE           SQuAD dev set: scored by the eval stage (no eval without it)
  --work DIR           tokens, features and job logs [./sq-work]
  --vocab FILE         WordPiece vocabulary [$(realpath -m "$here/../data/vocab.txt")]
  --cased              the vocabulary is cased
  --max-seq N          tokens per feature [384]
  --doc-stride N       overlap of a context's windows [128]
  --max-query N        longest question kept [64]
  --force              tokenize and pack again even when up to date
  --prep-only          only tokenize and pack; then print "features-train: DIR (after JOB)"
                       (or "(ready)"), the same for dev (slurm/study.sh builds on it)
Training (unset: sq-train's defaults):
  --run-dir DIR        where sq-train writes the model, checkpoints and metrics
  --config FILE        model config.json to train from scratch
  --init FILE          weights to start from
  --epochs N  --max-steps N  --batch-size N (global)  --lr X  --seed N
  --checkpoint-every N
  --strategy S         single, ddp, zero1, zero2 or fsdp [single for one task, else ddp]
  --device D           cpu or cuda [cuda when the job has GPUs]
  --comm C             nccl or mpi
  --eval-each-epoch    score the dev set after every epoch too (--eval-data)
  --train-args "ARGS"  more sq-train options
Slurm:
  --sbatch "OPTS"        sbatch options for every stage (--partition, --account, ...)
  --prep-sbatch "OPTS"   for tokenize and pack (--cpus-per-task, --time, ...)
  --train-sbatch "OPTS"  for train (--nodes, --ntasks-per-node, --gpus-per-node, --time, ...)
  --eval-sbatch "OPTS"   for eval
Other:
  --bin DIR            the sq-* tools [$(realpath -m "$here/../bin")]
  --dry-run            print the sbatch commands instead of running them
  -h, --help           this text
Prints one line per stage: "STAGE: job ID (after IDS), log FILE" or "STAGE: up to date, skipped".
EOF
}

die() { echo "pipeline.sh: error: $*" >&2; exit 1; }
die_usage() { echo "pipeline.sh: error: $*" >&2; echo "Try 'slurm/pipeline.sh --help'." >&2; exit 2; }

train_json="" dev_json="" work=sq-work vocab=$here/../data/vocab.txt cased=0
max_seq=384 doc_stride=128 max_query=64 force=0
run_dir="" config="" init="" eval_each_epoch=0 dry_run=0 prep_only=0 bin=$here/../bin
sb_all="" sb_prep="" sb_train="" sb_eval=""
declare -A train_env=()

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift; set -- "$opt" "$val" "$@" ;;
    esac
    case $opt in
    -h|--help) usage; exit 0 ;;
    --cased) cased=1; shift; continue ;;
    --force) force=1; shift; continue ;;
    --prep-only) prep_only=1; shift; continue ;;
    --eval-each-epoch) eval_each_epoch=1; shift; continue ;;
    --dry-run) dry_run=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || die_usage "$opt needs a value"
    val=$2
    case $opt in
    --train) train_json=$val ;;
    --dev) dev_json=$val ;;
    --work) work=$val ;;
    --vocab) vocab=$val ;;
    --max-seq) max_seq=$val ;;
    --doc-stride) doc_stride=$val ;;
    --max-query) max_query=$val ;;
    --run-dir) run_dir=$val ;;
    --config) config=$val ;;
    --init) init=$val ;;
    --epochs) train_env[SQ_EPOCHS]=$val ;;
    --max-steps) train_env[SQ_MAX_STEPS]=$val ;;
    --batch-size) train_env[SQ_BATCH_SIZE]=$val ;;
    --lr) train_env[SQ_LR]=$val ;;
    --seed) train_env[SQ_SEED]=$val ;;
    --checkpoint-every) train_env[SQ_CHECKPOINT_EVERY]=$val ;;
    --strategy) train_env[SQ_STRATEGY]=$val ;;
    --device) train_env[SQ_DEVICE]=$val ;;
    --comm) train_env[SQ_COMM]=$val ;;
    --train-args) train_env[SQ_TRAIN_ARGS]=$val ;;
    --sbatch) sb_all=$val ;;
    --prep-sbatch) sb_prep=$val ;;
    --train-sbatch) sb_train=$val ;;
    --eval-sbatch) sb_eval=$val ;;
    --bin) bin=$val ;;
    *) die_usage "unknown option $opt" ;;
    esac
    shift 2
done

[ -n "$train_json" ] || die_usage "--train is required"
if [ "$prep_only" = 0 ]; then
    [ -n "$run_dir" ] || die_usage "--run-dir is required"
    [ -n "$config" ] || [ -n "$init" ] || die_usage "--config or --init is required"
fi
[ -z "$config" ] || [ -z "$init" ] || die_usage "--config and --init exclude each other"
for n in "$max_seq" "$doc_stride" "$max_query"; do
    [[ $n =~ ^[0-9]+$ ]] || die_usage "--max-seq, --doc-stride and --max-query take whole numbers, not '$n'"
done
for f in "$train_json" ${dev_json:+"$dev_json"} "$vocab" ${config:+"$config"} ${init:+"$init"}; do
    [ -f "$f" ] || die "$f: no such file"
done
for t in sq-tokenize sq-pack sq-train sq-eval; do
    [ -x "$bin/$t" ] || die "$bin/$t: not found (build it with make, or give --bin)"
done
[ "$dry_run" = 1 ] || command -v sbatch >/dev/null || die "sbatch: not found (is this a Slurm login node?)"

# Jobs may start in another directory: every path they get is absolute.
abs() { realpath -m "$1"; }
train_json=$(abs "$train_json"); work=$(abs "$work"); vocab=$(abs "$vocab")
[ -z "$run_dir" ] || run_dir=$(abs "$run_dir")
bin=$(abs "$bin")
[ -z "$dev_json" ] || dev_json=$(abs "$dev_json")
[ -z "$config" ] || config=$(abs "$config")
[ -z "$init" ] || init=$(abs "$init")
logs=$work/logs
[ "$dry_run" = 1 ] || mkdir -p "$logs"

export SQ_BIN=$bin SQ_VOCAB=$vocab SQ_CASED=$cased
export SQ_MAX_SEQ=$max_seq SQ_DOC_STRIDE=$doc_stride SQ_MAX_QUERY=$max_query
for k in "${!train_env[@]}"; do export "$k=${train_env[$k]}"; done
if [ -n "$config" ]; then export SQ_CONFIG=$config; unset SQ_INIT; else export SQ_INIT=$init; unset SQ_CONFIG; fi
unset SQ_EVAL_DATA SQ_EVAL_DATASET SQ_PACK_FORCE

# deps JOB...: the non-empty job ids, each once, colon-separated.
deps() {
    local out="" j
    for j in "$@"; do
        [ -n "$j" ] && [[ :$out: != *:$j:* ]] && out=${out:+$out:}$j
    done
    echo "$out"
}

# submit STAGE DEPS SBATCH_OPTS SCRIPT ARGS...: submits one stage, after the
# jobs in DEPS (from deps(), may be empty); sets $job.
submit() {
    local stage=$1 deps=$2 extra=$3
    shift 3
    local opts=(--parsable --job-name="sq-$stage" --output="$logs/sq-$stage-%j.out")
    [ -z "$deps" ] || opts+=(--dependency="afterok:$deps" --kill-on-invalid-dep=yes)
    local more
    read -r -a more <<<"$sb_all $extra"
    opts+=("${more[@]}")
    if [ "$dry_run" = 1 ]; then
        job=$stage
        echo "+ sbatch ${opts[*]} $*"
    else
        job=$(sbatch "${opts[@]}" "$@") || die "sbatch for $stage failed (see above)"
        job=${job%%;*}
    fi
    echo "$stage: job $job${deps:+ (after ${deps//:/, })}, log $logs/sq-$stage-$job.out"
}

# A features directory is up to date when its manifest records the tokens
# file's sha256 and the same options.  The manifest is read with jq, or
# python3 when jq is missing; with neither, it never is.
pack_up_to_date() {
    local sqt=$1 dir=$2 want have
    [ -f "$dir/manifest.json" ] || return 1
    want="$(sha256sum "$sqt" | cut -d' ' -f1) $max_seq $doc_stride $max_query"
    if command -v jq >/dev/null; then
        have=$(jq -r '"\(.input.sha256) \(.options.max_seq) \(.options.doc_stride) \(.options.max_query)"' "$dir/manifest.json" 2>/dev/null) || return 1
    elif command -v python3 >/dev/null; then
        have=$(python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
o = m["options"]
print(m["input"]["sha256"], o["max_seq"], o["doc_stride"], o["max_query"])' "$dir/manifest.json" 2>/dev/null) || return 1
    else
        return 1
    fi
    [ "$have" = "$want" ]
}

# prepare NAME JSON: tokenize and pack one SQuAD file unless up to date; sets
# $feat (the features directory) and $pack_job (empty when nothing to wait for).
# Tokens files are named for what they are made of (the SQuAD file, the
# vocabulary, the casing), so a changed input never passes for an old one.
declare -A submitted=()
prepare() {
    local name=$1 json=$2 base key
    base=$(basename "$json" .json)
    key=$({ sha256sum <"$json"; sha256sum <"$vocab"; echo "cased=$cased"; } | sha256sum | cut -c1-12)
    local sqt=$work/$base.$key.sqt
    feat=$work/$base.$key.f$max_seq-$doc_stride-$max_query
    if [ -n "${submitted[$feat]+set}" ]; then    # the train set again
        pack_job=${submitted[$feat]}
        echo "tokenize-$name, pack-$name: as for the same file above"
        return
    fi
    pack_job=""
    local tok_job=""
    if [ "$force" = 0 ] && [ -s "$sqt" ] && [ "$sqt" -nt "$json" ]; then
        echo "tokenize-$name: up to date, skipped ($sqt)"
    else
        submit "tokenize-$name" "" "$sb_prep" "$here/tokenize.sbatch" "$json" "$sqt"
        tok_job=$job
    fi
    if [ -z "$tok_job" ] && [ "$force" = 0 ] && pack_up_to_date "$sqt" "$feat"; then
        echo "pack-$name: up to date, skipped ($feat)"
    else
        # This directory belongs to the pipeline: rebuild it whatever it holds.
        SQ_PACK_FORCE=1 submit "pack-$name" "$tok_job" "$sb_prep" "$here/pack.sbatch" "$sqt" "$feat"
        pack_job=$job
    fi
    submitted[$feat]=$pack_job
}

prepare train "$train_json"
train_feat=$feat train_pack=$pack_job
dev_feat="" dev_pack=""
if [ -n "$dev_json" ]; then
    prepare dev "$dev_json"
    dev_feat=$feat dev_pack=$pack_job
fi

if [ "$prep_only" = 1 ]; then
    when() { if [ -n "$1" ]; then echo "after $1"; else echo ready; fi; }
    echo "features-train: $train_feat ($(when "$train_pack"))"
    [ -z "$dev_json" ] || echo "features-dev: $dev_feat ($(when "$dev_pack"))"
    exit 0
fi

train_job=""
if [ -f "$run_dir/model.safetensors" ]; then
    echo "train: $run_dir/model.safetensors exists, skipped"
else
    if [ "$eval_each_epoch" = 1 ] && [ -n "$dev_feat" ]; then
        SQ_EVAL_DATA=$dev_feat SQ_EVAL_DATASET=$dev_json submit train "$(deps "$train_pack" "$dev_pack")" \
            "$sb_train" "$here/train.sbatch" "$train_feat" "$run_dir"
    else
        submit train "$train_pack" "$sb_train" "$here/train.sbatch" "$train_feat" "$run_dir"
    fi
    train_job=$job
fi

if [ -n "$dev_json" ]; then
    submit eval "$(deps "$train_job" "$dev_pack")" "$sb_eval" "$here/eval.sbatch" "$dev_json" "$dev_feat" "$run_dir"
    echo "scores: $run_dir/dev-eval.json when job $job is done"
fi
