#!/usr/bin/env bash
# TensorBoard reads back what sq writes: the known scalars of test_tfevents
# and a metrics run of test_metrics, every value checked, through the
# tensorboard package's own loaders (which verify each record's CRCs); a
# flipped byte cuts the file short there.
source "$(dirname "$0")/../lib.sh"
need_python tensorboard
build=$SQ_ROOT/${SQ_BUILD:-build}
for t in tests/report/test_tfevents tests/train/test_metrics; do
    [ -x "$build/$t" ] || fail "$build/$t: not built (make tests)"
done
mkdir -p "$T/known" "$T/run"
SQ_TFEVENTS_KEEP=$T/known "$build/tests/report/test_tfevents" >"$T/log" 2>&1 || fail "test_tfevents: $(cat "$T/log")"
SQ_METRICS_KEEP=$T/run "$build/tests/train/test_metrics" >"$T/log" 2>&1 || fail "test_metrics: $(cat "$T/log")"

python3 - "$T/known" <<'PY' || fail "TensorBoard read-back"
import glob, os, struct, sys, logging
logging.disable(logging.WARNING)
from tensorboard.backend.event_processing import event_file_loader as efl
from tensorboard.compat.proto import event_pb2

known = sys.argv[1]

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def raw_events(path):
    return [event_pb2.Event.FromString(r) for r in efl.RawEventFileLoader(path).Load()]

# The known file: version event, then 21 scalars exactly as written.
(path,) = glob.glob(os.path.join(known, "events.out.tfevents.*"))
evs = raw_events(path)
assert len(evs) == 22, len(evs)
assert evs[0].file_version == "brain.Event:2", evs[0]
want = []
for s in range(10):
    want.append(("sq/square", s, f32(s * s / 4.0)))
    want.append(("sq/neg", s, f32(-s - 0.125)))
want.append(("sq/big", 10**12, f32(1e30)))
for e, (tag, step, value) in zip(evs[1:], want):
    (v,) = e.summary.value
    assert (v.tag, e.step, v.simple_value) == (tag, step, value), (e, tag, step, value)
    assert abs(e.wall_time - evs[0].wall_time) < 60, e.wall_time

# A damaged copy stops at the damage: the CRCs are checked.
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x10
bad = os.path.join(known, "damaged")
open(bad, "wb").write(bytes(data))
assert len(list(efl.RawEventFileLoader(bad).Load())) < 22
os.remove(bad)

print(f"tensorboard read back the {len(want)} known scalars")
PY
python3 "$SQ_ROOT/tests/report/check_tb.py" "$T/run" || fail "TensorBoard read-back of a metrics run"
