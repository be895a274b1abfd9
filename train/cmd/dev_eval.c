#include "cmd/dev_eval.h"

#include "core/loader.h"

#include "sq/error.h"
#include "sq/features.h"
#include "sq/postprocess.h"
#include "sq/score.h"
#include "sq/squad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Positions past a feature's length, as sq-train predict writes them. */
#define PAD_LOGIT (-INFINITY)

struct sq_dev_eval {
    sq_features *f;
    sq_squad *squad;
    size_t n;
    int width;
    sq_pp_feature *pp;
    float *start, *end, *bs, *be;
};

void sq_dev_eval_close(sq_dev_eval *e) {
    if (!e) return;
    sq_features_close(e->f);
    sq_squad_free(e->squad);
    free(e->pp);
    free(e->start);
    free(e->end);
    free(e->bs);
    free(e->be);
    free(e);
}

int sq_dev_eval_open(const char *featdir, const char *dataset, sq_dev_eval **out, int *max_T) {
    sq_dev_eval *e = sq_calloc(1, sizeof *e);
    if (!e) return -1;
    if (sq_features_open(featdir, &e->f) || sq_features_load_all(e->f)) goto fail;
    if (sq_squad_load(dataset, &e->squad)) goto fail;
    const sq_features_info *info = sq_features_info_get(e->f);
    if (memcmp(info->dataset_sha256, e->squad->sha256, 32)) {
        sq_err("%s: the features were not built from %s", featdir, dataset);
        goto fail;
    }
    e->n = sq_features_count(e->f);
    e->width = (int)(info->max_len ? info->max_len : (uint32_t)info->max_seq);
    if (!e->n || e->width < 1) {
        sq_err("%s: no features", featdir);
        goto fail;
    }
    e->pp = sq_calloc(e->n, sizeof *e->pp);
    e->start = sq_malloc(e->n * (size_t)e->width * sizeof(float));
    e->end = sq_malloc(e->n * (size_t)e->width * sizeof(float));
    if (!e->pp || !e->start || !e->end) goto fail;
    for (size_t i = 0; i < e->n; i++) {
        sq_feature ft;
        if (sq_features_get(e->f, i, &ft)) goto fail;
        const char *id = sq_features_example_id(e->f, ft.example);
        long q = id ? sq_squad_find(e->squad, id) : -1;
        if (q < 0) {
            sq_err("%s: feature %zu: question %s is not in %s", featdir, i, id ? id : "(unknown)", dataset);
            goto fail;
        }
        e->pp[i] = (sq_pp_feature){(uint32_t)q, ft.len, ft.offsets};
    }
    *out = e;
    *max_T = e->width;
    return 0;
fail:
    sq_dev_eval_close(e);
    return -1;
}

int sq_dev_eval_run(sq_dev_eval *e, sq_backend *be, int max_B, double *exact, double *f1) {
    if (!e->bs) {
        e->bs = sq_malloc((size_t)max_B * e->width * sizeof(float));
        e->be = sq_malloc((size_t)max_B * e->width * sizeof(float));
        if (!e->bs || !e->be) return -1;
    }
    sq_loader_cfg lc = {e->f, 0, max_B, 1, 0, 1, false, 0, sq_steps_per_epoch(e->n, max_B)};
    sq_loader *ld;
    if (sq_loader_open(&lc, &ld)) return -1;
    int rc = 0;
    for (long s = 0; s < lc.end_step && !rc; s++) {
        const sq_batch *b;
        long step;
        int micro;
        rc = sq_loader_next(ld, &b, &step, &micro) || be->forward(be, b, false, NULL) || be->logits(be, e->bs, e->be);
        for (int r = 0; !rc && r < b->B; r++) {
            float *so = e->start + (size_t)b->sample[r] * e->width, *eo = e->end + (size_t)b->sample[r] * e->width;
            for (int t = 0; t < e->width; t++) {
                so[t] = t < b->len[r] ? e->bs[(size_t)r * b->T + t] : PAD_LOGIT;
                eo[t] = t < b->len[r] ? e->be[(size_t)r * b->T + t] : PAD_LOGIT;
            }
        }
    }
    sq_loader_close(ld);
    if (rc) return -1;
    sq_pp_opts o = {.n_best = 20, .max_answer_length = 30, .null_score_diff_threshold = 0.0f, .v2 = e->squad->v2};
    sq_pp_result *res;
    if (sq_postprocess(e->squad, e->pp, e->n, e->start, e->end, (size_t)e->width, &o, &res)) return -1;
    const char **text = sq_calloc(e->squad->n_questions, sizeof *text);
    size_t *len = sq_calloc(e->squad->n_questions, sizeof *len);
    sq_scores sc;
    rc = -1;
    if (text && len) {
        for (uint32_t q = 0; q < e->squad->n_questions; q++) {
            text[q] = res->answers[q].text;
            len[q] = res->answers[q].len;
        }
        rc = sq_score(e->squad, text, len, NULL, 0, 1.0, &sc);
    }
    free(text);
    free(len);
    sq_pp_free(res);
    if (rc) return -1;
    *exact = sc.exact;
    *f1 = sc.f1;
    return 0;
}
