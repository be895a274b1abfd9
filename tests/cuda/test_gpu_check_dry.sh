#!/usr/bin/env bash
# make gpu-check on a machine without a GPU (tests/cuda/check.sh): DRY=1
# lists every step with its budget (480 s in all), prepares what travels to
# the GPU machine and measures it against the run tool's 64 MiB; and a run
# here, with a stand-in nvidia-smi, keeps going past failed steps, ends a
# step over its budget with everything it started, and writes the report.
. "$(dirname "$0")/../lib.sh"
BUILD=${SQ_BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$SQ_ROOT/$BUILD
HARNESS=$BUILD/tests/cuda/kernels
[ -x "$HARNESS" ] || skip "no kernel harness ($HARNESS): built without nvcc, or a SAN=1 build (which leaves it out)"
check() { SQ_HARNESS=$HARNESS SQ_GPU_CARRY=$T/carry bash "$SQ_ROOT/tests/cuda/check.sh"; }

# DRY=1: every step of PART=all with its budget, adding up to 8 minutes
DRY=1 check >"$T/dry.txt" 2>&1 || fail "DRY=1 failed: $(cat "$T/dry.txt")"
cat "$T/dry.txt"
for s in env kernels backend-bert-base replay-fp32 curve-bf16-vs-fp32 switches-train memcheck bench-default \
    bench-bgrad bench-mem-plan bench-device-norm bench-lt-buckets bench-all-switches torch sweep-attention ncu-attention; do
    grep -Eq "^  $s +[0-9]+ s  " "$T/dry.txt" || fail "DRY=1 does not list step $s"
done
sum=$(awk '$2 ~ /^[0-9]+$/ && $3 == "s" && $1 != "total" { s += $2 } END { print s }' "$T/dry.txt")
total=$(awk '$1 == "total" && $3 == "s" { print $2 }' "$T/dry.txt")
[ "$sum" = "$total" ] || fail "the budgets add up to $sum, the listing says $total"
[ "$total" -le 480 ] || fail "budgets of $total s: over the 8 minutes"

# what travels: the libraries the GPU machine lacks, the sample's features
# (and SQuAD's with ../shared), measured as du measures it, under 64 MiB
compgen -G "$T/carry/libs/libjansson.so*" >/dev/null || fail "libjansson not carried"
compgen -G "$T/carry/libs/libutf8proc.so*" >/dev/null || fail "libutf8proc not carried"
[ -f "$T/carry/xquad-features/manifest.json" ] || fail "the sample's features not carried"
if [ -n "$SQ_SHARED" ] && [ -f "$SQ_SHARED/data/squad/train-v1.1.reconstructed.json" ]; then
    [ -f "$T/carry/squad-train/manifest.json" ] || fail "SQuAD train's features not carried"
fi
want=$(du -sbL "$SQ_BIN" "$HARNESS" "$T/carry" | awk '{ s += $1 } END { printf "%.1f MiB", s / 1048576 }')
grep -Eq "^  total +$want of 64 MiB: ok$" "$T/dry.txt" || fail "the listing's total is not $want of 64 MiB"
ldd "$SQ_BIN/sq-train" | awk '{ print $1 }' >"$T/sonames"
for f in "$T"/carry/libs/*; do # carried under the names the tools ask for
    grep -qx "$(basename "$f")" "$T/sonames" || fail "$(basename "$f") is not a library sq-train loads"
done
# over a limit: said, and a failure
SQ_GPU_CARRY_LIMIT_MIB=1 DRY=1 check >"$T/over.txt" 2>&1 && fail "DRY=1 over a 1 MiB limit exited 0"
grep -q 'OVER THE LIMIT' "$T/over.txt" || fail "no OVER THE LIMIT: $(cat "$T/over.txt")"
# PART=f1: its own steps; an unknown part is a usage error
PART=f1 DRY=1 check >"$T/f1.txt" 2>&1 || fail "PART=f1 DRY=1 failed: $(cat "$T/f1.txt")"
grep -Eq '^  f1 +300 s  ' "$T/f1.txt" || fail "PART=f1 does not list f1"
grep -Eq '^  kernels ' "$T/f1.txt" && fail "PART=f1 lists the kernel checks"
rc=0
PART=nope DRY=1 check >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "PART=nope exited $rc, wanted 2"

# without a GPU: every step skipped, the report says so, exit 77
rc=0
OUT=$T/nogpu check >"$T/nogpu.txt" 2>&1 || rc=$?
[ "$rc" = 77 ] || fail "without a GPU gpu-check exited $rc, wanted 77: $(cat "$T/nogpu.txt")"
python3 - "$T/nogpu/report.json" <<'PY' || fail "no-GPU report"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["steps"]) == 16 and r["skipped"] == 16 and r["failed"] == 0, r["steps"]
assert all(s["detail"].startswith("no GPU") for s in r["steps"])
PY

# with a stand-in nvidia-smi (no GPU behind it): the env step passes, the
# kernel harness fails ("no CUDA device"), a step over its budget (a
# harness that sleeps, with a child) is ended with its child, and the run
# goes on to the end and writes both reports
mkdir -p "$T/fake"
printf '#!/bin/sh\n[ "$1" = -L ] && { echo "GPU 0: Stand-in"; exit 0; }\necho "Stand-in GPU, 999.1, 81559 MiB, 1980 MHz"\n' >"$T/fake/nvidia-smi"
printf '#!/bin/sh\nsleep 300 &\necho $! >"%s/child.pid"\nwait\n' "$T" >"$T/slow-harness"
chmod +x "$T/fake/nvidia-smi" "$T/slow-harness"
rc=0
PATH=$T/fake:$PATH OUT=$T/fake-run ONLY=env,kernels,switches-train check >"$T/fake.txt" 2>&1 || rc=$?
cat "$T/fake.txt"
[ "$rc" = 1 ] || fail "failed steps: gpu-check exited $rc, wanted 1"
grep -Eq '^PASS +env ' "$T/fake.txt" || fail "env step did not pass"
grep -Eq '^FAIL +kernels ' "$T/fake.txt" || fail "kernels step did not fail"
grep -Eq '^FAIL +switches-train ' "$T/fake.txt" || fail "the run stopped at the first failure"
python3 - "$T/fake-run/report.json" <<'PY' || fail "report with failures"
import json, sys
r = json.load(open(sys.argv[1]))
st = {s["name"]: s["status"] for s in r["steps"]}
assert st == {"env": "pass", "kernels": "fail", "switches-train": "fail"}, st
assert r["gpu"]["name"] == "Stand-in GPU", r["gpu"]
assert "no CUDA device" in open(sys.argv[1].replace("report.json", "logs/kernels.log")).read()
PY
grep -q '^| kernels | fail |' "$T/fake-run/report.md" || fail "report.md has no kernels row"
rc=0
PATH=$T/fake:$PATH OUT=$T/slow SQ_GPU_BUDGET_SCALE=0.05 ONLY=kernels SQ_HARNESS=$T/slow-harness \
    SQ_GPU_CARRY=$T/carry bash "$SQ_ROOT/tests/cuda/check.sh" >"$T/slow.txt" 2>&1 || rc=$?
cat "$T/slow.txt"
[ "$rc" = 1 ] || fail "a timed-out step: exited $rc, wanted 1"
grep -Eq '^TIMEOUT +kernels .* over its budget of 3 s' "$T/slow.txt" || fail "no timeout reported"
child=$(cat "$T/child.pid")
sleep 1
! kill -0 "$child" 2>/dev/null || { kill "$child"; fail "the timed-out step's child $child still runs"; }
# the report from the steps' data: bench lines in sq-train bench's own format
# (the CPU backend's, on the small sample config), PyTorch's lines, the harness's
# sweep lines and ncu's CSV: the ratios are computed from them, and a
# candidate is put beside the default with its switches-train result
R=$T/report
mkdir -p "$R/data" "$R/logs"
for v in bench-default bench-bgrad; do
    "$SQ_BIN/sq-train" bench --device cpu --config "$SQ_ROOT/data/sample/bert-small-config.json" --batch-size 2 \
        --max-seq 24 --synthetic --steps 2 --warmup-steps 0 --threads 1 -o "$R/data/$v-padded.json" >/dev/null
    "$SQ_BIN/sq-train" bench --device cpu --config "$SQ_ROOT/data/sample/bert-small-config.json" --batch-size 2 \
        --data "$T/carry/xquad-features" --steps 2 --warmup-steps 0 --threads 1 -o "$R/data/$v-squad.json" >/dev/null
    printf '%s\t18\t9.0\tpass\t\n' "$v" >>"$R/steps.tsv"
done
printf 'torch\t80\t60.0\tpass\t\nswitches-train\t30\t20.0\tfail\tFAIL switch bgrad\nsweep-attention\t15\t3.0\tpass\t\n' >>"$R/steps.tsv"
printf 'PASS switch device-norm\nFAIL switch bgrad\n' >"$R/logs/switches-train.log"
printf '  attention_forward, mask                0.116 ms      0.0 GB/s     45.6 TFLOP/s\n' >"$R/logs/sweep-attention.log"
printf '[{"mode": "bf16", "attn": "sdpa", "compile": false, "samples_s": 800.0, "peak_mem_gib": 6.0},\n {"mode": "bf16", "attn": "sdpa", "compile": true, "samples_s": 1000.0, "peak_mem_gib": 5.0}]\n' >"$R/data/torch.json"
{
    echo '==PROF== Connected to process 1'
    echo '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"'
    echo '"0","1","sq-train","h","void attn_forward_v3<true>(sq_cu_act)","1","13","(256, 1, 1)","(3, 12, 32)","0","9.0","GPU Speed Of Light Throughput","Duration","usecond","116.32"'
    echo '"0","1","sq-train","h","void attn_forward_v3<true>(sq_cu_act)","1","13","(256, 1, 1)","(3, 12, 32)","0","9.0","Occupancy","Achieved Occupancy","%","12.40"'
} >"$R/data/ncu-fwd.csv"
python3 "$SQ_ROOT/tests/cuda/gpu_report.py" "$R" all 123.4 "sq-train test" >/dev/null || fail "gpu_report.py failed"
python3 - "$R/report.json" "$R/data" <<'PY' || fail "report contents"
import json, sys
r = json.load(open(sys.argv[1]))
pad = json.load(open(sys.argv[2] + "/bench-default-padded.json"))
sq = json.load(open(sys.argv[2] + "/bench-default-squad.json"))
v = r["bench"]["versions"]
t = v["bench-default"]["targets"]
assert abs(t["padded_vs_torch_compile"] - pad["samples_per_s"] / 1000.0) < 1e-9, t
assert abs(t["peak_mem_vs_torch"] - pad["peak_mem_gib"] / 5.0) < 1e-9, t
assert abs(t["epoch_vs_torch_padded"] - 88492 / 1000.0 / sq["epoch_s"]) < 1e-9, t
assert v["bench-bgrad"]["switch_checks"] == {"bgrad": "fail"}, v["bench-bgrad"]
assert abs(v["bench-bgrad"]["vs_default"]["padded_samples_per_s"] - 1.0) < 0.5
assert r["failed"] == 1 and r["passed"] == 4, (r["passed"], r["failed"])
assert r["sweep"] == [{"kernel": "attention_forward, mask", "ms": 0.116, "gb_s": 0.0, "tflops": 45.6}], r["sweep"]
k = r["ncu"][0]
assert k["duration"] == "116.32 usecond" and k["achieved_occupancy"] == "12.40 %" and k["grid"] == "(3, 12, 32)", k
PY
grep -q '^| bgrad | ' "$R/report.md" || fail "report.md has no bgrad row"
grep -q 'attn_forward_v3' "$R/report.md" || fail "report.md has no ncu row"

# PART=f1 without bench/f1-parity.sh: the part is reported missing, not passed
if [ ! -e "$SQ_ROOT/bench/f1-parity.sh" ]; then
    rc=0
    PATH=$T/fake:$PATH OUT=$T/f1 PART=f1 check >"$T/f1run.txt" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "PART=f1 without its script exited $rc, wanted 1"
    grep -Eq '^MISSING +f1 .*bench/f1-parity.sh' "$T/f1run.txt" || fail "f1 not reported missing: $(cat "$T/f1run.txt")"
    grep -q '"status": "missing"' "$T/f1/report.json" || fail "report.json does not say missing"
fi
echo "ok"
