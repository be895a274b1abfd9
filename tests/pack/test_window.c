/* pack/window.c against hand-worked cases and against the features of
 * HuggingFace tokenizers + run_qa labelling (tests/pack/make_refs.py) on
 * synthetic SQuAD data aimed at window edges, at six max-seq/stride pairs.
 * The tokens come from the reference too, so this checks the windowing and
 * labelling alone, independent of sq-tokenize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"
#include "window.h"

static void test_window_counts(void **state) {
    (void)state;
    /* room 10, stride 4: starts 0, 6, 12, ...; the first window reaching
     * the end is the last. */
    assert_int_equal(pack_n_windows(0, 10, 4), 1);
    assert_int_equal(pack_n_windows(10, 10, 4), 1);
    assert_int_equal(pack_n_windows(11, 10, 4), 2);
    assert_int_equal(pack_n_windows(16, 10, 4), 2);
    assert_int_equal(pack_n_windows(17, 10, 4), 3);
    uint32_t s, e;
    pack_window(17, 10, 4, 2, &s, &e);
    assert_int_equal(s, 12);
    assert_int_equal(e, 17);
    pack_window(16, 10, 4, 1, &s, &e);
    assert_int_equal(s, 6);
    assert_int_equal(e, 16);
    pack_window(5, 10, 4, 0, &s, &e);
    assert_int_equal(s, 0);
    assert_int_equal(e, 5);
    /* stride 0: disjoint windows. */
    assert_int_equal(pack_n_windows(30, 10, 0), 3);
    assert_int_equal(pack_n_windows(31, 10, 0), 4);
    /* step 1 (stride = room - 1). */
    assert_int_equal(pack_n_windows(12, 10, 9), 3);
}

static void test_options(void **state) {
    (void)state;
    pack_options o = {384, 128, 64};
    assert_null(pack_options_check(&o));
    o = (pack_options){68, 0, 64};
    assert_null(pack_options_check(&o));
    o = (pack_options){67, 0, 64};
    assert_non_null(pack_options_check(&o));
    o = (pack_options){64, 16, 44};
    assert_null(pack_options_check(&o));
    o = (pack_options){64, 16, 45};
    assert_non_null(pack_options_check(&o));
}

/* Defaults that follow --max-seq: run_qa's 64/128 at 384, and a valid
 * setup for every --max-seq from 8 up. */
static void test_defaults(void **state) {
    (void)state;
    pack_options o = {.max_seq = 384};
    pack_options_defaults(&o, false, false);
    assert_int_equal(o.max_query, 64);
    assert_int_equal(o.stride, 128);
    o = (pack_options){.max_seq = 64};
    pack_options_defaults(&o, false, false);
    assert_int_equal(o.max_query, 32);
    assert_int_equal(o.stride, 14); /* room 29: half of it */
    o = (pack_options){.max_seq = 256};
    pack_options_defaults(&o, false, false);
    assert_int_equal(o.max_query, 64);
    assert_int_equal(o.stride, 128); /* room 189: run_qa's stride fits */
    o = (pack_options){.max_seq = 128, .max_query = 100, .stride = 7};
    pack_options_defaults(&o, true, true);
    assert_int_equal(o.max_query, 100); /* what was given stays */
    assert_int_equal(o.stride, 7);
    for (uint32_t seq = 8; seq <= 65535; seq++) {
        o = (pack_options){.max_seq = seq};
        pack_options_defaults(&o, false, false);
        assert_null(pack_options_check(&o));
    }
}

static void test_labels(void **state) {
    (void)state;
    /* Context "ab cd ef" as tokens [0,2) [3,5) [6,8), first at position 4. */
    const uint32_t off[] = {0, 2, 3, 5, 6, 8};
    uint32_t sp, ep;
    pack_answer a = {true, 3, 5};
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp, 5);
    assert_int_equal(ep, 5);
    a = (pack_answer){true, 4, 7}; /* inside tokens: still those tokens */
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp, 5);
    assert_int_equal(ep, 6);
    a = (pack_answer){true, 6, 8}; /* last token: the start walk runs past the [SEP] */
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp, 7);
    assert_int_equal(ep, 6);
    a = (pack_answer){true, 1, 9}; /* not wholly inside */
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp + ep, 0);
    a = (pack_answer){false, 3, 5};
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp + ep, 0);
    a = (pack_answer){true, 0, 0}; /* empty answer at 0: the end walk stops at the context */
    pack_labels(&a, off, 3, 4, &sp, &ep);
    assert_int_equal(sp, 4);
    assert_int_equal(ep, 4);
    pack_labels(&a, off, 0, 4, &sp, &ep);
    assert_int_equal(sp + ep, 0);
    assert_int_equal(pack_utf8_cps("caf\xc3\xa9 \xe4\xb8\xad"), 6);
}

