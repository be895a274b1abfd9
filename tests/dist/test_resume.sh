#!/usr/bin/env bash
# Resume after SIGKILL under mpirun: zero2 on 2 ranks checkpoints every 2
# steps (each rank its shard, rank 0 the manifest); one rank is killed with
# SIGKILL mid-run, so mpirun ends the job with an error; --resume continues
# from the newest complete checkpoint and ends with the very parameters of
# an uninterrupted run.  A sharded checkpoint also resumes on one process
# (every rank reads every shard), and ddp's whole-model checkpoint on 2
# ranks.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/dist_lib.sh"
make_data
steps=40
args=(--max-steps $steps --batch-size 6 --checkpoint-every 2 --log-every 100 --strategy zero2)

mpi_train 2 "$T/whole" "${args[@]}"

mpirun --oversubscribe -np 2 "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/cut" --device cpu --threads 1 \
    --lr 1e-3 "${args[@]}" >"$T/cut.log" 2>&1 &
mp=$!
for ((i = 0; i < 600; i++)); do
    [ -d "$T/cut/checkpoints/step-00000004" ] && break
    sleep 0.05
done
[ -d "$T/cut/checkpoints/step-00000004" ] || { kill $mp; fail "no checkpoint at step 4: $(tail -n 5 "$T/cut.log")"; }
victim=$(pgrep -P $mp | tail -n 1)
[ -n "$victim" ] || fail "no rank process under mpirun $mp"
kill -KILL "$victim"
rc=0
wait $mp || rc=$?
[ "$rc" != 0 ] || fail "mpirun exited 0 after a rank was killed"
[ ! -e "$T/cut/model.safetensors" ] || fail "the run finished before the kill: make it longer"
last=$(ls "$T/cut/checkpoints" | grep -E '^step-[0-9]{8}$' | tail -n 1)
[ -f "$T/cut/checkpoints/$last/manifest.json" ] && [ -f "$T/cut/checkpoints/$last/shard-00001.safetensors" ] ||
    fail "$last: not a sharded checkpoint"

mkdir -p "$T/one/checkpoints"
cp -r "$T/cut/checkpoints/$last" "$T/one/checkpoints/"
mpi_train 2 "$T/cut" "${args[@]}" --resume
grep -q "resumed from .*$last" "$T/cut.log" || fail "did not resume from $last: $(head -n 3 "$T/cut.log")"
cmp -s "$T/cut/model.safetensors" "$T/whole/model.safetensors" || fail "resumed run differs from the whole run"

# The same sharded checkpoint, resumed by one process: the same model up to
# reduction order.
train "$T/one" --max-steps $steps --batch-size 6 --log-every 100 --resume
same_params "$T/one/model.safetensors" "$T/whole/model.safetensors" 1e-5

# Damaged sharded checkpoints are refused with the file named: shards that
# leave a gap, another model's parameter count, a missing or truncated shard.
damaged() { # NAME SED-SCRIPT|- ERROR-REGEX [COMMAND...]
    local name=$1 script=$2 pat=$3; shift 3
    mkdir -p "$T/$name/checkpoints"
    cp -r "$T/one/checkpoints/$last" "$T/$name/checkpoints/"
    local ck=$T/$name/checkpoints/$last
    [ "$script" = - ] || sed -i "$script" "$ck/manifest.json"
    [ $# = 0 ] || (cd "$ck" && "$@")
    expect_fail 1 "$pat" "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/$name" \
        --device cpu --max-steps $steps --batch-size 6 --resume
}
damaged gap 's/"begin": 0,/"begin": 1,/' "manifest.json: shard 0: not the next range"
damaged count 's/"parameters": [0-9]*/"parameters": 7/' "manifest.json: 7 parameters, the model has"
damaged missing - "shard-00001.safetensors" rm shard-00001.safetensors
damaged short - "shard-00000.safetensors" truncate -s 5000 shard-00000.safetensors

# ddp: rank 0 writes whole checkpoints, which resume on 2 ranks.
mpi_train 2 "$T/ddp" --max-steps 6 --batch-size 6 --checkpoint-every 2 --strategy ddp
[ -f "$T/ddp/checkpoints/step-00000004/model.safetensors" ] || fail "ddp: no whole checkpoint"
mv "$T/ddp/model.safetensors" "$T/ddp-whole.safetensors"
rm -r "$T/ddp/checkpoints/step-00000006" # the end's: step 4's is the newest left
mpi_train 2 "$T/ddp" --max-steps 6 --batch-size 6 --checkpoint-every 2 --strategy ddp --resume
grep -q "resumed from .*step-00000004" "$T/ddp.log" || fail "ddp did not resume from step 4"
cmp -s "$T/ddp/model.safetensors" "$T/ddp-whole.safetensors" || fail "ddp: resumed run differs from the whole run"
echo "ok"
