#include "writer.h"
#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/container.h"
#include "sq/error.h"
#include "sq/features.h"
#include "sq/hash.h"
#include "sq/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXAMPLES_FILE "examples.sqf"

/* Where each question's features start: question q owns features
 * [first[q], first[q + 1]).  Questions are cut to max_query tokens here. */
typedef struct {
    uint64_t *first;
    uint32_t *q_len;
    pack_answer *answer;
} plan;

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *put_small(uint8_t *p, uint32_t v) {
    if (v < 255) {
        *p++ = (uint8_t)v;
        return p;
    }
    *p++ = 255;
    put32(p, v);
    return p + 4;
}

static int make_plan(const sq_tokens *t, const pack_options *o, plan *p, pack_stats *st) {
    uint32_t n = t->n_questions;
    p->first = sq_malloc((n + 1) * sizeof *p->first);
    p->q_len = sq_malloc((n ? n : 1) * sizeof *p->q_len);
    p->answer = sq_malloc((n ? n : 1) * sizeof *p->answer);
    if (!p->first || !p->q_len || !p->answer) return -1;
    p->first[0] = 0;
    for (uint32_t q = 0; q < n; q++) {
        const sq_question *qu = &t->questions[q];
        if (qu->paragraph >= t->n_paragraphs)
            return sq_err("question %u (%s): paragraph %u does not exist", q, qu->id, qu->paragraph);
        const sq_paragraph *pa = &t->paragraphs[qu->paragraph];
        p->q_len[q] = pack_question_len(o, qu->n_ids);
        st->truncated_questions += p->q_len[q] < qu->n_ids;
        /* HF run_qa: labels from the first answer; v2.0 impossible
         * questions (and questions without answers) get 0/0. */
        pack_answer *a = &p->answer[q];
        a->has = qu->n_answers > 0 && !qu->is_impossible;
        a->start = a->has ? qu->answers[0].start : 0;
        a->end = a->has ? a->start + pack_utf8_cps(qu->answers[0].text) : 0;
        p->first[q + 1] = p->first[q] + pack_n_windows(pa->n_tokens, pack_room(o, p->q_len[q]), o->stride);
    }
    return 0;
}

static void free_plan(plan *p) {
    free(p->first);
    free(p->q_len);
    free(p->answer);
}

/* What one shard file came to, for the manifest. */
typedef struct {
    uint64_t features, tokens, bytes;
    uint32_t max_len;
    uint8_t sha256[32];
} shard_result;

static int hash_file(const char *path, uint64_t *bytes, uint8_t sha[32]) {
    char *buf;
    size_t len;
    if (sq_read_file(path, (size_t)1 << 40, &buf, &len)) return -1;
    int rc = sq_sha256(buf, len, sha);
    *bytes = len;
    free(buf);
    return rc;
}

static int write_container(const char *path, const sq_tokens *t, uint32_t flags, const uint64_t counts[4],
                           const void *data, size_t len, int level) {
    sq_container_info ci = {.version = SQ_FEATURES_VERSION, .flags = flags, .vocab_hash = sq_tokens_vocab_hash(t)};
    memcpy(ci.kind, SQ_KIND_FEATURES, 8);
    memcpy(ci.counts, counts, sizeof ci.counts);
    sq_cwriter *w = sq_cwriter_open(path, &ci, level);
    if (!w) return -1;
    if (sq_cwriter_frame(w, data, len)) {
        sq_cwriter_abort(w);
        return -1;
    }
    return sq_cwriter_close(w);
}

