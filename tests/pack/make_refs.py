#!/usr/bin/env python3
"""Regenerates the reference features the pack tests compare with, from
../shared/tools/hf_reference.py (HuggingFace tokenizers):

  tests/pack/make_refs.py [--quick] [SHARED]   (SHARED defaults to ../shared;
                                              --quick skips dev and train)

writes into tests/pack/fixtures/:
  synth.json                    synthetic SQuAD data aimed at window edges
  synth.tokens.jsonl.zst        hf_reference.py tokens of it (test_window input)
  synth.<S>-<T>-<Q>.ref.zst     hf_reference.py features at max-seq S, stride T
                                (Q: the --max-query the C side uses)
  <name>.<S>-<T>-<Q>.jsonl.zst  features in sq-inspect's line format (xquad, stress)
  <name>.<S>-<T>-<Q>.sha256     sha256 of that sq-inspect output (dev, train: too big
                                to commit) and the feature count
Questions longer than Q tokens are cut at the end of their Q-th token before
the reference sees them (sq-pack cuts them; run_qa does not), and the number cut
goes into <name>.<S>-<T>-<Q>.cut.
"""
import hashlib, json, os, random, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ARGS = [a for a in sys.argv[1:] if a != "--quick"]
QUICK = len(ARGS) < len(sys.argv) - 1
SHARED = os.path.abspath(ARGS[0] if ARGS else os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "tools"))
import hf_reference as hf  # noqa: E402

VOCAB = os.path.join(SHARED, "data", "bert-base-uncased-vocab.txt")
FIX = os.path.join(HERE, "fixtures")
SYNTH_COMBOS = [(384, 128, 64), (32, 8, 8), (24, 5, 8), (16, 4, 8), (20, 0, 8), (17, 5, 8)]


def synth():
    """Paragraphs of 0..70 words, some split into several word pieces, with
    accents and CJK (one token per character), answers on random character
    spans (so many start or end inside a token, or on the last token of a
    window), v2.0 impossible questions and an empty question."""
    rng = random.Random(4)
    plain = ["the", "a", "of", "river", "city", "was", "in", "1876", "king", "north", "by", "game"]
    pieces = ["unbelievably", "photosynthesis", "café", "naïve", "zürich", "中国", "東京", "x-ray", "don't"]
    data = []
    for a in range(6):
        paras = []
        for p in range(8):
            n = rng.choice([0, 1, 2, 5, 9, 13, 20, 33, 47, 70]) if (a, p) != (0, 0) else 0
            words = [rng.choice(pieces) if rng.random() < 0.2 else rng.choice(plain) for _ in range(n)]
            ctx = " ".join(words)
            if a == 0 and p == 1:
                ctx = "  " + ctx + " "
            qas = []
            for k in range(rng.randint(1, 4)):
                qid = "s%d-%d-%d" % (a, p, k)
                q = " ".join(rng.choice(plain) for _ in range(rng.randint(1, 6))) + "?"
                if k == 3:
                    q = "   "
                if not ctx.strip():
                    qas.append({"id": qid, "question": q, "answers": []})
                    continue
                s = rng.randrange(len(ctx))
                e = min(len(ctx), s + rng.randint(1, 12))
                qa = {"id": qid, "question": q, "answers": [{"text": ctx[s:e], "answer_start": s}]}
                if rng.random() < 0.15:
                    qa["is_impossible"] = True
                    qa["plausible_answers"], qa["answers"] = qa["answers"], []
                elif rng.random() < 0.1:
                    qa["is_impossible"] = False
                qas.append(qa)
            paras.append({"context": ctx, "qas": qas})
        data.append({"title": "synth %d" % a, "paragraphs": paras})
    return {"version": "v2.0", "data": data}


