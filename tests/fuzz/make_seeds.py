#!/usr/bin/env python3
"""Writes seeds for the fuzz targets that read sq containers (fuzz_tokens,
fuzz_features) from such files, in both of their forms: the file itself
(first byte 0x00) and its decompressed content (first byte 0x01: u32 flags,
u64 counts[4], then each frame as u32 length and bytes; see wrap.h).

  tests/fuzz/make_seeds.py tokens x.sqt y.sqt...
  tests/fuzz/make_seeds.py features dir/shard-00000.sqf...   (zstd on PATH)
"""
import os, struct, subprocess, sys

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def frames(blob):
    n, index = struct.unpack_from("<QQ", blob, 56)
    for i in range(n):
        off, csize, _rsize, _crc, _zero = struct.unpack_from("<QQQII", blob, index + 32 * i)
        yield subprocess.run(["zstd", "-qdc"], input=blob[off:off + csize], check=True,
                             stdout=subprocess.PIPE).stdout


def main():
    out = os.path.join(SEEDS, sys.argv[1])
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        blob = open(path, "rb").read()
        assert blob[:8] in (b"SQTOKENS", b"SQFEATUR"), path
        name = os.path.basename(os.path.dirname(path)) + "_" if blob[:8] == b"SQFEATUR" else ""
        name += os.path.splitext(os.path.basename(path))[0]
        open(os.path.join(out, name + "_file"), "wb").write(b"\0" + blob)
        flags, = struct.unpack_from("<I", blob, 12)
        raw = b"\1" + struct.pack("<I", flags) + blob[24:56]
        for f in frames(blob):
            raw += struct.pack("<I", len(f)) + f
        open(os.path.join(out, name + "_raw"), "wb").write(raw)


if __name__ == "__main__":
    main()
