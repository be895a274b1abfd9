/* Tokens files (.sqt): write and read back every field, the streaming
 * writer's frames, and damage: every truncation and many flipped bytes are
 * refused with a message (never a crash), as are well-formed frames whose
 * contents disagree with the header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "sq/atomic_file.h"
#include "sq/container.h"
#include "sq/error.h"
#include "sq/hash.h"
#include "sq/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/sq-test-tokens-XXXXXX";

static const uint32_t ids0[] = {7, 8, 9}, offs0[] = {0, 4, 5, 6, 7, 9};
static const uint32_t qids0[] = {3, 4}, qids1[] = {5}, qids2[] = {0};
static const sq_answer ans0[] = {{"Café", 0}, {"x", 99}};

static sq_tokens *sample(void) {
    static sq_paragraph ps[2];
    static sq_question qs[3];
    static sq_tokens t;
    ps[0] = (sq_paragraph){"Title é", "Café à la", 9, 3, ids0, offs0, 0, 2};
    ps[1] = (sq_paragraph){"", "", 0, 0, NULL, NULL, 2, 1};
    qs[0] = (sq_question){"q0", "Where?", 0, 2, qids0, 2, ans0, false};
    qs[1] = (sq_question){"q1", "", 0, 1, qids1, 0, NULL, true};
    qs[2] = (sq_question){"q2", "Why", 1, 1, qids2, 1, ans0 + 1, false};
    memset(&t, 0, sizeof t);
    for (int i = 0; i < 32; i++) {
        t.vocab_sha256[i] = (uint8_t)i;
        t.source_sha256[i] = (uint8_t)(100 + i);
    }
    t.vocab_size = 10;
    t.cased = true;
    t.cls_id = 1;
    t.sep_id = 2;
    t.pad_id = 0;
    t.unk_id = 3;
    t.version = "1.1";
    t.n_paragraphs = 2;
    t.n_questions = 3;
    t.paragraphs = ps;
    t.questions = qs;
    return &t;
}

static void same(const sq_tokens *a, const sq_tokens *b) {
    assert_memory_equal(a->vocab_sha256, b->vocab_sha256, 32);
    assert_memory_equal(a->source_sha256, b->source_sha256, 32);
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_int_equal(a->cased, b->cased);
    assert_int_equal(a->cls_id, b->cls_id);
    assert_int_equal(a->sep_id, b->sep_id);
    assert_int_equal(a->pad_id, b->pad_id);
    assert_int_equal(a->unk_id, b->unk_id);
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->n_paragraphs, b->n_paragraphs);
    assert_int_equal(a->n_questions, b->n_questions);
    for (uint32_t i = 0; i < a->n_paragraphs; i++) {
        const sq_paragraph *p = &a->paragraphs[i], *q = &b->paragraphs[i];
        assert_string_equal(p->title, q->title);
        assert_string_equal(p->context, q->context);
        assert_int_equal(p->context_cps, q->context_cps);
        assert_int_equal(p->n_tokens, q->n_tokens);
        if (p->n_tokens) {
            assert_memory_equal(p->ids, q->ids, 4 * p->n_tokens);
            assert_memory_equal(p->offsets, q->offsets, 8 * p->n_tokens);
        }
        assert_int_equal(p->first_question, q->first_question);
        assert_int_equal(p->n_questions, q->n_questions);
    }
    for (uint32_t i = 0; i < a->n_questions; i++) {
        const sq_question *p = &a->questions[i], *q = &b->questions[i];
        assert_string_equal(p->id, q->id);
        assert_string_equal(p->text, q->text);
        assert_int_equal(p->paragraph, q->paragraph);
        assert_int_equal(p->n_ids, q->n_ids);
        assert_memory_equal(p->ids, q->ids, 4 * p->n_ids);
        assert_int_equal(p->n_answers, q->n_answers);
        for (uint32_t k = 0; k < p->n_answers; k++) {
            assert_string_equal(p->answers[k].text, q->answers[k].text);
            assert_int_equal(p->answers[k].start, q->answers[k].start);
        }
        assert_int_equal(p->is_impossible, q->is_impossible);
    }
}

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void round_trip(void **state) {
    char path[256];
    path_of(path, sizeof path, "a.sqt");
    sq_tokens *t = sample();
    if (sq_tokens_write(path, t)) fail_msg("%s", sq_errmsg());
    sq_tokens *r;
    if (sq_tokens_read(path, &r)) fail_msg("%s", sq_errmsg());
    same(t, r);
    assert_int_equal(sq_tokens_vocab_hash(r), sq_hash64(t->vocab_sha256));
    sq_tokens_free(r);
}

/* The streaming writer, one paragraph per frame, reads back the same. */
static void streaming(void **state) {
    char path[256];
    path_of(path, sizeof path, "s.sqt");
    sq_tokens *t = sample();
    sq_tokens_writer *w = sq_tokens_writer_open(path, t, 3);
    assert_non_null(w);
    assert_int_equal(sq_tokens_writer_add(w, t->paragraphs, 1, t->questions, 2), 0);
    /* questions that do not belong to the paragraphs are refused */
    assert_int_equal(sq_tokens_writer_add(w, t->paragraphs + 1, 1, t->questions + 2, 0), -1);
    assert_int_equal(sq_tokens_writer_add(w, t->paragraphs + 1, 1, t->questions + 2, 1), 0);
    assert_int_equal(sq_tokens_writer_close(w), 0);
    sq_tokens *r;
    if (sq_tokens_read(path, &r)) fail_msg("%s", sq_errmsg());
    same(t, r);
    sq_tokens_free(r);
}

