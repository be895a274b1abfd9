/* Official SQuAD scoring (sq/score.h, shared/src/pyunicode.h) against fixtures made
 * once with the official scripts' logic in Python (make_fixtures.py):
 * Python's character properties for every assigned code point, a case for
 * each normalisation rule plus random strings, a SQuAD 2.0 style dataset
 * with no-answer probabilities, and 2,000 perturbed dev v1.1 predictions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "predictions.h"
#include "sq/error.h"
#include "../../shared/src/pyunicode.h"
#include "sq/score.h"
#include "sq/squad.h"

static const char *root(void) {
    const char *r = getenv("SQ_ROOT");
    return r && *r ? r : ".";
}

static char *path_of(const char *rel) {
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", root(), rel);
    return p;
}

static json_t *fixture(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/evaluate/fixtures/%s", name);
    json_error_t e;
    json_t *j = json_load_file(path_of(rel), JSON_ALLOW_NUL, &e);
    if (!j) fail_msg("%s: %s", rel, e.text);
    return j;
}

/* ../shared, when there: the tests that need it skip otherwise. */
static const char *shared_dir(void) {
    const char *s = getenv("SQ_SHARED");
    char p[4096];
    if (!s || !*s) return NULL;
    snprintf(p, sizeof p, "%s/data/squad/dev-v1.1.reconstructed.json", s);
    return access(p, R_OK) == 0 ? s : NULL;
}

/* ranges [[a, b], ...] into a bitmap over all code points */
static uint8_t *bitmap(const json_t *ranges) {
    uint8_t *m = calloc(0x110000, 1);
    assert_non_null(m);
    size_t i;
    const json_t *r;
    json_array_foreach(ranges, i, r) {
        json_int_t lo = json_integer_value(json_array_get(r, 0)), hi = json_integer_value(json_array_get(r, 1));
        for (json_int_t c = lo; c <= hi; c++) m[c] = 1;
    }
    return m;
}

static void test_unicode_properties(void **state) {
    json_t *u = fixture("unicode.json");
    uint8_t *assigned = bitmap(json_object_get(u, "assigned"));
    uint8_t *word = bitmap(json_object_get(u, "word"));
    uint8_t *space = bitmap(json_object_get(u, "space"));
    uint8_t *cased = bitmap(json_object_get(u, "cased"));
    uint8_t *ign = bitmap(json_object_get(u, "case_ignorable"));
    uint32_t (*lower)[3] = calloc(0x110000, sizeof *lower);
    assert_non_null(lower);
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(u, "lower"), i, row) {
        json_int_t c = json_integer_value(json_array_get(row, 0));
        lower[c][0] = (uint32_t)json_array_size(row) - 1;
        for (size_t k = 1; k < json_array_size(row); k++)
            lower[c][k] = (uint32_t)json_integer_value(json_array_get(row, k));
    }
    size_t bad = 0, checked = 0;
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (!assigned[c]) continue; /* unassigned in Python's Unicode version */
        checked++;
        uint32_t out[2];
        size_t n = sq_py_lower(&c, 1, out);
        bool lower_ok = lower[c][0] ? n == lower[c][0] && out[0] == lower[c][1] && (n < 2 || out[1] == lower[c][2])
                                    : n == 1 && out[0] == c;
        if (sq_py_isword(c) != word[c] || sq_py_isspace(c) != space[c] || sq_py_iscased(c) != cased[c] ||
            sq_py_iscaseignorable(c) != ign[c] || !lower_ok) {
            if (bad++ < 10)
                print_error("U+%04X: word %d/%d space %d/%d cased %d/%d ignorable %d/%d lower %s\n", c,
                            sq_py_isword(c), word[c], sq_py_isspace(c), space[c], sq_py_iscased(c), cased[c],
                            sq_py_iscaseignorable(c), ign[c], lower_ok ? "ok" : "differs");
        }
    }
    print_message("%zu code points checked against Python %s (Unicode %s)\n", checked,
                  json_string_value(json_object_get(u, "python")), json_string_value(json_object_get(u, "unidata")));
    assert_int_equal(bad, 0);
    free(assigned);
    free(word);
    free(space);
    free(cased);
    free(ign);
    free(lower);
    json_decref(u);
}

