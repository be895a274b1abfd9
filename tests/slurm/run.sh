#!/usr/bin/env bash
# The Slurm integration test: starts a private one-node Slurm cluster
# (tests/slurm/cluster.sh) and runs slurm/pipeline.sh on a synthetic task with
# the CPU backend.  Checks:
#   1. the chain tokenize -> pack -> train -> eval runs in dependency order and
#      the eval job prints EM/F1;
#   2. a second pipeline run (new run directory) skips tokenize and pack;
#      its train job, sent USR1 mid-run (as Slurm's time-limit warning does),
#      checkpoints, requeues itself, resumes, and ends with a model bitwise
#      identical to the uninterrupted run's;
#   3. a train job cancelled with scancel (TERM, as preemption sends) writes a
#      checkpoint; the same pipeline command again resumes it to the same model;
#   4. a failed stage cancels every stage after it (--kill-on-invalid-dep).
# Everything started is stopped at exit, also on failure.  Exit 77 (skip),
# with the commands and errors, when Slurm cannot run on this machine.
# Run by tests/run.sh when SQ_SLURM_TEST=1, or alone: tests/slurm/run.sh
# (SQ_SLURM_TRAIN_TASKS=N: the train job's tasks [2, or 1 while sq-train cannot
# train distributed]; SQ_SLURM_TRAIN_STEPS=N: its steps [300];
# SQ_SLURM_KEEP=1 keeps the scratch folder with every log).
source "$(dirname "$0")/../lib.sh"
here=$SQ_ROOT/tests/slurm
source "$here/cluster.sh"