/* Features [f0, f1) into path. */
static int write_shard(const char *path, const sq_tokens *t, const pack_config *c, const plan *p, uint64_t f0,
                       uint64_t f1, shard_result *res) {
    const pack_options *o = &c->window;
    size_t nf = (size_t)(f1 - f0);
    pack_layout *lay = sq_malloc(nf * sizeof *lay);
    uint32_t *ex = sq_malloc(nf * sizeof *ex);
    uint8_t *blob = NULL;
    int rc = -1;
    if (!lay || !ex) goto out;
    /* The question holding f0: the last q with first[q] <= f0. */
    uint32_t lo = 0, hi = t->n_questions;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->first[mid] <= f0) lo = mid;
        else hi = mid;
    }
    uint64_t tokens = 0, ctx = 0;
    uint32_t q = lo;
    for (size_t i = 0; i < nf; i++) {
        while (p->first[q + 1] <= f0 + i) q++;
        const sq_paragraph *pa = &t->paragraphs[t->questions[q].paragraph];
        pack_feature_layout(o, p->q_len[q], pa->offsets, pa->n_tokens, &p->answer[q], (uint32_t)(f0 + i - p->first[q]),
                            &lay[i]);
        ex[i] = q;
        tokens += lay[i].len;
        ctx += lay[i].ctx_stop - lay[i].ctx_start;
        if (lay[i].len > res->max_len) res->max_len = lay[i].len;
    }
    /* At most 10 bytes of offsets a context token; the frame is cut to the real size. */
    size_t len = nf * SQ_FEATURES_RECORD_SIZE + 2 * tokens + 10 * ctx;
    blob = sq_malloc(len);
    if (!blob) goto out;
    uint8_t *pr = blob, *pi = blob + nf * SQ_FEATURES_RECORD_SIZE, *po = pi + 2 * tokens;
    uint32_t vocab = t->vocab_size;
    for (size_t i = 0; i < nf; i++, pr += SQ_FEATURES_RECORD_SIZE) {
        const pack_layout *l = &lay[i];
        const sq_question *qu = &t->questions[ex[i]];
        const sq_paragraph *pa = &t->paragraphs[qu->paragraph];
        put32(pr, ex[i]);
        put16(pr + 4, l->len);
        put16(pr + 6, l->type1_start);
        put16(pr + 8, l->start_position);
        put16(pr + 10, l->end_position);
        uint32_t bad = 0;
        put16(pi, t->cls_id);
        pi += 2;
        for (uint32_t k = 0; k < l->type1_start - 2; k++, pi += 2) {
            bad |= qu->ids[k] >= vocab;
            put16(pi, qu->ids[k]);
        }
        put16(pi, t->sep_id);
        pi += 2;
        uint32_t prev = 0;
        for (uint32_t k = l->ctx_start; k < l->ctx_stop; k++, pi += 2) {
            bad |= pa->ids[k] >= vocab;
            put16(pi, pa->ids[k]);
            /* Mostly a 0 or 1 gap and a short length: two bytes a token
             * instead of eight, so zstd has a quarter of the bytes to do. */
            uint32_t s = pa->offsets[2 * k], e = pa->offsets[2 * k + 1];
            po = put_small(po, s - prev);
            po = put_small(po, e - s);
            prev = e;
        }
        put16(pi, t->sep_id);
        pi += 2;
        if (bad) {
            sq_err("question %u (%s): a token id is outside the vocabulary of %u", ex[i], qu->id, vocab);
            goto out;
        }
    }
    uint64_t counts[4] = {nf, f0, tokens, ctx};
    if (write_container(path, t, 0, counts, blob, (size_t)(po - blob), c->zstd_level)) goto out;
    res->features = nf;
    res->tokens = tokens;
    rc = hash_file(path, &res->bytes, res->sha256);
out:
    free(lay);
    free(ex);
    free(blob);
    return rc;
}

static int write_examples(const char *path, const sq_tokens *t, int level, shard_result *res) {
    size_t len = 0;
    for (uint32_t q = 0; q < t->n_questions; q++) len += strlen(t->questions[q].id) + 1;
    char *blob = sq_malloc(len ? len : 1);
    if (!blob) return -1;
    char *p = blob;
    for (uint32_t q = 0; q < t->n_questions; q++) {
        size_t n = strlen(t->questions[q].id) + 1;
        memcpy(p, t->questions[q].id, n);
        p += n;
    }
    uint64_t counts[4] = {t->n_questions, len, 0, 0};
    int rc = write_container(path, t, SQ_FEATURES_EXAMPLES, counts, blob, len, level);
    free(blob);
    return rc ? rc : hash_file(path, &res->bytes, res->sha256);
}

static json_t *hex_json(const uint8_t *sha) {
    char hex[65];
    sq_hex(sha, 32, hex);
    return json_string(hex);
}

static json_t *file_json(const char *name, const shard_result *r, bool with_counts) {
    json_t *j = json_object();
    json_object_set_new(j, "file", json_string(name));
    if (with_counts) {
        json_object_set_new(j, "features", json_integer((json_int_t)r->features));
        json_object_set_new(j, "tokens", json_integer((json_int_t)r->tokens));
    }
    json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
    json_object_set_new(j, "sha256", hex_json(r->sha256));
    return j;
}

