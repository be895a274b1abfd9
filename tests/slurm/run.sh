#!/usr/bin/env bash
# The Slurm integration test: starts a private Slurm cluster of two nodes,
# each a network namespace with its own hostname, address and slurmd
# (tests/slurm/cluster.sh --nodes 2; SQ_SLURM_NODES=1: one node, as before),
# and runs slurm/pipeline.sh and slurm/study.sh on a synthetic task with the
# CPU backend.  Checks:
#   1. the chain tokenize -> pack -> train -> eval runs in dependency order and
#      the eval job prints EM/F1;
#   2. a second pipeline run (new run directory) skips tokenize and pack;
#      its train job, sent USR1 mid-run (as Slurm's time-limit warning does),
#      checkpoints, requeues itself, resumes, and ends with a model bitwise
#      identical to the uninterrupted run's;
#   3. a train job cancelled with scancel (TERM, as preemption sends) writes a
#      checkpoint; the same pipeline command again resumes it to the same model;
#   4. a failed stage cancels every stage after it (--kill-on-invalid-dep).
# With two nodes (the train jobs of 1-3 then run one task on each), also:
#   5. slurm/study.sh --nodes 2 --tasks-per-node 2: every job completes, one
#      run after another; STUDY.md and study.json have a row per run with its
#      numbers and profile; every strategy's model is within 1e-5 relative of
#      the baseline's; the nodes' veth links carried at least the bytes the
#      communication layer counted (so MPI went over them, not shared memory);
#   6. faults, on a link shaped to 200 Mbit/s so that a step lasts about a
#      second: ranks 0-1 run in node 1's namespace and 2-3 in node 2's; the
#      ranks of node 2 killed mid-step -> every rank gone within 30 s, the job
#      FAILED and the study's report says why; a requeue resumes from the last
#      sharded checkpoint (written by ranks of both nodes) and ends bitwise
#      equal to the uninterrupted zero2 run of 5;
#   7. a path only one node can see: a zero2 run whose RUNDIR is node-local
#      (CLUSTER/local, a tmpfs of each node's own) fails at once with an error
#      naming the path.  CPU ranks talk through MPI, which srun's pmix plugin
#      wires up: sq-train reads no rendezvous file then (--rendezvous carries
#      NCCL's id, GPU only; its "rank 0 did not write it" error is tested by
#      tests/train/test_launch), so the shared path CPU ranks need is RUNDIR.
# Everything started is stopped at exit, also on failure, and the test fails
# if a daemon, job process, namespace, veth or bridge is left.  Exit 77
# (skip), with the commands and errors, when Slurm cannot run on this machine
# (two nodes need root: network namespaces).
# Run by tests/run.sh when SQ_SLURM_TEST=1, or alone: tests/slurm/run.sh
# (SQ_SLURM_NODES=1|2 [2]; SQ_SLURM_TRAIN_TASKS=N: the train job's tasks in
# 1-3 [2, or 1 while sq-train cannot train distributed]; SQ_SLURM_TRAIN_STEPS=N:
# their steps [300]; SQ_SLURM_KEEP=1 keeps the scratch folder with every log).
source "$(dirname "$0")/../lib.sh"
here=$SQ_ROOT/tests/slurm
source "$here/cluster.sh"

