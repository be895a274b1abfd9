/* TensorBoard event files: CRC-32C on the RFC 3720 vectors, TensorFlow's
 * mask, Event bytes equal to what the protobuf library serializes (the
 * expected bytes came from tensorboard's event_pb2), and written files whose
 * every record has a correct frame.  With SQ_TFEVENTS_KEEP=<dir> it also
 * leaves a file of known scalars there for test_tensorboard.sh, which reads
 * it back with the tensorboard package. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "../../shared/src/crc32c.h"
#include "sq/error.h"
#include "sq/tfevents.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/sq-test-tfevents-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    sq_rmtree(dir);
    return 0;
}

static void test_crc32c_vectors(void **state)
{
    uint8_t buf[32];
    assert_int_equal(sq_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sq_crc32c(0, "", 0), 0);
    /* RFC 3720 B.4 */
    memset(buf, 0, sizeof buf);
    assert_int_equal(sq_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(sq_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(sq_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(sq_crc32c(0, buf, 32), 0x113FDB5Cu);
    /* Continuation over pieces equals the CRC of the whole. */
    uint32_t c = sq_crc32c(0, "1234", 4);
    assert_int_equal(sq_crc32c(c, "56789", 5), 0xE3069283u);
}

static void test_crc32c_mask(void **state)
{
    /* Values from tensorboard's masked_crc32c. */
    assert_int_equal(sq_crc32c_mask(0), 0xa282ead8u);
    assert_int_equal(sq_crc32c_mask(0xE3069283u), 0xc78ab0e5u);
    uint8_t len23[8] = {23};
    assert_int_equal(sq_crc32c_mask(sq_crc32c(0, len23, 8)), 0x1ef8cee7u);
}

static void test_encode_scalar(void **state)
{
    static const uint8_t want[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0x03, 0x2a,
                                   0x0a, 0x0a, 0x08, 0x0a, 0x01, 'a',  0x15, 0,    0,    0,
                                   0x40};
    uint8_t buf[64];
    size_t n = sq_tfevents_encode_scalar(buf, sizeof buf, 1.5, 3, "a", 2.0f);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    /* Every smaller buffer is refused rather than overrun. */
    for (size_t cap = 0; cap < sizeof want; cap++)
        assert_int_equal(sq_tfevents_encode_scalar(buf, cap, 1.5, 3, "a", 2.0f), 0);
}

static void test_encode_negative_step(void **state)
{
    /* int64 -1 is a ten-byte varint, as protobuf encodes it. */
    static const uint8_t want_step[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0x01};
    uint8_t buf[64];
    size_t n = sq_tfevents_encode_scalar(buf, sizeof buf, 0, -1, "a", 0);
    assert_true(n > 9 + sizeof want_step);
    assert_memory_equal(buf + 9, want_step, sizeof want_step);
}

static void test_encode_version(void **state)
{
    static const uint8_t want[] = {0x09, 0,   0,   0,   0,   0,   0,   0xf8, 0x3f, 0x1a, 0x0d, 'b',
                                   'r',  'a', 'i', 'n', '.', 'E', 'v', 'e',  'n',  't',  ':',  '2'};
    uint8_t buf[64];
    assert_int_equal(sq_tfevents_encode_version(buf, sizeof buf, 1.5), sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(sq_tfevents_encode_version(buf, 10, 1.5), 0);
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks a file's TFRecords, checking both CRCs of each; returns the count. */
static int count_records(const char *path)
{
    char *data;
    size_t len;
    assert_int_equal(sq_read_file(path, 1 << 24, &data, &len), 0);
    const uint8_t *p = (const uint8_t *)data;
    size_t off = 0;
    int n = 0;
    while (off < len) {
        assert_true(len - off >= 12);
        uint64_t rlen = 0;
        for (int i = 0; i < 8; i++)
            rlen |= (uint64_t)p[off + i] << (8 * i);
        assert_int_equal(le32(p + off + 8), sq_crc32c_mask(sq_crc32c(0, p + off, 8)));
        assert_true(len - off - 12 >= rlen + 4);
        assert_int_equal(le32(p + off + 12 + rlen),
                         sq_crc32c_mask(sq_crc32c(0, p + off + 12, (size_t)rlen)));
        off += 12 + rlen + 4;
        n++;
    }
    free(data);
    return n;
}

static void test_tfrecord_frame(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/frame", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(sq_tfrecord_write(fp, "hello", 5), 0);
    assert_int_equal(sq_tfrecord_write(fp, "", 0), 0);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(count_records(path), 2);
}

/* The scalars test_tensorboard.sh expects: tag "sq/square" = step^2 / 4 and
 * "sq/neg" = -step - 0.125 at steps 0..9, then "sq/big" = 1e30 at step 1e12. */
static void write_known(const char *where)
{
    sq_tfevents *w = sq_tfevents_open(where);
    assert_non_null(w);
    for (long s = 0; s < 10; s++) {
        assert_int_equal(sq_tfevents_scalar(w, "sq/square", s, s * s / 4.0), 0);
        assert_int_equal(sq_tfevents_scalar(w, "sq/neg", s, -s - 0.125), 0);
    }
    assert_int_equal(sq_tfevents_scalar(w, "sq/big", 1000000000000L, 1e30), 0);
    assert_int_equal(sq_tfevents_flush(w), 0);
    assert_int_equal(count_records(sq_tfevents_path(w)), 1 + 21);
    assert_int_equal(sq_tfevents_close(w), 0);
}

static void test_writer(void **state)
{
    char tb[128];
    snprintf(tb, sizeof tb, "%s/tb", dir);
    write_known(tb);
    const char *keep = getenv("SQ_TFEVENTS_KEEP");
    if (keep && *keep)
        write_known(keep);
}

static void test_names_do_not_collide(void **state)
{
    char tb[128];
    snprintf(tb, sizeof tb, "%s/tb2", dir);
    sq_tfevents *a = sq_tfevents_open(tb), *b = sq_tfevents_open(tb);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(sq_tfevents_path(a), sq_tfevents_path(b));
    assert_non_null(strstr(sq_tfevents_path(a), "/events.out.tfevents."));
    assert_int_equal(count_records(sq_tfevents_path(a)), 1);
    assert_int_equal(sq_tfevents_close(a), 0);
    assert_int_equal(sq_tfevents_close(b), 0);
    assert_int_equal(sq_tfevents_close(NULL), 0);
}

static void test_errors(void **state)
{
    char bad[128];
    snprintf(bad, sizeof bad, "%s/missing/tb", dir);
    assert_null(sq_tfevents_open(bad));
    assert_non_null(strstr(sq_errmsg(), "missing/tb"));

    char tb[128];
    snprintf(tb, sizeof tb, "%s/tb3", dir);
    sq_tfevents *w = sq_tfevents_open(tb);
    assert_non_null(w);
    char tag[SQ_TFEVENTS_MAX_TAG + 2];
    memset(tag, 'x', sizeof tag - 1);
    tag[sizeof tag - 1] = '\0';
    assert_int_equal(sq_tfevents_scalar(w, tag, 1, 1.0), -1);
    assert_non_null(strstr(sq_errmsg(), "tag longer"));
    tag[SQ_TFEVENTS_MAX_TAG] = '\0';
    assert_int_equal(sq_tfevents_scalar(w, tag, 1, 1.0), 0);
    assert_int_equal(sq_tfevents_close(w), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),   cmocka_unit_test(test_crc32c_mask),
        cmocka_unit_test(test_encode_scalar),    cmocka_unit_test(test_encode_negative_step),
        cmocka_unit_test(test_encode_version),   cmocka_unit_test(test_tfrecord_frame),
        cmocka_unit_test(test_writer),           cmocka_unit_test(test_names_do_not_collide),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
