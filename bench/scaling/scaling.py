#!/usr/bin/env python3
"""Predicts sq-train's step time and speedup on G GPUs per node x N nodes for
each strategy (ddp, zero1, zero2, fsdp) from a single-GPU measurement, the
bytes each strategy moves per step and the link bandwidths.

  scaling.py bytes --params P --world W --strategy S [--accum A] [--grad-bytes 4] [--gather-bytes 4]
      bytes one rank moves per optimizer step: the numbers train/dist/comm*.c count at
      run time (metrics.jsonl comm_bytes); tests/dist/test_bytes.sh checks that
      they agree.
  scaling.py table [--step-ms T --params P ...] [--json]
      the 1 GPU vs G x N table (default: 1 A100 vs 2 nodes x 2 A100, BERT-base).
  scaling.py comm --config config.json --strategy S --world W --nodes N --link-gbs X [--latency-us L]
      seconds one rank spends in the step's collectives when each runs alone
      (no overlap with compute): the calls train/dist/dist.c makes, each a latency
      plus its ring bytes at the bus bandwidth; bench/scaling/netns_run.sh
      compares it with the comm_s sq-train measures over a shaped link.

Model.  Ring collectives move, per rank, 2(W-1)/W of the buffer (all-reduce)
or (W-1)/W (reduce-scatter, all-gather) at the bus bandwidth of the slowest
link the ring crosses: NVLink inside a node (default 230 GB/s, NCCL's
all-reduce bus bandwidth on an A100/H100 NVLink node), InfiniBand between
nodes (default 24 GB/s per 200 Gb/s port, ports per node overridable), plus
a latency per call.  The step runs forward, backward layer by layer (QA
head first), then the optimizer; communication runs on its own stream, one
call at a time, starting when its data is ready:
  ddp    buckets (--bucket-mb) all-reduced as backward completes them;
  zero1  one reduce-scatter after backward, all-gather after the optimizer;
  zero2  buckets reduce-scattered during backward, all-gather after;
  fsdp   each layer all-gathered before its forward and its backward (the
         next layer prefetched while one computes), its gradients
         reduce-scattered after its backward.
The optimizer of the sharded strategies runs on 1/W of the buffer.
Weak scaling: every GPU keeps the measured per-GPU batch, so speedup is
samples/s on W GPUs over samples/s on one.
"""
import argparse
import json
import sys

# BERT-base (HF bert-base-uncased + qa_outputs): parameters per layer group.
BERT_BASE = {"vocab": 30522, "hidden": 768, "layers": 12, "intermediate": 3072, "max_position": 512, "type_vocab": 2}


def bert_layers(c):
    """Floats of each layer range in backward order (QA head, L-1..0, embeddings)."""
    C, I = c["hidden"], c["intermediate"]
    emb = (c["vocab"] + c["max_position"] + c["type_vocab"]) * C + 2 * C
    layer = 4 * (C * C + C) + 2 * C + (C * I + I) + (I * C + C) + 2 * C
    head = 2 * C + 2
    return [head] + [layer] * c["layers"] + [emb]


def ring_allreduce(world, nbytes):
    return 2.0 * (world - 1) / world * nbytes


def ring_sharded(world, nbytes):
    return (world - 1) / world * nbytes


def step_bytes(params, world, strategy, accum=1, grad_bytes=4, gather_bytes=4, control=True):
    """Bytes one rank moves per optimizer step, as train/dist/comm*.c counts them."""
    if world == 1 or strategy == "single":
        return 0.0
    P = float(params)
    if strategy == "ddp":
        b = ring_allreduce(world, P * grad_bytes)
    elif strategy in ("zero1", "zero2"):
        b = ring_sharded(world, P * grad_bytes) + ring_sharded(world, P * gather_bytes)
    elif strategy == "fsdp":
        # every micro-step gathers each layer twice (forward, backward)
        b = ring_sharded(world, P * grad_bytes) + 2 * accum * ring_sharded(world, P * gather_bytes)
    else:
        raise ValueError(strategy)
    if control:
        # doubles: the step's loss (and for the sharded strategies the
        # squared norm) summed, the samples and tokens counted, the stop
        # flag agreed
        b += ring_allreduce(world, 8.0 * (1 if strategy == "ddp" else 2)) + ring_allreduce(world, 16.0)
        b += ring_allreduce(world, 8.0)
    return b


def bus_bw(gpus, nodes, a):
    intra = a.nvlink_gbs * 1e9
    if nodes == 1:
        return intra if gpus > 1 else float("inf")
    return min(intra, a.ib_gbs * a.ib_ports * 1e9)


