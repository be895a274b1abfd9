#!/usr/bin/env python3
"""Test oracle: HuggingFace's postprocess_qa_predictions, restated.

Source (read, not copied): transformers, examples/pytorch/question-answering/
utils_qa.py, postprocess_qa_predictions().  The loop, the numpy types
(float32 logits, float32 scores and softmax) and the output files
(json.dumps(..., indent=4) + "\\n") are HF's.  The one choice HF leaves to
numpy: np.argsort's default sort is not stable, so ties between logits are
broken here by a stable sort (the higher index first, once reversed); the
fixtures draw logits without ties within a row.

Features come from `sq-inspect -v FEATDIR` (offsets None outside the
context, as run_qa's prepare_validation_features sets them); logits from a
safetensors file with start_logits and end_logits [features, max_seq].

    hf_postprocess.py DATA.json FEATURES.jsonl LOGITS.safetensors OUTDIR
        [--v2] [--n-best 20] [--max-answer-length 30] [--null-threshold 0.0]
"""
import argparse
import collections
import json
import os

import numpy as np
from safetensors.numpy import load_file


def postprocess_qa_predictions(examples, features, predictions, version_2_with_negative=False, n_best_size=20,
                               max_answer_length=30, null_score_diff_threshold=0.0):
    all_start_logits, all_end_logits = predictions
    assert len(predictions[0]) == len(features)
    example_id_to_index = {k: i for i, k in enumerate(e['id'] for e in examples)}
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        features_per_example[example_id_to_index[feature['example_id']]].append(i)

    all_predictions = collections.OrderedDict()
    all_nbest_json = collections.OrderedDict()
    scores_diff_json = collections.OrderedDict()

    for example_index, example in enumerate(examples):
        feature_indices = features_per_example[example_index]
        min_null_prediction = None
        prelim_predictions = []
        for feature_index in feature_indices:
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            offset_mapping = features[feature_index]['offset_mapping']
            feature_null_score = start_logits[0] + end_logits[0]
            if min_null_prediction is None or min_null_prediction['score'] > feature_null_score:
                min_null_prediction = {'offsets': (0, 0), 'score': feature_null_score,
                                       'start_logit': start_logits[0], 'end_logit': end_logits[0]}
            start_indexes = np.argsort(start_logits, kind='stable')[-1: -n_best_size - 1: -1].tolist()
            end_indexes = np.argsort(end_logits, kind='stable')[-1: -n_best_size - 1: -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if (start_index >= len(offset_mapping) or end_index >= len(offset_mapping)
                            or offset_mapping[start_index] is None or len(offset_mapping[start_index]) < 2
                            or offset_mapping[end_index] is None or len(offset_mapping[end_index]) < 2):
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    prelim_predictions.append({
                        'offsets': (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                        'score': start_logits[start_index] + end_logits[end_index],
                        'start_logit': start_logits[start_index],
                        'end_logit': end_logits[end_index]})
        if version_2_with_negative and min_null_prediction is not None:
            prelim_predictions.append(min_null_prediction)
            null_score = min_null_prediction['score']

        predictions_ = sorted(prelim_predictions, key=lambda x: x['score'], reverse=True)[:n_best_size]
        if (version_2_with_negative and min_null_prediction is not None
                and not any(p['offsets'] == (0, 0) for p in predictions_)):
            predictions_.append(min_null_prediction)

        context = example['context']
        for pred in predictions_:
            offsets = pred.pop('offsets')
            pred['text'] = context[offsets[0]: offsets[1]]

        if len(predictions_) == 0 or (len(predictions_) == 1 and predictions_[0]['text'] == ''):
            predictions_.insert(0, {'text': 'empty', 'start_logit': 0.0, 'end_logit': 0.0, 'score': 0.0})

        scores = np.array([pred.pop('score') for pred in predictions_])
        exp_scores = np.exp(scores - np.max(scores))
        probs = exp_scores / exp_scores.sum()
        for prob, pred in zip(probs, predictions_):
            pred['probability'] = prob

        if not version_2_with_negative:
            all_predictions[example['id']] = predictions_[0]['text']
        else:
            i = 0
            while predictions_[i]['text'] == '':
                i += 1
            best_non_null_pred = predictions_[i]
            score_diff = null_score - best_non_null_pred['start_logit'] - best_non_null_pred['end_logit']
            scores_diff_json[example['id']] = float(score_diff)
            if score_diff > null_score_diff_threshold:
                all_predictions[example['id']] = ''
            else:
                all_predictions[example['id']] = best_non_null_pred['text']

        all_nbest_json[example['id']] = [
            {k: (float(v) if isinstance(v, (np.float16, np.float32, np.float64)) else v) for k, v in pred.items()}
            for pred in predictions_]
    return all_predictions, all_nbest_json, scores_diff_json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('data')
    ap.add_argument('features')
    ap.add_argument('logits')
    ap.add_argument('outdir')
    ap.add_argument('--v2', action='store_true')
    ap.add_argument('--n-best', type=int, default=20)
    ap.add_argument('--max-answer-length', type=int, default=30)
    ap.add_argument('--null-threshold', type=float, default=0.0)
    a = ap.parse_args()
    with open(a.data, encoding='utf-8') as f:
        data = json.load(f)
    examples = [{'id': qa['id'], 'context': p['context']}
                for art in data['data'] for p in art['paragraphs'] for qa in p['qas']]
    t = load_file(a.logits)
    start = t['start_logits'].astype(np.float32)
    end = t['end_logits'].astype(np.float32)
    width = start.shape[1]
    features = []
    with open(a.features, encoding='utf-8') as f:
        for line in f:
            r = json.loads(line)
            if r.get('type') != 'feature':
                continue
            om = [tuple(o) if o is not None else None for o in r['offsets']]
            features.append({'example_id': r['example'], 'offset_mapping': om + [None] * (width - len(om))})
    preds, nbest, odds = postprocess_qa_predictions(examples, features, (start, end), a.v2, a.n_best,
                                                    a.max_answer_length, a.null_threshold)
    os.makedirs(a.outdir, exist_ok=True)
    for name, obj in (('predictions.json', preds), ('nbest_predictions.json', nbest), ('null_odds.json', odds)):
        if name == 'null_odds.json' and not a.v2:
            continue
        with open(os.path.join(a.outdir, name), 'w') as w:
            w.write(json.dumps(obj, indent=4) + '\n')


if __name__ == '__main__':
    main()
