/* Tokens files (.sqt) in the sq container.  Frame 0 holds the header
 * fields; every later frame a run of paragraphs, each followed by its
 * questions.  All numbers are little-endian u32; a string is its byte
 * length, its bytes, a NUL and zero padding to a multiple of 4, so that the
 * reader can point into the decompressed frames (id and offset arrays stay
 * 4-byte aligned).  See docs/formats.md ("Tokens file").
 *
 *   frame 0: vocab_sha256[32] source_sha256[32] vocab_size cls sep pad unk
 *            str version
 *   frame k: n_paragraphs n_questions, then per paragraph
 *              str title  str context  context_cps  n_tokens  n_questions
 *              ids[n_tokens]  offsets[2 * n_tokens]
 *            and after it each of its questions
 *              str id  str text  n_ids  n_answers  is_impossible
 *              ids[n_ids]  (str text  start)[n_answers]
 * Container counts: paragraphs, questions, context tokens, question ids. */
#include "sq/tokens.h"
#include "sq/container.h"
#include "sq/error.h"
#include "sq/hash.h"

#include <stdlib.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tokens.c maps little-endian u32 arrays in place"
#endif

/* Frames of about this many raw bytes keep the writer's buffer small. */
#define FRAME_BYTES (4u << 20)
/* Limits that make a damaged count fail cleanly instead of allocating. */
#define MAX_STR ((uint32_t)1 << 30)

/* ---- writer ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool failed;
} obuf;

static void reserve(obuf *b, size_t more) {
    if (b->failed || b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + more) cap *= 2;
    uint8_t *p = sq_realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void put_u32(obuf *b, uint32_t v) {
    reserve(b, 4);
    if (b->failed) return;
    memcpy(b->p + b->n, &v, 4);
    b->n += 4;
}

static void put_u32s(obuf *b, const uint32_t *v, size_t n) {
    reserve(b, 4 * n);
    if (b->failed || !n) return;
    memcpy(b->p + b->n, v, 4 * n);
    b->n += 4 * n;
}

static void put_str(obuf *b, const char *s) {
    size_t len = strlen(s), pad = 4 - (len + 1) % 4;
    if (pad == 4) pad = 0;
    put_u32(b, (uint32_t)len);
    reserve(b, len + 1 + pad);
    if (b->failed) return;
    memcpy(b->p + b->n, s, len);
    memset(b->p + b->n + len, 0, 1 + pad);
    b->n += len + 1 + pad;
}

struct sq_tokens_writer {
    sq_cwriter *cw;
    obuf b;
    uint64_t n_par, n_q, n_tok, n_qids;
    const char *path;
};

sq_tokens_writer *sq_tokens_writer_open(const char *path, const sq_tokens *meta, int zstd_level) {
    sq_tokens_writer *w = sq_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->path = path;
    sq_container_info info = {.version = SQ_TOKENS_VERSION, .flags = meta->cased ? SQ_TOKENS_CASED : 0,
                              .vocab_hash = sq_hash64(meta->vocab_sha256)};
    memcpy(info.kind, SQ_KIND_TOKENS, 8);
    w->cw = sq_cwriter_open(path, &info, zstd_level);
    if (!w->cw) {
        free(w);
        return NULL;
    }
    obuf *b = &w->b;
    reserve(b, 64);
    if (!b->failed) {
        memcpy(b->p, meta->vocab_sha256, 32);
        memcpy(b->p + 32, meta->source_sha256, 32);
        b->n = 64;
    }
    put_u32(b, meta->vocab_size);
    put_u32(b, meta->cls_id);
    put_u32(b, meta->sep_id);
    put_u32(b, meta->pad_id);
    put_u32(b, meta->unk_id);
    put_str(b, meta->version ? meta->version : "");
    if (b->failed || sq_cwriter_frame(w->cw, b->p, b->n)) {
        sq_tokens_writer_abort(w);
        return NULL;
    }
    return w;
}

int sq_tokens_writer_add(sq_tokens_writer *w, const sq_paragraph *ps, uint32_t np, const sq_question *qs,
                         uint32_t nq) {
    uint64_t want = 0;
    for (uint32_t i = 0; i < np; i++) want += ps[i].n_questions;
    if (want != nq) return sq_err("%s: %u questions given for paragraphs holding %llu", w->path, nq,
                                  (unsigned long long)want);
    obuf *b = &w->b;
    b->n = 0;
    put_u32(b, np);
    put_u32(b, nq);
    const sq_question *q = qs;
    for (uint32_t i = 0; i < np; i++) {
        const sq_paragraph *p = &ps[i];
        put_str(b, p->title ? p->title : "");
        put_str(b, p->context);
        put_u32(b, p->context_cps);
        put_u32(b, p->n_tokens);
        put_u32(b, p->n_questions);
        put_u32s(b, p->ids, p->n_tokens);
        put_u32s(b, p->offsets, 2 * (size_t)p->n_tokens);
        w->n_tok += p->n_tokens;
        for (uint32_t k = 0; k < p->n_questions; k++, q++) {
            put_str(b, q->id);
            put_str(b, q->text);
            put_u32(b, q->n_ids);
            put_u32(b, q->n_answers);
            put_u32(b, q->is_impossible);
            put_u32s(b, q->ids, q->n_ids);
            for (uint32_t a = 0; a < q->n_answers; a++) {
                put_str(b, q->answers[a].text);
                put_u32(b, q->answers[a].start);
            }
            w->n_qids += q->n_ids;
        }
    }
    if (b->failed) return -1;
    w->n_par += np;
    w->n_q += nq;
    if (w->n_par > UINT32_MAX || w->n_q > UINT32_MAX) return sq_err("%s: too many paragraphs or questions", w->path);
    return sq_cwriter_frame(w->cw, b->p, b->n);
}

int sq_tokens_writer_close(sq_tokens_writer *w) {
    sq_container_info *info = sq_cwriter_info(w->cw);
    info->counts[0] = w->n_par;
    info->counts[1] = w->n_q;
    info->counts[2] = w->n_tok;
    info->counts[3] = w->n_qids;
    int rc = sq_cwriter_close(w->cw);
    free(w->b.p);
    free(w);
    return rc;
}

void sq_tokens_writer_abort(sq_tokens_writer *w) {
    if (!w) return;
    sq_cwriter_abort(w->cw);
    free(w->b.p);
    free(w);
}

int sq_tokens_write(const char *path, const sq_tokens *t) {
    sq_tokens_writer *w = sq_tokens_writer_open(path, t, 3);
    if (!w) return -1;
    /* Cut into frames of about FRAME_BYTES, at paragraph boundaries. */
    uint32_t i = 0;
    while (i < t->n_paragraphs) {
        uint32_t j = i;
        size_t bytes = 0;
        uint32_t nq = 0;
        while (j < t->n_paragraphs && (j == i || bytes < FRAME_BYTES)) {
            const sq_paragraph *p = &t->paragraphs[j];
            bytes += strlen(p->context) + 12 * (size_t)p->n_tokens;
            nq += p->n_questions;
            j++;
        }
        const sq_paragraph *p = &t->paragraphs[i];
        if ((uint64_t)p->first_question + nq > t->n_questions) {
            sq_tokens_writer_abort(w);
            return sq_err("%s: paragraph %u claims questions past the end", path, i);
        }
        if (sq_tokens_writer_add(w, p, j - i, t->questions + p->first_question, nq)) {
            sq_tokens_writer_abort(w);
            return -1;
        }
        i = j;
    }
    return sq_tokens_writer_close(w);
}

