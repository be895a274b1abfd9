/* Answers from a QA model's start/end logits, exactly as HuggingFace's
 * postprocess_qa_predictions (examples/pytorch/question-answering/utils_qa.py)
 * makes them: per feature the n-best start and end indexes, spans outside the
 * context, reversed or longer than the maximum dropped, score = start + end
 * logit in float32, the best span over all of an example's features, text
 * cut from the context by code-point offsets; for SQuAD 2.0 the minimum null
 * ([CLS]) score against the best span and a threshold.  Used by sq-eval and
 * by sq-train to report dev EM/F1.  An sq_pp_result owns its memory; texts
 * point into the sq_squad (or static strings) and live as long as it does. */
#ifndef SQ_POSTPROCESS_H
#define SQ_POSTPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sq/squad.h"

#define SQ_PP_NO_OFFSET UINT32_MAX /* = SQ_NO_OFFSET of sq/features.h */

typedef struct {
    uint32_t question;        /* index in the sq_squad */
    uint32_t len;             /* real tokens; later positions are padding */
    const uint32_t *offsets;  /* 2 * len code-point [start, end); SQ_PP_NO_OFFSET
                                 pairs outside the context ([CLS], question, [SEP]) */
} sq_pp_feature;

typedef struct {
    int n_best;               /* n_best_size, 20 */
    int max_answer_length;    /* 30 */
    float null_score_diff_threshold; /* 0.0; compared in float32, as numpy 2 compares */
    bool v2;                  /* version_2_with_negative */
} sq_pp_opts;

/* One entry of the n-best list (HF's nbest_predictions.json). */
typedef struct {
    const char *text;
    size_t len;
    double start_logit, end_logit; /* float32 values, or 0.0 for the placeholder */
    double probability;       /* softmax over the list, float32 as numpy computes it */
    bool placeholder;         /* HF's {"text": "empty"} when nothing else exists */
} sq_pp_entry;

typedef struct {
    const char *text;         /* the prediction; NULL when the question has no feature */
    size_t len;
    bool has_score_diff;      /* v2: null score minus the best non-null span's */
    double score_diff;        /* a float32 value (HF's null_odds.json) */
    uint32_t n_nbest;
    sq_pp_entry *nbest;
} sq_pp_answer;

typedef struct {
    uint32_t n_questions;
    sq_pp_answer *answers;    /* per question of the dataset */
    uint32_t n_without_features;
} sq_pp_result;

/* start_logits/end_logits: row f (width entries, row-major) for feature f.
 * NaN or +inf logits are an error (-inf is allowed), as are features naming
 * no question of s or longer than width.  Offsets past the context are clipped, as Python's
 * slicing clips them. */
int sq_postprocess(const sq_squad *s, const sq_pp_feature *features, size_t n_features, const float *start_logits,
                   const float *end_logits, size_t width, const sq_pp_opts *o, sq_pp_result **out);
void sq_pp_free(sq_pp_result *r);

#endif
