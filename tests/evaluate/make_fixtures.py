#!/usr/bin/env python3
"""Makes the committed scoring fixtures in tests/evaluate/fixtures with the
official scripts' logic (official_oracle.py) and Python's own str semantics.
Run once, by hand, from the repository root; the tests then need no Python:

    python3 tests/evaluate/make_fixtures.py [../shared]

unicode.json  Python's view of every assigned code point: \\w, isspace,
              Cased, Case_Ignorable, lower() of the lone character.
pairs.json    (prediction, gold, EM, F1 v1.1, F1 v2.0, normalised pred):
              a case for each rule, then random strings over tricky characters.
v2_*.json     a SQuAD 2.0 style dataset made from data/xquad.en.json (a third
              of the questions impossible), predictions, no-answer
              probabilities with ties, and the official v2.0 scores.
pyjson.json   repr() of doubles (shortest round trip) and json.dumps() of
              strings (ensure_ascii), for sq-eval's Python-identical output.
dev_*.json    perturbed predictions for 2,000 dev v1.1 questions (../shared)
              and the official v1.1 scores, per question and overall.
"""
import json
import os
import random
import re
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_oracle as O  # noqa: E402

OUT = 'tests/evaluate/fixtures'


def ranges(cps):
    r = []
    for c in cps:
        if r and r[-1][1] == c - 1:
            r[-1][1] = c
        else:
            r.append([c, c])
    return r


def cased(ch):
    return ch.islower() or ch.isupper() or ch.istitle()


def case_ignorable(ch):
    # Probed through lower()'s Final_Sigma rule, the only place Python uses it.
    if not cased(ch):
        return ('A' + ch + '\u03a3').lower()[-1] == '\u03c2'
    return ('A\u03a3' + ch).lower()[1] == '\u03c2'


def unicode_fixture():
    assigned, word, space, cas, ign, lower = [], [], [], [], [], []
    wre = re.compile(r'\w')
    for c in range(0x110000):
        ch = chr(c)
        if unicodedata.category(ch) == 'Cn':
            continue
        assigned.append(c)
        if wre.match(ch):
            word.append(c)
        if ch.isspace():
            space.append(c)
        if cased(ch):
            cas.append(c)
        if case_ignorable(ch):
            ign.append(c)
        lo = ch.lower()
        if lo != ch:
            lower.append([c] + [ord(x) for x in lo])
    return {'python': sys.version.split()[0], 'unidata': unicodedata.unidata_version,
            'assigned': ranges(assigned), 'word': ranges(word), 'space': ranges(space),
            'cased': ranges(cas), 'case_ignorable': ranges(ign), 'lower': lower}