def simulate(strategy, gpus, nodes, a, layers):
    """Seconds per step on gpus x nodes GPUs: the compute and comm streams."""
    W = gpus * nodes
    step = a.step_ms / 1e3
    opt = step * a.optimizer_frac
    compute = step - opt
    fwd_total = compute * a.forward_frac
    bwd_total = compute - fwd_total
    total_floats = float(sum(layers))
    # per-layer backward (and forward) times: measured ones, else by a
    # layer's share of the encoder FLOPs (head and embeddings ~ free)
    if a.layer_ms:
        bwd = [t / 1e3 for t in a.layer_ms]
    else:
        n_enc = len(layers) - 2
        bwd = [0.0] + [bwd_total / n_enc] * n_enc + [0.0]
    fwd = [t * fwd_total / max(bwd_total, 1e-12) for t in bwd]
    if W == 1 or strategy == "single":
        return step, 0.0
    bw = bus_bw(gpus, nodes, a)
    lat = a.latency_us / 1e6
    gb, pb = a.grad_bytes, a.gather_bytes

    def xfer(nbytes, allreduce):
        return lat + (ring_allreduce(W, nbytes) if allreduce else ring_sharded(W, nbytes)) / bw

    t = 0.0          # compute clock
    comm_free = 0.0  # comm stream clock
    moved = 0.0
    if strategy == "fsdp":
        # forward in forward order (embeddings first): gather l+1 while l runs
        order = list(reversed(range(len(layers))))
        ready = {}
        for k, li in enumerate(order):
            start = max(comm_free, 0.0 if k == 0 else t - fwd[order[k - 1]])
            comm_free = start + xfer(layers[li] * pb, False)
            ready[li] = comm_free
            moved += ring_sharded(W, layers[li] * pb)
            t = max(t, ready[li]) + fwd[li]
        # backward: gather again (prefetched), reduce-scatter after
        for k, li in enumerate(range(len(layers))):
            start = max(comm_free, t - (bwd[li - 1] if k else 0.0))
            comm_free = start + xfer(layers[li] * pb, False)
            moved += ring_sharded(W, layers[li] * pb)
            t = max(t, comm_free) + bwd[li]
            comm_free = max(comm_free, t) + xfer(layers[li] * gb, False)
            moved += ring_sharded(W, layers[li] * gb)
        t = max(t, comm_free) + opt / W
        return t, moved
    t = fwd_total
    bucket = a.bucket_mb * 1024 * 1024
    pend = 0.0
    for li, n in enumerate(layers):
        t += bwd[li]
        if strategy in ("ddp", "zero2"):
            pend += n * gb
            if pend >= bucket or li == len(layers) - 1:
                comm_free = max(comm_free, t) + xfer(pend, strategy == "ddp")
                moved += ring_allreduce(W, pend) if strategy == "ddp" else ring_sharded(W, pend)
                pend = 0.0
    if strategy == "zero1":
        comm_free = max(comm_free, t) + xfer(total_floats * gb, False)
        moved += ring_sharded(W, total_floats * gb)
    t = max(t, comm_free)
    if strategy == "ddp":
        return t + opt, moved
    t += opt / W
    t += xfer(total_floats * pb, False)
    moved += ring_sharded(W, total_floats * pb)
    return t, moved


def comm_calls(strategy, layers, bucket_mb, grad_bytes=4, gather_bytes=4):
    """The collectives train/dist/dist.c issues in one step (accumulation 1), as
    (kind, bytes of the buffer): kind "ar" all-reduce, "rs" reduce-scatter,
    "ag" all-gather.  layers: floats per layer range in backward order."""
    calls = []
    total = float(sum(layers))
    if strategy in ("ddp", "zero2"):
        bucket, pend = bucket_mb * 1024 * 1024, 0.0
        for li, n in enumerate(layers):
            pend += n * grad_bytes
            if pend >= bucket or li == len(layers) - 1:
                calls.append(("ar" if strategy == "ddp" else "rs", pend))
                pend = 0.0
        if strategy == "zero2":
            calls.append(("ag", total * gather_bytes))
    elif strategy == "zero1":
        calls += [("rs", total * grad_bytes), ("ag", total * gather_bytes)]
    elif strategy == "fsdp":
        calls += [("ag", n * gather_bytes) for n in layers]            # before each forward
        for n in layers:                                               # backward: gather, then reduce-scatter
            calls += [("ag", n * gather_bytes), ("rs", n * grad_bytes)]
    else:
        raise ValueError(strategy)
    # the host doubles: loss (and the squared norm), samples and tokens, the stop flag
    calls += [("ar", 8.0 * (1 if strategy == "ddp" else 2)), ("ar", 16.0), ("ar", 8.0)]
    return calls


def comm_time(strategy, world, layers, bw, latency_s, bucket_mb=25.0):
    """(seconds, bytes) one rank spends in / moves through the step's calls."""
    t = moved = 0.0
    for kind, nbytes in comm_calls(strategy, layers, bucket_mb):
        b = ring_allreduce(world, nbytes) if kind == "ar" else ring_sharded(world, nbytes)
        t += latency_s + b / bw
        moved += b
    return t, moved


