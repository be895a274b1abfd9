"""Checks that TensorBoard reads back RUNDIR/tb with every scalar equal (as
float32) to its RUNDIR/metrics.jsonl value at the same step, through the
EventAccumulator that TensorBoard's UI uses.  Usage: check_tb.py RUNDIR"""
import json
import logging
import os
import struct
import sys

logging.disable(logging.WARNING)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TAGS = {"loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm",
        "epoch": "train/epoch", "samples_per_s": "perf/samples_per_s",
        "tokens_per_s": "perf/tokens_per_s", "mfu": "perf/mfu", "gpu_mem_gib": "perf/gpu_mem_gib",
        "comm_bytes": "comm/bytes", "comm_s": "comm/seconds"}


def f32(x):
    return float("nan") if x is None else struct.unpack("<f", struct.pack("<f", x))[0]


def same(a, b):
    return a == b or (a != a and b != b)


def main(run):
    acc = EventAccumulator(os.path.join(run, "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expect = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            if "f1" in rec:
                expect.setdefault("eval/exact_match", []).append((rec["step"], f32(rec["exact_match"])))
                expect.setdefault("eval/f1", []).append((rec["step"], f32(rec["f1"])))
                continue
            for key, tag in TAGS.items():
                if key in rec:
                    expect.setdefault(tag, []).append((rec["step"], f32(rec[key])))
    assert tags == set(expect), f"tags {sorted(tags)} != {sorted(expect)}"
    n = 0
    for tag, want in expect.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert len(got) == len(want) and all(g[0] == w[0] and same(g[1], w[1]) for g, w in zip(got, want)), \
            f"{tag}: {got} != {want}"
        n += len(want)
    print(f"{run}: TensorBoard read back {n} scalars in {len(tags)} tags, all equal to metrics.jsonl")


if __name__ == "__main__":
    main(sys.argv[1])
