/* Feature directories end to end in memory: pack_write (pack/writer.c) on a
 * hand-made sq_tokens, read back through sq/features.h (shared/src/features.c):
 * every feature by index in any order and from several threads, the info and
 * question ids, one shard alone, and damaged or tampered files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/features.h"
#include "writer.h"

enum { VOCAB = 1000, CLS = 101, SEP = 102, NP = 4, NQ = 9 };

typedef struct {
    sq_tokens t;
    sq_paragraph p[NP];
    sq_question q[NQ];
    sq_answer a[NQ];
    uint32_t ctx_ids[NP][200], ctx_off[NP][400], q_ids[NQ][40];
    char ids[NQ][16];
    char dir[64];
} fixture;

/* Paragraph sizes 0, 7, 40 and 200 tokens; offsets with gaps, some long
 * tokens (past the one-byte encoding) and, in paragraph 3, offsets that go
 * backwards (the encoding wraps modulo 2^32 and must still round-trip). */
static void make_tokens(fixture *x) {
    memset(x, 0, sizeof *x);
    static const uint32_t sizes[NP] = {0, 7, 40, 200};
    for (int p = 0; p < NP; p++) {
        uint32_t pos = 0;
        for (uint32_t k = 0; k < sizes[p]; k++) {
            x->ctx_ids[p][k] = 1000 - 1 - (p * 37 + k * 11) % 800;
            uint32_t gap = k % 3, len = k % 17 == 5 ? 300 + k : 1 + k % 4;
            if (p == 3 && k % 50 == 49) pos -= 2;
            x->ctx_off[p][2 * k] = pos + gap;
            x->ctx_off[p][2 * k + 1] = pos + gap + len;
            pos += gap + len;
        }
        x->p[p] = (sq_paragraph){.title = "t", .context = "c", .context_cps = pos, .n_tokens = sizes[p],
                                 .ids = x->ctx_ids[p], .offsets = x->ctx_off[p]};
    }
    /* Questions: paragraph, length (30 is cut to 16), answer span in tokens. */
    static const struct { uint32_t p, len; int a0, a1; bool impossible; } qs[NQ] = {
        {0, 3, -1, -1, false}, {1, 5, 2, 4, false}, {1, 30, 0, 6, false}, {2, 0, 10, 12, false},
        {2, 4, 39, 39, false}, {3, 16, 100, 103, false}, {3, 2, 5, 6, true}, {3, 7, 190, 199, false},
        {3, 1, -1, -1, false},
    };
    for (int i = 0; i < NQ; i++) {
        for (uint32_t k = 0; k < qs[i].len; k++) x->q_ids[i][k] = 200 + (i * 13 + k) % 700;
        snprintf(x->ids[i], sizeof x->ids[i], "q%d\"\\", i);
        sq_question *q = &x->q[i];
        *q = (sq_question){.id = x->ids[i], .text = "?", .paragraph = qs[i].p, .n_ids = qs[i].len,
                           .ids = x->q_ids[i], .is_impossible = qs[i].impossible};
        if (qs[i].a0 >= 0) {
            uint32_t s = x->ctx_off[qs[i].p][2 * qs[i].a0], e = x->ctx_off[qs[i].p][2 * qs[i].a1 + 1];
            static char text[NQ][2048];
            memset(text[i], 'x', e - s);
            text[i][e - s] = 0;
            x->a[i] = (sq_answer){.text = text[i], .start = s};
            q->n_answers = 1;
            q->answers = &x->a[i];
        }
        x->p[qs[i].p].n_questions++;
    }
    for (int p = 1; p < NP; p++) x->p[p].first_question = x->p[p - 1].first_question + x->p[p - 1].n_questions;
    sq_tokens *t = &x->t;
    memset(t->vocab_sha256, 0xab, 32);
    memset(t->source_sha256, 0xcd, 32);
    t->vocab_size = VOCAB;
    t->cls_id = CLS;
    t->sep_id = SEP;
    t->pad_id = 0;
    t->version = "v2.0";
    t->n_paragraphs = NP;
    t->n_questions = NQ;
    t->paragraphs = x->p;
    t->questions = x->q;
}