/* ---- reader ---- */

typedef struct {
    void **frames;
    size_t n_frames;
    sq_answer *answers;
    size_t answers_cap;
} arena;

typedef struct {
    const char *name;
    size_t frame;
    const uint8_t *p;
    size_t n, at;
} cursor;

static int damaged(const cursor *c, const char *why) {
    return sq_err("%s: frame %zu, byte %zu: %s", c->name, c->frame, c->at, why);
}

static int get_u32(cursor *c, uint32_t *v) {
    if (c->n - c->at < 4) return damaged(c, "truncated");
    memcpy(v, c->p + c->at, 4);
    c->at += 4;
    return 0;
}

static int get_u32s(cursor *c, size_t n, const uint32_t **v) {
    if ((c->n - c->at) / 4 < n) return damaged(c, "array runs past the frame");
    *v = (const uint32_t *)(const void *)(c->p + c->at);
    c->at += 4 * n;
    return 0;
}

/* Counts the code points of valid UTF-8; -1 if invalid. */
static long utf8_cps(const uint8_t *s, size_t n) {
    long cps = 0;
    for (size_t i = 0; i < n; cps++) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (!k || c > 0xF4 || n - i < k) return -1;
        uint32_t v = c & (0x3F >> (k - 1));
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return -1;
            v = v << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 3 && (v < 0x800 || (v >= 0xD800 && v < 0xE000))) || (k == 4 && (v < 0x10000 || v > 0x10FFFF)))
            return -1;
        i += k;
    }
    return cps;
}

/* A string: valid UTF-8 without NUL, NUL-terminated, padded; *cps its
 * length in code points. */