static void test_pairs(void **state) {
    json_t *rows = fixture("pairs.json");
    size_t i;
    const json_t *r;
    size_t bad = 0;
    json_array_foreach(rows, i, r) {
        const json_t *jp = json_array_get(r, 0), *jg = json_array_get(r, 1), *jn = json_array_get(r, 5);
        const char *p = json_string_value(jp), *g = json_string_value(jg);
        size_t pl = json_string_length(jp), gl = json_string_length(jg);
        size_t nl;
        char *norm = sq_normalize_answer(p, pl, &nl);
        assert_non_null(norm);
        double em, f1, f2;
        assert_int_equal(sq_exact(p, pl, g, gl, &em), 0);
        assert_int_equal(sq_f1(p, pl, g, gl, false, &f1), 0);
        assert_int_equal(sq_f1(p, pl, g, gl, true, &f2), 0);
        bool ok = nl == json_string_length(jn) && memcmp(norm, json_string_value(jn), nl) == 0 &&
                  em == json_real_value(json_array_get(r, 2)) && f1 == json_real_value(json_array_get(r, 3)) &&
                  f2 == json_real_value(json_array_get(r, 4));
        if (!ok && bad++ < 10)
            print_error("row %zu: pred '%s' gold '%s': normalised '%s' (want '%s'), em %g f1 %.17g f1v2 %.17g\n", i,
                        p, g, norm, json_string_value(jn), em, f1, f2);
        free(norm);
    }
    print_message("%zu pairs\n", json_array_size(rows));
    assert_int_equal(bad, 0);
    json_decref(rows);
}

static void check_key(const json_t *want, const char *key, double got, bool present) {
    const json_t *v = json_object_get(want, key);
    if (!present) {
        assert_null(v);
        return;
    }
    if (!v) fail_msg("key %s missing from the fixture", key);
    double w = json_number_value(v);
    if (!(fabs(w - got) <= 1e-9)) fail_msg("%s: got %.17g, official %.17g", key, got, w);
    if (w != got) print_message("%s: within 1e-9 but not bit-identical (%.17g vs %.17g)\n", key, got, w);
}

static void check_scores(const json_t *want, const sq_scores *sc) {
    if (!sc->v2) {
        check_key(want, "exact_match", sc->exact, true);
        check_key(want, "f1", sc->f1, true);
        return;
    }
    check_key(want, "exact", sc->exact, true);
    check_key(want, "f1", sc->f1, true);
    check_key(want, "total", sc->total, true);
    check_key(want, "HasAns_exact", sc->has_ans_exact, sc->has_ans_total);
    check_key(want, "HasAns_f1", sc->has_ans_f1, sc->has_ans_total);
    check_key(want, "HasAns_total", sc->has_ans_total, sc->has_ans_total);
    check_key(want, "NoAns_exact", sc->no_ans_exact, sc->no_ans_total);
    check_key(want, "NoAns_f1", sc->no_ans_f1, sc->no_ans_total);
    check_key(want, "NoAns_total", sc->no_ans_total, sc->no_ans_total);
    check_key(want, "best_exact", sc->best_exact, sc->has_best);
    check_key(want, "best_exact_thresh", sc->best_exact_thresh, sc->has_best);
    check_key(want, "best_f1", sc->best_f1, sc->has_best);
    check_key(want, "best_f1_thresh", sc->best_f1_thresh, sc->has_best);
}

static sq_squad *load_squad(const char *path) {
    sq_squad *s;
    if (sq_squad_load(path, &s)) fail_msg("%s", sq_errmsg());
    return s;
}

static sq_preds *load_preds(const char *rel, const sq_squad *s) {
    sq_preds *p;
    if (sq_preds_load(path_of(rel), s, &p)) fail_msg("%s", sq_errmsg());
    return p;
}

static void test_v2(void **state) {
    sq_squad *s = load_squad(path_of("tests/evaluate/fixtures/v2_data.json"));
    assert_true(s->v2);
    sq_preds *p = load_preds("tests/evaluate/fixtures/v2_preds.json", s);
    assert_int_equal(p->n_unknown, 0);
    sq_na_prob *na;
    size_t n_na;
    uint32_t unknown;
    assert_int_equal(sq_na_probs_load(path_of("tests/evaluate/fixtures/v2_na.json"), s, &na, &n_na, &unknown), 0);
    json_t *want = fixture("v2_scores.json");
    sq_scores sc;
    assert_int_equal(sq_score(s, p->text, p->len, NULL, 0, 1.0, &sc), 0);
    check_scores(json_object_get(want, "plain"), &sc);
    assert_int_equal(sq_score(s, p->text, p->len, na, n_na, 1.0, &sc), 0);
    check_scores(json_object_get(want, "na"), &sc);
    assert_int_equal(sq_score(s, p->text, p->len, na, n_na, 0.5, &sc), 0);
    check_scores(json_object_get(want, "na_t05"), &sc);
    /* A probability missing for an answered question is an error, as the
     * official script's KeyError. */
    assert_int_equal(sq_score(s, p->text, p->len, na, n_na - 1, 1.0, &sc), -1);
    assert_non_null(strstr(sq_errmsg(), "no no-answer probability"));
    free(na);
    json_decref(want);
    sq_preds_free(p);
    sq_squad_free(s);
}

