#!/usr/bin/env python3
"""relerr.py REF.safetensors MODEL.safetensors...: for each MODEL, the worst
tensor's max |MODEL - REF| over REF's largest magnitude (the measure of
tests/dist/dist_lib.sh's same_params), and that tensor's name:
    MODEL <worst> <tensor>
Standard library only (no numpy on the test machines); F32 tensors, as
sq-train writes them.  Exit 1 when two files do not hold the same tensors."""
import array
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit("relerr.py: %s: %s is %s, not F32" % (path, name, t["dtype"]))
        a = array.array("f")
        a.frombytes(data[t["data_offsets"][0]:t["data_offsets"][1]])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = a
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ref = load(sys.argv[1])
    for path in sys.argv[2:]:
        m = load(path)
        if sorted(m) != sorted(ref):
            print("relerr.py: %s and %s hold different tensors" % (path, sys.argv[1]), file=sys.stderr)
            return 1
        worst, where = 0.0, ""
        for name, b in ref.items():
            a = m[name]
            big = max(map(abs, b)) or 1.0
            d = max(map(lambda x, y: abs(x - y), a, b)) / big
            if d > worst or not where:
                worst, where = d, name
        print("%s %.3g %s" % (path, worst, where))
    return 0


if __name__ == "__main__":
    sys.exit(main())
