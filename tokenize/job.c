#include "job.h"
#include "answers.h"
#include "encode.h"
#include "sq/error.h"
#include "sq/tokens.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paragraphs per frame: SQuAD train makes ~19 frames of ~2 MB each. */
#define CHUNK 1024
#define ZSTD_LEVEL 1

typedef struct {
    const sq_squad *s;
    const vocab *v;
    bool cased;
    encoder *enc;        /* one per thread */
    uint32_t *store;     /* per paragraph / question: ids then offsets */
    sq_paragraph *ps;
    sq_question *qs;
    sq_answer *answers;
    uint32_t *bad;       /* per question of the chunk: answers misplaced */
    char err[512];
    bool failed;
} chunk;

static uint32_t *copy_out(const encoder *e, bool offsets) {
    size_t n = e->n * (offsets ? 3 : 1);
    uint32_t *p = sq_malloc((n ? n : 1) * sizeof *p);
    if (!p) return NULL;
    memcpy(p, e->ids, e->n * sizeof *p);
    if (offsets) memcpy(p + e->n, e->offsets, 2 * e->n * sizeof *p);
    return p;
}

static int has_nul(const char *s, size_t n) { return memchr(s, 0, n) != NULL; }

/* Paragraph i of the squad (k-th of the chunk, questions from q0). */
static int one_paragraph(chunk *c, encoder *e, uint32_t i, uint32_t k, uint32_t q0) {
    const sq_squad_paragraph *sp = &c->s->paragraphs[i];
    if (has_nul(sp->context, sp->context_len))
        return sq_err("paragraph %u: the context contains U+0000, which a tokens file cannot hold", i);
    if (encode_text(e, sp->context, sp->context_len)) return -1;
    sq_paragraph *p = &c->ps[k];
    uint32_t *ids = copy_out(e, true);
    if (!ids) return -1;
    *p = (sq_paragraph){.title = sp->title, .context = sp->context, .context_cps = e->cps,
                        .n_tokens = (uint32_t)e->n, .ids = ids, .offsets = ids + e->n,
                        .n_questions = sp->n_questions};
    for (uint32_t j = 0; j < sp->n_questions; j++) {
        uint32_t qi = sp->first_question + j;
        const sq_squad_question *sq = &c->s->questions[qi];
        if (has_nul(sq->question, sq->question_len))
            return sq_err("question %s: the text contains U+0000, which a tokens file cannot hold", sq->id);
        if (encode_text(e, sq->question, sq->question_len)) return -1;
        sq_question *q = &c->qs[qi - q0];
        uint32_t *qids = copy_out(e, false);
        if (!qids) return -1;
        sq_answer *ans = c->answers + (sq->answers - c->s->questions[q0].answers);
        *q = (sq_question){.id = sq->id, .text = sq->question, .paragraph = i, .n_ids = (uint32_t)e->n,
                           .ids = qids, .n_answers = sq->n_answers, .answers = ans,
                           .is_impossible = sq->is_impossible};
        for (uint32_t a = 0; a < sq->n_answers; a++) {
            const sq_squad_answer *sa = &sq->answers[a];
            if (has_nul(sa->text, sa->len))
                return sq_err("question %s: answer %u contains U+0000, which a tokens file cannot hold", sq->id, a);
            ans[a] = (sq_answer){sa->text, sa->start};
            if (!answer_matches(sp->context, sp->context_len, sa)) c->bad[qi - q0]++;
        }
    }
    return 0;
}

static void free_chunk(chunk *c, uint32_t np, uint32_t nq) {
    for (uint32_t k = 0; k < np; k++) free((void *)c->ps[k].ids);
    for (uint32_t k = 0; k < nq; k++) free((void *)c->qs[k].ids);
    memset(c->ps, 0, np * sizeof *c->ps);
    memset(c->qs, 0, nq * sizeof *c->qs);
}