def table(a):
    layers = bert_layers(BERT_BASE) if not a.params else None
    if a.layer_ms and len(a.layer_ms) != (len(a.layer_ms) if a.params else len(layers)):
        sys.exit("scaling.py: --layer-ms needs %d values (QA head, 12 layers, embeddings)" % len(layers))
    if a.params:
        # a flat model: encoder layers of equal size, no embeddings to speak of
        n_enc = len(a.layer_ms) - 2 if a.layer_ms else 12
        layers = [0] + [a.params // n_enc] * n_enc + [a.params - n_enc * (a.params // n_enc)]
    base, _ = simulate("single", 1, 1, a, layers)
    rows = []
    for s in ("ddp", "zero1", "zero2", "fsdp"):
        t, moved = simulate(s, a.gpus, a.nodes, a, layers)
        W = a.gpus * a.nodes
        rows.append({"strategy": s, "gpus": W, "nodes": a.nodes, "step_ms": t * 1e3,
                     "speedup": W * base / t, "efficiency": base / t, "bytes_per_step": moved,
                     "bus_gbs": bus_bw(a.gpus, a.nodes, a) / 1e9})
    return base, rows, sum(layers)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bytes")
    b.add_argument("--params", type=int, required=True)
    b.add_argument("--world", type=int, required=True)
    b.add_argument("--strategy", required=True, choices=["single", "ddp", "zero1", "zero2", "fsdp"])
    b.add_argument("--accum", type=int, default=1)
    b.add_argument("--grad-bytes", type=int, default=4)
    b.add_argument("--gather-bytes", type=int, default=4)
    t = sub.add_parser("table")
    t.add_argument("--step-ms", type=float, default=80.0,
                   help="measured single-GPU step time (default: the labelled A100 assumption)")
    t.add_argument("--params", type=int, default=0, help="parameters (default: BERT-base's layer sizes)")
    t.add_argument("--layer-ms", type=float, nargs="*",
                   help="measured backward ms per layer, QA head first (sq-train -v prints them at the end)")
    t.add_argument("--forward-frac", type=float, default=1 / 3, help="forward share of compute (default 1/3)")
    t.add_argument("--optimizer-frac", type=float, default=0.03, help="optimizer share of the step")
    t.add_argument("--gpus", type=int, default=2, help="GPUs per node")
    t.add_argument("--nodes", type=int, default=2)
    t.add_argument("--nvlink-gbs", type=float, default=230.0, help="all-reduce bus GB/s inside a node")
    t.add_argument("--ib-gbs", type=float, default=24.0, help="GB/s per InfiniBand port (200 Gb/s)")
    t.add_argument("--ib-ports", type=int, default=1, help="ports per node")
    t.add_argument("--latency-us", type=float, default=20.0, help="per collective call")
    t.add_argument("--bucket-mb", type=float, default=25.0)
    t.add_argument("--grad-bytes", type=int, default=2, help="bytes per gradient moved (bf16 on GPU)")
    t.add_argument("--gather-bytes", type=int, default=2, help="bytes per parameter gathered (bf16 on GPU)")
    t.add_argument("--json", action="store_true")
    c = sub.add_parser("comm")
    c.add_argument("--config", required=True, help="the model's config.json (HF BERT keys)")
    c.add_argument("--strategy", required=True, choices=["ddp", "zero1", "zero2", "fsdp"])
    c.add_argument("--world", type=int, required=True)
    c.add_argument("--nodes", type=int, required=True)
    c.add_argument("--link-gbs", type=float, required=True, help="GB/s of the link between nodes, each way")
    c.add_argument("--intra-gbs", type=float, default=230.0, help="bus GB/s inside a node")
    c.add_argument("--latency-us", type=float, default=20.0, help="per collective call")
    c.add_argument("--bucket-mb", type=float, default=25.0)
    a = p.parse_args()
    if a.cmd == "comm":
        with open(a.config) as f:
            hf = json.load(f)
        layers = bert_layers({"vocab": hf["vocab_size"], "hidden": hf["hidden_size"],
                              "layers": hf["num_hidden_layers"], "intermediate": hf["intermediate_size"],
                              "max_position": hf["max_position_embeddings"], "type_vocab": hf["type_vocab_size"]})
        bw = a.intra_gbs * 1e9 if a.nodes == 1 else min(a.intra_gbs, a.link_gbs) * 1e9
        t, moved = comm_time(a.strategy, a.world, layers, bw, a.latency_us / 1e6, a.bucket_mb)
        print(json.dumps({"seconds": t, "bytes": moved, "parameters": sum(layers), "bus_gbs": bw / 1e9}))
        return 0
    if a.cmd == "bytes":
        print("%.0f" % step_bytes(a.params, a.world, a.strategy, a.accum, a.grad_bytes, a.gather_bytes))
        return 0
    base, rows, n = table(a)
    if a.json:
        print(json.dumps({"baseline_step_ms": base * 1e3, "parameters": n, "rows": rows}))
        return 0
    print("1 GPU: %.1f ms/step; %d parameters; %d GPUs/node x %d nodes, bus %.0f GB/s" %
          (base * 1e3, n, a.gpus, a.nodes, rows[0]["bus_gbs"]))
    print("| strategy | GPUs | step ms | speedup | efficiency | MB moved/GPU/step |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.1f | %.2fx | %.0f%% | %.0f |" % (r["strategy"], r["gpus"], r["step_ms"], r["speedup"],
                                                          100 * r["efficiency"], r["bytes_per_step"] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
