/* Every code point through normalize_cp and classify_cp, compared with what
 * HF tokenizers does (tests/tokenize/fixtures/hf_unicode_{uncased,cased}.txt.zst,
 * made by hf_unicode.py).  With --dump uncased|cased [--raw] it prints our
 * own table in the same sparse format instead (make_unicode_fixups.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "normalize.h"
#include "sq/atomic_file.h"
#include "sq/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static bool raw_mode;

/* One sparse line for c, or "" when c maps to itself and does not split. */
static void line_for(uint32_t c, bool cased, char *buf, size_t cap) {
    norm_result r;
    if (raw_mode) normalize_cp_base(c, cased, &r);
    else normalize_cp(c, cased, &r);
    char norm[128];
    size_t n = 0;
    norm[0] = 0;
    /* handle_chinese_chars surrounds an ideograph with spaces */
    if (r.isolated && r.n) n += (size_t)snprintf(norm + n, sizeof norm - n, "20,");
    for (int i = 0; i < r.n; i++) n += (size_t)snprintf(norm + n, sizeof norm - n, "%s%x", i ? "," : "", r.cp[i]);
    if (r.isolated && r.n) snprintf(norm + n, sizeof norm - n, ",20");
    int k = raw_mode ? classify_cp_base(c) : classify_cp(c);
    int pieces = k == NC_SPACE ? 2 : k == NC_PUNCT ? 3 : 1;
    char self[16];
    snprintf(self, sizeof self, "%x", c);
    if (strcmp(norm, self) == 0 && pieces == 1) buf[0] = 0;
    else snprintf(buf, cap, "%x %s %d\n", c, norm, pieces);
}

static char *ours(bool cased, size_t *len) {
    size_t cap = 16 << 20, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (c >= 0xD800 && c < 0xE000) continue;
        char line[160];
        line_for(c, cased, line, sizeof line);
        size_t l = strlen(line);
        if (n + l + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        memcpy(out + n, line, l);
        n += l;
    }
    out[n] = 0;
    *len = n;
    return out;
}

static char *fixture(const char *name, size_t *len) {
    char path[512];
    const char *root = getenv("SQ_ROOT");
    snprintf(path, sizeof path, "%s/tests/tokenize/fixtures/%s", root ? root : ".", name);
    char *z;
    size_t zlen;
    if (sq_read_file(path, 1 << 24, &z, &zlen)) fail_msg("%s", sq_errmsg());
    unsigned long long raw = ZSTD_getFrameContentSize(z, zlen);
    assert_true(raw != ZSTD_CONTENTSIZE_ERROR && raw != ZSTD_CONTENTSIZE_UNKNOWN && raw < (64u << 20));
    char *out = malloc(raw + 1);
    assert_non_null(out);
    size_t got = ZSTD_decompress(out, raw, z, zlen);
    assert_false(ZSTD_isError(got));
    out[got] = 0;
    free(z);
    *len = got;
    return out;
}

static void compare(const char *name, bool cased) {
    size_t hl, ol;
    char *hf = fixture(name, &hl), *us = ours(cased, &ol);
    if (hl != ol || memcmp(hf, us, hl) != 0) {
        /* Name the first differing line. */
        const char *a = hf, *b = us;
        while (*a && *b) {
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            if (!ea || !eb || ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)) != 0) {
                fail_msg("%s: first difference: HF '%.*s' ours '%.*s'", name, (int)(ea ? ea - a : 40), a,
                         (int)(eb ? eb - b : 40), b);
            }
            a = ea + 1;
            b = eb + 1;
        }
        fail_msg("%s: HF has %zu bytes, ours %zu", name, hl, ol);
    }
    free(hf);
    free(us);
}

static void every_code_point_uncased(void **state) { compare("hf_unicode_uncased.txt.zst", false); }
static void every_code_point_cased(void **state) { compare("hf_unicode_cased.txt.zst", true); }

/* The fixed points the issue names, spelled out so a failure reads well. */
static void named_cases(void **state) {
    norm_result r;
    normalize_cp(0x130, false, &r); /* İ: NFD gives I U+0307, the mark goes, I → i */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.cp[0], 'i');
    normalize_cp(0x130, true, &r);  /* cased: untouched */
    assert_int_equal(r.cp[0], 0x130);
    normalize_cp(0xAD, false, &r);  /* soft hyphen: Cf, dropped */
    assert_int_equal(r.n, 0);
    normalize_cp(0xA0, false, &r);  /* NBSP: whitespace */
    assert_int_equal(r.cls[0], NC_SPACE);
    normalize_cp(0xE9, false, &r);  /* é → e */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.cp[0], 'e');
    normalize_cp(0xE9, true, &r);   /* cased keeps the accent */
    assert_int_equal(r.cp[0], 0xE9);
    normalize_cp(0x4E2D, false, &r); /* 中 */
    assert_true(r.isolated);
    normalize_cp(0x1E9E, false, &r); /* ẞ → ß */
    assert_int_equal(r.cp[0], 0xDF);
    normalize_cp(0x3A3, false, &r);  /* Σ → σ always: char-wise, no final-sigma rule */
    assert_int_equal(r.cp[0], 0x3C3);
    assert_int_equal(classify_cp(0x201C), NC_PUNCT);
    assert_int_equal(classify_cp('$'), NC_PUNCT);
}

/* The class normalize_cp gives each output char is classify_cp's. */
static void classes_consistent(void **state) {
    for (int cased = 0; cased < 2; cased++)
        for (uint32_t c = 0; c < 0x110000; c++) {
            if (c >= 0xD800 && c < 0xE000) continue;
            norm_result r;
            normalize_cp(c, cased, &r);
            for (int i = 0; i < r.n; i++)
                if (r.cls[i] != classify_cp(r.cp[i])) fail_msg("U+%04X: char %d has class %d, not %d", c, i, r.cls[i], classify_cp(r.cp[i]));
        }
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--dump") == 0) {
        raw_mode = argc >= 4 && strcmp(argv[3], "--raw") == 0;
        size_t n;
        char *s = ours(strcmp(argv[2], "cased") == 0, &n);
        fwrite(s, 1, n, stdout);
        free(s);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(named_cases),
        cmocka_unit_test(classes_consistent),
        cmocka_unit_test(every_code_point_uncased),
        cmocka_unit_test(every_code_point_cased),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
