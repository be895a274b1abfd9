# Sourced by the train tests after lib.sh.  steps_once RUNDIR [FIRST LAST]:
# metrics.jsonl holds each step line and each evaluation once, and tb/ each
# (tag, step) scalar once (the TFRecord frames read with python3, no
# tensorboard needed); with FIRST LAST, the step lines are exactly
# FIRST..LAST (a run logged with --log-every 1).
steps_once() {
    local rd=$1
    python3 - "$rd" "${2:-}" "${3:-}" <<'PY' || fail "$rd: a step is reported twice (see above)"
import collections, glob, json, struct, sys
rd, first, last = sys.argv[1], sys.argv[2], sys.argv[3]
lines = [json.loads(l) for l in open(rd + "/metrics.jsonl")]
steps = [l["step"] for l in lines if "loss" in l]
evals = [l["step"] for l in lines if "f1" in l]
for what, s in (("step", steps), ("evaluation", evals)):
    dup = [k for k, n in collections.Counter(s).items() if n > 1]
    assert not dup, f"metrics.jsonl: {what} lines twice for steps {dup}"
    assert s == sorted(s), f"metrics.jsonl: {what} lines out of order: {s}"
if first:
    assert steps == list(range(int(first), int(last) + 1)), f"metrics.jsonl steps {steps[:3]}..{steps[-3:]}"

def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << shift; shift += 7
        if not c & 0x80: return v, i

def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0: v, i = varint(b, i)
        elif wt == 1: v = b[i:i + 8]; i += 8
        elif wt == 5: v = b[i:i + 4]; i += 4
        else:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        yield f, v

seen = collections.Counter()
for path in glob.glob(rd + "/tb/events.out.tfevents.*"):
    b = open(path, "rb").read()
    at = 0
    while at < len(b):
        (n,) = struct.unpack_from("<Q", b, at)
        assert at + 16 + n <= len(b), f"{path}: torn record at {at}"
        ev = dict(fields(b[at + 12:at + 12 + n]))
        step = ev.get(2, 0)
        for f, summary in fields(b[at + 12:at + 12 + n]):
            if f == 5:
                for g, value in fields(summary):
                    tag = dict(fields(value))[1].decode()
                    seen[(tag, step)] += 1
        at += 16 + n
dup = sorted(k for k, n in seen.items() if n > 1)
assert not dup, f"tb/: scalars twice: {dup[:5]}"
assert seen, "tb/: no scalar"
print(f"{rd}: {len(steps)} step lines, {len(evals)} evaluations, {len(seen)} TensorBoard scalars, each once")
PY
}