/* ---- comparison with the reference ---- */

static char *read_zst(const char *rel, size_t *len) {
    const char *root = getenv("SQ_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/pack/fixtures/%s", root ? root : ".", rel);
    char *z;
    size_t zn;
    if (sq_read_file(path, (size_t)1 << 30, &z, &zn)) fail_msg("%s", sq_errmsg());
    unsigned long long n = ZSTD_getFrameContentSize(z, zn);
    assert_true(n != ZSTD_CONTENTSIZE_ERROR && n != ZSTD_CONTENTSIZE_UNKNOWN);
    char *out = malloc(n + 1);
    assert_non_null(out);
    assert_int_equal(ZSTD_decompress(out, n, z, zn), n);
    out[n] = 0;
    free(z);
    *len = n;
    return out;
}

/* Splits buf into NUL-terminated lines in place; returns the count. */
static size_t split_lines(char *buf, char ***lines) {
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof *v);
    for (char *p = buf; *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = p;
        if (!e) break;
        p = e + 1;
    }
    *lines = v;
    return n;
}

static uint32_t *uint_array(json_t *a, size_t *n) {
    *n = json_array_size(a);
    uint32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (uint32_t)json_integer_value(json_array_get(a, i));
    return v;
}

typedef struct {
    uint32_t *ids, *offsets, n;
} ctx_tokens;

