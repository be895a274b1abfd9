/* The encoder and the vocabulary on small cases whose HF outputs are
 * spelled out (from ../shared/tools/hf_reference.py), and on inputs HF
 * never sees (invalid UTF-8).  The full comparisons are test_reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "encode.h"
#include "sq/error.h"
#include "vocab.h"
#include "wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vocab V;

static int setup(void **state) {
    char path[512];
    const char *root = getenv("SQ_ROOT");
    snprintf(path, sizeof path, "%s/data/vocab.txt", root ? root : ".");
    return vocab_load(path, &V);
}
static int teardown(void **state) {
    vocab_free(&V);
    return 0;
}

/* text → "id:start-end ..." */
static void expect(bool cased, const char *text, size_t len, const char *want) {
    encoder e;
    encoder_init(&e, &V, cased);
    assert_int_equal(encode_text(&e, text, len), 0);
    char got[4096];
    size_t n = 0;
    got[0] = 0;
    for (size_t i = 0; i < e.n && n < sizeof got; i++)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%u:%u-%u", i ? " " : "", e.ids[i], e.offsets[2 * i],
                              e.offsets[2 * i + 1]);
    assert_string_equal(got, want);
    encoder_free(&e);
}
#define EXPECT(text, want) expect(false, text, sizeof text - 1, want)

static void hf_cases(void **state) {
    EXPECT("a\0b", "11113:0-3");               /* NUL dropped, the word joins */
    EXPECT("x[SEP]y [sep]", "1060:0-1 102:1-6 1061:6-7 1031:8-9 19802:9-12 1033:12-13");
    EXPECT("\xe4\xb8\xad\xe6\x96\x87", "1746:0-1 1861:1-2"); /* 中文: one token each */
    EXPECT("\xc4\xb0", "1045:0-1");             /* İ */
    EXPECT("Hello", "7592:0-5");
    EXPECT("un\xc2\xad" "believable", "23653:0-13"); /* soft hyphen dropped */
    EXPECT("", "");
    EXPECT("   ", "");
}

static void long_words(void **state) {
    char w[102];
    memset(w, 'b', 101);
    w[101] = 0;
    expect(false, w, 101, "100:0-101");        /* 101 chars: [UNK] */
    encoder e;
    encoder_init(&e, &V, false);
    memset(w, 'a', 100);
    assert_int_equal(encode_text(&e, w, 100), 0); /* 100 chars: pieces */
    assert_int_equal(e.n, 50);
    assert_int_equal(e.ids[0], 13360);
    assert_int_equal(e.offsets[2 * 49 + 1], 100);
    encoder_free(&e);
}

/* Bytes that are not UTF-8 count as one code point each and are dropped
 * like U+FFFD (the loaders refuse such input; the encoder must still be safe). */
static void invalid_utf8(void **state) {
    EXPECT("a\xff" "b", "11113:0-3");
    EXPECT("\xe4\xb8", "");                     /* cut short */
    EXPECT("\xed\xa0\x80x", "1060:3-4");         /* a surrogate: three bad bytes */
    EXPECT("\xc0\xaf", "");                     /* overlong */
}

static void cased(void **state) {
    expect(true, "Hello", 5, "100:0-5");        /* no "Hello" piece in the uncased vocabulary */
    expect(true, "hello", 5, "7592:0-5");
}

static void vocab_rules(void **state) {
    assert_int_equal(V.size, 30522);
    assert_int_equal(V.cls_id, 101);
    assert_int_equal(V.sep_id, 102);
    assert_int_equal(V.pad_id, 0);
    assert_int_equal(V.unk_id, 100);
    assert_int_equal(vocab_find(&V, false, "the", 3), 1996);
    assert_int_equal(vocab_find(&V, true, "s", 1), vocab_find(&V, false, "##s", 3));
    assert_int_equal(vocab_find(&V, false, "##", 0), -1);
    vocab v;
    /* a repeated token keeps its last line (the reference builds a dict) */
    const char dup[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\nx\n";
    assert_int_equal(vocab_loadb("dup", dup, sizeof dup - 1, &v), 0);
    assert_int_equal(vocab_find(&v, false, "x", 1), 5);
    assert_int_equal(v.size, 6);
    vocab_free(&v);
    const char nolf[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]";
    assert_int_equal(vocab_loadb("nolf", nolf, sizeof nolf - 1, &v), 0);
    assert_int_equal(v.size, 4);
    vocab_free(&v);
    const char nounk[] = "[PAD]\n[CLS]\n[SEP]\n";
    assert_int_equal(vocab_loadb("nounk", nounk, sizeof nounk - 1, &v), -1);
    assert_string_equal(sq_errmsg(), "nounk: the vocabulary has no [UNK] token");
    const char blank[] = "[PAD]\n\n[UNK]\n";
    assert_int_equal(vocab_loadb("blank", blank, sizeof blank - 1, &v), -1);
    assert_int_equal(vocab_loadb("empty", "", 0, &v), -1);
}

/* Greedy longest match with "##" continuations; one unmatched position
 * makes the whole word [UNK]. */
static void wordpiece_greedy(void **state) {
    const char txt[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\nunaff\n##aff\n##able\n##a\n##ble\n";
    vocab v;
    assert_int_equal(vocab_loadb("wp", txt, sizeof txt - 1, &v), 0);
    uint32_t start[10], ids[9], ends[9];
    for (uint32_t i = 0; i <= 9; i++) start[i] = i;
    assert_int_equal(wordpiece(&v, "unaffable", start, 9, ids, ends), 2);
    assert_int_equal(ids[0], 5); /* unaff, not un */
    assert_int_equal(ends[0], 5);
    assert_int_equal(ids[1], 7); /* ##able, not ##a */
    assert_int_equal(ends[1], 9);
    assert_int_equal(wordpiece(&v, "unab", start, 4, ids, ends), 1);
    assert_int_equal(ids[0], 1); /* un ##a, then no "##b": [UNK] */
    assert_int_equal(ends[0], 4);
    vocab_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hf_cases), cmocka_unit_test(long_words),  cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(cased),    cmocka_unit_test(vocab_rules), cmocka_unit_test(wordpiece_greedy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