static int write_manifest(const char *path, const sq_tokens *t, const pack_config *c, const pack_input *in,
                          const pack_stats *st, const shard_result *ex, const shard_result *sh) {
    json_t *m = json_object(), *o = json_object(), *v = json_object(), *n = json_object(), *d = json_object(),
           *i = json_object(), *shards = json_array();
    char tool[128];
    snprintf(tool, sizeof tool, "sq-pack %s", sq_version());
    json_object_set_new(m, "format", json_string("sq-features"));
    json_object_set_new(m, "version", json_integer(SQ_FEATURES_VERSION));
    json_object_set_new(m, "tool", json_string(tool));
    json_object_set_new(o, "max_seq", json_integer(c->window.max_seq));
    json_object_set_new(o, "doc_stride", json_integer(c->window.stride));
    json_object_set_new(o, "max_query", json_integer(c->window.max_query));
    json_object_set_new(o, "shard_size", json_integer(c->shard_size));
    json_object_set_new(m, "options", o);
    json_object_set_new(i, "sha256", hex_json(in->sha256));
    json_object_set_new(i, "bytes", json_integer((json_int_t)in->bytes));
    json_object_set_new(m, "input", i);
    json_object_set_new(d, "sha256", hex_json(t->source_sha256));
    json_object_set_new(d, "version", json_string(t->version ? t->version : ""));
    json_object_set_new(m, "dataset", d);
    json_object_set_new(v, "sha256", hex_json(t->vocab_sha256));
    json_object_set_new(v, "size", json_integer(t->vocab_size));
    json_object_set_new(v, "cased", json_boolean(t->cased));
    json_object_set_new(v, "cls_id", json_integer(t->cls_id));
    json_object_set_new(v, "sep_id", json_integer(t->sep_id));
    json_object_set_new(v, "pad_id", json_integer(t->pad_id));
    json_object_set_new(m, "vocab", v);
    json_object_set_new(n, "examples", json_integer((json_int_t)st->examples));
    json_object_set_new(n, "paragraphs", json_integer((json_int_t)st->paragraphs));
    json_object_set_new(n, "features", json_integer((json_int_t)st->features));
    json_object_set_new(n, "tokens", json_integer((json_int_t)st->tokens));
    json_object_set_new(n, "truncated_questions", json_integer(st->truncated_questions));
    json_object_set_new(n, "max_len", json_integer(st->max_len));
    json_object_set_new(m, "counts", n);
    json_object_set_new(m, "examples", file_json(EXAMPLES_FILE, ex, false));
    for (uint32_t s = 0; s < st->shards; s++) {
        char name[32];
        snprintf(name, sizeof name, "shard-%05u.sqf", s);
        json_array_append_new(shards, file_json(name, &sh[s], true));
    }
    json_object_set_new(m, "shards", shards);
    int rc = sq_json_save(path, m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(m);
    return rc;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = sq_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int pack_write(const char *dir, const sq_tokens *t, const pack_config *c, const pack_input *in, pack_stats *st) {
    memset(st, 0, sizeof *st);
    if (t->vocab_size > (1u << 16))
        return sq_err("the vocabulary has %u tokens; feature shards store ids as 16 bits", t->vocab_size);
    if (t->cls_id >= t->vocab_size || t->sep_id >= t->vocab_size)
        return sq_err("[CLS] or [SEP] id is outside the vocabulary of %u", t->vocab_size);
    plan p = {0};
    shard_result *res = NULL, ex = {0};
    int rc = -1;
    if (make_plan(t, &c->window, &p, st)) goto out;
    st->examples = t->n_questions;
    st->paragraphs = t->n_paragraphs;
    st->features = p.first[t->n_questions];
    uint64_t n_shards = (st->features + c->shard_size - 1) / c->shard_size;
    if (n_shards > 99999) {
        sq_err("%llu shards of %u features: use a larger --shard-size", (unsigned long long)n_shards, c->shard_size);
        goto out;
    }
    st->shards = (uint32_t)n_shards;
    res = sq_calloc(n_shards ? n_shards : 1, sizeof *res);
    if (!res) goto out;
    /* Shards are independent: build them in parallel.  sq_errmsg is
     * per thread, so the first failure's message is copied out. */
    char err[1024] = "";
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (uint64_t s = 0; s < n_shards; s++) {
        int bad;
#pragma omp atomic read
        bad = failed;
        if (bad) continue;
        char name[32];
        snprintf(name, sizeof name, "shard-%05u.sqf", (unsigned)s);
        char *path = join(dir, name);
        uint64_t f0 = s * c->shard_size, f1 = f0 + c->shard_size < st->features ? f0 + c->shard_size : st->features;
        if (!path || write_shard(path, t, c, &p, f0, f1, &res[s])) {
#pragma omp critical(pack_error)
            if (!failed) {
                snprintf(err, sizeof err, "%s", sq_errmsg());
#pragma omp atomic write
                failed = 1;
            }
        }
        free(path);
    }
    if (failed) {
        sq_err("%s", err);
        goto out;
    }
    for (uint64_t s = 0; s < n_shards; s++) {
        st->tokens += res[s].tokens;
        if (res[s].max_len > st->max_len) st->max_len = res[s].max_len;
    }
    char *path = join(dir, EXAMPLES_FILE);
    rc = path ? write_examples(path, t, c->zstd_level, &ex) : -1;
    free(path);
    if (rc) goto out;
    rc = -1;
    if (!(path = join(dir, PACK_MANIFEST))) goto out;
    rc = write_manifest(path, t, c, in, st, &ex, res);
    free(path);
out:
    free_plan(&p);
    free(res);
    return rc;
}
