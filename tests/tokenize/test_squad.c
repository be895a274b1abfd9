/* The SQuAD loader: the fast scanner (squad_scan.c) and the checked
 * jansson path (squad.c) must agree on every file the scanner accepts, and
 * the scanner must accept nothing the checked path refuses; ids are
 * indexed, duplicates refused; v2 detection; missing optional fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../shared/src/squad_priv.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/squad.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void same(const sq_squad *a, const sq_squad *b) {
    assert_int_equal(a->n_paragraphs, b->n_paragraphs);
    assert_int_equal(a->n_questions, b->n_questions);
    assert_string_equal(a->version, b->version);
    assert_int_equal(a->v2, b->v2);
    for (uint32_t i = 0; i < a->n_paragraphs; i++) {
        const sq_squad_paragraph *p = &a->paragraphs[i], *q = &b->paragraphs[i];
        assert_string_equal(p->title, q->title);
        assert_int_equal(p->context_len, q->context_len);
        assert_memory_equal(p->context, q->context, p->context_len);
        assert_int_equal(p->context[p->context_len], 0);
        assert_int_equal(p->first_question, q->first_question);
        assert_int_equal(p->n_questions, q->n_questions);
    }
    for (uint32_t i = 0; i < a->n_questions; i++) {
        const sq_squad_question *p = &a->questions[i], *q = &b->questions[i];
        assert_string_equal(p->id, q->id);
        assert_int_equal(p->question_len, q->question_len);
        assert_memory_equal(p->question, q->question, p->question_len);
        assert_int_equal(p->paragraph, q->paragraph);
        assert_int_equal(p->is_impossible, q->is_impossible);
        assert_int_equal(p->n_answers, q->n_answers);
        for (uint32_t k = 0; k < p->n_answers; k++) {
            assert_int_equal(p->answers[k].len, q->answers[k].len);
            assert_memory_equal(p->answers[k].text, q->answers[k].text, p->answers[k].len);
            assert_int_equal(p->answers[k].start, q->answers[k].start);
        }
    }
}

/* Scans len bytes of text; SQUAD_SCAN_* and, when OK, *out. */
static int scan_copy(const char *text, size_t len, sq_squad **out) {
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    buf[len] = 0;
    int rc = squad_scan(buf, len, out);
    if (rc != SQUAD_SCAN_OK) free(buf);
    return rc;
}

/* Both readers on the same bytes: the scanner either declines or agrees. */
static void differential(const char *text, size_t len) {
    sq_squad *fast = NULL, *checked = NULL;
    int rc = scan_copy(text, len, &fast);
    assert_int_not_equal(rc, SQUAD_SCAN_ERROR);
    int crc = squad_load_checked("x.json", text, len, &checked);
    if (rc == SQUAD_SCAN_OK) {
        if (crc) fail_msg("the scanner accepted what the checked path refuses (%s): %.*s", sq_errmsg(), (int)len, text);
        same(fast, checked);
    }
    sq_squad_free(fast);
    sq_squad_free(checked);
}

static void fixture_file(const char *rel, bool want_fast) {
    char path[512];
    const char *root = getenv("SQ_ROOT");
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    char *buf;
    size_t len;
    if (sq_read_file(path, 1 << 26, &buf, &len)) fail_msg("%s", sq_errmsg());
    sq_squad *fast = NULL;
    assert_int_equal(scan_copy(buf, len, &fast), want_fast ? SQUAD_SCAN_OK : SQUAD_SCAN_FALLBACK);
    differential(buf, len);
    sq_squad *s;
    if (sq_squad_load(path, &s)) fail_msg("%s", sq_errmsg());
    for (uint32_t i = 0; i < s->n_questions; i++) assert_int_equal(sq_squad_find(s, s->questions[i].id), i);
    assert_int_equal(sq_squad_find(s, "no such id"), -1);
    sq_squad_free(s);
    sq_squad_free(fast);
    free(buf);
}

static void xquad(void **state) { fixture_file("data/xquad.en.json", true); }
static void stress(void **state) { fixture_file("tests/tokenize/fixtures/stress.json", true); }

/* Every field the reader knows, escapes, unknown keys at every level,
 * a v2 question, a missing title, answers absent or empty. */