static int get_str(cursor *c, const char **s, long *cps) {
    uint32_t len = 0;
    if (get_u32(c, &len)) return -1;
    if (len > MAX_STR || c->n - c->at < (size_t)len + 1) return damaged(c, "string runs past the frame");
    const uint8_t *p = c->p + c->at;
    if (p[len] != 0 || memchr(p, 0, len)) return damaged(c, "string is not NUL-terminated");
    long n = utf8_cps(p, len);
    if (n < 0) return damaged(c, "string is not valid UTF-8");
    size_t pad = (4 - (len + 1) % 4) % 4;
    if (c->n - c->at - len - 1 < pad) return damaged(c, "string padding runs past the frame");
    *s = (const char *)p;
    if (cps) *cps = n;
    c->at += len + 1 + pad;
    return 0;
}

void sq_tokens_free(sq_tokens *t) {
    if (!t) return;
    arena *a = t->arena;
    if (a) {
        for (size_t i = 0; i < a->n_frames; i++) free(a->frames[i]);
        free(a->frames);
        free(a->answers);
        free(a);
    }
    free(t->version);
    free(t->paragraphs);
    free(t->questions);
    free(t);
}

static int read_meta(sq_tokens *t, cursor *c) {
    if (c->n < 64) return damaged(c, "header frame truncated");
    memcpy(t->vocab_sha256, c->p, 32);
    memcpy(t->source_sha256, c->p + 32, 32);
    c->at = 64;
    const char *version;
    if (get_u32(c, &t->vocab_size) || get_u32(c, &t->cls_id) || get_u32(c, &t->sep_id) ||
        get_u32(c, &t->pad_id) || get_u32(c, &t->unk_id) || get_str(c, &version, NULL))
        return -1;
    if (t->cls_id >= t->vocab_size || t->sep_id >= t->vocab_size || t->pad_id >= t->vocab_size ||
        t->unk_id >= t->vocab_size)
        return damaged(c, "special token id outside the vocabulary");
    if (c->at != c->n) return damaged(c, "trailing bytes");
    t->version = sq_strdup(version);
    return t->version ? 0 : -1;
}

static int check_ids(cursor *c, const uint32_t *ids, size_t n, uint32_t vocab_size) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= vocab_size) return damaged(c, "token id outside the vocabulary");
    return 0;
}

/* One chunk frame: fills paragraphs/questions from *np / *nq on. */
static int read_chunk(sq_tokens *t, cursor *c, uint64_t *np, uint64_t *nq, uint64_t *na) {
    uint32_t cp = 0, cq = 0;
    if (get_u32(c, &cp) || get_u32(c, &cq)) return -1;
    if (cp > t->n_paragraphs - *np || cq > t->n_questions - *nq) return damaged(c, "more records than the header counts");
    arena *a = t->arena;
    uint64_t q_end = *nq + cq;
    for (uint32_t i = 0; i < cp; i++) {
        sq_paragraph *p = &t->paragraphs[(*np)++];
        long cps;
        uint32_t nqs = 0;
        if (get_str(c, &p->title, NULL) || get_str(c, &p->context, &cps) || get_u32(c, &p->context_cps) ||
            get_u32(c, &p->n_tokens) || get_u32(c, &nqs))
            return -1;
        if ((long)p->context_cps != cps) return damaged(c, "context length disagrees with its text");
        if (get_u32s(c, p->n_tokens, &p->ids) || get_u32s(c, 2 * (size_t)p->n_tokens, &p->offsets)) return -1;
        if (check_ids(c, p->ids, p->n_tokens, t->vocab_size)) return -1;
        for (uint32_t k = 0; k < p->n_tokens; k++)
            if (p->offsets[2 * k] >= p->offsets[2 * k + 1] || p->offsets[2 * k + 1] > p->context_cps)
                return damaged(c, "token offset outside its context");
        if (nqs > q_end - *nq) return damaged(c, "paragraph claims more questions than the frame holds");
        p->first_question = (uint32_t)*nq;
        p->n_questions = nqs;
        for (uint32_t k = 0; k < nqs; k++) {
            sq_question *q = &t->questions[(*nq)++];
            uint32_t imp = 0;
            q->paragraph = (uint32_t)(*np - 1);
            if (get_str(c, &q->id, NULL) || get_str(c, &q->text, NULL) || get_u32(c, &q->n_ids) ||
                get_u32(c, &q->n_answers) || get_u32(c, &imp) || get_u32s(c, q->n_ids, &q->ids))
                return -1;
            if (imp > 1) return damaged(c, "is_impossible is not 0 or 1");
            q->is_impossible = imp;
            if (check_ids(c, q->ids, q->n_ids, t->vocab_size)) return -1;
            /* Each answer takes at least 12 bytes: a bound before allocating. */
            if (q->n_answers > (c->n - c->at) / 12) return damaged(c, "answer count runs past the frame");
            if (*na + q->n_answers + 1 > a->answers_cap) {
                size_t cap = a->answers_cap ? 2 * a->answers_cap : 1024;
                while (cap < *na + q->n_answers + 1) cap *= 2;
                sq_answer *grown = sq_realloc(a->answers, cap * sizeof *grown);
                if (!grown) return -1;
                a->answers = grown;
                a->answers_cap = cap;
            }
            sq_answer *ans = a->answers;
            for (uint32_t m = 0; m < q->n_answers; m++)
                if (get_str(c, &ans[*na + m].text, NULL) || get_u32(c, &ans[*na + m].start)) return -1;
            /* Pointers into a->answers are set once it stops moving. */
            q->answers = (const sq_answer *)(uintptr_t)*na;
            *na += q->n_answers;
        }
    }
    if (*nq != q_end) return damaged(c, "question count disagrees with its paragraphs");
    if (c->at != c->n) return damaged(c, "trailing bytes");
    return 0;
}