static const pack_config config = {.window = {40, 7, 16}, .shard_size = 5, .zstd_level = 3};

static void build(fixture *x, pack_stats *st) {
    make_tokens(x);
    snprintf(x->dir, sizeof x->dir, "/tmp/sq-test-features-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    pack_input in = {.bytes = 1234};
    memset(in.sha256, 0xef, 32);
    if (pack_write(x->dir, &x->t, &config, &in, st)) fail_msg("pack_write: %s", sq_errmsg());
}

static void path_of(const fixture *x, const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", x->dir, name);
}

/* Feature g as the window code says it must be. */
static void expect_feature(const fixture *x, const sq_feature *f, uint32_t *example, uint32_t *window) {
    const sq_question *q = &x->q[*example];
    const sq_paragraph *p = &x->p[q->paragraph];
    pack_answer a = {q->n_answers && !q->is_impossible, 0, 0};
    if (a.has) {
        a.start = q->answers[0].start;
        a.end = a.start + (uint32_t)strlen(q->answers[0].text);
    }
    uint32_t ql = pack_question_len(&config.window, q->n_ids);
    pack_layout l;
    pack_feature_layout(&config.window, ql, p->offsets, p->n_tokens, &a, *window, &l);
    assert_int_equal(f->example, *example);
    assert_int_equal(f->len, l.len);
    assert_int_equal(f->type1_start, l.type1_start);
    assert_int_equal(f->start_position, l.start_position);
    assert_int_equal(f->end_position, l.end_position);
    assert_int_equal(f->ids[0], CLS);
    for (uint32_t k = 0; k < ql; k++) assert_int_equal(f->ids[1 + k], q->ids[k]);
    assert_int_equal(f->ids[ql + 1], SEP);
    assert_int_equal(f->ids[f->len - 1], SEP);
    for (uint32_t k = 0; k < f->len; k++) {
        if (k >= l.type1_start && k + 1 < f->len) {
            uint32_t c = l.ctx_start + k - l.type1_start;
            assert_int_equal(f->ids[k], p->ids[c]);
            assert_int_equal(f->offsets[2 * k], p->offsets[2 * c]);
            assert_int_equal(f->offsets[2 * k + 1], p->offsets[2 * c + 1]);
        } else {
            assert_int_equal(f->offsets[2 * k], SQ_NO_OFFSET);
            assert_int_equal(f->offsets[2 * k + 1], SQ_NO_OFFSET);
        }
    }
    if (++*window == pack_n_windows(p->n_tokens, pack_room(&config.window, ql), config.window.stride)) {
        *window = 0;
        ++*example;
    }
}

static void test_round_trip(void **state) {
    fixture *x = malloc(sizeof *x);
    pack_stats st;
    build(x, &st);
    assert_int_equal(st.truncated_questions, 1);
    assert_int_equal(st.examples, NQ);
    sq_features *f;
    if (sq_features_open(x->dir, &f)) fail_msg("%s", sq_errmsg());
    const sq_features_info *in = sq_features_info_get(f);
    assert_int_equal(sq_features_count(f), st.features);
    assert_true(st.features > 15);
    assert_int_equal(in->n_shards, (st.features + 4) / 5);
    assert_int_equal(in->max_seq, 40);
    assert_int_equal(in->doc_stride, 7);
    assert_int_equal(in->max_query, 16);
    assert_int_equal(in->n_truncated_questions, 1);
    assert_int_equal(in->n_examples, NQ);
    assert_int_equal(in->n_paragraphs, NP);
    assert_int_equal(in->vocab_size, VOCAB);
    assert_int_equal(in->cls_id, CLS);
    assert_int_equal(in->n_tokens, st.tokens);
    assert_int_equal(in->dataset_sha256[31], 0xcd);
    assert_int_equal(in->input_sha256[0], 0xef);
    assert_int_equal(in->vocab_sha256[5], 0xab);
    assert_int_equal(sq_features_base(f), 0);
    assert_string_equal(sq_features_example_id(f, 3), "q3\"\\");
    assert_null(sq_features_example_id(f, NQ));
    /* Backwards first (O(1) location, shards loaded out of order), then forwards. */
    sq_feature a, b;
    for (size_t i = sq_features_count(f); i-- > 0;) assert_int_equal(sq_features_get(f, i, &a), 0);
    uint32_t ex = 0, w = 0, max_len = 0;
    for (size_t i = 0; i < sq_features_count(f); i++) {
        assert_int_equal(sq_features_get(f, i, &a), 0);
        assert_int_equal(sq_features_get(f, i, &b), 0);
        assert_ptr_equal(a.ids, b.ids); /* decompressed once, kept */
        expect_feature(x, &a, &ex, &w);
        if (a.len > max_len) max_len = a.len;
    }
    assert_int_equal(ex, NQ);
    assert_int_equal(in->max_len, max_len);
    assert_int_equal(sq_features_get(f, sq_features_count(f), &a), -1);
    assert_non_null(strstr(sq_errmsg(), "does not exist"));
    sq_features_close(f);
    assert_int_equal(sq_rmtree(x->dir), 0);
    free(x);
    (void)state;
}

typedef struct {
    sq_features *f;
    size_t seed;
    const uint16_t **ids; /* what this thread got for each index */
    int bad;
} worker;

static void *work(void *arg) {
    worker *k = arg;
    size_t n = sq_features_count(k->f);
    for (size_t j = 0; j < 3 * n; j++) {
        size_t i = (j * 7 + k->seed) % n;
        sq_feature a;
        if (sq_features_get(k->f, i, &a)) k->bad = 1;
        else if (k->ids[i] && k->ids[i] != a.ids) k->bad = 1;
        else k->ids[i] = a.ids;
    }
    return NULL;
}

/* Threads racing on a fresh handle's first uses: no errors, and every
 * thread sees the same arrays (each shard loaded once), equal to a handle
 * read by one thread. */
static void test_threads(void **state) {
    fixture *x = malloc(sizeof *x);
    pack_stats st;
    build(x, &st);
    sq_features *f, *g;
    assert_int_equal(sq_features_open(x->dir, &f), 0);
    assert_int_equal(sq_features_open(x->dir, &g), 0);
    size_t n = sq_features_count(f);
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){f, (size_t)i * 3, calloc(n, sizeof(uint16_t *)), 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    for (size_t i = 0; i < n; i++) {
        sq_feature a, b;
        assert_int_equal(sq_features_get(f, i, &a), 0);
        assert_int_equal(sq_features_get(g, i, &b), 0);
        for (int k = 0; k < 4; k++) assert_ptr_equal(w[k].ids[i], a.ids);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.ids, b.ids, a.len * sizeof *a.ids);
        assert_memory_equal(a.offsets, b.offsets, 2 * a.len * sizeof *a.offsets);
    }
    for (int i = 0; i < 4; i++) free(w[i].ids);
    sq_features_close(f);
    sq_features_close(g);
    assert_int_equal(sq_rmtree(x->dir), 0);
    free(x);
    (void)state;
}