static const char doc[] =
    "{\"version\": \"2.0\", \"x\": [1, {\"y\": null}, -0, true], \"data\": [\n"
    " {\"paragraphs\": [{\"context\": \"Caf\\u00e9 \\\"q\\\" \\ud83d\\ude00 \\\\ \\/ \\b\\f\\n\\r\\t\", \"note\": {},\n"
    "   \"qas\": [{\"answers\": [{\"text\": \"Caf\\u00e9\", \"answer_start\": 0, \"z\": \"w\"}], \"id\": \"a1\",\n"
    "             \"question\": \"\\u0000nul?\", \"is_impossible\": false},\n"
    "            {\"id\": \"a2\", \"question\": \"none\", \"is_impossible\": true, \"answers\": []},\n"
    "            {\"id\": \"a3\", \"question\": \"absent\"}]}], \"title\": \"T\\u00edtulo\"},\n"
    " {\"title\": \"\", \"paragraphs\": [], \"extra\": \"e\"}, {\"paragraphs\": [{\"qas\": [], \"context\": \"\"}]}\n"
    "]}\n";

static void every_feature(void **state) {
    sq_squad *s;
    if (sq_squad_loadb("doc.json", doc, strlen(doc), &s)) fail_msg("%s", sq_errmsg());
    assert_string_equal(s->version, "2.0");
    assert_true(s->v2);
    assert_int_equal(s->n_paragraphs, 2);
    assert_int_equal(s->n_questions, 3);
    assert_string_equal(s->paragraphs[0].title, "T\xc3\xadtulo");
    assert_string_equal(s->paragraphs[1].title, "");
    assert_string_equal(s->paragraphs[0].context, "Caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80 \\ / \b\f\n\r\t");
    assert_int_equal(s->questions[0].question_len, 5);
    assert_memory_equal(s->questions[0].question, "\0nul?", 5);
    assert_int_equal(s->questions[0].n_answers, 1);
    assert_string_equal(s->questions[0].answers[0].text, "Caf\xc3\xa9");
    assert_true(s->questions[1].is_impossible);
    assert_int_equal(s->questions[1].n_answers, 0);
    assert_int_equal(s->questions[2].n_answers, 0);
    assert_int_equal(sq_squad_find(s, "a3"), 2);
    sq_squad_free(s);
    differential(doc, strlen(doc));
}

/* Every one-byte change of doc (a replacement from a set of JSON-ish bytes,
 * or a deletion): the scanner never accepts what jansson and the schema
 * refuse, and agrees with them on everything it accepts. */
static void mutations(void **state) {
    static const char subst[] = "\"{}[],:\\x0 -e\x01\xff\xc3";
    size_t n = strlen(doc);
    char *m = malloc(n + 1);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(m, doc, n);
            size_t len = n;
            if (k == sizeof subst - 1) {
                memmove(m + i, m + i + 1, n - i - 1); /* deletion */
                len--;
            } else {
                m[i] = subst[k];
            }
            differential(m, len);
        }
    }
    free(m);
}

static void errors(void **state) {
    sq_squad *s;
    const char *dup = "{\"data\":[{\"paragraphs\":[{\"context\":\"c\",\"qas\":[{\"id\":\"d\",\"question\":\"q\"},"
                      "{\"id\":\"d\",\"question\":\"r\"}]}]}]}";
    assert_int_equal(sq_squad_loadb("dup.json", dup, strlen(dup), &s), -1);
    assert_string_equal(sq_errmsg(), "dup.json: data[0].paragraphs[0].qas[1].id: duplicate question id \"d\" "
                                     "(first at data[0].paragraphs[0].qas[0])");
    const char *bad = "{\"data\":[{\"paragraphs\":[{\"context\":\"c\",\"qas\":[{\"id\":\"d\",\"question\":\"q\","
                      "\"answers\":[{\"text\":\"t\"}]}]}]}]}";
    assert_int_equal(sq_squad_loadb("bad.json", bad, strlen(bad), &s), -1);
    assert_string_equal(sq_errmsg(), "bad.json: data[0].paragraphs[0].qas[0].answers[0].answer_start: missing");
    const char *syntax = "{\"data\":\n [,]}";
    assert_int_equal(sq_squad_loadb("s.json", syntax, strlen(syntax), &s), -1);
    assert_non_null(strstr(sq_errmsg(), "s.json:2:"));
    const char *keydup = "{\"data\":[], \"k\": 1, \"k\": 2}";
    assert_int_equal(sq_squad_loadb("k.json", keydup, strlen(keydup), &s), -1);
    assert_non_null(strstr(sq_errmsg(), "duplicate"));
    assert_int_equal(sq_squad_load("/nonexistent/x.json", &s), -1);
    const char *v1 = "{\"data\":[]}";
    assert_int_equal(sq_squad_loadb("v.json", v1, strlen(v1), &s), 0);
    assert_string_equal(s->version, "");
    assert_false(s->v2);
    assert_int_equal(s->n_paragraphs, 0);
    sq_squad_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xquad),     cmocka_unit_test(stress), cmocka_unit_test(every_feature),
        cmocka_unit_test(mutations), cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