int tokenize_squad(const sq_squad *s, const vocab *v, bool cased, int threads, const char *out,
                   job_stats *stats) {
    memset(stats, 0, sizeof *stats);
    sq_tokens meta = {.vocab_size = v->size, .cased = cased, .cls_id = v->cls_id, .sep_id = v->sep_id,
                      .pad_id = v->pad_id, .unk_id = v->unk_id, .version = s->version};
    memcpy(meta.vocab_sha256, v->sha256, 32);
    memcpy(meta.source_sha256, s->sha256, 32);
    /* The largest chunk bounds the per-chunk arrays. */
    uint32_t max_q = 1, max_a = 1;
    for (uint32_t i = 0; i < s->n_paragraphs; i += CHUNK) {
        uint32_t end = i + CHUNK < s->n_paragraphs ? i + CHUNK : s->n_paragraphs;
        uint32_t q0 = s->paragraphs[i].first_question;
        uint32_t q1 = end < s->n_paragraphs ? s->paragraphs[end].first_question : s->n_questions;
        if (q1 - q0 > max_q) max_q = q1 - q0;
        uint64_t na = 0;
        for (uint32_t q = q0; q < q1; q++) na += s->questions[q].n_answers;
        if (na > max_a) max_a = (uint32_t)na;
    }
    chunk c = {.s = s, .v = v, .cased = cased};
    c.enc = sq_calloc((size_t)threads, sizeof *c.enc);
    c.ps = sq_calloc(CHUNK, sizeof *c.ps);
    c.qs = sq_calloc(max_q, sizeof *c.qs);
    c.answers = sq_calloc(max_a, sizeof *c.answers);
    c.bad = sq_calloc(max_q, sizeof *c.bad);
    sq_tokens_writer *w = NULL;
    int rc = -1;
    if (!c.enc || !c.ps || !c.qs || !c.answers || !c.bad) goto done;
    for (int t = 0; t < threads; t++) encoder_init(&c.enc[t], v, cased);
    w = sq_tokens_writer_open(out, &meta, ZSTD_LEVEL);
    if (!w) goto done;
    for (uint32_t i = 0; i < s->n_paragraphs; i += CHUNK) {
        uint32_t np = i + CHUNK < s->n_paragraphs ? CHUNK : s->n_paragraphs - i;
        uint32_t q0 = s->paragraphs[i].first_question;
        uint32_t q1 = i + np < s->n_paragraphs ? s->paragraphs[i + np].first_question : s->n_questions;
        memset(c.bad, 0, max_q * sizeof *c.bad);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
        for (uint32_t k = 0; k < np; k++) {
            if (c.failed) continue;
            if (one_paragraph(&c, &c.enc[omp_get_thread_num()], i + k, k, q0)) {
#pragma omp critical
                if (!c.failed) {
                    c.failed = true;
                    snprintf(c.err, sizeof c.err, "%s", sq_errmsg());
                }
            }
        }
        if (c.failed) {
            sq_err("%s", c.err);
            free_chunk(&c, np, q1 - q0);
            goto done;
        }
        for (uint32_t k = 0; k < np; k++) stats->context_tokens += c.ps[k].n_tokens;
        for (uint32_t q = 0; q < q1 - q0; q++) {
            stats->question_tokens += c.qs[q].n_ids;
            if (!c.bad[q]) continue;
            stats->bad_answers += c.bad[q];
            if (stats->n_bad_ids < 5) stats->bad_ids[stats->n_bad_ids++] = q0 + q;
        }
        int frc = sq_tokens_writer_add(w, c.ps, np, c.qs, q1 - q0);
        free_chunk(&c, np, q1 - q0);
        if (frc) goto done;
    }
    rc = sq_tokens_writer_close(w);
    w = NULL;
done:
    sq_tokens_writer_abort(w);
    if (c.enc)
        for (int t = 0; t < threads; t++) encoder_free(&c.enc[t]);
    free(c.enc);
    free(c.ps);
    free(c.qs);
    free(c.answers);
    free(c.bad);
    return rc;
}
