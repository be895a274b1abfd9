#!/usr/bin/env python3
"""HuggingFace reference token outputs in the format of
../shared/tools/hf_reference.py tokens, for either setup:

  hf_tokens.py uncased|cased SHARED_TOOLS_DIR VOCAB SQUAD.json OUT.jsonl

uncased is hf_reference.py's bert-base-uncased tokenizer itself; cased is the
same tokenizer with BertNormalizer(lowercase=False, strip_accents=False), the
bert-base-cased setup."""
import json, sys

mode, tools, vocab, squad, out = sys.argv[1:6]
sys.path.insert(0, tools)
import hf_reference  # noqa: E402
from tokenizers.normalizers import BertNormalizer  # noqa: E402

tok = hf_reference.tokenizer(vocab)
if mode == "cased":
    tok.normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
with open(out, "w") as f:
    for art in json.load(open(squad, encoding="utf-8"))["data"]:
        for p in art["paragraphs"]:
            e = tok.encode(p["context"], add_special_tokens=False)
            f.write(json.dumps({"c": e.ids, "o": [list(o) for o in e.offsets]}) + "\n")
            for qa in p["qas"]:
                f.write(json.dumps({"q": qa["id"], "ids": tok.encode(qa["question"], add_special_tokens=False).ids}) + "\n")
