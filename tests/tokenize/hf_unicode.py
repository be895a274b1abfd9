#!/usr/bin/env python3
"""What HuggingFace tokenizers' BertNormalizer and BertPreTokenizer make of
every code point, one line per code point that is not left alone:
"<cp> <normalized cps, comma-separated> <pieces of 'a'+c+'a'>" (hex).
Code points missing from the output normalize to themselves and do not split.

  hf_unicode.py uncased|cased OUT
"""
import sys
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

cased = sys.argv[1] == "cased"
norm = BertNormalizer(clean_text=True, handle_chinese_chars=True,
                      strip_accents=False if cased else None, lowercase=not cased)
pre = BertPreTokenizer()
with open(sys.argv[2], "w") as out:
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        s = chr(c)
        r = ",".join("%x" % ord(x) for x in norm.normalize_str(s))
        p = len(pre.pre_tokenize_str("a" + s + "a"))
        if r != "%x" % c or p != 1:
            out.write("%x %s %d\n" % (c, r, p))
