#include "sq/postprocess.h"
#include "sq/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A candidate span (HF's prelim_predictions entry). */
typedef struct {
    uint32_t start, end;      /* code-point offsets; (0, 0) for the null answer */
    float score, start_logit, end_logit;
    uint32_t order;           /* position in prelim_predictions: sorted() is stable */
} cand;

/* np.argsort(logits)[-1 : -n_best - 1 : -1]: the n_best largest, largest
 * first.  numpy's default sort is not stable; ties go to the higher index
 * (what a stable argsort reversed gives). */
static size_t top_k(const float *x, size_t width, size_t k, uint32_t *idx) {
    size_t n = 0;
    for (size_t i = 0; i < width; i++) {
        if (n == k && !(x[i] >= x[idx[n - 1]])) continue;
        size_t j = n < k ? n++ : n - 1;
        while (j > 0 && x[i] >= x[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (uint32_t)i;
    }
    return n;
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* numpy's pairwise summation (pairwise_sum in loops_utils.h) for n <= 128:
 * eight running sums, combined as a tree, then the tail. */
static float sum_f32(const float *a, size_t n) {
    if (n < 8) {
        float r = 0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    float r[8];
    memcpy(r, a, sizeof r);
    size_t i = 8;
    for (; i < n - n % 8; i += 8)
        for (int j = 0; j < 8; j++) r[j] += a[i + j];
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
}

static double sum_f64(const double *a, size_t n) {
    if (n < 8) {
        double r = 0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    double r[8];
    memcpy(r, a, sizeof r);
    size_t i = 8;
    for (; i < n - n % 8; i += 8)
        for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
}

/* context[a:b] in code points, clipped as Python slices are. */
static void slice(const char *ctx, const uint32_t *cp_byte, uint32_t n_cp, uint32_t a, uint32_t b, const char **text,
                  size_t *len) {
    if (a > n_cp) a = n_cp;
    if (b > n_cp) b = n_cp;
    *text = ctx + cp_byte[a];
    *len = b > a ? cp_byte[b] - cp_byte[a] : 0;
}

/* Byte offset of every code point of the context, plus its end. */
static uint32_t *code_points(const char *s, size_t len, uint32_t *n) {
    uint32_t *t = sq_malloc((len + 1) * sizeof *t);
    if (!t) return NULL;
    uint32_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) t[k++] = (uint32_t)i;
    t[k] = (uint32_t)len;
    *n = k;
    return t;
}

/* Softmax of the scores, as numpy: float32 unless HF's float placeholder
 * made the array float64. */
static int softmax(sq_pp_entry *e, const float *score, size_t n, bool f64) {
    if (f64) {
        double *x = sq_malloc(n * sizeof *x);
        if (!x) return -1;
        double m = -INFINITY;
        for (size_t i = 0; i < n; i++) m = e[i].placeholder ? fmax(m, 0.0) : fmax(m, (double)score[i]);
        for (size_t i = 0; i < n; i++) x[i] = exp((e[i].placeholder ? 0.0 : (double)score[i]) - m);
        double sum = sum_f64(x, n);
        for (size_t i = 0; i < n; i++) e[i].probability = x[i] / sum;
        free(x);
        return 0;
    }
    float *x = sq_malloc(n * sizeof *x);
    if (!x) return -1;
    float m = score[0];
    for (size_t i = 1; i < n; i++) m = score[i] > m ? score[i] : m;
    for (size_t i = 0; i < n; i++) x[i] = expf(score[i] - m);
    float sum = sum_f32(x, n);
    for (size_t i = 0; i < n; i++) e[i].probability = x[i] / sum;
    free(x);
    return 0;
}

typedef struct {
    cand *c;
    size_t n, cap;
} cands;

static int push(cands *v, cand c) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        cand *p = sq_realloc(v->c, cap * sizeof *p);
        if (!p) return -1;
        v->c = p;
        v->cap = cap;
    }
    c.order = (uint32_t)v->n;
    v->c[v->n++] = c;
    return 0;
}

/* The body of HF's loop over examples, for question q with its features. */
static int one_question(const sq_squad *s, uint32_t q, const sq_pp_feature *features, const uint32_t *feat_idx,
                        size_t nf, const float *start_logits, const float *end_logits, size_t width,
                        const sq_pp_opts *o, uint32_t *si, uint32_t *ei, cands *prelim, sq_pp_answer *ans) {
    prelim->n = 0;
    bool have_null = false;
    cand null = {0};
    for (size_t k = 0; k < nf; k++) {
        const sq_pp_feature *f = &features[feat_idx[k]];
        const float *sl = start_logits + feat_idx[k] * width, *el = end_logits + feat_idx[k] * width;
        float null_score = sl[0] + el[0];
        if (!have_null || null.score > null_score) null = (cand){0, 0, null_score, sl[0], el[0], 0};
        have_null = true;
        size_t ns = top_k(sl, width, (size_t)o->n_best, si), ne = top_k(el, width, (size_t)o->n_best, ei);
        for (size_t a = 0; a < ns; a++) {
            uint32_t i = si[a];
            /* Positions past the feature are padding: their offsets are None. */
            if (i >= f->len || f->offsets[2 * i] == SQ_PP_NO_OFFSET) continue;
            for (size_t b = 0; b < ne; b++) {
                uint32_t j = ei[b];
                if (j >= f->len || f->offsets[2 * j] == SQ_PP_NO_OFFSET) continue;
                if (j < i || j - i + 1 > (uint32_t)o->max_answer_length) continue;
                if (push(prelim, (cand){f->offsets[2 * i], f->offsets[2 * j + 1], sl[i] + el[j], sl[i], el[j], 0}))
                    return -1;
            }
        }
    }
    if (o->v2 && push(prelim, null)) return -1;
    if (prelim->n) qsort(prelim->c, prelim->n, sizeof *prelim->c, cmp_cand);
    size_t n = prelim->n < (size_t)o->n_best ? prelim->n : (size_t)o->n_best;
    bool null_kept = false;
    for (size_t i = 0; i < n; i++) null_kept |= prelim->c[i].start == 0 && prelim->c[i].end == 0;
    /* "Add back the minimum null prediction if it was removed because of its low score." */
    bool add_null = o->v2 && !null_kept;

    const sq_squad_paragraph *par = &s->paragraphs[s->questions[q].paragraph];
    uint32_t n_cp;
    uint32_t *cp_byte = code_points(par->context, par->context_len, &n_cp);
    float *score = sq_malloc((n + 2) * sizeof *score);
    ans->nbest = sq_calloc(n + 2, sizeof *ans->nbest);
    if (!cp_byte || !score || !ans->nbest) {
        free(cp_byte);
        free(score);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n + add_null; i++) {
        const cand *c = i < n ? &prelim->c[i] : &null;
        sq_pp_entry *e = &ans->nbest[m];
        slice(par->context, cp_byte, n_cp, c->start, c->end, &e->text, &e->len);
        e->start_logit = c->start_logit;
        e->end_logit = c->end_logit;
        score[m++] = c->score;
    }
    free(cp_byte);
    /* "In the very rare edge case we have not a single non-null prediction,
     * we create a fake prediction to avoid failure." */
    bool placeholder = m == 0 || (m == 1 && ans->nbest[0].len == 0);
    if (placeholder) {
        memmove(ans->nbest + 1, ans->nbest, m * sizeof *ans->nbest);
        memmove(score + 1, score, m * sizeof *score);
        ans->nbest[0] = (sq_pp_entry){"empty", 5, 0.0, 0.0, 0.0, true};
        score[0] = 0;
        m++;
    }
    ans->n_nbest = (uint32_t)m;
    int rc = softmax(ans->nbest, score, m, placeholder);
    free(score);
    if (rc) return -1;
    if (!o->v2) {
        ans->text = ans->nbest[0].text;
        ans->len = ans->nbest[0].len;
        return 0;
    }
    size_t i = 0;
    while (i < m && ans->nbest[i].len == 0) i++;
    if (i == m) {
        /* Only empty spans: HF's loop would run off its list; predict "". */
        ans->text = "";
        ans->len = 0;
        return 0;
    }
    const sq_pp_entry *best = &ans->nbest[i];
    float diff = null.score - (float)best->start_logit - (float)best->end_logit;
    ans->has_score_diff = true;
    ans->score_diff = diff;
    if (diff > o->null_score_diff_threshold) {
        ans->text = "";
        ans->len = 0;
    } else {
        ans->text = best->text;
        ans->len = best->len;
    }
    return 0;
}

void sq_pp_free(sq_pp_result *r) {
    if (!r) return;
    for (uint32_t q = 0; q < r->n_questions && r->answers; q++) free(r->answers[q].nbest);
    free(r->answers);
    free(r);
}

int sq_postprocess(const sq_squad *s, const sq_pp_feature *features, size_t n_features, const float *start_logits,
                   const float *end_logits, size_t width, const sq_pp_opts *o, sq_pp_result **out) {
    *out = NULL;
    if (o->n_best < 1 || o->max_answer_length < 1) return sq_err("n_best and max_answer_length must be at least 1");
    if (width == 0) return sq_err("logits have no positions");
    for (size_t f = 0; f < n_features; f++) {
        if (features[f].question >= s->n_questions)
            return sq_err("feature %zu: question index %u out of range", f, features[f].question);
        if (features[f].len > width)
            return sq_err("feature %zu: %u tokens, but the logits have %zu positions", f, features[f].len, width);
        for (size_t i = 0; i < width; i++) {
            /* -inf is a fine logit (sq-train predict writes it past each
             * feature's end); NaN and +inf would poison the softmax. */
            float a = start_logits[f * width + i], b = end_logits[f * width + i];
            if (isnan(a) || isnan(b) || a == INFINITY || b == INFINITY)
                return sq_err("feature %zu: logit %zu is NaN or +inf", f, i);
        }
    }
    sq_pp_result *r = sq_calloc(1, sizeof *r);
    /* features_per_example: a counting sort by question keeps feature order. */
    uint32_t *first = sq_calloc((size_t)s->n_questions + 1, sizeof *first);
    uint32_t *order = sq_calloc(n_features + 1, sizeof *order);
    uint32_t *si = sq_calloc((size_t)o->n_best, sizeof *si), *ei = sq_calloc((size_t)o->n_best, sizeof *ei);
    cands prelim = {0};
    int rc = -1;
    if (!r || !first || !order || !si || !ei) goto done;
    r->n_questions = s->n_questions;
    r->answers = sq_calloc(s->n_questions, sizeof *r->answers);
    if (!r->answers) goto done;
    for (size_t f = 0; f < n_features; f++) first[features[f].question + 1]++;
    for (uint32_t q = 0; q < s->n_questions; q++) first[q + 1] += first[q];
    {
        uint32_t *fill = sq_malloc(((size_t)s->n_questions + 1) * sizeof *fill);
        if (!fill) goto done;
        memcpy(fill, first, ((size_t)s->n_questions + 1) * sizeof *fill);
        for (size_t f = 0; f < n_features; f++) order[fill[features[f].question]++] = (uint32_t)f;
        free(fill);
    }
    for (uint32_t q = 0; q < s->n_questions; q++) {
        size_t nf = first[q + 1] - first[q];
        if (nf == 0) {
            /* HF never meets this: every example yields a feature. */
            r->n_without_features++;
            continue;
        }
        if (one_question(s, q, features, order + first[q], nf, start_logits, end_logits, width, o, si, ei, &prelim,
                         &r->answers[q]))
            goto done;
    }
    rc = 0;
done:
    free(first);
    free(order);
    free(si);
    free(ei);
    free(prelim.c);
    if (rc) {
        sq_pp_free(r);
        return -1;
    }
    *out = r;
    return 0;
}
