"""Some configurations of ../shared/tools/torch_baseline.py, not all five.

make gpu-check (tests/cuda/check.sh) has 8 minutes on one GPU and compares
sq with PyTorch's bf16 SDPA configurations only (eager and torch.compile);
the fp32, tf32 and eager-attention ones cost minutes it does not have.  The
script is run as it is, up to the loop over its configurations, so that its
model, inputs, timing and FLOP count are the anchor's own.

usage: torch_subset.py TORCH_BASELINE.py OUT.json MODE:ATTN:COMPILE...
       (e.g. bf16:sdpa:0 bf16:sdpa:1); prints one JSON line per
       configuration as the script does, and writes them as a list to OUT.json.
"""
import json
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, out, configs = sys.argv[1], sys.argv[2], sys.argv[3:]
    src = open(path).read()
    # Everything before its loop over the configurations: imports, shapes,
    # and run(mode, attn, compile_).
    marker = "\nres = []\n"
    if marker not in src:
        sys.exit("torch_subset.py: %s has no 'res = []' line before its loop; it changed: run it whole" % path)
    ns = {"__name__": "torch_baseline", "__file__": path}
    exec(compile(src[: src.index(marker)], path, "exec"), ns)
    res, failed = [], 0
    for c in configs:
        mode, attn, comp = c.split(":")
        try:
            res.append(ns["run"](mode, attn, comp == "1"))
        except Exception as e:  # the anchor's own handling: report and go on
            print("FAILED", c, repr(e)[:300], flush=True)
            failed += 1
    json.dump(res, open(out, "w"), indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