static int read_all(const char *name, sq_creader *r, sq_tokens **out) {
    const sq_container_info *info = sq_creader_info(r);
    if (info->version != SQ_TOKENS_VERSION)
        return sq_err("%s: tokens format version %u, this sq reads %u", name, info->version, SQ_TOKENS_VERSION);
    if (info->counts[0] > UINT32_MAX || info->counts[1] > UINT32_MAX)
        return sq_err("%s: header counts out of range", name);
    size_t nf = sq_creader_frames(r);
    if (nf < 1) return sq_err("%s: no header frame", name);
    sq_tokens *t = sq_calloc(1, sizeof *t);
    arena *a = t ? sq_calloc(1, sizeof *a) : NULL;
    if (!a) {
        free(t);
        return -1;
    }
    t->arena = a;
    t->cased = info->flags & SQ_TOKENS_CASED;
    t->n_paragraphs = (uint32_t)info->counts[0];
    t->n_questions = (uint32_t)info->counts[1];
    /* Every paragraph and question takes at least 20 bytes of frame data, so
     * the counts are bounded by the raw sizes before any allocation. */
    uint64_t raw = 0;
    for (size_t i = 0; i < nf; i++) raw += sq_creader_frame_size(r, i);
    if (info->counts[0] + info->counts[1] > raw / 20 + 1) {
        sq_err("%s: header counts exceed the data", name);
        goto fail;
    }
    a->frames = sq_calloc(nf, sizeof *a->frames);
    t->paragraphs = sq_calloc(t->n_paragraphs + 1, sizeof *t->paragraphs);
    t->questions = sq_calloc(t->n_questions + 1, sizeof *t->questions);
    if (!a->frames || !t->paragraphs || !t->questions) goto fail;
    uint64_t np = 0, nq = 0, na = 0, ntok = 0, nqid = 0;
    for (size_t i = 0; i < nf; i++) {
        size_t len;
        if (sq_creader_frame(r, i, &a->frames[i], &len)) goto fail;
        a->n_frames = i + 1;
        cursor c = {name, i, a->frames[i], len, 0};
        if (i == 0 ? read_meta(t, &c) : read_chunk(t, &c, &np, &nq, &na)) goto fail;
    }
    if (np != t->n_paragraphs || nq != t->n_questions) {
        sq_err("%s: %llu paragraphs and %llu questions, the header says %u and %u", name,
               (unsigned long long)np, (unsigned long long)nq, t->n_paragraphs, t->n_questions);
        goto fail;
    }
    for (uint32_t i = 0; i < t->n_paragraphs; i++) ntok += t->paragraphs[i].n_tokens;
    for (uint32_t i = 0; i < t->n_questions; i++) {
        sq_question *q = &t->questions[i];
        nqid += q->n_ids;
        /* (no arithmetic on a NULL array: a file may hold no answers) */
        q->answers = q->n_answers ? a->answers + (uintptr_t)q->answers : NULL;
    }
    if (ntok != info->counts[2] || nqid != info->counts[3]) {
        sq_err("%s: token counts disagree with the header", name);
        goto fail;
    }
    if (sq_hash64(t->vocab_sha256) != info->vocab_hash) {
        sq_err("%s: vocabulary hash in the header disagrees with the stored sha256", name);
        goto fail;
    }
    *out = t;
    return 0;
fail:
    sq_tokens_free(t);
    return -1;
}

int sq_tokens_read(const char *path, sq_tokens **out) {
    sq_creader *r;
    if (sq_creader_open(path, SQ_KIND_TOKENS, &r)) return -1;
    int rc = read_all(path, r, out);
    sq_creader_close(r);
    return rc;
}

int sq_tokens_readb(const char *name, const void *buf, size_t len, sq_tokens **out) {
    sq_creader *r;
    if (sq_creader_openb(name, buf, len, SQ_KIND_TOKENS, &r)) return -1;
    int rc = read_all(name, r, out);
    sq_creader_close(r);
    return rc;
}

uint64_t sq_tokens_vocab_hash(const sq_tokens *t) { return sq_hash64(t->vocab_sha256); }
