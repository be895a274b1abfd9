#!/usr/bin/env bash
# Every strategy on several ranks computes the single-process model: a short
# run with dropout on (global batch 6, so ranks see different micro-batches
# and dropout masks keyed by global sample index) ends with parameters within
# 1e-5 relative of one process's, for ddp, zero1, zero2 and fsdp on 2 ranks
# and ddp and zero2 on 3 (uneven shards), with 1 MB buckets (several per
# step); with --grad-accum 2 and buckets smaller than a layer, zero2 and fsdp
# on 3 ranks too.  ddp on one rank is the single run bit for bit.  The memory
# report says that each sharded strategy holds 1/N of what it shards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/dist_lib.sh"
make_data

train "$T/single" --max-steps 4 --batch-size 6
# ddp on one rank (MPI started, every collective run) is the single run, bit for bit.
mpi_train 1 "$T/ddp-1" --max-steps 4 --batch-size 6 --strategy ddp
cmp -s "$T/ddp-1/model.safetensors" "$T/single/model.safetensors" || fail "ddp on 1 rank differs from single"
for run in "2 ddp" "2 zero1" "2 zero2" "2 fsdp" "3 ddp" "3 zero2"; do
    set -- $run
    mpi_train "$1" "$T/$2-$1" --max-steps 4 --batch-size 6 --bucket-mb 1 --strategy "$2" -v
    same_params "$T/$2-$1/model.safetensors" "$T/single/model.safetensors" 1e-5
    grep -q '"strategy": "'"$2"'"' "$T/$2-$1/run.json" || fail "$2: run.json does not name the strategy"
done

# Gradient accumulation (no communication on the first micro-step) and
# buckets far smaller than a layer.
train "$T/single-acc" --max-steps 3 --batch-size 12 --grad-accum 2
for s in zero2 fsdp; do
    mpi_train 3 "$T/$s-acc" --max-steps 3 --batch-size 12 --grad-accum 2 --bucket-mb 0.05 --strategy "$s"
    same_params "$T/$s-acc/model.safetensors" "$T/single-acc/model.safetensors" 1e-5
done

# Memory: the ddp replica holds everything; each sharded strategy holds its
# 1/N shard of what it shards, plus (zero2) the bucket in flight or (fsdp)
# the gathered layers, never more than the whole.
read -r P G O S W <<<"$(memory_of "$T/ddp-2.log" 0)"
[ -n "$P" ] && [ "$G" = "$P" ] && [ "$O" = $((2 * P)) ] && [ "$S" = "$P" ] || fail "ddp memory line: '$P $G $O $S'"
min() { echo $(($1 < $2 ? $1 : $2)); }
for run in "2 zero1" "2 zero2" "2 fsdp" "3 zero2"; do
    set -- $run
    sum=0
    for ((r = 0; r < $1; r++)); do
        read -r p g o s w <<<"$(memory_of "$T/$2-$1.log" $r)"
        [ -n "$w" ] || fail "$2 on $1 ranks: no memory line for rank $r"
        # an even split of the floats: shards differ by one float at most
        lo=$((P / $1 / 4 * 4)) hi=$(((P / $1 / 4 + 1) * 4))
        [ "$s" -ge "$lo" ] && [ "$s" -le "$hi" ] || fail "$2 rank $r: shard $s bytes is not 1/$1 of $P"
        [ "$o" = $((2 * s)) ] || fail "$2 rank $r: optimizer state $o, not twice its shard $s"
        case $2 in
        zero1) want="$P $P" ;;
        zero2) want="$P $((s + $(min "$w" $((P - s)))))" ;;
        fsdp) want="$((s + $(min $((2 * w)) $((P - s))))) $((s + $(min "$w" $((P - s)))))" ;;
        esac
        [ "$p $g" = "$want" ] || fail "$2 rank $r: params, grads $p $g; wanted $want"
        sum=$((sum + s))
    done
    [ "$sum" = "$P" ] || fail "$2 on $1 ranks: shards sum to $sum, not $P"
done
[ "$(memory_of "$T/zero2-3.log" 1 | cut -d' ' -f2)" -lt "$P" ] || fail "zero2 holds every gradient"
echo "ok"
