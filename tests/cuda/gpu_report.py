"""make gpu-check's report (tests/cuda/check.sh): OUT/report.json and
OUT/report.md from the steps' records (OUT/steps.tsv), their data
(OUT/data: bench and PyTorch JSON, ncu CSV) and logs (OUT/logs).

usage: gpu_report.py OUT PART ELAPSED_S VERSION

The targets are issue 19's (docs/BENCHMARKS.md); a candidate version is
reported beside the default with its own checks, and nothing here changes
a default.
"""
import csv
import datetime
import io
import json
import os
import re
import socket
import sys

# HF run_qa's SQuAD v1.1 train features at max_seq 384, stride 128: what a
# PyTorch epoch computes, padded (bench/gpu.sh uses the same count).
HF_TRAIN_FEATURES = 88492
BUDGET_S = 480
# bench step -> the switches-train check of the same candidate
CANDIDATES = {
    "bench-default": None,
    "bench-bgrad": ["bgrad"],
    "bench-mem-plan": ["mem-plan"],
    "bench-device-norm": ["device-norm"],
    "bench-lt-buckets": ["lt-buckets"],
    "bench-all-switches": ["all"],
}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_steps(out):
    steps = []
    try:
        with open(os.path.join(out, "steps.tsv")) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 4:
                    steps.append({"name": p[0], "budget_s": float(p[1]), "seconds": float(p[2]), "status": p[3],
                                  "detail": p[4] if len(p) > 4 else "", "log": "logs/%s.log" % p[0]})
    except OSError:
        pass
    return steps


