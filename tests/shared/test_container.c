/* sq container: round trip, and damage of every kind is reported with the
 * file, frame and offset instead of being decoded (SQLite-style: truncate at
 * every byte, flip bytes everywhere). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "sq/atomic_file.h"
#include "sq/container.h"
#include "sq/error.h"

static char dir[64];

static int setup(void **state) {
    strcpy(dir, "/tmp/sq-test-container-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    sq_rmtree(dir);
    return 0;
}

static char *path_in(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static sq_container_info tokens_info(void) {
    sq_container_info info = {.version = 3, .flags = 0x5, .vocab_hash = 0x0123456789abcdefull};
    memcpy(info.kind, SQ_KIND_TOKENS, 8);
    for (int i = 0; i < 4; i++) info.counts[i] = 1000u * (i + 1);
    return info;
}

/* Three frames: text, an empty one, pseudo-random bytes. */
static void write_small(const char *path) {
    sq_container_info info = tokens_info();
    sq_cwriter *w = sq_cwriter_open(path, &info, 3);
    assert_non_null(w);
    const char *text = "the quick brown fox jumps over the lazy dog, the quick brown fox";
    assert_int_equal(sq_cwriter_frame(w, text, strlen(text)), 0);
    assert_int_equal(sq_cwriter_frame(w, "", 0), 0);
    uint8_t rnd[200];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    assert_int_equal(sq_cwriter_frame(w, rnd, sizeof rnd), 0);
    sq_cwriter_info(w)->counts[3] = 77;
    assert_int_equal(sq_cwriter_close(w), 0);
}

static void read_file(const char *path, char **buf, size_t *len) {
    assert_int_equal(sq_read_file(path, 1 << 30, buf, len), 0);
}

/* Opens and decodes every frame; 0 when all is well, -1 at the first error. */
static int open_and_decode(const char *name, const void *buf, size_t len) {
    sq_creader *r;
    if (sq_creader_openb(name, buf, len, NULL, &r)) return -1;
    int rc = 0;
    for (size_t i = 0; i < sq_creader_frames(r) && !rc; i++) {
        void *d;
        size_t n;
        rc = sq_creader_frame(r, i, &d, &n);
        if (!rc) {
            assert_int_equal(n, sq_creader_frame_size(r, i));
            free(d);
        }
    }
    sq_creader_close(r);
    return rc;
}

static void test_round_trip(void **state) {
    const char *p = path_in("a.sqt");
    write_small(p);
    sq_creader *r;
    assert_int_equal(sq_creader_open(p, SQ_KIND_TOKENS, &r), 0);
    const sq_container_info *info = sq_creader_info(r);
    assert_memory_equal(info->kind, SQ_KIND_TOKENS, 8);
    assert_int_equal(info->version, 3);
    assert_int_equal(info->flags, 5);
    assert_true(info->vocab_hash == 0x0123456789abcdefull);
    assert_int_equal(info->counts[0], 1000);
    assert_int_equal(info->counts[2], 3000);
    assert_int_equal(info->counts[3], 77);
    assert_int_equal(sq_creader_frames(r), 3);
    assert_int_equal(sq_creader_frame_size(r, 1), 0);
    assert_int_equal(sq_creader_frame_size(r, 2), 200);
    void *d;
    size_t n;
    assert_int_equal(sq_creader_frame(r, 0, &d, &n), 0);
    assert_int_equal(n, strlen("the quick brown fox jumps over the lazy dog, the quick brown fox"));
    assert_memory_equal(d, "the quick brown fox jumps", 25);
    free(d);
    assert_int_equal(sq_creader_frame(r, 1, &d, &n), 0);
    assert_int_equal(n, 0);
    free(d);
    assert_int_equal(sq_creader_frame(r, 3, &d, &n), -1);
    assert_non_null(strstr(sq_errmsg(), "frame 3 does not exist"));
    sq_creader_close(r);
}

static void test_no_frames(void **state) {
    const char *p = path_in("empty.sqt");
    sq_container_info info = tokens_info();
    sq_cwriter *w = sq_cwriter_open(p, &info, 1);
    assert_non_null(w);
    assert_int_equal(sq_cwriter_close(w), 0);
    sq_creader *r;
    assert_int_equal(sq_creader_open(p, NULL, &r), 0);
    assert_int_equal(sq_creader_frames(r), 0);
    sq_creader_close(r);
}

