#include "sq/score.h"
#include "sq/error.h"
#include "pyunicode.h"

#include <stdlib.h>
#include <string.h>

/* An answer after normalize_answer(), with its tokens (str.split()) sorted
 * so that the multiset intersection of collections.Counter is a merge. */
typedef struct {
    const char *p;
    size_t len;
} token;

typedef struct {
    char *s;
    size_t len;
    size_t ntok;
    token *tok;
} norm;

static bool is_punct(uint32_t c) {
    /* string.punctuation: the 32 ASCII punctuation characters, nothing else. */
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

static bool boundary_after(const uint32_t *t, size_t m, size_t i) {
    return i == m || !sq_py_isword(t[i]);
}

/* Length of the match of \b(a|an|the)\b at i, given a \b before i; 0 if none.
 * The alternation is tried in order, as re does: "a" fails its \b before "n". */
static size_t article_at(const uint32_t *t, size_t m, size_t i) {
    if (t[i] == 'a') {
        if (boundary_after(t, m, i + 1)) return 1;
        if (t[i + 1] == 'n' && boundary_after(t, m, i + 2)) return 2;
    } else if (t[i] == 't' && i + 2 < m && t[i + 1] == 'h' && t[i + 2] == 'e' && boundary_after(t, m, i + 3)) {
        return 3;
    }
    return 0;
}

/* white_space_fix(remove_articles(remove_punc(lower(s)))), code point by
 * code point, then UTF-8. */
static char *normalize(const char *s, size_t len, size_t *out_len) {
    /* An input byte decodes to at most one code point, which lowers to at
     * most two, of at most four bytes each. */
    uint32_t *cp = sq_malloc((2 * len + 1) * sizeof *cp);
    uint32_t *lo = sq_malloc((2 * len + 1) * sizeof *lo);
    char *out = sq_malloc(8 * len + 1);
    if (!cp || !lo || !out) {
        free(cp);
        free(lo);
        free(out);
        return NULL;
    }
    size_t m = sq_py_lower(cp, sq_utf8_decode(s, len, cp), lo);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (!is_punct(lo[i])) lo[k++] = lo[i];
    m = k;
    /* re.sub tests \b against the text before substitution: read lo, write cp. */
    k = 0;
    for (size_t i = 0; i < m;) {
        size_t a = (i == 0 || !sq_py_isword(lo[i - 1])) ? article_at(lo, m, i) : 0;
        cp[k++] = a ? ' ' : lo[i];
        i += a ? a : 1;
    }
    m = k;
    /* ' '.join(text.split()) */
    size_t o = 0;
    for (size_t i = 0; i < m;) {
        while (i < m && sq_py_isspace(cp[i])) i++;
        if (i == m) break;
        if (o) out[o++] = ' ';
        while (i < m && !sq_py_isspace(cp[i])) o += sq_utf8_encode(cp[i++], out + o);
    }
    out[o] = 0;
    free(cp);
    free(lo);
    *out_len = o;
    return out;
}

char *sq_normalize_answer(const char *s, size_t len, size_t *out_len) {
    return normalize(s, len, out_len);
}

static int cmp_token(const void *a, const void *b) {
    const token *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static void norm_free(norm *n) {
    free(n->s);
    free(n->tok);
    memset(n, 0, sizeof *n);
}

static int norm_make(norm *n, const char *s, size_t len) {
    memset(n, 0, sizeof *n);
    n->s = normalize(s, len, &n->len);
    if (!n->s) return -1;
    /* The normalised text holds single spaces between tokens, none around. */
    size_t count = n->len ? 1 : 0;
    for (size_t i = 0; i < n->len; i++) count += n->s[i] == ' ';
    n->tok = sq_malloc((count + 1) * sizeof *n->tok);
    if (!n->tok) {
        norm_free(n);
        return -1;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n->len && count; i++) {
        if (i == n->len || n->s[i] == ' ') {
            n->tok[n->ntok++] = (token){n->s + start, i - start};
            start = i + 1;
        }
    }
    qsort(n->tok, n->ntok, sizeof *n->tok, cmp_token);
    return 0;
}

static double exact_of(const norm *p, const norm *g) {
    return p->len == g->len && (p->len == 0 || memcmp(p->s, g->s, p->len) == 0);
}

/* f1_score (v1.1) and compute_f1 (v2.0), in the scripts' operation order. */
static double f1_of(const norm *p, const norm *g, bool v2) {
    if (v2 && (p->ntok == 0 || g->ntok == 0)) return p->ntok == g->ntok;
    size_t same = 0;
    for (size_t i = 0, j = 0; i < p->ntok && j < g->ntok;) {
        int c = cmp_token(&p->tok[i], &g->tok[j]);
        if (c == 0) {
            same++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    if (same == 0) return 0;
    double precision = 1.0 * (double)same / (double)p->ntok;
    double recall = 1.0 * (double)same / (double)g->ntok;
    return (2 * precision * recall) / (precision + recall);
}

/* Normalises both texts, then EM (f1 NULL) or F1 of the pair. */
static int score_pair(const char *pred, size_t pred_len, const char *gold, size_t gold_len, bool v2, double *em,
                      double *f1) {
    norm p, g;
    if (norm_make(&p, pred, pred_len)) return -1;
    if (norm_make(&g, gold, gold_len)) {
        norm_free(&p);
        return -1;
    }
    if (em) *em = exact_of(&p, &g);
    if (f1) *f1 = f1_of(&p, &g, v2);
    norm_free(&p);
    norm_free(&g);
    return 0;
}

int sq_exact(const char *pred, size_t pred_len, const char *gold, size_t gold_len, double *em) {
    return score_pair(pred, pred_len, gold, gold_len, false, em, NULL);
}

int sq_f1(const char *pred, size_t pred_len, const char *gold, size_t gold_len, bool v2, double *f1) {
    return score_pair(pred, pred_len, gold, gold_len, v2, NULL, f1);
}

static int no_answers(const sq_squad *s, uint32_t q) {
    return sq_err("question %s has no gold answers%s", s->questions[q].id,
                  s->v2 ? " and is not is_impossible" : " (SQuAD v1.1 scoring needs them)");
}

/* metric_max_over_ground_truths (v1.1) / get_raw_scores (v2.0) for one
 * question whose prediction is normalised already. */
static int score_norm(const sq_squad *s, uint32_t q, const norm *p, double *em, double *f1) {
    const sq_squad_question *qq = &s->questions[q];
    if (qq->n_answers == 0 && (!s->v2 || !qq->is_impossible)) return no_answers(s, q);
    double best_em = 0, best_f1 = 0;
    bool any = false;
    for (uint32_t a = 0; a < qq->n_answers; a++) {
        norm g;
        if (norm_make(&g, qq->answers[a].text, qq->answers[a].len)) return -1;
        /* v2.0 keeps only the gold answers that normalise to non-empty. */
        if (!s->v2 || g.len) {
            double e = exact_of(p, &g), f = f1_of(p, &g, s->v2);
            best_em = !any || e > best_em ? e : best_em;
            best_f1 = !any || f > best_f1 ? f : best_f1;
            any = true;
        }
        norm_free(&g);
    }
    if (!any) {
        /* v2.0: "For unanswerable questions, only correct answer is empty string". */
        norm g = {0};
        best_em = exact_of(p, &g);
        best_f1 = f1_of(p, &g, true);
    }
    *em = best_em;
    *f1 = best_f1;
    return 0;
}

int sq_score_question(const sq_squad *s, uint32_t q, const char *pred, size_t len, double *em, double *f1) {
    if (q >= s->n_questions) return sq_err("question index %u: out of range", q);
    norm p;
    if (norm_make(&p, pred, len)) return -1;
    int rc = score_norm(s, q, &p, em, f1);
    norm_free(&p);
    return rc;
}

typedef struct {
    double prob;
    uint32_t question;
    uint32_t rank; /* position in the file: the stable sort's tie-break */
} na_entry;

static int cmp_na(const void *a, const void *b) {
    const na_entry *x = a, *y = b;
    if (x->prob != y->prob) return x->prob < y->prob ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* find_best_thresh: start from "" predicted everywhere, then sweep the
 * questions by rising no-answer probability, each keeping its prediction
 * once the threshold reaches it; the best running score wins. */
static void best_thresh(const sq_squad *s, const na_entry *sorted, size_t n, const char *const *pred,
                        const size_t *pred_len, const double *raw, double *best, double *thresh) {
    double cur = 0;
    for (uint32_t q = 0; q < s->n_questions; q++) cur += s->questions[q].n_answers == 0;
    double best_score = cur, best_t = 0.0;
    for (size_t i = 0; i < n; i++) {
        uint32_t q = sorted[i].question;
        if (!pred[q]) continue;
        double diff;
        if (s->questions[q].n_answers)
            diff = raw[q];
        else
            diff = pred_len[q] ? -1 : 0;
        cur += diff;
        if (cur > best_score) {
            best_score = cur;
            best_t = sorted[i].prob;
        }
    }
    /* len(scores): every question, the unanswered ones scoring 0. */
    *best = 100.0 * best_score / s->n_questions;
    *thresh = best_t;
}

/* make_eval_dict over all questions (want_has < 0), those with gold answers
 * (1) or those without (0).  A running sum in dataset order is what sum()
 * does up to CPython 3.11; 3.12 compensates float sums (docs/formats.md). */
static void eval_dict(const sq_squad *s, const double *exact, const double *f1, int want_has, uint32_t *total,
                      double *e_pct, double *f_pct) {
    double se = 0, sf = 0;
    uint32_t n = 0;
    for (uint32_t q = 0; q < s->n_questions; q++) {
        int has = s->questions[q].n_answers > 0;
        if (want_has >= 0 && has != want_has) continue;
        se += exact[q];
        sf += f1[q];
        n++;
    }
    *total = n;
    *e_pct = n ? 100.0 * se / n : 0;
    *f_pct = n ? 100.0 * sf / n : 0;
}

/* apply_no_ans_threshold: a question whose no-answer probability exceeds
 * the threshold scores as if "" had been predicted. */
static int apply_thresh(const sq_squad *s, const char *const *pred, const double *prob, const bool *has_prob,
                        bool with_probs, double na_thresh, double *exact, double *f1) {
    for (uint32_t q = 0; q < s->n_questions; q++) {
        if (!pred[q]) continue;
        if (with_probs && !has_prob[q])
            return sq_err("question %s has a prediction but no no-answer probability", s->questions[q].id);
        /* Without a file the official script sets every probability to 0.0. */
        if ((with_probs ? prob[q] : 0.0) > na_thresh) exact[q] = f1[q] = s->questions[q].n_answers == 0;
    }
    return 0;
}

int sq_score(const sq_squad *s, const char *const *pred, const size_t *pred_len, const sq_na_prob *na, size_t n_na,
             double na_thresh, sq_scores *out) {
    memset(out, 0, sizeof *out);
    out->v2 = s->v2;
    out->total = s->n_questions;
    if (s->n_questions == 0) return sq_err("the dataset has no questions");
    for (uint32_t q = 0; q < s->n_questions; q++) {
        const sq_squad_question *qq = &s->questions[q];
        if (qq->n_answers == 0 && (!s->v2 || !qq->is_impossible)) return no_answers(s, q);
        out->missing += !pred[q];
    }
    size_t nq = s->n_questions;
    double *exact = sq_calloc(nq, sizeof *exact), *f1 = sq_calloc(nq, sizeof *f1);
    double *ex_t = sq_calloc(nq, sizeof *ex_t), *f1_t = sq_calloc(nq, sizeof *f1_t);
    double *prob = sq_calloc(nq, sizeof *prob);
    bool *has_prob = sq_calloc(nq, sizeof *has_prob);
    na_entry *sorted = sq_calloc(n_na + 1, sizeof *sorted);
    int rc = -1;
    if (!exact || !f1 || !ex_t || !f1_t || !prob || !has_prob || !sorted) goto done;
    for (uint32_t q = 0; q < nq; q++) {
        if (!pred[q]) continue;
        norm p;
        if (norm_make(&p, pred[q], pred_len[q])) goto done;
        int r = score_norm(s, q, &p, &exact[q], &f1[q]);
        norm_free(&p);
        if (r) goto done;
    }
    if (!s->v2) {
        /* evaluate-v1.1.py: running sums over the dataset, 100.0 * sum / total. */
        double se = 0, sf = 0;
        for (uint32_t q = 0; q < nq; q++) {
            se += exact[q];
            sf += f1[q];
        }
        out->exact = 100.0 * se / nq;
        out->f1 = 100.0 * sf / nq;
        rc = 0;
        goto done;
    }
    for (size_t i = 0; i < n_na; i++) {
        if (na[i].question >= nq) {
            sq_err("no-answer probability %zu: question index out of range", i);
            goto done;
        }
        prob[na[i].question] = na[i].prob;
        has_prob[na[i].question] = true;
        sorted[i] = (na_entry){na[i].prob, na[i].question, (uint32_t)i};
    }
    memcpy(ex_t, exact, nq * sizeof *ex_t);
    memcpy(f1_t, f1, nq * sizeof *f1_t);
    if (apply_thresh(s, pred, prob, has_prob, na != NULL, na_thresh, ex_t, f1_t)) goto done;
    eval_dict(s, ex_t, f1_t, -1, &out->total, &out->exact, &out->f1);
    eval_dict(s, ex_t, f1_t, 1, &out->has_ans_total, &out->has_ans_exact, &out->has_ans_f1);
    eval_dict(s, ex_t, f1_t, 0, &out->no_ans_total, &out->no_ans_exact, &out->no_ans_f1);
    if (na) {
        /* sorted(na_probs, key=...) is stable: ties keep the file's order. */
        qsort(sorted, n_na, sizeof *sorted, cmp_na);
        best_thresh(s, sorted, n_na, pred, pred_len, exact, &out->best_exact, &out->best_exact_thresh);
        best_thresh(s, sorted, n_na, pred, pred_len, f1, &out->best_f1, &out->best_f1_thresh);
        out->has_best = true;
    }
    rc = 0;
done:
    free(exact);
    free(f1);
    free(ex_t);
    free(f1_t);
    free(prob);
    free(has_prob);
    free(sorted);
    return rc;
}
