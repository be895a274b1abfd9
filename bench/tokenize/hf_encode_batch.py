#!/usr/bin/env python3
"""Seconds HuggingFace tokenizers' encode_batch spends on every context and
question of a SQuAD file (bert-base-uncased, as ../shared/tools/hf_reference.py
sets it up), best of RUNS; JSON loading is not timed.  Prints wall seconds,
CPU seconds (all threads) of that run, the number of texts and of tokens.

  hf_encode_batch.py SHARED_TOOLS_DIR VOCAB SQUAD.json [RUNS]
"""
import json, sys, time

tools, vocab, squad = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
sys.path.insert(0, tools)
import hf_reference  # noqa: E402

tok = hf_reference.tokenizer(vocab)
texts = []
for art in json.load(open(squad, encoding="utf-8"))["data"]:
    for p in art["paragraphs"]:
        texts.append(p["context"])
        texts.extend(qa["question"] for qa in p["qas"])
best = None
for _ in range(runs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = tok.encode_batch(texts, add_special_tokens=False)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if best is None or dt < best[0]:
        best = (dt, cpu)
print("%.3f %.3f %d %d" % (best[0], best[1], len(texts), sum(len(e.ids) for e in out)))
