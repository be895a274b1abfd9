#include "job.h"
#include "answers.h"
#include "encode.h"
#include "storable.h"
#include "sq/error.h"
#include "sq/tokens.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paragraphs per frame: SQuAD train makes ~74 frames of ~0.8 MB each,
 * small enough for one thread to tokenize a chunk while another writes
 * the previous one. */
#define CHUNK 256
#define ZSTD_LEVEL 1

/* One thread's chunk: the tokens of paragraphs [first, first + np). */
typedef struct {
    const sq_squad *s;
    encoder enc;
    sq_paragraph *ps;
    sq_question *qs;
    sq_answer *answers;
    uint32_t *bad;       /* per question of the chunk: answers misplaced */
    char **owned;        /* texts copied to be storable (storable.h), freed with the chunk */
    size_t n_owned, cap_owned;
} chunk;

static uint32_t *copy_out(const encoder *e, bool offsets) {
    size_t n = e->n * (offsets ? 3 : 1);
    uint32_t *p = sq_malloc((n ? n : 1) * sizeof *p);
    if (!p) return NULL;
    if (e->n) { /* an empty context has no ids array at all */
        memcpy(p, e->ids, e->n * sizeof *p);
        if (offsets) memcpy(p + e->n, e->offsets, 2 * e->n * sizeof *p);
    }
    return p;
}

/* s as the tokens file stores it (storable.h); NULL on allocation failure. */
static const char *storable(chunk *c, const char *s, size_t len) {
    char *copy;
    if (storable_text(s, len, &copy)) return NULL;
    if (!copy) return s;
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? 2 * c->cap_owned : 16;
        char **o = sq_realloc(c->owned, cap * sizeof *o);
        if (!o) {
            free(copy);
            return NULL;
        }
        c->owned = o;
        c->cap_owned = cap;
    }
    return c->owned[c->n_owned++] = copy;
}

