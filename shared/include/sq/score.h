/* SQuAD's official scores, digit for digit: evaluate-v1.1.py (exact_match,
 * f1) and evaluate-v2.0.py (exact, f1, HasAns_*, NoAns_*, best_*), with the
 * answer normalisation done in Python's str semantics (shared/src/pyunicode.h).
 * Sums run in the scripts' order so that the doubles agree to the last bit.
 * Nothing is retained between calls; outputs are plain values or malloc'd
 * strings owned by the caller. */
#ifndef SQ_SCORE_H
#define SQ_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sq/squad.h"

/* normalize_answer(): lower, drop ASCII punctuation, replace \b(a|an|the)\b
 * by a space, collapse whitespace.  Returns malloc'd UTF-8 (NUL-terminated,
 * *out_len bytes), or NULL on allocation failure. */
char *sq_normalize_answer(const char *s, size_t len, size_t *out_len);

/* The scripts' per-answer metrics.  v1.1: exact_match_score and f1_score;
 * v2.0: compute_exact and compute_f1 (two empty answers agree: F1 1). */
int sq_exact(const char *pred, size_t pred_len, const char *gold, size_t gold_len, double *em);
int sq_f1(const char *pred, size_t pred_len, const char *gold, size_t gold_len, bool v2, double *f1);

/* One question's scores, the maximum over its gold answers (v2.0: over the
 * answers that normalise to non-empty, or "" when none does). */
int sq_score_question(const sq_squad *s, uint32_t q, const char *pred, size_t len, double *em, double *f1);

/* A no-answer probability (evaluate-v2.0.py --na-prob-file), in the file's
 * order: the official best-threshold search sorts stably by probability. */
typedef struct {
    uint32_t question;
    double prob;
} sq_na_prob;

typedef struct {
    bool v2;                    /* the dataset's rules (sq_squad.v2) */
    uint32_t total;             /* questions */
    uint32_t missing;           /* of which without a prediction: scored 0 */
    double exact, f1;           /* percentages: v1.1 exact_match/f1, v2.0 exact/f1 */
    /* v2.0 only.  The official keys exist only where the count is non-zero. */
    uint32_t has_ans_total, no_ans_total;
    double has_ans_exact, has_ans_f1, no_ans_exact, no_ans_f1;
    bool has_best;              /* na probabilities were given */
    double best_exact, best_exact_thresh, best_f1, best_f1_thresh;
} sq_scores;

/* Scores predictions against s: pred[q] with pred_len[q] bytes for question
 * q, or pred[q] == NULL where there is none (the official v1.1 script scores
 * it 0; v2.0 would stop, sq scores it 0 as well and counts it in every
 * total).  v2.0 only: na (n_na entries, NULL for none) and na_thresh as the
 * official --na-prob-file and --na-prob-thresh (default 1.0); every answered
 * question needs a probability.  Fails on a question without gold answers
 * (v1.1; v2.0: one that is not is_impossible), naming it. */
int sq_score(const sq_squad *s, const char *const *pred, const size_t *pred_len,
             const sq_na_prob *na, size_t n_na, double na_thresh, sq_scores *out);

#endif
