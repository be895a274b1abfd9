#!/usr/bin/env python3
"""Makes the committed postprocessing fixtures (tests/evaluate/fixtures/pp_*)
with hf_postprocess.py, HF's postprocess_qa_predictions restated.  Run once,
by hand, from the repository root after building bin/sq-tokenize, sq-pack and
sq-inspect:

    python3 tests/evaluate/make_pp_fixtures.py

pp_v1_data.json, pp_v2_data.json  30 questions of data/sample/xquad-dev.json
                   (v2: every third impossible), cut by sq-pack --max-seq 128 --max-query 32
                   --doc-stride 48 so that most examples span several features.
pp_*_logits.safetensors  float16 logits, distinct within each row (numpy's
                   argsort is not stable), the row's largest moved to [CLS]
                   for a third of the v2 features so the null answer competes.
pp_<case>/        HF's predictions.json, null_odds.json (v2) and, for the cases
                   with short lists, nbest_predictions.json, for the options in
                   CASES (test_postprocess.sh runs the same).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

OUT = 'tests/evaluate/fixtures'
HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEQ, STRIDE, MAX_QUERY = 128, 48, 32
# name: (dataset, sq-eval options, hf_postprocess.py options)
CASES = {
    'v1_default': ('v1', [], []),
    'v1_small': ('v1', ['--n-best', '3', '--max-answer-length', '4'], ['--n-best', '3', '--max-answer-length', '4']),
    'v2_default': ('v2', [], ['--v2']),
    'v2_thresh': ('v2', ['--n-best', '5', '--null-score-diff-threshold', '0.7'],
                  ['--v2', '--n-best', '5', '--null-threshold', '0.7']),
}


def subsets():
    with open('data/sample/xquad-dev.json', encoding='utf-8') as f:
        src = json.load(f)
    v1 = {'version': '1.1', 'data': []}
    for art in src['data']:
        p = dict(art['paragraphs'][0])
        p['qas'] = p['qas'][:4]
        v1['data'].append({'title': art['title'], 'paragraphs': [p]})
    v2 = json.loads(json.dumps(v1))
    v2['version'] = 'v2.0'
    k = 0
    for art in v2['data']:
        for p in art['paragraphs']:
            for qa in p['qas']:
                qa['is_impossible'] = k % 3 == 2
                if qa['is_impossible']:
                    qa['plausible_answers'] = qa['answers']
                    qa['answers'] = []
                k += 1
    return v1, v2


def features(data_path, tmp):
    sqt, fd = os.path.join(tmp, 'x.sqt'), os.path.join(tmp, 'feat')
    subprocess.run(['bin/sq-tokenize', '-q', '--vocab', 'data/vocab.txt', '-o', sqt, data_path], check=True)
    subprocess.run(['bin/sq-pack', '-q', '-f', '--max-seq', str(MAX_SEQ), '--doc-stride', str(STRIDE),
                    '--max-query', str(MAX_QUERY), '-o', fd, sqt],
                   check=True)
    jl = os.path.join(tmp, 'features.jsonl')
    with open(jl, 'w') as f:
        subprocess.run(['bin/sq-inspect', '-v', fd], check=True, stdout=f)
    with open(jl) as f:
        n = sum(1 for line in f if json.loads(line).get('type') == 'feature')
    return jl, n


def logits(n, rng, null_share):
    grid = np.unique(np.arange(-10, 10, 1 / 512, dtype=np.float32).astype(np.float16))
    out = []
    for _ in range(2):
        rows = np.stack([rng.choice(grid, MAX_SEQ, replace=False) for _ in range(n)])
        for r in rows:
            if rng.random() < null_share:
                m = int(np.argmax(r))
                r[0], r[m] = r[m], r[0]
        out.append(rows)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(3)
    v1, v2 = subsets()
    with tempfile.TemporaryDirectory() as tmp:
        for name, data, null_share in (('v1', v1, 0.0), ('v2', v2, 0.33)):
            path = os.path.join(OUT, 'pp_%s_data.json' % name)
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(data, f, ensure_ascii=False)
                f.write('\n')
            jl, n = features(path, tmp)
            shutil.copy(jl, os.path.join(tmp, name + '.jsonl'))
            s, e = logits(n, rng, null_share)
            st = os.path.join(OUT, 'pp_%s_logits.safetensors' % name)
            save_file({'start_logits': s, 'end_logits': e}, st)
            os.chmod(st, 0o644)
            print('%s: %d features' % (name, n), file=sys.stderr)
        for case, (name, _, hf_opts) in CASES.items():
            out = os.path.join(OUT, 'pp_' + case)
            shutil.rmtree(out, ignore_errors=True)
            subprocess.run([sys.executable, os.path.join(HERE, 'hf_postprocess.py'),
                            os.path.join(OUT, 'pp_%s_data.json' % name), os.path.join(tmp, name + '.jsonl'),
                            os.path.join(OUT, 'pp_%s_logits.safetensors' % name), out] + hf_opts, check=True)
            if '--n-best' not in hf_opts:  # 20-long lists: 150 kB each, the short ones suffice
                os.remove(os.path.join(out, 'nbest_predictions.json'))


if __name__ == '__main__':
    main()
