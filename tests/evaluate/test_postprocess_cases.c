/* sq_postprocess on hand-made features, one HF postprocess_qa_predictions
 * rule per test (the end-to-end comparison with HF's output is
 * test_postprocess.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "sq/error.h"
#include "sq/postprocess.h"
#include "sq/squad.h"

#define W 8
#define NO SQ_PP_NO_OFFSET

/* "héllo wörld ünï" : code points h0 é1 l2 l3 o4 _5 w6 ö7 r8 l9 d10 _11 ü12 n13 ï14 */
static const char data_v1[] =
    "{\"version\": \"1.1\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"h\\u00e9llo w\\u00f6rld "
    "\\u00fcn\\u00ef\", \"qas\": [{\"id\": \"q0\", \"question\": \"?\", \"answers\": [{\"text\": \"w\\u00f6rld\", "
    "\"answer_start\": 6}]}, {\"id\": \"q1\", \"question\": \"?\", \"answers\": [{\"text\": \"x\", \"answer_start\": "
    "0}]}]}]}]}";

/* [CLS] q [SEP] héllo wörld ünï [SEP] pad pad */
static const uint32_t offs_a[] = {NO, NO, NO, NO, NO, NO, 0, 5, 6, 11, 12, 15, NO, NO};
/* [CLS] q [SEP] wörld ünï [SEP] : a second window */
static const uint32_t offs_b[] = {NO, NO, NO, NO, NO, NO, 6, 11, 12, 15, NO, NO};

static sq_squad *load(const char *json) {
    sq_squad *s;
    if (sq_squad_loadb("test", json, strlen(json), &s)) fail_msg("%s", sq_errmsg());
    return s;
}

static void fill(float *row, float v) {
    for (int i = 0; i < W; i++) row[i] = v - (float)i * 0.01f;
}

static sq_pp_opts opts(int n_best, int max_len, bool v2) {
    return (sq_pp_opts){.n_best = n_best, .max_answer_length = max_len, .v2 = v2};
}

static void text_is(const sq_pp_answer *a, const char *want) {
    if (a->len != strlen(want) || memcmp(a->text, want, a->len) != 0)
        fail_msg("answer '%.*s', want '%s'", (int)a->len, a->text, want);
}

/* The best span over both windows; text cut by code points. */
static void test_best_span_across_features(void **state) {
    sq_squad *s = load(data_v1);
    sq_pp_feature f[2] = {{0, 7, offs_a}, {0, 6, offs_b}};
    float st[2][W], en[2][W];
    fill(st[0], -5);
    fill(en[0], -5);
    fill(st[1], -5);
    fill(en[1], -5);
    st[0][3] = 1;  /* héllo */
    en[0][4] = 1;  /* wörld: score 2 in window a */
    st[1][4] = 2;  /* ünï */
    en[1][4] = 2;  /* score 4 in window b */
    sq_pp_opts o = opts(20, 30, false);
    sq_pp_result *r;
    assert_int_equal(sq_postprocess(s, f, 2, &st[0][0], &en[0][0], W, &o, &r), 0);
    text_is(&r->answers[0], "\xc3\xbcn\xc3\xaf");
    assert_true(r->answers[0].nbest[0].start_logit == 2.0);
    assert_false(r->answers[0].has_score_diff);
    assert_null(r->answers[1].text); /* q1 has no feature */
    assert_int_equal(r->n_without_features, 1);
    double sum = 0;
    for (uint32_t i = 0; i < r->answers[0].n_nbest; i++) sum += r->answers[0].nbest[i].probability;
    assert_true(fabs(sum - 1) < 1e-5);
    sq_pp_free(r);
    sq_squad_free(s);
}

/* Reversed spans, spans longer than max_answer_length, padding and
 * non-context positions are all skipped; nothing left gives HF's "empty". */
static void test_filters_and_placeholder(void **state) {
    sq_squad *s = load(data_v1);
    sq_pp_feature f = {0, 7, offs_a};
    float st[W], en[W];
    fill(st, -5);
    fill(en, -5);
    st[5] = 9; /* ünï */
    en[3] = 9; /* héllo: end before start */
    st[7] = 8; /* padding */
    en[7] = 8;
    sq_pp_opts o = opts(2, 30, false);
    sq_pp_result *r;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    text_is(&r->answers[0], "empty");
    assert_int_equal(r->answers[0].n_nbest, 1);
    assert_true(r->answers[0].nbest[0].placeholder);
    assert_true(r->answers[0].nbest[0].probability == 1.0);
    sq_pp_free(r);
    /* héllo .. ünï is 3 tokens: allowed at 3, dropped at 2. */
    fill(st, -5);
    fill(en, -5);
    st[3] = 9;
    en[5] = 9;
    o = opts(1, 3, false);
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    text_is(&r->answers[0], "h\xc3\xa9llo w\xc3\xb6rld \xc3\xbcn\xc3\xaf");
    sq_pp_free(r);
    o = opts(1, 2, false);
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    text_is(&r->answers[0], "empty");
    sq_pp_free(r);
    sq_squad_free(s);
}

/* Equal logits: the higher index ranks first (stable argsort, reversed). */
static void test_ties(void **state) {
    sq_squad *s = load(data_v1);
    sq_pp_feature f = {0, 7, offs_a};
    float st[W], en[W];
    fill(st, -5);
    fill(en, -5);
    st[3] = st[4] = 3;
    en[5] = 3;
    sq_pp_opts o = opts(1, 30, false);
    sq_pp_result *r;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    text_is(&r->answers[0], "w\xc3\xb6rld \xc3\xbcn\xc3\xaf");
    sq_pp_free(r);
    sq_squad_free(s);
}