SPACES = ['\t', '\n', '\x0b', '\x0c', '\r', '\x1c', '\x1d', '\x1e', '\x1f', ' ', '\x85', '\xa0', '\u1680',
          '\u2000', '\u2005', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000']
NOT_SPACES = ['\u200b', '\u180e', '\ufeff', '\u2060']

HAND = [
    # case: full mapping, Final_Sigma, titlecase, compatibility letters
    ('ÉCOLE Normale', 'école normale'), ('İstanbul', 'istanbul'), ('İ', 'i'),
    ('ΣΑΣ', 'σας'), ('ΌΣΟΣ ΣΟΦΟΣ', 'όσος σοφος'), ('Σ', 'σ'), ('AΣ', 'aς'), ('ΣA', 'σa'),
    ("AΣ'", 'aς'), ("AΣ'B", 'aσb'), ('AΣ\u0301', 'aς\u0301'), ('A\u0301Σ', 'aς'), ('1Σ', '1σ'),
    ('AΣ1', 'aς1'), ('Aʰ Σ', 'aʰ σ'), ('ǅungla', 'ǆungla'), ('Ⅻ Ⓐ', 'ⅻ ⓐ'), ('ẞ', 'ß'),
    ('\u212a\u212b', 'kå'), ('ᎠᏴ', 'ꭰᏼ'), ('Ა', 'ა'), ('ＡＢ', 'ａｂ'), ('𐐀𐐁', '𐐨𐐩'),
    ('ΑΣ.Β', 'ας.β'), ('ΑΣ:Β', 'ας:β'), ('ΑΣ·Β', 'ασ·β'),
    # punctuation: ASCII only
    ('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~x', 'x'), ('“quoted” ‘x’ — – … « » ¿ ¡ · ・',
                                                    '“quoted” ‘x’ — – … « » ¿ ¡ · ・'),
    ('Rock-n-roll', 'rocknroll'), ('U.S.A.', 'usa'), ('24–10', '24–10'), ('$1.5 million', '15 million'),
    # articles
    ('The cat', 'cat'), ('the-cat', 'thecat'), ('a.b', 'ab'), ('the_cat', 'the_cat'), ('the1 1the', 'the1 1the'),
    ('théâtre', 'théâtre'), ('the\u0301', '\u0301'), ('the\u0300 cat', '\u0300 cat'), ("l'an", 'lan'),
    ('αthe', 'αthe'), ('the α', 'α'), ('An apple', 'apple'), ('ANa', 'ana'), ('a an the', ''),
    ('thethe', 'thethe'), ('the the', ''), ('a\u00a0b', 'b'), ('the\u2028cat', 'cat'), ('a\u200bthe', '\u200b'),
    ('The Beatles', 'beatles'), ('an', ''), ('a', ''), ('THE', ''), ('a-an-the', 'aanthe'),
    ('the\u00b2', 'the²'), ('a\u0660', 'a٠'), ('ThE END', 'end'), ('an_a', 'an_a'), ('the·x', 'the·x'),
    ('theİ', 'thei\u0307'), ('aİ', 'ai\u0307'), ('İa', 'i\u0307'),
    # whitespace kinds
] + [('x' + s + 'y', 'x y') for s in SPACES] + [('x' + s + 'y', 'x' + s + 'y') for s in NOT_SPACES] + [
    # empty, multisets, mixed
    ('', ''), ('   ', ''), ('!!!', ''), ('cat cat dog', 'cat dog dog'), ('b b c', 'b b b a'),
    ('Denver Broncos', 'the Denver Broncos'), ('Broncos, Denver', 'Denver Broncos.'),
    ('New York City', 'york'), ('x', ''), ('', 'the'), ('the', ''), ('a', 'an'),
    ('\u0000the\u0000', '\u0000'), ('Ω Ω ω', 'ω'),
]

ALPHABET = (list('aAnNtThHeEbcxyz019_ ') + ['.', ',', "'", '-', '"', '(', ')'] + SPACES[:12] + NOT_SPACES +
            ['Σ', 'σ', 'ς', 'İ', 'ı', 'é', 'É', '\u0301', '\u0307', 'ʰ', 'ǅ', 'Ⅻ', 'Ⓐ', 'ß', 'ẞ', '\u212a',
             '²', '٠', '中', '·', '’', '“', '\u00ad', '\u200d', 'Ꭰ', '𐐀', 'ﬁ', 'Ａ', 'the ', ' a ', ' an ',
             'The ', 'A '])


def rand_str(rng):
    return ''.join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def pair_row(p, g):
    return [p, g, float(O.exact_match_score_v1(p, g)), float(O.f1_score_v1(p, g)), float(O.compute_f1(g, p)),
            O.normalize_answer(p)]


def pairs_fixture():
    rows = []
    for p, g in HAND:
        rows.append(pair_row(p, g))
        rows.append(pair_row(g, p))
    rng = random.Random(11)
    for _ in range(3000):
        a = rand_str(rng)
        b = rand_str(rng) if rng.random() < 0.7 else ' '.join(reversed(a.split()))
        rows.append(pair_row(a, b))
    return rows


def perturb(rng, gold, context, spans):
    """A plausible wrong-or-right prediction for one question."""
    k = rng.randrange(10)
    if k == 0:
        return gold
    if k == 1:
        w = gold.split()
        return ' '.join(w[rng.randint(0, max(0, len(w) - 1)):]) if len(w) > 1 else gold[:len(gold) // 2]
    if k == 2:
        w = gold.split()
        return ' '.join(w[:rng.randint(1, len(w))]) + rng.choice(['', '.', ','])
    if k == 3:  # extend within the context
        s, e = spans
        return context[max(0, s - rng.randint(0, 25)):min(len(context), e + rng.randint(0, 25))]
    if k == 4:
        return rng.choice([gold.upper(), gold.swapcase(), gold.title(), gold.lower()])
    if k == 5:
        s = rng.randrange(len(context))
        return context[s:s + rng.randint(1, 40)]
    if k == 6:
        return rng.choice(['', ' ', 'the', '.'])
    if k == 7:
        return rng.choice(['The ', 'a ', 'an ', '"', '(']) + gold + rng.choice(['.', ')', '"', ' the', ''])
    if k == 8:
        return gold.replace(' ', rng.choice(['\u00a0', '\u2009', '\u3000', '  ', '\u200b', '-']))
    return gold[: rng.randint(0, len(gold))] + rand_str(rng)


def questions(data):
    for art in data['data']:
        for p in art['paragraphs']:
            for qa in p['qas']:
                yield p['context'], qa


def dev_fixture(shared):
    path = os.path.join(shared, 'data/squad/dev-v1.1.reconstructed.json')
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    rng = random.Random(5)
    qs = list(questions(data))
    chosen = sorted(rng.sample(range(len(qs)), 2000))
    preds = {}
    for i in chosen:
        ctx, qa = qs[i]
        a = rng.choice(qa['answers'])
        preds[qa['id']] = perturb(rng, a['text'], ctx, (a['answer_start'], a['answer_start'] + len(a['text'])))
    per = {}
    for ctx, qa in qs:
        if qa['id'] in preds:
            gts = [x['text'] for x in qa['answers']]
            p = preds[qa['id']]
            per[qa['id']] = [float(O.metric_max_over_ground_truths(O.exact_match_score_v1, p, gts)),
                             float(O.metric_max_over_ground_truths(O.f1_score_v1, p, gts))]
    return preds, {'v1.1': O.evaluate_v1(data['data'], preds), 'per_question': per}


def v2_fixture():
    with open('data/xquad.en.json', encoding='utf-8') as f:
        src = json.load(f)
    rng = random.Random(7)
    data = {'version': 'v2.0', 'data': src['data'][:4]}
    preds, na = {}, []
    for ctx, qa in questions(data):
        gold = qa['answers'][0]
        r = rng.random()
        if r < 0.33:
            qa['plausible_answers'] = qa['answers']
            qa['answers'] = []
            qa['is_impossible'] = True
        else:
            qa['is_impossible'] = False
            if r < 0.38:  # a gold that normalises to nothing: v2.0 drops it
                qa['answers'] = [{'text': 'The', 'answer_start': 0}] + qa['answers']
            elif r < 0.40:
                qa['answers'] = [{'text': 'a.', 'answer_start': 0}]
        p = '' if rng.random() < 0.35 else perturb(
            rng, gold['text'], ctx, (gold['answer_start'], gold['answer_start'] + len(gold['text'])))
        preds[qa['id']] = p
        na.append((qa['id'], round(rng.random(), 1)))
    rng.shuffle(na)
    na_probs = dict(na)
    scores = {'plain': O.evaluate_v2(data['data'], preds),
              'na': O.evaluate_v2(data['data'], preds, na_probs, 1.0),
              'na_t05': O.evaluate_v2(data['data'], preds, na_probs, 0.5)}
    return data, preds, na_probs, scores


def pyjson_fixture():
    import struct
    rng = random.Random(13)
    vals = [0.1, 0.5, 1.0, 100.0, 1e-4, 1e-5, 1e16, 1e15, 123456789012345678.0, 1234567890123456.0, 5e-324,
            1.7976931348623157e308, 2.0 ** -44, 2.0 ** 60, 9.999999999999999e22, -0.0, -1.5, 1 / 3, 2 / 3,
            99.99053926206244, 8.789025543992432, 33.333333333333336]
    for _ in range(1500):
        k = rng.randrange(4)
        if k == 0:
            vals.append(100.0 * rng.randrange(10571) / rng.randrange(1, 10571))
        elif k == 1:
            vals.append(struct.unpack('<f', struct.pack('<f', rng.gauss(0, 10)))[0])
        elif k == 2:
            vals.append(rng.uniform(-1, 1) * 10.0 ** rng.randrange(-30, 30))
        else:
            vals.append(struct.unpack('<d', struct.pack('<Q', rng.getrandbits(64)))[0])
    vals = [v for v in vals if v == v and abs(v) != float('inf')]
    floats = [['%016x' % struct.unpack('<Q', struct.pack('<d', v))[0], json.dumps(v)] for v in vals]
    strs = ['', 'plain', 'q"uote\\back/slash', '\b\f\n\r\t\x00\x01\x1f\x7f\x80', 'é中\u2028\ufeff',
            '\U0001f600\U00010400\U0010ffff', '\ud7ff\ue000\uffff']
    strs += [rand_str(rng) for _ in range(200)]
    return {'floats': floats, 'strings': [[x, json.dumps(x)] for x in strs]}


def dump(name, obj):
    with open(os.path.join(OUT, name), 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False, indent=None, separators=(',', ':'))
        f.write('\n')


def main():
    os.makedirs(OUT, exist_ok=True)
    dump('unicode.json', unicode_fixture())
    dump('pairs.json', pairs_fixture())
    dump('pyjson.json', pyjson_fixture())
    data, preds, na, scores = v2_fixture()
    dump('v2_data.json', data)
    dump('v2_preds.json', preds)
    dump('v2_na.json', na)
    dump('v2_scores.json', scores)
    shared = sys.argv[1] if len(sys.argv) > 1 else '../shared'
    if os.path.isdir(os.path.join(shared, 'data')):
        preds, scores = dev_fixture(shared)
        dump('dev_preds.json', preds)
        dump('dev_scores.json', scores)
    else:
        print('no ../shared: dev fixtures not made', file=sys.stderr)


if __name__ == '__main__':
    main()