/* Highly compressible data stays within the reader's ratio bound. */
static void test_large_zeros(void **state) {
    const char *p = path_in("zeros.sqt");
    size_t n = 64u << 20;
    uint8_t *z = calloc(1, n);
    assert_non_null(z);
    sq_container_info info = tokens_info();
    memcpy(info.kind, SQ_KIND_FEATURES, 8);
    sq_cwriter *w = sq_cwriter_open(p, &info, 19);
    assert_int_equal(sq_cwriter_frame(w, z, n), 0);
    assert_int_equal(sq_cwriter_close(w), 0);
    sq_creader *r;
    assert_int_equal(sq_creader_open(p, SQ_KIND_FEATURES, &r), 0);
    void *d;
    size_t got;
    assert_int_equal(sq_creader_frame(r, 0, &d, &got), 0);
    assert_int_equal(got, n);
    assert_memory_equal(d, z, n);
    free(d);
    free(z);
    sq_creader_close(r);
}

static void test_wrong_kind(void **state) {
    const char *p = path_in("k.sqt");
    write_small(p);
    sq_creader *r;
    assert_int_equal(sq_creader_open(p, SQ_KIND_FEATURES, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "is a SQTOKENS file, expected SQFEATUR"));
    assert_int_equal(sq_creader_openb("x", "not a container at all, just some text here ......"
                                           "...........................................",
                                      93, NULL, &r),
                     -1);
    assert_string_equal(sq_errmsg(), "x: not an sq file (unknown magic)");
    assert_int_equal(sq_creader_openb("x", "SQTOKENS", 8, NULL, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "x: truncated"));
}

static void test_writer_errors(void **state) {
    sq_container_info info = tokens_info();
    assert_null(sq_cwriter_open("-", &info, 3));
    assert_non_null(strstr(sq_errmsg(), "standard output"));
    assert_null(sq_cwriter_open(path_in("no/such/dir/x.sqt"), &info, 3));
    /* An aborted writer leaves nothing behind. */
    sq_cwriter *w = sq_cwriter_open(path_in("aborted.sqt"), &info, 3);
    assert_int_equal(sq_cwriter_frame(w, "abc", 3), 0);
    sq_cwriter_abort(w);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, "aborted"));
    closedir(d);
}

static void test_every_truncation(void **state) {
    const char *p = path_in("t.sqt");
    write_small(p);
    char *buf;
    size_t len;
    read_file(p, &buf, &len);
    assert_int_equal(open_and_decode("t.sqt", buf, len), 0);
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(open_and_decode("t.sqt", buf, n), -1);
        assert_non_null(strstr(sq_errmsg(), "t.sqt: "));
    }
    /* and a byte too many */
    char *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    assert_int_equal(open_and_decode("t.sqt", more, len + 1), -1);
    free(more);
    free(buf);
}

static void test_every_byte_flip(void **state) {
    const char *p = path_in("f.sqt");
    write_small(p);
    char *buf;
    size_t len;
    read_file(p, &buf, &len);
    static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x10};
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            buf[i] ^= masks[m];
            if (open_and_decode("f.sqt", buf, len) != -1) fail_msg("flip of byte %zu by %#x not detected", i, masks[m]);
            buf[i] ^= masks[m];
        }
    }
    free(buf);
}

/* Damage in a frame names the frame and its offset (80: after the header). */
static void test_frame_damage_message(void **state) {
    const char *p = path_in("m.sqt");
    write_small(p);
    char *buf;
    size_t len;
    read_file(p, &buf, &len);
    buf[85] ^= 1;
    sq_creader *r;
    assert_int_equal(sq_creader_openb("m.sqt", buf, len, NULL, &r), 0);
    void *d;
    size_t n;
    assert_int_equal(sq_creader_frame(r, 0, &d, &n), -1);
    assert_string_equal(sq_errmsg(), "m.sqt: frame 0 at offset 80: checksum mismatch");
    /* the others still decode */
    assert_int_equal(sq_creader_frame(r, 2, &d, &n), 0);
    free(d);
    sq_creader_close(r);
    buf[85] ^= 1;
    buf[3] ^= 1;
    assert_int_equal(sq_creader_openb("m.sqt", buf, len, NULL, &r), -1);
    buf[3] ^= 1;
    buf[20] ^= 1;
    assert_int_equal(sq_creader_openb("m.sqt", buf, len, NULL, &r), -1);
    assert_string_equal(sq_errmsg(), "m.sqt: header at offset 0: checksum mismatch");
    buf[20] ^= 1;
    buf[len - 5] ^= 1;
    assert_int_equal(sq_creader_openb("m.sqt", buf, len, NULL, &r), -1);
    assert_non_null(strstr(sq_errmsg(), "m.sqt: index at offset "));
    assert_non_null(strstr(sq_errmsg(), ": checksum mismatch"));
    free(buf);
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void set32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}
static void set64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i);
}