static void compare_combo(uint32_t max_seq, uint32_t stride, uint32_t max_query) {
    const char *root = getenv("SQ_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/pack/fixtures/synth.json", root ? root : ".");
    json_t *squad = sq_json_load(path);
    if (!squad) fail_msg("%s", sq_errmsg());
    size_t tn, fn;
    char *tbuf = read_zst("synth.tokens.jsonl.zst", &tn);
    snprintf(path, sizeof path, "synth.%u-%u-%u.ref.zst", max_seq, stride, max_query);
    char *fbuf = read_zst(path, &fn);
    char **tl, **fl;
    size_t n_tl = split_lines(tbuf, &tl), n_fl = split_lines(fbuf, &fl);

    pack_options o = {max_seq, stride, max_query};
    assert_null(pack_options_check(&o));
    size_t t = 0, f = 0, n_checked = 0;
    json_t *arts = json_object_get(squad, "data");
    for (size_t ai = 0; ai < json_array_size(arts); ai++) {
        json_t *paras = json_object_get(json_array_get(arts, ai), "paragraphs");
        for (size_t pi = 0; pi < json_array_size(paras); pi++) {
            json_t *para = json_array_get(paras, pi);
            assert_true(t < n_tl);
            json_t *cl = json_loads(tl[t++], 0, NULL);
            size_t nc, no;
            ctx_tokens c;
            c.ids = uint_array(json_object_get(cl, "c"), &nc);
            c.n = (uint32_t)nc;
            json_t *oa = json_object_get(cl, "o");
            no = json_array_size(oa);
            assert_int_equal(no, nc);
            c.offsets = malloc((2 * no + 1) * sizeof(uint32_t));
            for (size_t k = 0; k < no; k++) {
                c.offsets[2 * k] = (uint32_t)json_integer_value(json_array_get(json_array_get(oa, k), 0));
                c.offsets[2 * k + 1] = (uint32_t)json_integer_value(json_array_get(json_array_get(oa, k), 1));
            }
            json_t *qas = json_object_get(para, "qas");
            for (size_t qi = 0; qi < json_array_size(qas); qi++) {
                json_t *qa = json_array_get(qas, qi);
                json_t *ql = json_loads(tl[t++], 0, NULL);
                size_t nq;
                uint32_t *qids = uint_array(json_object_get(ql, "ids"), &nq);
                json_t *ans = json_object_get(qa, "answers");
                pack_answer a = {false, 0, 0};
                if (json_array_size(ans) && !json_is_true(json_object_get(qa, "is_impossible"))) {
                    json_t *a0 = json_array_get(ans, 0);
                    a.has = true;
                    a.start = (uint32_t)json_integer_value(json_object_get(a0, "answer_start"));
                    a.end = a.start + pack_utf8_cps(json_string_value(json_object_get(a0, "text")));
                }
                uint32_t q_len = pack_question_len(&o, (uint32_t)nq);
                assert_int_equal(q_len, nq); /* the reference never cuts */
                uint32_t nw = pack_n_windows(c.n, pack_room(&o, q_len), stride);
                for (uint32_t w = 0; w < nw; w++, f++) {
                    assert_true(f < n_fl);
                    json_t *ref = json_loads(fl[f], 0, NULL);
                    assert_string_equal(json_string_value(json_object_get(ref, "ex")),
                                        json_string_value(json_object_get(qa, "id")));
                    pack_layout l;
                    pack_feature_layout(&o, q_len, c.offsets, c.n, &a, w, &l);
                    json_t *ids = json_object_get(ref, "ids"), *tt = json_object_get(ref, "tt"),
                           *off = json_object_get(ref, "off");
                    assert_int_equal(l.len, json_array_size(ids));
                    assert_true(l.len <= max_seq);
                    for (uint32_t k = 0; k < l.len; k++) {
                        uint32_t id, type = k >= l.type1_start;
                        json_t *ro = json_array_get(off, k);
                        if (k == 0)
                            id = 101;
                        else if (k <= q_len)
                            id = qids[k - 1];
                        else if (k == q_len + 1 || k == l.len - 1)
                            id = 102;
                        else
                            id = c.ids[l.ctx_start + k - l.type1_start];
                        assert_int_equal(id, json_integer_value(json_array_get(ids, k)));
                        assert_int_equal(type, json_integer_value(json_array_get(tt, k)));
                        if (k >= l.type1_start && k + 1 < l.len) {
                            uint32_t ci = l.ctx_start + k - l.type1_start;
                            assert_int_equal(c.offsets[2 * ci], json_integer_value(json_array_get(ro, 0)));
                            assert_int_equal(c.offsets[2 * ci + 1], json_integer_value(json_array_get(ro, 1)));
                        } else {
                            assert_true(json_is_null(ro));
                        }
                    }
                    assert_int_equal(l.start_position, json_integer_value(json_object_get(ref, "sp")));
                    assert_int_equal(l.end_position, json_integer_value(json_object_get(ref, "ep")));
                    json_decref(ref);
                    n_checked++;
                }
                free(qids);
                json_decref(ql);
            }
            free(c.ids);
            free(c.offsets);
            json_decref(cl);
        }
    }
    assert_int_equal(f, n_fl);
    assert_int_equal(t, n_tl);
    assert_true(n_checked > 50);
    free(tl);
    free(fl);
    free(tbuf);
    free(fbuf);
    json_decref(squad);
}

static void test_ref_384_128(void **s) { (void)s; compare_combo(384, 128, 64); }
static void test_ref_32_8(void **s) { (void)s; compare_combo(32, 8, 8); }
static void test_ref_24_5(void **s) { (void)s; compare_combo(24, 5, 8); }
static void test_ref_16_4(void **s) { (void)s; compare_combo(16, 4, 8); }
static void test_ref_20_0(void **s) { (void)s; compare_combo(20, 0, 8); }
static void test_ref_17_5(void **s) { (void)s; compare_combo(17, 5, 8); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_counts), cmocka_unit_test(test_options), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_labels),        cmocka_unit_test(test_ref_384_128),
        cmocka_unit_test(test_ref_32_8),      cmocka_unit_test(test_ref_24_5),
        cmocka_unit_test(test_ref_16_4),      cmocka_unit_test(test_ref_20_0),
        cmocka_unit_test(test_ref_17_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
