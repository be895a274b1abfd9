/* Tokens files against HuggingFace's reference outputs (hf_reference.py
 * tokens: per paragraph {"c": ids, "o": offsets} then per question
 * {"q": id, "ids": ids}), plain or zstd-compressed.  Without arguments it
 * tokenizes the committed fixtures with the encoder and compares them with
 * the committed references; with --compare X.sqt REF.jsonl[.zst] it
 * compares a tokens file that sq-tokenize wrote (used by the shell tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "encode.h"
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/squad.h"
#include "sq/tokens.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* A whole file, decompressed when it ends in .zst. */
static char *slurp(const char *path, size_t *len) {
    char *z;
    size_t zlen;
    if (sq_read_file(path, (size_t)1 << 31, &z, &zlen)) return NULL;
    size_t pl = strlen(path);
    if (pl < 4 || strcmp(path + pl - 4, ".zst")) {
        *len = zlen;
        return z;
    }
    unsigned long long raw = ZSTD_getFrameContentSize(z, zlen);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > (1ull << 31)) {
        free(z);
        return NULL;
    }
    char *out = malloc(raw + 1);
    size_t got = out ? ZSTD_decompress(out, raw, z, zlen) : 0;
    free(z);
    if (!out || ZSTD_isError(got)) {
        free(out);
        return NULL;
    }
    out[got] = 0;
    *len = got;
    return out;
}

/* Line-by-line reader over the reference. */
typedef struct {
    char *buf, *at;
    size_t line;
} ref;

static json_t *next(ref *r) {
    if (!*r->at) return NULL;
    char *nl = strchr(r->at, '\n');
    size_t n = nl ? (size_t)(nl - r->at) : strlen(r->at);
    json_error_t e;
    json_t *j = json_loadb(r->at, n, 0, &e);
    r->at += n + (nl ? 1 : 0);
    r->line++;
    return j;
}

static int same_ids(const json_t *arr, const uint32_t *ids, size_t n, const char *what, size_t line) {
    if (!json_is_array(arr) || json_array_size(arr) != n) {
        fprintf(stderr, "reference line %zu (%s): %zu ids, ours %zu\n", line, what,
                json_is_array(arr) ? json_array_size(arr) : 0, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((json_int_t)ids[i] != json_integer_value(json_array_get(arr, i))) {
            fprintf(stderr, "reference line %zu (%s): token %zu is %lld, ours %u\n", line, what, i,
                    json_integer_value(json_array_get(arr, i)), ids[i]);
            return -1;
        }
    return 0;
}

static int same_offsets(const json_t *arr, const uint32_t *off, size_t n, size_t line) {
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(arr, i);
        if (json_integer_value(json_array_get(p, 0)) != off[2 * i] ||
            json_integer_value(json_array_get(p, 1)) != off[2 * i + 1]) {
            fprintf(stderr, "reference line %zu: offsets of token %zu are [%lld, %lld], ours [%u, %u]\n", line, i,
                    json_integer_value(json_array_get(p, 0)), json_integer_value(json_array_get(p, 1)),
                    off[2 * i], off[2 * i + 1]);
            return -1;
        }
    }
    return 0;
}

/* The paragraph line, then one line per question id. */
static int check_paragraph(ref *r, const uint32_t *ids, const uint32_t *off, size_t n) {
    json_t *j = next(r);
    int rc = !j || same_ids(json_object_get(j, "c"), ids, n, "context", r->line) ||
             same_offsets(json_object_get(j, "o"), off, n, r->line);
    json_decref(j);
    return rc ? -1 : 0;
}

static int check_question(ref *r, const char *id, const uint32_t *ids, size_t n) {
    json_t *j = next(r);
    int rc = !j || strcmp(json_string_value(json_object_get(j, "q")) ? json_string_value(json_object_get(j, "q")) : "", id) ||
             same_ids(json_object_get(j, "ids"), ids, n, id, r->line);
    json_decref(j);
    return rc ? -1 : 0;
}

static int compare_sqt(const char *sqt, const char *reference) {
    sq_tokens *t;
    if (sq_tokens_read(sqt, &t)) {
        fprintf(stderr, "%s\n", sq_errmsg());
        return 1;
    }
    size_t len;
    ref r = {0};
    r.buf = r.at = slurp(reference, &len);
    if (!r.buf) {
        fprintf(stderr, "%s: cannot read\n", reference);
        return 1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < t->n_paragraphs && !rc; i++) {
        const sq_paragraph *p = &t->paragraphs[i];
        rc = check_paragraph(&r, p->ids, p->offsets, p->n_tokens);
        for (uint32_t k = 0; k < p->n_questions && !rc; k++) {
            const sq_question *q = &t->questions[p->first_question + k];
            rc = check_question(&r, q->id, q->ids, q->n_ids);
        }
    }
    if (!rc && *r.at) {
        fprintf(stderr, "%s: the reference has more lines than %s\n", reference, sqt);
        rc = 1;
    }
    if (!rc) printf("%s: %u paragraphs and %u questions equal %s\n", sqt, t->n_paragraphs, t->n_questions, reference);
    free(r.buf);
    sq_tokens_free(t);
    return rc ? 1 : 0;
}

/* The encoder on every text of a fixture against its committed reference. */
static void fixture(const char *squad, const char *reference, bool cased) {
    const char *root = getenv("SQ_ROOT") ? getenv("SQ_ROOT") : ".";
    char sp[512], rp[512], vp[512];
    snprintf(sp, sizeof sp, "%s/%s", root, squad);
    snprintf(rp, sizeof rp, "%s/tests/tokenize/fixtures/%s", root, reference);
    snprintf(vp, sizeof vp, "%s/data/vocab.txt", root);
    vocab v;
    sq_squad *s = NULL;
    if (vocab_load(vp, &v) || sq_squad_load(sp, &s)) fail_msg("%s", sq_errmsg());
    encoder e;
    encoder_init(&e, &v, cased);
    size_t len;
    ref r = {0};
    r.buf = r.at = slurp(rp, &len);
    assert_non_null(r.buf);
    for (uint32_t i = 0; i < s->n_paragraphs; i++) {
        const sq_squad_paragraph *p = &s->paragraphs[i];
        assert_int_equal(encode_text(&e, p->context, p->context_len), 0);
        if (check_paragraph(&r, e.ids, e.offsets, e.n)) fail_msg("%s: paragraph %u differs", reference, i);
        for (uint32_t k = 0; k < p->n_questions; k++) {
            const sq_squad_question *q = &s->questions[p->first_question + k];
            assert_int_equal(encode_text(&e, q->question, q->question_len), 0);
            if (check_question(&r, q->id, e.ids, e.n)) fail_msg("%s: question %s differs", reference, q->id);
        }
    }
    assert_int_equal(*r.at, 0);
    free(r.buf);
    encoder_free(&e);
    sq_squad_free(s);
    vocab_free(&v);
}

static void stress_uncased(void **state) { fixture("tests/tokenize/fixtures/stress.json", "stress.uncased.jsonl", false); }
static void stress_cased(void **state) { fixture("tests/tokenize/fixtures/stress.json", "stress.cased.jsonl", true); }
static void xquad_uncased(void **state) { fixture("data/xquad.en.json", "xquad.uncased.jsonl.zst", false); }
static void xquad_cased(void **state) { fixture("data/xquad.en.json", "xquad.cased.jsonl.zst", true); }

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare_sqt(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stress_uncased),
        cmocka_unit_test(stress_cased),
        cmocka_unit_test(xquad_uncased),
        cmocka_unit_test(xquad_cased),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