cluster=$T/cluster
cleanup() {
    local rc=$?
    slurm_stop "$cluster" || true
    if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -d "$cluster/log" ]; then
        echo "--- slurmctld log (last lines):"; tail -n 20 "$cluster/log/slurmctld.log" 2>/dev/null || true
        for f in "$cluster"/log/slurmd-*.log; do
            echo "--- $(basename "$f") (last lines):"; tail -n 20 "$f" 2>/dev/null || true
        done
    fi
    if [ "${SQ_SLURM_KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # tests/run.sh's timeout: still stop everything

# skip_because WHAT: Slurm cannot run here; says why (WHAT, then the evidence
# collected in $T/why) and exits 77.
skip_because() {
    echo "SKIP: Slurm cannot run in this sandbox: $1"
    cat "$T/why" 2>/dev/null || true
    exit 77
}

for t in sq-tokenize sq-pack sq-train sq-eval; do
    [ -x "$SQ_BIN/$t" ] || skip "$SQ_BIN/$t is not built"
done
command -v sha256sum >/dev/null || skip "needs sha256sum"

slurm_install >"$T/why" 2>&1 || skip_because "could not install slurm-wlm and munge"
slurm_start "$cluster" >"$T/why" 2>&1 || skip_because "could not start a one-node cluster"
echo "cluster up: $(sinfo -h -o '%P %D %T %c CPUs')"

# --- the synthetic task (tests/train/make_synthetic.sh: "the <role> is
# <name> ." among filler sentences, "who is the <role> ?") and a 2-layer,
# hidden-64 BERT trained from scratch
data=$T/data
mkdir -p "$data"
"$SQ_ROOT/tests/train/make_synthetic.sh" 400 1 train >"$data/train.json"
"$SQ_ROOT/tests/train/make_synthetic.sh" 60 2 dev >"$data/dev.json"
cat >"$data/config.json" <<EOF
{"architectures": ["BertForQuestionAnswering"], "model_type": "bert", "vocab_size": $(wc -l <"$VOCAB"),
 "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
 "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
 "max_position_embeddings": 128, "type_vocab_size": 2, "initializer_range": 0.02,
 "layer_norm_eps": 1e-12, "pad_token_id": 0}
EOF
# Two ranks once sq-train can train distributed (--strategy), else one.
if [ -n "${SQ_SLURM_TRAIN_TASKS:-}" ]; then ntasks=$SQ_SLURM_TRAIN_TASKS
elif [[ $("$SQ_BIN/sq-train" --help 2>&1) == *--strategy* ]]; then ntasks=2
else ntasks=1; echo "note: this sq-train has no --strategy (distributed training): the train job runs 1 task"; fi
steps=${SQ_SLURM_TRAIN_STEPS:-300}
pipeline=(bash "$SQ_ROOT/slurm/pipeline.sh" --bin "$SQ_BIN" --vocab "$VOCAB"
          --train "$data/train.json" --dev "$data/dev.json" --config "$data/config.json"
          --max-seq 64 --doc-stride 32 --max-query 16
          --max-steps "$steps" --batch-size 16 --lr 1e-3 --seed 7 --checkpoint-every 20
          --device cpu --train-sbatch "--ntasks=$ntasks" --sbatch "--time=10")

# job_of STAGE FILE: the job id pipeline.sh printed for STAGE.
job_of() { sed -n "s/^$1: job \([0-9]*\).*/\1/p" "$2"; }
field() { slurm_job_field "$@"; }
# wait_all JOBS...: waits for every job to leave the queue.
wait_all() {
    local j
    for j in "$@"; do slurm_wait "$j" 240 || fail "job $j still in the queue after 4 minutes: $(squeue)"; done
}
# expect_state JOB STATE: the job ended in STATE (COMPLETED, CANCELLED, FAILED).
expect_state() {
    local st
    st=$(field "$1" JobState)
    [ "$st" = "$2" ] || fail "job $1 ($(field "$1" JobName)) is $st, wanted $2; log:
$(cat "$(field "$1" StdOut)" 2>/dev/null)"
}
# expect_after JOB DEP: JOB started no earlier than DEP ended.
expect_after() {
    local s e
    s=$(field "$1" StartTime) e=$(field "$2" EndTime)
    [[ ! $s < $e ]] || fail "job $1 started at $s, before job $2 ended at $e"
}

# wait_checkpoint JOB RUNDIR: waits until training is under way (a checkpoint
# exists) and not over (no model yet), so that a signal lands mid-run.
wait_checkpoint() {
    local t0=$SECONDS st
    until [ -n "$(ls -d "$2/checkpoints/step-"* 2>/dev/null)" ]; do
        st=$(field "$1" JobState)
        [ "$st" = RUNNING ] || [ "$st" = PENDING ] ||
            fail "train job $1 is $st: $(cat "$(field "$1" StdOut)" 2>/dev/null)"
        [ $((SECONDS - t0)) -lt 120 ] || fail "no checkpoint in $2 after 2 minutes"
        sleep 0.2
    done
    [ ! -f "$2/model.safetensors" ] || fail "training finished before it could be signalled: raise SQ_SLURM_TRAIN_STEPS"
}

# --- 1. the whole chain, in order
echo "== run 1: the whole chain"
"${pipeline[@]}" --work "$T/work" --run-dir "$T/run1" | tee "$T/p1.out"
for s in tokenize-train tokenize-dev pack-train pack-dev train eval; do
    [ -n "$(job_of $s "$T/p1.out")" ] || fail "run 1 did not submit $s"
done
tt=$(job_of tokenize-train "$T/p1.out") td=$(job_of tokenize-dev "$T/p1.out")
pt=$(job_of pack-train "$T/p1.out") pd=$(job_of pack-dev "$T/p1.out")
tr=$(job_of train "$T/p1.out") ev=$(job_of eval "$T/p1.out")
t0=$SECONDS
wait_all "$tt" "$td" "$pt" "$pd" "$tr" "$ev"
echo "run 1 took $((SECONDS - t0)) s"
for j in "$tt" "$td" "$pt" "$pd" "$tr" "$ev"; do expect_state "$j" COMPLETED; done
expect_after "$pt" "$tt"
expect_after "$pd" "$td"
expect_after "$tr" "$pt"
expect_after "$ev" "$tr"
expect_after "$ev" "$pd"
[ "$(field "$tr" NumTasks)" = "$ntasks" ] || fail "train job ran $(field "$tr" NumTasks) tasks, wanted $ntasks"
grep -Eq '"(exact_match|exact)": *[0-9.]+.*"f1": *[0-9.]+' "$T/work/logs/sq-eval-$ev.out" ||
    fail "the eval log shows no EM/F1: $(cat "$T/work/logs/sq-eval-$ev.out")"
echo "run 1 scores: $(cat "$T/run1/dev-eval.json")"
[ -f "$T/run1/model.safetensors" ] || fail "run 1 wrote no model"

# --- 2. preprocessing reused; a USR1 mid-training requeues and resumes
echo "== run 2: reuse, and a warning signal during training"
"${pipeline[@]}" --work "$T/work" --run-dir "$T/run2" | tee "$T/p2.out"
for s in tokenize-train tokenize-dev pack-train pack-dev; do
    grep -q "^$s: up to date, skipped" "$T/p2.out" || fail "run 2 did not skip $s"
done
tr2=$(job_of train "$T/p2.out") ev2=$(job_of eval "$T/p2.out")
{ [ -n "$tr2" ] && [ -n "$ev2" ]; } || fail "run 2 did not submit train and eval"
wait_checkpoint "$tr2" "$T/run2"
scancel --batch --signal=USR1 "$tr2"
echo "sent USR1 to train job $tr2"
# Slurm holds a requeued job back for two minutes; let it start at once.
t0=$SECONDS
until [ "$(field "$tr2" Restarts)" = 1 ] && [ "$(field "$tr2" JobState)" = PENDING ]; do
    st=$(field "$tr2" JobState)
    [ "$st" = COMPLETED ] && fail "train job $tr2 completed without a requeue: $(cat "$T/work/logs/sq-train-$tr2.out")"
    [ "$st" = RUNNING ] || [ "$st" = PENDING ] || [ "$st" = REQUEUED ] || [ "$st" = COMPLETING ] ||
        fail "train job $tr2 is $st after USR1: $(cat "$T/work/logs/sq-train-$tr2.out")"
    [ $((SECONDS - t0)) -lt 60 ] || fail "train job $tr2 was not requeued within 60 s of USR1"
    sleep 0.2
done
# ... once the interrupted run's job steps are gone, or the new run's step
# finds the old one's sockets still in use.
until slurm_no_steps "$cluster"; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "job steps still alive 60 s after the requeue: $(ps -o pid,args -p "$(_cluster_pids "$cluster" | paste -sd,)")"
    sleep 0.2
done
scontrol update JobId="$tr2" StartTime=now
wait_all "$tr2" "$ev2"
expect_state "$tr2" COMPLETED
expect_state "$ev2" COMPLETED
[ "$(field "$tr2" Restarts)" = 1 ] || fail "train job $tr2 restarted $(field "$tr2" Restarts) times, wanted 1"
grep -q "requeueing job $tr2" "$T/work/logs/sq-train-$tr2.out" || fail "train log does not show the requeue"
grep -q -- "--resume" "$T/work/logs/sq-train-$tr2.out" || fail "the requeued job did not resume"
h1=$(sha256sum <"$T/run1/model.safetensors") h2=$(sha256sum <"$T/run2/model.safetensors")
[ "$h1" = "$h2" ] || fail "the interrupted run's model differs from the uninterrupted one's"
cmp -s "$T/run1/dev-eval.json" "$T/run2/dev-eval.json" || fail "the two runs' scores differ"
echo "requeued run ended with the same model (sha256 ${h1%% *})"

# --- 3. a cancelled (TERM) train job checkpoints; the same pipeline again resumes it
echo "== run 3: scancel during training, then the pipeline again"
"${pipeline[@]}" --work "$T/work" --run-dir "$T/run3" | tee "$T/p3.out"
tr3=$(job_of train "$T/p3.out") ev3=$(job_of eval "$T/p3.out")
wait_checkpoint "$tr3" "$T/run3"
scancel "$tr3"
wait_all "$tr3" "$ev3"
expect_state "$tr3" CANCELLED
expect_state "$ev3" CANCELLED
grep -q "checkpoint at step" "$T/work/logs/sq-train-$tr3.out" || fail "sq-train wrote no checkpoint on TERM"
"${pipeline[@]}" --work "$T/work" --run-dir "$T/run3" | tee "$T/p3b.out"
tr3=$(job_of train "$T/p3b.out") ev3=$(job_of eval "$T/p3b.out")
wait_all "$tr3" "$ev3"
expect_state "$tr3" COMPLETED
expect_state "$ev3" COMPLETED
grep -q -- "--resume" "$T/work/logs/sq-train-$tr3.out" || fail "the second train job did not resume"
[ "$(sha256sum <"$T/run3/model.safetensors")" = "$h1" ] || fail "the resumed run's model differs from the uninterrupted one's"
echo "cancelled and resubmitted run ended with the same model"

# --- 4. a failed stage cancels the rest
echo "== run 4: a failing stage"
mkdir -p "$T/bad"
printf '{"version": "1.1", "data": [' >"$T/bad/train.json"
"${pipeline[@]}" --work "$T/work-bad" --run-dir "$T/run4" --train "$T/bad/train.json" | tee "$T/p4.out"
tt4=$(job_of tokenize-train "$T/p4.out") pt4=$(job_of pack-train "$T/p4.out")
tr4=$(job_of train "$T/p4.out") ev4=$(job_of eval "$T/p4.out")
wait_all "$tt4" "$pt4" "$tr4" "$ev4"
expect_state "$tt4" FAILED
for j in "$pt4" "$tr4" "$ev4"; do expect_state "$j" CANCELLED; done
[ ! -e "$T/run4" ] || fail "a cancelled train job left $T/run4"
echo "ok: chain in order, reuse, requeue and resubmission with an identical model, failure cancels the rest"