static const char data_v2[] =
    "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"h\\u00e9llo w\\u00f6rld "
    "\\u00fcn\\u00ef\", \"qas\": [{\"id\": \"q0\", \"question\": \"?\", \"answers\": [], "
    "\"is_impossible\": true}]}]}]}";

/* v2.0: the null score is the minimum over features; it is compared with
 * the best span through the threshold, and added back when n_best cut it. */
static void test_null_answer(void **state) {
    sq_squad *s = load(data_v2);
    sq_pp_feature f[2] = {{0, 7, offs_a}, {0, 6, offs_b}};
    float st[2][W], en[2][W];
    fill(st[0], -5);
    fill(en[0], -5);
    fill(st[1], -5);
    fill(en[1], -5);
    st[0][0] = en[0][0] = 4;   /* null 8 in window a */
    st[1][0] = en[1][0] = 3;   /* null 6 in window b: the minimum */
    st[0][4] = en[0][4] = 2.5; /* wörld, score 5 */
    sq_pp_opts o = opts(2, 30, true);
    sq_pp_result *r;
    assert_int_equal(sq_postprocess(s, f, 2, &st[0][0], &en[0][0], W, &o, &r), 0);
    const sq_pp_answer *a = &r->answers[0];
    text_is(a, "");                      /* 6 - 5 = 1 > 0 */
    assert_true(a->has_score_diff);
    assert_true(a->score_diff == 1.0);
    assert_int_equal(a->n_nbest, 2);     /* the null (6), then wörld (5) */
    assert_int_equal(a->nbest[0].len, 0);
    assert_true(a->nbest[0].start_logit == 3.0);
    sq_pp_free(r);
    o.null_score_diff_threshold = 1.0f;  /* 1 > 1 is false: the span wins */
    assert_int_equal(sq_postprocess(s, f, 2, &st[0][0], &en[0][0], W, &o, &r), 0);
    text_is(&r->answers[0], "w\xc3\xb6rld");
    sq_pp_free(r);
    /* A span better than the null fills n_best = 1; the null comes back after it. */
    st[0][0] = en[0][0] = 3;             /* null 6 in window a, now the minimum */
    st[1][0] = en[1][0] = 4;
    st[0][4] = en[0][4] = 3.5;           /* score 7 */
    o = opts(1, 30, true);
    assert_int_equal(sq_postprocess(s, f, 2, &st[0][0], &en[0][0], W, &o, &r), 0);
    a = &r->answers[0];
    text_is(a, "w\xc3\xb6rld");
    assert_int_equal(a->n_nbest, 2);
    assert_int_equal(a->nbest[1].len, 0);
    assert_true(a->nbest[1].start_logit == 3.0);
    assert_true(a->score_diff == -1.0);
    sq_pp_free(r);
    /* Only the null: HF puts "empty" first and compares it, logits 0. */
    fill(st[0], -5);
    fill(en[0], -5);
    st[0][0] = en[0][0] = -1;
    assert_int_equal(sq_postprocess(s, f, 1, &st[0][0], &en[0][0], W, &o, &r), 0);
    a = &r->answers[0];
    text_is(a, "empty");                 /* null -2 - 0 - 0 > 0 is false */
    assert_int_equal(a->n_nbest, 2);
    assert_true(a->nbest[0].placeholder);
    assert_true(a->score_diff == -2.0);
    sq_pp_free(r);
    sq_squad_free(s);
}

/* Offsets past the context are clipped, as a Python slice clips them. */
static void test_clipped_offsets(void **state) {
    sq_squad *s = load(data_v1);
    static const uint32_t offs[] = {NO, NO, 12, 40, 50, 60, NO, NO};
    sq_pp_feature f = {0, 4, offs};
    float st[W], en[W];
    fill(st, -5);
    fill(en, -5);
    st[1] = en[1] = 5;
    sq_pp_opts o = opts(1, 30, false);
    sq_pp_result *r;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    text_is(&r->answers[0], "\xc3\xbcn\xc3\xaf");
    sq_pp_free(r);
    fill(st, -5);
    fill(en, -5);
    st[2] = en[2] = 5;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    /* The one span is empty: HF's placeholder goes before it. */
    text_is(&r->answers[0], "empty");
    assert_int_equal(r->answers[0].n_nbest, 2);
    assert_int_equal(r->answers[0].nbest[1].len, 0);
    sq_pp_free(r);
    sq_squad_free(s);
}

static void test_errors(void **state) {
    sq_squad *s = load(data_v1);
    sq_pp_feature f = {0, 7, offs_a};
    float st[W], en[W];
    fill(st, 0);
    fill(en, 0);
    sq_pp_opts o = opts(20, 30, false);
    sq_pp_result *r;
    st[6] = NAN;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), -1);
    assert_string_equal(sq_errmsg(), "feature 0: logit 6 is NaN or +inf");
    assert_null(r);
    st[6] = 0;
    en[1] = INFINITY;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), -1);
    /* -inf, as sq-train predict writes past a feature's end, is fine. */
    en[1] = -INFINITY;
    st[7] = en[7] = -INFINITY;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), 0);
    sq_pp_free(r);
    en[1] = 0;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, 6, &o, &r), -1);
    assert_string_equal(sq_errmsg(), "feature 0: 7 tokens, but the logits have 6 positions");
    f.question = 9;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), -1);
    assert_string_equal(sq_errmsg(), "feature 0: question index 9 out of range");
    f.question = 0;
    o.n_best = 0;
    assert_int_equal(sq_postprocess(s, &f, 1, st, en, W, &o, &r), -1);
    sq_squad_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_best_span_across_features),
        cmocka_unit_test(test_filters_and_placeholder),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_null_answer),
        cmocka_unit_test(test_clipped_offsets),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
