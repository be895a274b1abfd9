#!/usr/bin/env bash
# sq-train --profile on the CPU backend: trace.json holds the recorded steps'
# host phases on the host track and nothing on the gpu track (the CPU backend
# has no kernel spans), the summary table goes to stderr, and metrics.jsonl
# and the progress line leave out mfu and gpu_mem_gib (GPU only).
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 30 3
tiny_config "$T/cfg.json"

# 7 steps: 3 of warm-up, 2 recorded, 2 after.
"$SQ_BIN/sq-train" --device cpu --data "$T/feat" --config "$T/cfg.json" --max-steps 7 --batch-size 4 \
    --threads 2 --log-every 1 --profile=2 -o "$T/run" 2>"$T/err" || fail "sq-train: $(cat "$T/err")"
grep -q 'profile of 2 steps' "$T/err" || fail "no summary: $(cat "$T/err")"
grep -Eq '^host +forward +2 ' "$T/err" || fail "no forward row: $(cat "$T/err")"
! grep -q '^gpu ' "$T/err" || fail "gpu rows on the CPU: $(cat "$T/err")"
! grep -Eq 'MFU|GiB' "$T/err" || fail "MFU or GPU memory on the CPU: $(cat "$T/err")"

python3 - "$T/run/trace.json" <<'PY' || fail "trace.json: see above"
import json, sys
doc = json.load(open(sys.argv[1]))
ev = doc["traceEvents"]
names = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
assert names.get(1) == "host" and names.get(2) == "gpu", names
x = [e for e in ev if e["ph"] == "X"]
steps = sorted({e["args"]["step"] for e in x})
assert steps == [3, 4], steps
host = [e["name"] for e in x if e["tid"] == 1]
for phase in ("data", "forward", "backward", "optimizer"):
    assert host.count(phase) == 2, (phase, host)
assert not [e for e in x if e["tid"] == 2], "gpu spans on the CPU"
PY

python3 - "$T/run/metrics.jsonl" <<'PY' || fail "metrics.jsonl: see above"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 7, len(lines)
for l in lines:
    assert "mfu" not in l and "gpu_mem_gib" not in l, l
    assert l["samples_per_s"] > 0, l
PY
echo ok