def cut_questions(squad, max_query):
    """Copy of squad with each question cut after its max_query-th token;
    returns (copy, number cut).  Cutting the text at that token's end
    re-tokenizes to exactly the first max_query ids (checked)."""
    tok = hf.tokenizer(VOCAB)
    out = json.loads(json.dumps(squad))
    n = 0
    for art in out["data"]:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                q = qa["question"].lstrip()
                e = tok.encode(q, add_special_tokens=False)
                if len(e.ids) <= max_query:
                    continue
                cut = q[: e.offsets[max_query - 1][1]]
                assert tok.encode(cut, add_special_tokens=False).ids == e.ids[:max_query], qa["id"]
                qa["question"] = cut
                n += 1
    return out, n


def reference(squad_path, s, t, q):
    """hf_reference features of squad_path at (s, t) with questions cut to q:
    (list of feature dicts, number of questions cut)."""
    squad, n_cut = cut_questions(json.load(open(squad_path, encoding="utf-8")), q)
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.json"), os.path.join(d, "out.jsonl")
        json.dump(squad, open(src, "w", encoding="utf-8"), ensure_ascii=False)
        hf.features(VOCAB, src, out, s, t)
        return [json.loads(line) for line in open(out, encoding="utf-8")], n_cut


def emit_string(s):
    """A JSON string as sq-inspect writes it (inspect/emit.c)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def inspect_lines(feats):
    """The features as sq-inspect prints them."""
    for i, f in enumerate(feats):
        offs = ",".join("null" if o is None else "[%d,%d]" % tuple(o) for o in f["off"])
        yield ('{"type":"feature","index":%d,"example":%s,"input_ids":[%s],"token_type_ids":[%s],'
               '"start_position":%d,"end_position":%d,"offsets":[%s]}\n') % (
            i, emit_string(f["ex"]), ",".join(map(str, f["ids"])),
            ",".join(map(str, f["tt"])), f["sp"], f["ep"], offs)


def write_inspect(name, squad_path, s, t, q, digest_only):
    feats, n_cut = reference(squad_path, s, t, q)
    base = os.path.join(FIX, "%s.%d-%d-%d" % (name, s, t, q))
    text = "".join(inspect_lines(feats)).encode("utf-8")
    if digest_only:
        open(base + ".sha256", "w").write("%s %d\n" % (hashlib.sha256(text).hexdigest(), len(feats)))
    else:
        subprocess.run(["zstd", "-q", "-19", "-f", "-o", base + ".jsonl.zst"], input=text, check=True)
    open(base + ".cut", "w").write("%d\n" % n_cut)
    print("%s: %d features, %d questions cut" % (base, len(feats), n_cut))


def zstd(src, dst):
    subprocess.run(["zstd", "-q", "-19", "-f", src, "-o", dst], check=True)


def main():
    os.makedirs(FIX, exist_ok=True)
    sj = os.path.join(FIX, "synth.json")
    json.dump(synth(), open(sj, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "tokens")
        hf.tokens(VOCAB, sj, out)
        zstd(out, os.path.join(FIX, "synth.tokens.jsonl.zst"))
        for s, t, q in SYNTH_COMBOS:
            hf.features(VOCAB, sj, out, s, t)
            zstd(out, os.path.join(FIX, "synth.%d-%d-%d.ref.zst" % (s, t, q)))
    xquad = os.path.join(ROOT, "data", "xquad.en.json")
    for s, t, q in [(384, 128, 64), (128, 32, 64), (64, 16, 32), (64, 16, 8)]:
        write_inspect("xquad", xquad, s, t, q, False)
    write_inspect("synth", sj, 32, 8, 8, False)
    stress = os.path.join(ROOT, "tests", "tokenize", "fixtures", "stress.json")
    if os.path.exists(stress):
        for s, t, q in [(384, 128, 64), (64, 16, 16)]:
            write_inspect("stress", stress, s, t, q, False)
    squad = os.path.join(SHARED, "data", "squad")
    for name in [] if QUICK else ["dev-v1.1", "train-v1.1"]:
        write_inspect(name, os.path.join(squad, name + ".reconstructed.json"), 384, 128, 64, True)


if __name__ == "__main__":
    main()
