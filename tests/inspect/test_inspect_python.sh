#!/usr/bin/env bash
# sq-inspect --values against the Python safetensors package: files written
# by it (numpy, and torch for BF16 when present) are printed with the same
# tensors, in file order, with the same dtypes, shapes and values.
source "$(dirname "$0")/../lib.sh"
need_python safetensors
need_python numpy
I=$SQ_BIN/sq-inspect
cd "$T"
python3 - <<'PY'
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(7)
t = {}
for i in range(40):
    dt = [np.float32, np.float16, np.int32, np.int64][i % 4]
    shape = tuple(int(d) for d in rng.integers(0, 5, size=int(rng.integers(0, 4))))
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        a = np.asarray(rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True))
    else:
        lo, hi = (-6, 4) if dt == np.float16 else (-30, 30)
        a = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.integers(lo, hi, size=shape)).astype(dt)
    t[f"layer.{i}.w\u00e9ight" if i % 7 == 0 else f"t{i}"] = a
t["special"] = np.array([np.inf, -np.inf, np.nan, -0.0, 1e-45, 3.4028235e38], dtype=np.float32)
save_file(t, "np.safetensors", metadata={"a": "1", "b": "x\ny \"z\""})
try:
    import torch
    from safetensors.torch import save_file as save_torch
    save_torch({"b": torch.randn(5, 7).to(torch.bfloat16), "f": torch.randn(3)}, "bf16.safetensors")
except ImportError:
    pass
PY
check() {
    "$I" --values "$1" >"$T/out.jsonl" || fail "sq-inspect --values $1"
    python3 "$SQ_ROOT/tests/inspect/compare_st.py" "$1" "$T/out.jsonl" ||
        fail "$1: sq-inspect disagrees with the Python safetensors package"
}
check np.safetensors
check "$SQ_ROOT/tests/inspect/fixtures/small.safetensors"
[ -f bf16.safetensors ] && check bf16.safetensors || echo "note: torch missing, BF16 file not checked"
echo ok