static void empty(void **state) {
    char path[256];
    path_of(path, sizeof path, "e.sqt");
    sq_tokens t = *sample();
    t.n_paragraphs = t.n_questions = 0;
    assert_int_equal(sq_tokens_write(path, &t), 0);
    sq_tokens *r;
    if (sq_tokens_read(path, &r)) fail_msg("%s", sq_errmsg());
    assert_int_equal(r->n_paragraphs, 0);
    assert_string_equal(r->version, "1.1");
    sq_tokens_free(r);
}

static void damage(void **state) {
    char path[256];
    path_of(path, sizeof path, "d.sqt");
    assert_int_equal(sq_tokens_write(path, sample()), 0);
    char *buf;
    size_t len;
    assert_int_equal(sq_read_file(path, 1 << 20, &buf, &len), 0);
    sq_tokens *r;
    for (size_t n = 0; n < len; n++) {
        if (sq_tokens_readb("d.sqt", buf, n, &r) == 0) fail_msg("a truncation to %zu bytes was accepted", n);
        assert_non_null(strstr(sq_errmsg(), "d.sqt"));
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x41;
        if (sq_tokens_readb("d.sqt", buf, len, &r) == 0) {
            /* only bytes no check covers may change unnoticed: there are none */
            sq_tokens_free(r);
            fail_msg("a flipped byte at %zu was accepted", i);
        }
        buf[i] ^= 0x41;
    }
    assert_int_equal(sq_tokens_readb("d.sqt", buf, len, &r), 0);
    sq_tokens_free(r);
    free(buf);
}

/* Frames that pass every checksum but break the format's own rules. */
static void bad_contents(void **state) {
    char path[256];
    path_of(path, sizeof path, "c.sqt");
    sq_tokens t = *sample();
    sq_paragraph ps[2];
    sq_question qs[3];
    memcpy(ps, t.paragraphs, sizeof ps);
    memcpy(qs, t.questions, sizeof qs);
    t.paragraphs = ps;
    t.questions = qs;
    sq_tokens *r;

    uint32_t big[] = {7, 8, 10}; /* id 10 >= vocab_size */
    ps[0].ids = big;
    assert_int_equal(sq_tokens_write(path, &t), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "token id outside the vocabulary"));
    ps[0].ids = ids0;

    uint32_t far[] = {0, 4, 5, 6, 7, 10}; /* end past the 9 code points */
    ps[0].offsets = far;
    assert_int_equal(sq_tokens_write(path, &t), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "offset"));
    ps[0].offsets = offs0;

    ps[0].context_cps = 8; /* disagrees with the text */
    assert_int_equal(sq_tokens_write(path, &t), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "context length"));
    ps[0].context_cps = 9;

    t.unk_id = 10;
    assert_int_equal(sq_tokens_write(path, &t), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "special token id"));
    t.unk_id = 3;

    /* a container of the wrong kind */
    sq_container_info info = {.version = 1};
    memcpy(info.kind, SQ_KIND_FEATURES, 8);
    sq_cwriter *w = sq_cwriter_open(path, &info, 1);
    assert_non_null(w);
    assert_int_equal(sq_cwriter_close(w), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);

    /* the right kind, counts that promise more than the frames hold */
    memcpy(info.kind, SQ_KIND_TOKENS, 8);
    info.counts[0] = 1000000;
    w = sq_cwriter_open(path, &info, 1);
    assert_non_null(w);
    assert_int_equal(sq_cwriter_frame(w, "x", 1), 0);
    assert_int_equal(sq_cwriter_close(w), 0);
    assert_int_equal(sq_tokens_read(path, &r), -1);

    assert_int_equal(sq_tokens_read("/nonexistent/x.sqt", &r), -1);
    assert_non_null(strstr(sq_errmsg(), "/nonexistent/x.sqt"));
}

static int setup(void **state) { return mkdtemp(dir) ? 0 : -1; }
static int teardown(void **state) { return sq_rmtree(dir); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip), cmocka_unit_test(streaming),    cmocka_unit_test(empty),
        cmocka_unit_test(damage),     cmocka_unit_test(bad_contents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