static void test_one_shard(void **state) {
    fixture *x = malloc(sizeof *x);
    pack_stats st;
    build(x, &st);
    char p[256], q[256];
    path_of(x, "shard-00001.sqf", p, sizeof p);
    sq_features *f, *all;
    assert_int_equal(sq_features_open(p, &f), 0);
    assert_int_equal(sq_features_open(x->dir, &all), 0);
    assert_int_equal(sq_features_base(f), 5);
    assert_int_equal(sq_features_count(f), 5);
    assert_int_equal(sq_features_info_get(f)->max_seq, 40);
    sq_feature a, b;
    assert_int_equal(sq_features_get(f, 2, &a), 0);
    assert_int_equal(sq_features_get(all, 7, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ids, b.ids, a.len * 2);
    assert_non_null(sq_features_example_id(f, a.example));
    sq_features_close(f);
    /* Without its manifest: the header's counts only. */
    path_of(x, "manifest.json", q, sizeof q);
    assert_int_equal(unlink(q), 0);
    assert_int_equal(sq_features_open(p, &f), 0);
    assert_int_equal(sq_features_base(f), 5);
    assert_int_equal(sq_features_get(f, 2, &a), 0);
    assert_memory_equal(a.ids, b.ids, a.len * 2);
    assert_memory_equal(a.offsets, b.offsets, a.len * 8);
    assert_null(sq_features_example_id(f, a.example));
    sq_features_close(f);
    sq_features_close(all);
    assert_int_equal(sq_rmtree(x->dir), 0);
    free(x);
    (void)state;
}

static void flip(const char *path, long at) {
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, at, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, at, SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
}

static void test_damage(void **state) {
    fixture *x = malloc(sizeof *x);
    pack_stats st;
    build(x, &st);
    char p[256];
    sq_features *f;
    sq_feature a;
    /* A flipped byte inside shard 1's frame: named with file and offset,
     * while the other shards stay readable. */
    path_of(x, "shard-00001.sqf", p, sizeof p);
    flip(p, 90);
    assert_int_equal(sq_features_open(x->dir, &f), 0);
    assert_int_equal(sq_features_get(f, 0, &a), 0);
    assert_int_equal(sq_features_get(f, 6, &a), -1);
    assert_non_null(strstr(sq_errmsg(), "shard-00001.sqf: frame 0 at offset 80"));
    assert_int_equal(sq_features_load_all(f), -1);
    assert_int_equal(sq_features_verify(f), -1);
    assert_int_equal(sq_features_get(f, 11, &a), 0);
    sq_features_close(f);
    flip(p, 90);
    /* Another valid shard in its place: caught by the manifest's sha256. */
    char q[256];
    path_of(x, "shard-00000.sqf", q, sizeof q);
    assert_int_equal(rename(q, p), 0);
    assert_int_equal(sq_features_open(x->dir, &f), 0);
    assert_int_equal(sq_features_get(f, 6, &a), -1);
    assert_non_null(strstr(sq_errmsg(), "shard-00001.sqf: "));
    sq_features_close(f);
    /* A damaged example table fails the open. */
    path_of(x, "examples.sqf", p, sizeof p);
    flip(p, 85);
    assert_int_equal(sq_features_open(x->dir, &f), -1);
    assert_non_null(strstr(sq_errmsg(), "examples.sqf: frame 0 at offset 80"));
    flip(p, 85);
    assert_int_equal(sq_features_open(x->dir, &f), 0);
    sq_features_close(f);
    /* A manifest whose counts disagree with its shard list. */
    path_of(x, "manifest.json", p, sizeof p);
    char *m;
    size_t n;
    assert_int_equal(sq_read_file(p, 1 << 20, &m, &n), 0);
    char *c = strstr(m, "\"features\": ");
    assert_non_null(c);
    c[12] = c[12] == '9' ? '8' : '9';
    assert_int_equal(sq_write_file_atomic(p, m, n), 0);
    free(m);
    assert_int_equal(sq_features_open(x->dir, &f), -1);
    assert_non_null(strstr(sq_errmsg(), "manifest.json: "));
    assert_int_equal(sq_rmtree(x->dir), 0);
    free(x);
    (void)state;
}

static void test_bad_input(void **state) {
    fixture *x = malloc(sizeof *x);
    make_tokens(x);
    snprintf(x->dir, sizeof x->dir, "/tmp/sq-test-features-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    pack_input in = {0};
    pack_stats st;
    x->q_ids[2][3] = VOCAB;
    assert_int_equal(pack_write(x->dir, &x->t, &config, &in, &st), -1);
    assert_non_null(strstr(sq_errmsg(), "question 2 (q2"));
    x->q_ids[2][3] = 5;
    x->t.vocab_size = 70000;
    assert_int_equal(pack_write(x->dir, &x->t, &config, &in, &st), -1);
    assert_non_null(strstr(sq_errmsg(), "16 bits"));
    assert_int_equal(sq_rmtree(x->dir), 0);
    free(x);
    (void)state;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_threads), cmocka_unit_test(test_one_shard),
        cmocka_unit_test(test_damage),     cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