def log_text(out, name):
    try:
        with open(os.path.join(out, "logs", name + ".log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def gpu_facts(out):
    """nvidia-smi's line in the env step's log: name, driver, memory, max SM clock."""
    for line in log_text(out, "env").splitlines():
        p = [x.strip() for x in line.split(",")]
        if len(p) == 4 and "MiB" in p[2]:
            return {"name": p[0], "driver": p[1], "memory": p[2], "max_sm_clock": p[3]}
    return None


def switch_checks(out):
    """PASS/FAIL switch NAME lines of switches-train."""
    res = {}
    for m in re.finditer(r"^(PASS|FAIL) switch (\S+)", log_text(out, "switches-train"), re.M):
        res[m.group(2)] = m.group(1).lower()
    return res


def sweep(out):
    """The harness's timing lines: name, ms, GB/s, TFLOP/s."""
    rows = []
    for m in re.finditer(r"^  (.+?)\s+([0-9.]+) ms\s+([0-9.]+) GB/s\s+([0-9.]+) TFLOP/s", log_text(out, "sweep-attention"),
                         re.M):
        rows.append({"kernel": m.group(1), "ms": float(m.group(2)), "gb_s": float(m.group(3)),
                     "tflops": float(m.group(4))})
    return rows


NCU_COLUMNS = [("Duration", "duration"), ("Compute (SM) Throughput", "sm_pct"), ("Memory Throughput", "mem_pct"),
               ("Achieved Occupancy", "achieved_occupancy"), ("Theoretical Occupancy", "theoretical_occupancy"),
               ("Registers Per Thread", "registers"), ("Dynamic Shared Memory Per Block", "dyn_smem"),
               ("Warp Cycles Per Issued Instruction", "cycles_per_issue"), ("Executed Ipc Active", "ipc")]


def ncu(out):
    """ncu --csv --page details: one row per (kernel, metric); every metric is
    kept, and a few named ones are lifted for the table."""
    kernels = []
    for part in ("fwd", "bwd"):
        try:
            with open(os.path.join(out, "data", "ncu-%s.csv" % part), errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        lines = text.splitlines()
        start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
        if start is None:
            continue
        byid = {}
        for r in csv.DictReader(io.StringIO("\n".join(l for l in lines[start:] if l.startswith('"')))):
            k = byid.setdefault(r.get("ID"), {"kernel": r.get("Kernel Name", ""), "block": r.get("Block Size", ""),
                                               "grid": r.get("Grid Size", ""), "metrics": {}})
            unit = r.get("Metric Unit", "")
            k["metrics"][r.get("Metric Name", "")] = (r.get("Metric Value", "") + (" " + unit if unit else "")).strip()
        for k in byid.values():
            for name, key in NCU_COLUMNS:
                k[key] = k["metrics"].get(name)
            kernels.append(k)
    return kernels


def bench(out, steps):
    names = {s["name"]: s for s in steps}
    torch = load_json(os.path.join(out, "data", "torch.json")) if "torch" in names else None
    ref = eager = None
    for r in torch or []:
        if r.get("mode") == "bf16" and r.get("attn") == "sdpa":
            if r.get("compile"):
                ref = r
            else:
                eager = r
    checks = switch_checks(out)
    rows = {}
    for label, sw in CANDIDATES.items():
        if label not in names:
            continue
        pad = load_json(os.path.join(out, "data", label + "-padded.json"))
        sq = load_json(os.path.join(out, "data", label + "-squad.json"))
        row = {"step_status": names[label]["status"], "padded": pad, "squad": sq}
        if pad and sq:
            row["switches"] = pad.get("switches", "")
            t = {}
            if ref:
                torch_epoch = HF_TRAIN_FEATURES / ref["samples_s"]
                t["padded_vs_torch_compile"] = pad["samples_per_s"] / ref["samples_s"]
                t["peak_mem_vs_torch"] = pad["peak_mem_gib"] / ref["peak_mem_gib"]
                t["torch_padded_epoch_s"] = torch_epoch
                t["epoch_vs_torch_padded"] = torch_epoch / sq["epoch_s"]
            t["epoch_s"] = sq["epoch_s"]
            t["slowest_over_median"] = max(pad["step_max_over_median"], sq["step_max_over_median"])
            t["met"] = {
                "padded >= 1.3x PyTorch + compile": t.get("padded_vs_torch_compile", 0) >= 1.3 if ref else None,
                "peak memory <= PyTorch's": t.get("peak_mem_vs_torch", 9) <= 1.0 if ref else None,
                "SQuAD epoch <= 25 s": sq["epoch_s"] <= 25,
                "epoch >= 2.8x PyTorch padded": t.get("epoch_vs_torch_padded", 0) >= 2.8 if ref else None,
                "slowest step <= 1.10x median": t["slowest_over_median"] <= 1.10,
            }
            row["targets"] = t
        if sw is not None:
            row["switch_checks"] = {s: checks.get(s, "not run") for s in sw}
        rows[label] = row
    base = rows.get("bench-default")
    if base and base.get("padded") and base.get("squad"):
        for label, row in rows.items():
            if label == "bench-default" or not (row.get("padded") and row.get("squad")):
                continue
            row["vs_default"] = {
                "padded_samples_per_s": row["padded"]["samples_per_s"] / base["padded"]["samples_per_s"],
                "squad_samples_per_s": row["squad"]["samples_per_s"] / base["squad"]["samples_per_s"],
                "peak_mem_gib_delta": row["padded"]["peak_mem_gib"] - base["padded"]["peak_mem_gib"],
            }
    return {"torch": torch, "torch_compile": ref, "torch_eager": eager, "versions": rows}


def fmt(x, spec="%.2f", none="-"):
    return none if x is None else spec % x


def markdown(rep):
    o = ["# make gpu-check, PART=%s" % rep["part"], ""]
    g = rep.get("gpu") or {}
    o.append("%s; GPU %s (driver %s); %s; host %s; %.0f s in all (budget %d s)." % (
        rep["version"], g.get("name", "unknown"), g.get("driver", "?"), rep["date"], rep["host"], rep["elapsed_s"],
        rep["budget_s"]))
    o += ["", "| step | status | seconds | budget | detail |", "|---|---|---|---|---|"]
    for s in rep["steps"]:
        o.append("| %s | %s | %.1f | %.0f | %s |" % (s["name"], s["status"], s["seconds"], s["budget_s"],
                                                    s["detail"].replace("|", "/")))
    b = rep.get("bench") or {}
    if b.get("versions"):
        ref = b.get("torch_compile")
        o += ["", "## sq-train bench beside torch_baseline.py (same run)", ""]
        if ref:
            o.append("PyTorch bf16 SDPA + compile: %.0f samples/s, %.2f GiB; eager SDPA: %s samples/s." % (
                ref["samples_s"], ref["peak_mem_gib"], fmt((b.get("torch_eager") or {}).get("samples_s"), "%.0f")))
        else:
            o.append("No PyTorch result: the ratios to it are left out.")
        o += ["", "| version | switches | padded samples/s | x PyTorch+compile (>= 1.3) | peak GiB (<= PyTorch) | "
              "SQuAD epoch s (<= 25) | x PyTorch padded (>= 2.8) | slowest/median (<= 1.10) | x default padded, SQuAD | "
              "checks |", "|---|---|---|---|---|---|---|---|---|---|"]
        for label, r in b["versions"].items():
            t, p, q = r.get("targets") or {}, r.get("padded") or {}, r.get("squad") or {}
            vd = r.get("vs_default")
            o.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label[len("bench-"):], r.get("switches") or "-", fmt(p.get("samples_per_s"), "%.0f"),
                fmt(t.get("padded_vs_torch_compile")), fmt(p.get("peak_mem_gib")), fmt(q.get("epoch_s"), "%.1f"),
                fmt(t.get("epoch_vs_torch_padded")), fmt(t.get("slowest_over_median"), "%.3f"),
                "%.3f, %.3f" % (vd["padded_samples_per_s"], vd["squad_samples_per_s"]) if vd else "-",
                ", ".join("%s %s" % kv for kv in (r.get("switch_checks") or {}).items()) or r["step_status"]))
    if rep.get("sweep"):
        o += ["", "## Attention (build/tests/cuda/kernels --sweep attention)", "", "| kernel | ms | TFLOP/s |",
              "|---|---|---|"]
        for r in rep["sweep"]:
            if r["tflops"] > 0:
                o.append("| %s | %.3f | %.1f |" % (r["kernel"], r["ms"], r["tflops"]))
    if rep.get("ncu"):
        o += ["", "## ncu: attention kernels of one SQuAD step", "",
              "| kernel | grid x block | " + " | ".join(n for n, _ in NCU_COLUMNS) + " |",
              "|---|---|" + "---|" * len(NCU_COLUMNS)]
        for k in rep["ncu"]:
            o.append("| %s | %s x %s | %s |" % (k["kernel"][:60], k["grid"], k["block"],
                                                " | ".join(k.get(c) or "-" for _, c in NCU_COLUMNS)))
    return "\n".join(o) + "\n"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    out, part, elapsed, version = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    steps = read_steps(out)
    rep = {
        "tool": "make gpu-check (tests/cuda/check.sh)",
        "part": part,
        "version": version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(),
        "gpu": gpu_facts(out),
        "budget_s": BUDGET_S if part == "all" else int(sum(s["budget_s"] for s in steps)),
        "elapsed_s": elapsed,
        "passed": sum(s["status"] == "pass" for s in steps),
        "failed": sum(s["status"] not in ("pass", "skip") for s in steps),
        "skipped": sum(s["status"] == "skip" for s in steps),
        "steps": steps,
    }
    if part == "all":
        rep["bench"] = bench(out, steps)
        rep["sweep"] = sweep(out)
        rep["ncu"] = ncu(out)
    else:
        rep["f1"] = {f: load_json(os.path.join(out, "f1", f)) for f in sorted(os.listdir(os.path.join(out, "f1")))
                     if f.endswith(".json")} if os.path.isdir(os.path.join(out, "f1")) else None
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(rep, f, indent=1)
    md = markdown(rep)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