cluster=$T/cluster
nodes=${SQ_SLURM_NODES:-2}
[[ $nodes =~ ^[12]$ ]] || fail "SQ_SLURM_NODES=$nodes: 1 or 2"
cleanup() {
    local rc=$? left
    slurm_stop "$cluster" || true
    left=$(slurm_leftovers "$cluster")
    if [ -n "$left" ]; then
        echo "FAIL: left after stopping the cluster: $left"
        [ "$rc" != 0 ] && [ "$rc" != 77 ] || rc=1
    fi
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
if [ "$nodes" = 2 ]; then
    for t in jq python3 ip; do command -v "$t" >/dev/null || skip "two nodes need $t"; done
fi

slurm_install >"$T/why" 2>&1 || skip_because "could not install slurm-wlm and munge"
if [ "$nodes" = 2 ] && [ "$(id -u)" != 0 ]; then
    skip "two nodes need root (network namespaces); SQ_SLURM_NODES=1 runs the one-node checks"
fi
slurm_start "$cluster" "$nodes" >"$T/why" 2>&1 || skip_because "could not start a $nodes-node cluster"
# shellcheck disable=SC1091  # written by slurm_start: SLURM_CONF, Open MPI's TCP subnet
source "$cluster/env"
echo "cluster up: $(sinfo -h -N -o '%N %T %c CPUs' | paste -sd,)"

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
place="--ntasks=$ntasks"
# Two nodes: one task on each, so the signals of 2 and 3 reach ranks on both.
[ "$nodes" = 2 ] && [ "$ntasks" = 2 ] && place="--nodes=2 --ntasks-per-node=1"
pipeline=(bash "$SQ_ROOT/slurm/pipeline.sh" --bin "$SQ_BIN" --vocab "$VOCAB"
          --train "$data/train.json" --dev "$data/dev.json" --config "$data/config.json"
          --max-seq 64 --doc-stride 32 --max-query 16
          --max-steps "$steps" --batch-size 16 --lr 1e-3 --seed 7 --checkpoint-every 20
          --device cpu --train-sbatch "$place" --sbatch "--time=10")

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
echo "ok 1-4: chain in order, reuse, requeue and resubmission with an identical model, failure cancels the rest"
if [ "$nodes" = 1 ]; then
    echo "one node: the study and the two-node checks (5-7) not run"
    exit 0
fi

# --- 5. the study on 2 nodes x 2 tasks
echo "== 5. slurm/study.sh: baseline, ddp, zero1, zero2, fsdp on 2 nodes x 2 tasks"
study=(bash "$SQ_ROOT/slurm/study.sh" --bin "$SQ_BIN" --vocab "$VOCAB" --work "$T/work"
       --train "$data/train.json" --dev "$data/dev.json" --config "$data/config.json"
       --max-seq 64 --doc-stride 32 --max-query 16 --device cpu --nodes 2 --tasks-per-node 2
       --max-steps 40 --batch-size 16 --lr 1e-3 --seed 7 --profile 3 --train-args "--log-every 1"
       --sbatch "--time=10")
# study_jobs FILE: the train and eval job ids study.sh printed, in order.
study_jobs() { sed -n 's/^[a-z0-9]*: \(train\|eval\) job \([0-9]*\).*/\2/p' "$1"; }
report_job() { sed -n 's/^report: job \([0-9]*\).*/\1/p' "$1"; }
b1=$(slurm_link_bytes "$cluster" 1) b2=$(slurm_link_bytes "$cluster" 2)
"${study[@]}" --out "$T/study" --checkpoint-every 10 | tee "$T/s5.out"
for s in tokenize-train pack-train tokenize-dev pack-dev; do
    grep -q "^$s: up to date, skipped" "$T/s5.out" || fail "the study did not reuse run 1's $s"
done
mapfile -t jobs < <(study_jobs "$T/s5.out")
rep=$(report_job "$T/s5.out")
[ ${#jobs[@]} = 10 ] && [ -n "$rep" ] || fail "study.sh did not submit 5 train, 5 eval and a report job"
t0=$SECONDS
wait_all "${jobs[@]}" "$rep"
echo "the study's jobs took $((SECONDS - t0)) s"
for j in "${jobs[@]}" "$rep"; do expect_state "$j" COMPLETED; done
# One run after another: each training starts once the previous run's eval ended.
for ((i = 2; i < 10; i += 2)); do expect_after "${jobs[i]}" "${jobs[i - 1]}"; done
for ((i = 0; i < 10; i++)); do expect_after "$rep" "${jobs[i]}"; done
[ "$(field "${jobs[2]}" NumNodes)" = 2 ] && [ "$(field "${jobs[2]}" NumTasks)" = 4 ] ||
    fail "the ddp job ran on $(field "${jobs[2]}" NumNodes) nodes with $(field "${jobs[2]}" NumTasks) tasks, wanted 2 and 4"
sj=$T/study/study.json
[ -s "$T/study/STUDY.md" ] && [ -s "$sj" ] || fail "the report job wrote no STUDY.md and study.json: $(cat "$T/study/logs/report-$rep.out")"
cat "$T/study/STUDY.md"
jq -e '.runs | map(.name) == ["baseline", "ddp", "zero1", "zero2", "fsdp"]' "$sj" >/dev/null ||
    fail "study.json does not have one row per run: $(jq -c '.runs | map(.name)' "$sj")"
jq -e '.runs | all(.ok and .steps == 40 and .global_batch == 16 and .train_s > 0 and .samples_per_s > 0
        and .held_bytes_per_rank > 0 and .em != null and .f1 != null and .speedup > 0
        and (.profile | test("^sq-train: profile of 3 steps")))' "$sj" >/dev/null ||
    fail "a row of study.json lacks a number: $(jq -c '.runs[] | del(.profile)' "$sj")"
jq -e '.runs[1:] | all(.nodes == 2 and .tasks_per_node == 2 and .comm_bytes_per_step > 0 and .comm_s_per_step > 0)' \
    "$sj" >/dev/null || fail "a strategy's row has no communication: $(jq -c '.runs[] | del(.profile)' "$sj")"
# The memory report: each sharded strategy holds less per rank than ddp's replica.
jq -e '.runs as $r | ($r[1].held_bytes_per_rank) as $ddp | $r[2:] | all(.held_bytes_per_rank < $ddp)' "$sj" >/dev/null ||
    fail "held bytes per rank: $(jq -c '.runs | map({(.name): .held_bytes_per_rank}) | add' "$sj")"
[ "$(grep -cE '^\| (baseline|ddp|zero1|zero2|fsdp) \|' "$T/study/STUDY.md")" = 5 ] || fail "STUDY.md has no row per run"
# Every strategy computes the baseline's model (global batch, dropout by
# global sample index): within 1e-5 relative, as on one host (tests/dist).
python3 "$here/relerr.py" "$T/study/baseline/model.safetensors" "$T/study"/{ddp,zero1,zero2,fsdp}/model.safetensors \
    >"$T/relerr.out" || fail "comparing the models failed"
cat "$T/relerr.out"
awk '{ if ($2 > 1e-5) { print; bad = 1 } } END { exit bad }' "$T/relerr.out" >"$T/relerr.bad" ||
    fail "a strategy's model differs from the baseline's by more than 1e-5 relative: $(cat "$T/relerr.bad")"
# MPI went over the veths: each node's link carried (rx + tx) at least the
# bytes one rank's communication layer counted over all four runs.  Crossing
# from one node to the other is at least that for any algorithm of the
# collectives (per rank a ring moves 2(N-1)/N of the buffer for an
# all-reduce; between two halves at least the buffer must cross each way);
# ranks talking through shared memory or loopback would leave it near zero.
counted=0
for s in ddp zero1 zero2 fsdp; do
    c=$(jq -s '[.[] | select(has("comm_bytes"))] | reverse | unique_by(.step) | map(.comm_bytes) | add' \
        "$T/study/$s/metrics.jsonl")
    counted=$(awk -v a="$counted" -v b="$c" 'BEGIN { printf "%.0f", a + b }')
done
l1=$(( $(slurm_link_bytes "$cluster" 1) - b1 )) l2=$(( $(slurm_link_bytes "$cluster" 2) - b2 ))
echo "comm layer counted $counted bytes per rank; node links carried $l1 and $l2 bytes (rx + tx)"
[ "$l1" -ge "$counted" ] && [ "$l2" -ge "$counted" ] ||
    fail "the veth links carried $l1 and $l2 bytes, less than the $counted bytes the ranks counted"

# --- 6. faults on two nodes: a node's ranks killed mid-step, a requeue
echo "== 6. faults: node 2's ranks killed mid-step, then a requeue"
# A slow link (about a second per step) so that the kill lands mid-step.
slurm_shape "$cluster" 200mbit >"$T/why" 2>&1 || fail "shaping the links: $(cat "$T/why")"
"${study[@]}" --out "$T/fault" --strategies zero2 --checkpoint-every 4 | tee "$T/s6.out"
mapfile -t fjobs < <(study_jobs "$T/s6.out")
frep=$(report_job "$T/s6.out")
ft=${fjobs[2]} run=$T/fault/zero2 flog=$T/fault/logs/train-zero2-${fjobs[2]}.out
t0=$SECONDS
until [ -d "$run/checkpoints/step-00000004" ] &&
      [ "$(jq -s 'map(.step // 0) | max' "$run/metrics.jsonl" 2>/dev/null || echo 0)" -ge 5 ]; do
    st=$(field "$ft" JobState)
    [ "$st" = RUNNING ] || [ "$st" = PENDING ] || fail "zero2 job $ft is $st before the kill: $(cat "$flog" 2>/dev/null)"
    [ $((SECONDS - t0)) -lt 180 ] || fail "zero2 job $ft has no checkpoint and step 5 after 3 minutes"
    sleep 0.2
done
[ ! -f "$run/model.safetensors" ] || fail "the zero2 run finished before the kill"
# rank_pids: "PID RANK NODE" of the job's sq-train processes.
rank_pids() {
    local p e
    for p in $(_cluster_pids "$cluster"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sq-train ] || continue
        e=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null) || continue
        grep -qx "SLURM_JOB_ID=$ft" <<<"$e" || continue
        echo "$p $(sed -n 's/^SLURM_PROCID=//p' <<<"$e") $(slurm_node_of_pid "$cluster" "$p")"
    done
}
rank_pids >"$T/ranks"
places=$(awk '{ print $2 ":" $3 }' "$T/ranks" | sort | paste -sd' ')
[ "$places" = "0:1 1:1 2:2 3:2" ] || fail "ranks ran on nodes (rank:node) '$places', wanted '0:1 1:1 2:2 3:2'"
echo "ranks 0-1 run in node 1's network namespace, 2-3 in node 2's"
step=$(jq -s 'map(.step // 0) | max' "$run/metrics.jsonl")
# shellcheck disable=SC2046
kill -KILL $(awk '$3 == 2 { print $1 }' "$T/ranks")
tk=$SECONDS
echo "killed ranks 2 and 3 (node 2) during step $((step + 1))"
while [ -n "$(rank_pids)" ]; do
    [ $((SECONDS - tk)) -lt 30 ] || fail "ranks still alive 30 s after node 2's were killed: $(rank_pids)"
    sleep 0.2
done
echo "every rank exited $((SECONDS - tk)) s after the kill"
slurm_shape "$cluster" off >/dev/null
wait_all "$ft" "${fjobs[3]}" "$frep"
expect_state "$ft" FAILED
expect_state "${fjobs[3]}" CANCELLED
expect_state "$frep" COMPLETED
jq -e '.runs[0].ok and (.runs[1] | .name == "zero2" and (.ok | not) and (.why | test("FAILED.*sqn2: tasks 2-3: Killed")))' \
    "$T/fault/study.json" >/dev/null || fail "the report does not say that zero2 failed: $(jq -c '.runs[] | del(.profile)' "$T/fault/study.json")"
grep -E '^\| zero2 \| .* failed: ' "$T/fault/STUDY.md" || fail "STUDY.md has no failed zero2 row: $(cat "$T/fault/STUDY.md")"
# The requeue resumes from the newest complete checkpoint: sharded, the
# shards of ranks 2-3 written on node 2.
ck=$(find "$run/checkpoints" -maxdepth 1 -name 'step-????????' | sort | tail -n 1)
[ -n "$ck" ] || fail "no complete checkpoint in $run/checkpoints"
jq -e '.world_size == 4 and .strategy == "zero2" and (.shards | length == 4)' "$ck/manifest.json" >/dev/null ||
    fail "$ck is not a 4-rank sharded checkpoint: $(cat "$ck/manifest.json" 2>&1)"
scontrol requeue "$ft"
t0=$SECONDS
until [ "$(field "$ft" Restarts)" = 1 ] && [ "$(field "$ft" JobState)" = PENDING ]; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "job $ft was not requeued within 60 s: $(field "$ft" JobState)"
    sleep 0.2
done
until slurm_no_steps "$cluster"; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "job steps still alive 60 s after the requeue"
    sleep 0.2
done
scontrol update JobId="$ft" StartTime=now
wait_all "$ft"
expect_state "$ft" COMPLETED
grep -q "resumed from $ck)" "$flog" || fail "the requeued job did not resume from $ck: $(grep -i resum "$flog")"
[ "$(sha256sum <"$run/model.safetensors")" = "$(sha256sum <"$T/study/zero2/model.safetensors")" ] ||
    fail "the requeued zero2 run's model differs from the uninterrupted one's"
echo "requeued from $(basename "$ck") (sharded, 4 ranks on 2 nodes): the same model, bit for bit"

# --- 7. a path only one node sees
echo "== 7. a run directory on node-local storage"
"${pipeline[@]}" --work "$T/work" --dev "" --run-dir "$cluster/local/run" --strategy zero2 --max-steps 40 \
    --checkpoint-every 4 --train-sbatch "--nodes=2 --ntasks-per-node=2" | tee "$T/p7.out"
tr7=$(job_of train "$T/p7.out")
t0=$SECONDS
wait_all "$tr7"
expect_state "$tr7" FAILED
grep -E "sq-train: error: $cluster/local/run/checkpoints/step-00000004.partial/shard-0000[23].safetensors: No such file or directory" \
    "$T/work/logs/sq-train-$tr7.out" ||
    fail "no error naming the node-local path: $(grep error "$T/work/logs/sq-train-$tr7.out")"
echo "failed in $((SECONDS - t0)) s, naming the path node 2 cannot see"
echo "ok: chain, reuse, requeue, resubmission, failure cancels the rest; the study on 2 nodes x 2 tasks,"
echo "    models within 1e-5, MPI over the veths, rank placement, a killed node, a requeue from a sharded"
echo "    checkpoint bit for bit, a node-local run directory"