/* Re-seals index and header CRCs, as a forger (or a buggy writer) would, so
 * that the structural checks behind the checksums are exercised too. */
static void reseal(uint8_t *buf, size_t len) {
    uint64_t idx = 0;
    for (int i = 0; i < 8; i++) idx |= (uint64_t)buf[64 + i] << 8 * i;
    if (idx <= len) set32(buf + 72, (uint32_t)crc32(0, buf + idx, (uInt)(len - idx)));
    set32(buf + 76, (uint32_t)crc32(0, buf, 76));
}

static void expect_forged(uint8_t *buf, size_t len, const char *msg) {
    reseal(buf, len);
    sq_creader *r;
    int rc = sq_creader_openb("g.sqt", buf, len, NULL, &r);
    if (rc == 0) {
        void *d;
        size_t n;
        rc = -1;
        for (size_t i = 0; i < sq_creader_frames(r); i++) {
            if (sq_creader_frame(r, i, &d, &n)) break;
            free(d);
        }
        sq_creader_close(r);
    }
    assert_int_equal(rc, -1);
    if (!strstr(sq_errmsg(), msg)) fail_msg("error '%s' does not contain '%s'", sq_errmsg(), msg);
}

static void test_forged_structure(void **state) {
    const char *p = path_in("g.sqt");
    write_small(p);
    char *orig;
    size_t len;
    read_file(p, &orig, &len);
    uint8_t *b = malloc(len);
    size_t idx = len - 3 * 32;
    assert_int_equal(le32((uint8_t *)orig + 64), idx);

    memcpy(b, orig, len);
    set64(b + 64, len + 8);
    expect_forged(b, len, "index offset");

    memcpy(b, orig, len);
    set64(b + 56, 4);
    expect_forged(b, len, "frames do not fill");

    memcpy(b, orig, len);
    set64(b + 56, (uint64_t)1 << 60);
    expect_forged(b, len, "frames do not fill");

    memcpy(b, orig, len);
    set64(b + idx + 16, (uint64_t)5 << 30); /* raw size 5 GiB */
    expect_forged(b, len, "impossible size");

    memcpy(b, orig, len);
    set64(b + idx + 16, (uint64_t)1 << 30); /* 1 GiB from a few bytes */
    expect_forged(b, len, "impossible size");

    memcpy(b, orig, len);
    set64(b + idx + 16, 60); /* raw size differs from zstd's frame header */
    expect_forged(b, len, "zstd frame does not match the index");

    memcpy(b, orig, len);
    set64(b + idx + 32, 81); /* frame 1 overlaps frame 0 */
    expect_forged(b, len, "frame 1 at offset 81: expected at offset");

    memcpy(b, orig, len);
    set64(b + idx + 8, 1u << 20); /* frame 0 runs over the index */
    expect_forged(b, len, "run past the index");

    memcpy(b, orig, len);
    set64(b + idx + 8, 0);
    expect_forged(b, len, "run past the index");

    memcpy(b, orig, len);
    set32(b + idx + 28, 1);
    expect_forged(b, len, "reserved field");

    /* The last frame one byte short: a gap before the index. */
    memcpy(b, orig, len);
    uint64_t c2 = 0;
    for (int i = 0; i < 8; i++) c2 |= (uint64_t)b[idx + 64 + 8 + i] << 8 * i;
    set64(b + idx + 64 + 8, c2 - 1);
    expect_forged(b, len, "between the last frame and the index");

    free(b);
    free(orig);
}

typedef struct {
    sq_creader *r;
    int errors;
} thread_arg;

static void *decode_all(void *p) {
    thread_arg *a = p;
    for (int rep = 0; rep < 50; rep++)
        for (size_t i = 0; i < sq_creader_frames(a->r); i++) {
            void *d;
            size_t n;
            if (sq_creader_frame(a->r, i, &d, &n)) a->errors++;
            else free(d);
        }
    return NULL;
}

static void test_threads(void **state) {
    const char *p = path_in("th.sqt");
    write_small(p);
    sq_creader *r;
    assert_int_equal(sq_creader_open(p, NULL, &r), 0);
    pthread_t t[4];
    thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){r, 0};
        assert_int_equal(pthread_create(&t[i], NULL, decode_all, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].errors, 0);
    }
    sq_creader_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_no_frames),
        cmocka_unit_test(test_large_zeros),      cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_writer_errors),    cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_byte_flip),  cmocka_unit_test(test_frame_damage_message),
        cmocka_unit_test(test_forged_structure), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