/* Paragraph i of the squad (k-th of the chunk, questions from q0). */
static int one_paragraph(chunk *c, encoder *e, uint32_t i, uint32_t k, uint32_t q0) {
    const sq_squad_paragraph *sp = &c->s->paragraphs[i];
    /* Encoded from the original bytes: HF sees the U+0000 that the stored copy replaces. */
    if (encode_text(e, sp->context, sp->context_len)) return -1;
    const char *context = storable(c, sp->context, sp->context_len);
    if (!context) return -1;
    sq_paragraph *p = &c->ps[k];
    uint32_t *ids = copy_out(e, true);
    if (!ids) return -1;
    *p = (sq_paragraph){.title = sp->title, .context = context, .context_cps = e->cps,
                        .n_tokens = (uint32_t)e->n, .ids = ids, .offsets = ids + e->n,
                        .n_questions = sp->n_questions};
    for (uint32_t j = 0; j < sp->n_questions; j++) {
        uint32_t qi = sp->first_question + j;
        const sq_squad_question *sq = &c->s->questions[qi];
        if (encode_text(e, sq->question, sq->question_len)) return -1;
        const char *text = storable(c, sq->question, sq->question_len);
        if (!text) return -1;
        sq_question *q = &c->qs[qi - q0];
        uint32_t *qids = copy_out(e, false);
        if (!qids) return -1;
        sq_answer *ans = c->answers + (sq->answers - c->s->questions[q0].answers);
        *q = (sq_question){.id = sq->id, .text = text, .paragraph = i, .n_ids = (uint32_t)e->n,
                           .ids = qids, .n_answers = sq->n_answers, .answers = ans,
                           .is_impossible = sq->is_impossible};
        for (uint32_t a = 0; a < sq->n_answers; a++) {
            const sq_squad_answer *sa = &sq->answers[a];
            const char *atext = storable(c, sa->text, sa->len);
            if (!atext) return -1;
            ans[a] = (sq_answer){atext, sa->start};
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
    for (size_t k = 0; k < c->n_owned; k++) free(c->owned[k]);
    c->n_owned = 0;
}

static uint32_t first_q(const sq_squad *s, uint32_t par) {
    return par < s->n_paragraphs ? s->paragraphs[par].first_question : s->n_questions;
}

/* Tokenizes chunk i into c; -1 with the error set. */
static int tokenize_chunk(chunk *c, uint32_t i, uint32_t np) {
    uint32_t q0 = first_q(c->s, i);
    memset(c->bad, 0, (first_q(c->s, i + np) - q0) * sizeof *c->bad);
    for (uint32_t k = 0; k < np; k++)
        if (one_paragraph(c, &c->enc, i + k, k, q0)) return -1;
    return 0;
}

/* The pipeline shared by the threads: each takes the next chunk, tokenizes
 * it, waits for its turn and writes it (serializing and compressing one
 * frame) while the others tokenize later chunks.  Frames come out in chunk
 * order whatever the thread count.  Waiting sleeps on a condition variable
 * rather than spinning: on a 2-core machine a spinning waiter would take
 * the core the writer needs. */
typedef struct {
    const sq_squad *s;
    sq_tokens_writer *w;
    job_stats *stats;
    uint32_t n_chunks;
    pthread_mutex_t mu;
    pthread_cond_t turn;
    uint32_t next_chunk;    /* the next chunk to hand out */
    uint32_t next_write;    /* the chunk whose turn it is to be written */
    bool failed;
    char err[512];
} pipeline;

static void write_chunk(pipeline *pl, chunk *c, uint32_t i, uint32_t np, bool ok) {
    uint32_t q0 = first_q(pl->s, i), nq = first_q(pl->s, i + np) - q0;
    if (ok && !pl->failed) {
        job_stats *st = pl->stats;
        for (uint32_t k = 0; k < np; k++) st->context_tokens += c->ps[k].n_tokens;
        for (uint32_t q = 0; q < nq; q++) {
            st->question_tokens += c->qs[q].n_ids;
            if (!c->bad[q]) continue;
            st->bad_answers += c->bad[q];
            if (st->n_bad_ids < 5) st->bad_ids[st->n_bad_ids++] = q0 + q;
        }
        ok = sq_tokens_writer_add(pl->w, c->ps, np, c->qs, nq) == 0;
    }
    if (!ok && !pl->failed) {
        pl->failed = true;
        snprintf(pl->err, sizeof pl->err, "%s", sq_errmsg());
    }
    free_chunk(c, np, nq);
}

typedef struct {
    pipeline *pl;
    chunk *c;
} worker_arg;

static void *worker(void *arg) {
    pipeline *pl = ((worker_arg *)arg)->pl;
    chunk *c = ((worker_arg *)arg)->c;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        uint32_t ci = pl->next_chunk++;
        bool stop = pl->failed;
        pthread_mutex_unlock(&pl->mu);
        if (ci >= pl->n_chunks) return NULL;
        uint32_t i = ci * CHUNK, np = i + CHUNK < pl->s->n_paragraphs ? CHUNK : pl->s->n_paragraphs - i;
        /* The error message is thread-local: write_chunk copies it on this
         * same thread. */
        bool ok = !stop && tokenize_chunk(c, i, np) == 0;
        pthread_mutex_lock(&pl->mu);
        while (pl->next_write != ci) pthread_cond_wait(&pl->turn, &pl->mu);
        pthread_mutex_unlock(&pl->mu);
        /* Only the thread holding chunk next_write gets here: it writes alone. */
        write_chunk(pl, c, i, np, ok);
        pthread_mutex_lock(&pl->mu);
        pl->next_write++;
        pthread_cond_broadcast(&pl->turn);
        pthread_mutex_unlock(&pl->mu);
    }
}

int tokenize_squad(const sq_squad *s, const vocab *v, bool cased, int threads, const char *out, job_stats *stats) {
    memset(stats, 0, sizeof *stats);
    sq_tokens meta = {.vocab_size = v->size, .cased = cased, .cls_id = v->cls_id, .sep_id = v->sep_id,
                      .pad_id = v->pad_id, .unk_id = v->unk_id, .version = s->version};
    memcpy(meta.vocab_sha256, v->sha256, 32);
    memcpy(meta.source_sha256, s->sha256, 32);
    /* The largest chunk bounds the per-chunk arrays. */
    uint32_t max_q = 1, max_a = 1;
    for (uint32_t i = 0; i < s->n_paragraphs; i += CHUNK) {
        uint32_t q0 = first_q(s, i), q1 = first_q(s, i + CHUNK < s->n_paragraphs ? i + CHUNK : s->n_paragraphs);
        if (q1 - q0 > max_q) max_q = q1 - q0;
        uint64_t na = 0;
        for (uint32_t q = q0; q < q1; q++) na += s->questions[q].n_answers;
        if (na > max_a) max_a = (uint32_t)na;
    }
    pipeline pl = {.s = s, .stats = stats, .n_chunks = (s->n_paragraphs + CHUNK - 1) / CHUNK,
                   .mu = PTHREAD_MUTEX_INITIALIZER, .turn = PTHREAD_COND_INITIALIZER};
    if ((uint32_t)threads > pl.n_chunks) threads = pl.n_chunks ? (int)pl.n_chunks : 1;
    chunk *cs = sq_calloc((size_t)threads, sizeof *cs);
    worker_arg *args = sq_calloc((size_t)threads, sizeof *args);
    pthread_t *tids = sq_calloc((size_t)threads, sizeof *tids);
    int rc = -1, started = 0;
    if (!cs || !args || !tids) goto done;
    for (int t = 0; t < threads; t++) {
        chunk *c = &cs[t];
        c->s = s;
        encoder_init(&c->enc, v, cased);
        c->ps = sq_calloc(CHUNK, sizeof *c->ps);
        c->qs = sq_calloc(max_q, sizeof *c->qs);
        c->answers = sq_calloc(max_a, sizeof *c->answers);
        c->bad = sq_calloc(max_q, sizeof *c->bad);
        if (!c->ps || !c->qs || !c->answers || !c->bad) goto done;
        args[t] = (worker_arg){&pl, c};
    }
    pl.w = sq_tokens_writer_open(out, &meta, ZSTD_LEVEL);
    if (!pl.w) goto done;
    /* The calling thread is worker 0. */
    for (started = 1; started < threads; started++) {
        int e = pthread_create(&tids[started], NULL, worker, &args[started]);
        if (e) {
            pthread_mutex_lock(&pl.mu);
            if (!pl.failed) {
                pl.failed = true;
                snprintf(pl.err, sizeof pl.err, "cannot start a thread: %s", strerror(e));
            }
            pthread_mutex_unlock(&pl.mu);
            break;
        }
    }
    worker(&args[0]);
    for (int t = 1; t < started; t++) pthread_join(tids[t], NULL);
    if (pl.failed) {
        sq_err("%s", pl.err);
        goto done;
    }
    rc = sq_tokens_writer_close(pl.w);
    pl.w = NULL;
done:
    sq_tokens_writer_abort(pl.w);
    for (int t = 0; cs && t < threads; t++) {
        encoder_free(&cs[t].enc);
        free(cs[t].ps);
        free(cs[t].qs);
        free(cs[t].answers);
        free(cs[t].bad);
        free(cs[t].owned);
    }
    free(cs);
    free(args);
    free(tids);
    return rc;
}