static void test_dev(void **state) {
    if (!shared_dir()) skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/data/squad/dev-v1.1.reconstructed.json", shared_dir());
    sq_squad *s = load_squad(path);
    assert_false(s->v2);
    sq_preds *p = load_preds("tests/evaluate/fixtures/dev_preds.json", s);
    assert_int_equal(p->n_given, 2000);
    json_t *want = fixture("dev_scores.json");
    const json_t *per = json_object_get(want, "per_question");
    const char *id;
    const json_t *v;
    json_object_foreach((json_t *)per, id, v) {
        long q = sq_squad_find(s, id);
        assert_true(q >= 0);
        double em, f1;
        assert_int_equal(sq_score_question(s, (uint32_t)q, p->text[q], p->len[q], &em, &f1), 0);
        if (em != json_real_value(json_array_get(v, 0)) || f1 != json_real_value(json_array_get(v, 1)))
            fail_msg("%s: '%s': em %g f1 %.17g, official %g %.17g", id, p->text[q], em, f1,
                     json_real_value(json_array_get(v, 0)), json_real_value(json_array_get(v, 1)));
    }
    sq_scores sc;
    assert_int_equal(sq_score(s, p->text, p->len, NULL, 0, 1.0, &sc), 0);
    assert_int_equal(sc.missing, s->n_questions - 2000);
    check_scores(json_object_get(want, "v1.1"), &sc);
    json_decref(want);
    sq_preds_free(p);
    sq_squad_free(s);
}

/* Every question's first gold answer as its prediction: 100 / 100 (the
 * last would not: dev has a gold answer ".", which normalises to nothing). */
static void gold_self(const char *path) {
    sq_squad *s = load_squad(path);
    const char **text = calloc(s->n_questions, sizeof *text);
    size_t *len = calloc(s->n_questions, sizeof *len);
    assert_non_null(text);
    assert_non_null(len);
    for (uint32_t q = 0; q < s->n_questions; q++) {
        const sq_squad_question *qq = &s->questions[q];
        text[q] = qq->n_answers ? qq->answers[0].text : "";
        len[q] = qq->n_answers ? qq->answers[0].len : 0;
    }
    sq_scores sc;
    assert_int_equal(sq_score(s, text, len, NULL, 0, 1.0, &sc), 0);
    assert_true(sc.exact == 100.0);
    assert_true(sc.f1 == 100.0);
    assert_int_equal(sc.missing, 0);
    free(text);
    free(len);
    sq_squad_free(s);
}

static void test_gold_self_xquad(void **state) { gold_self(path_of("data/xquad.en.json")); }

static void test_gold_self_dev(void **state) {
    if (!shared_dir()) skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/data/squad/dev-v1.1.reconstructed.json", shared_dir());
    gold_self(path);
}

static const char mini_v1[] =
    "{\"version\": \"1.1\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"The cat sat.\", \"qas\": ["
    "{\"id\": \"q1\", \"question\": \"who?\", \"answers\": [{\"text\": \"The cat\", \"answer_start\": 0}, "
    "{\"text\": \"cat sat\", \"answer_start\": 4}]},"
    "{\"id\": \"q2\", \"question\": \"what?\", \"answers\": [{\"text\": \"sat\", \"answer_start\": 8}]}]}]}]}";

static void test_missing_and_max(void **state) {
    sq_squad *s;
    assert_int_equal(sq_squad_loadb("mini", mini_v1, sizeof mini_v1 - 1, &s), 0);
    const char *text[2] = {"a cat!", NULL};
    size_t len[2] = {6, 0};
    sq_scores sc;
    assert_int_equal(sq_score(s, text, len, NULL, 0, 1.0, &sc), 0);
    /* q1: EM 1 against "The cat"; q2 missing scores 0 and counts. */
    assert_int_equal(sc.missing, 1);
    assert_true(sc.exact == 50.0);
    assert_true(sc.f1 == 50.0);
    text[0] = "sat cat cat";
    len[0] = strlen(text[0]);
    double em, f1;
    assert_int_equal(sq_score_question(s, 0, text[0], len[0], &em, &f1), 0);
    /* best of "cat" (P 1/3, R 1) and "cat sat" (P 2/3, R 1): 0.8 */
    assert_true(em == 0);
    assert_true(fabs(f1 - 0.8) < 1e-15);
    assert_int_equal(sq_score_question(s, 7, "", 0, &em, &f1), -1);
    sq_squad_free(s);
}

/* v2.0 with a missing prediction (the official script stops with KeyError):
 * it scores 0 and counts in every total. */
