#!/usr/bin/env python3
"""compare_st.py FILE.safetensors OUT.jsonl: checks that sq-inspect --values
output OUT.jsonl says what FILE holds, reading FILE independently (raw header
JSON and numpy): metadata (values that hold JSON objects as JSON), tensor order (by data offset), dtype, shape and
every value (floats as the same float32, NaN/Infinity as strings)."""
import json, math, struct, sys
import numpy as np
path, out = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__", None)
lines = [json.loads(l) for l in open(out, encoding="utf-8")]
def as_printed(v):
    """sq-inspect prints a metadata value holding a JSON object or array as that JSON."""
    try:
        j = json.loads(v)
    except ValueError:
        return v
    return j if isinstance(j, (dict, list)) else v
if meta:
    meta = {k: as_printed(v) for k, v in meta.items()}
    first = lines.pop(0)
    assert first == {"type": "metadata", "metadata": meta}, first
order = sorted(header, key=lambda k: header[k]["data_offsets"])
assert [l["name"] for l in lines] == order, "tensor order"
np_dtype = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}
data = raw[8 + n:]
for l in lines:
    h = header[l["name"]]
    assert l["type"] == "tensor" and l["dtype"] == h["dtype"] and l["shape"] == h["shape"], l["name"]
    b, e = h["data_offsets"]
    if h["dtype"] == "BF16":
        want = (np.frombuffer(data[b:e], dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        want = np.frombuffer(data[b:e], dtype=np_dtype[h["dtype"]])
    got = l["values"]
    assert len(got) == want.size, l["name"]
    for g, w in zip(got, want.tolist()):
        if isinstance(g, str):
            assert (g == "NaN" and math.isnan(w)) or (g == "Infinity" and w == math.inf) or \
                   (g == "-Infinity" and w == -math.inf), (l["name"], g, w)
        elif h["dtype"].startswith("I"):
            assert isinstance(g, int) and g == w, (l["name"], g, w)
        else:
            # shortest decimal that reads back as the same float32
            assert np.float32(g) == np.float32(w) and math.copysign(1, g) == math.copysign(1, w), (l["name"], g, w)