static void test_missing_v2(void **state) {
    static const char data[] =
        "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"The cat.\", \"qas\": ["
        "{\"id\": \"q1\", \"question\": \"?\", \"answers\": [{\"text\": \"cat\", \"answer_start\": 4}]},"
        "{\"id\": \"q2\", \"question\": \"?\", \"answers\": [], \"is_impossible\": true},"
        "{\"id\": \"q3\", \"question\": \"?\", \"answers\": [], \"is_impossible\": true}]}]}]}";
    sq_squad *s;
    assert_int_equal(sq_squad_loadb("v2", data, sizeof data - 1, &s), 0);
    const char *text[3] = {"the cat", NULL, ""};
    size_t len[3] = {7, 0, 0};
    sq_scores sc;
    assert_int_equal(sq_score(s, text, len, NULL, 0, 1.0, &sc), 0);
    assert_int_equal(sc.missing, 1);
    assert_int_equal(sc.total, 3);
    assert_int_equal(sc.has_ans_total, 1);
    assert_int_equal(sc.no_ans_total, 2);
    assert_true(sc.has_ans_exact == 100.0);
    assert_true(sc.no_ans_exact == 50.0);
    assert_true(sc.exact == 100.0 * 2 / 3);
    assert_false(sc.has_best);
    sq_squad_free(s);
}

static void test_no_answers_is_an_error(void **state) {
    static const char data[] =
        "{\"version\": \"1.1\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", \"qas\": ["
        "{\"id\": \"q1\", \"question\": \"?\"}]}]}]}";
    sq_squad *s;
    assert_int_equal(sq_squad_loadb("test", data, sizeof data - 1, &s), 0);
    const char *text[1] = {"x"};
    size_t len[1] = {1};
    sq_scores sc;
    assert_int_equal(sq_score(s, text, len, NULL, 0, 1.0, &sc), -1);
    assert_non_null(strstr(sq_errmsg(), "q1 has no gold answers"));
    sq_squad_free(s);
}

static void test_predictions_parser(void **state) {
    sq_squad *s;
    assert_int_equal(sq_squad_loadb("mini", mini_v1, sizeof mini_v1 - 1, &s), 0);
    sq_preds *p;
    static const char ok[] = "{\"q2\": \"s\\u0000t\", \"zz\": \"x\"}";
    assert_int_equal(sq_preds_parse("p.json", ok, sizeof ok - 1, s, &p), 0);
    assert_null(p->text[0]);
    assert_int_equal(p->len[1], 3);
    assert_int_equal(p->n_given, 2);
    assert_int_equal(p->n_unknown, 1);
    sq_preds_free(p);
    static const char *bad[][2] = {
        {"{\"q1\": 3}", "p.json: \"q1\": expected a string (the answer text), got a number"},
        {"[\"x\"]", "p.json: expected a JSON object {\"question id\": \"answer text\"}, got an array"},
        {"{\"q1\": \"x\",\n \"q2\" 1}", "p.json:2:7: "},
        {"{\"q1\": \"x\", \"q1\": \"y\"}", "p.json:1:"},
        {"", "p.json:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sq_preds_parse("p.json", bad[i][0], strlen(bad[i][0]), s, &p), -1);
        assert_null(p);
        if (strncmp(sq_errmsg(), bad[i][1], strlen(bad[i][1])) != 0)
            fail_msg("case %zu: '%s' does not start with '%s'", i, sq_errmsg(), bad[i][1]);
    }
    sq_na_prob *na;
    size_t n;
    uint32_t unknown;
    static const char probs[] = "{\"q2\": 0.25, \"q1\": 1, \"x\": 0}";
    assert_int_equal(sq_na_probs_parse("n.json", probs, sizeof probs - 1, s, &na, &n, &unknown), 0);
    assert_int_equal(n, 2);
    assert_int_equal(unknown, 1);
    assert_int_equal(na[0].question, 1);
    assert_true(na[0].prob == 0.25);
    assert_true(na[1].prob == 1.0);
    free(na);
    static const char badp[] = "{\"q2\": \"0.25\"}";
    assert_int_equal(sq_na_probs_parse("n.json", badp, sizeof badp - 1, s, &na, &n, &unknown), -1);
    assert_string_equal(sq_errmsg(), "n.json: \"q2\": expected a number (the no-answer probability), got a string");
    sq_squad_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicode_properties), cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_v2),                 cmocka_unit_test(test_dev),
        cmocka_unit_test(test_gold_self_xquad),    cmocka_unit_test(test_gold_self_dev),
        cmocka_unit_test(test_missing_and_max),    cmocka_unit_test(test_missing_v2),
        cmocka_unit_test(test_no_answers_is_an_error),
        cmocka_unit_test(test_predictions_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
