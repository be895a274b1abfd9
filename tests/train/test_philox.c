/* Philox4x32-10 against the known-answer vectors of Random123 (kat_vectors),
 * and the dropout keying built on it: the keep rate is 1 - p, and masks
 * differ by step, sample, layer, site and element. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sq/philox.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1, uint32_t r0,
                uint32_t r1, uint32_t r2, uint32_t r3) {
    sq_philox_ctr c = {{c0, c1, c2, c3}};
    sq_philox_ctr r = sq_philox4x32_10(c, k0, k1);
    assert_int_equal(r.v[0], r0);
    assert_int_equal(r.v[1], r1);
    assert_int_equal(r.v[2], r2);
    assert_int_equal(r.v[3], r3);
}

static void test_known_answers(void **state) {
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
        0xa20bc7c6, 0x6d5451fd);
    kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
        0x5001e420, 0x24126ea1);
}

static void test_keep_rate(void **state) {
    const float p = 0.1f;
    int kept = 0, n = 200000;
    for (int e = 0; e < n; e++) kept += sq_dropout_keep(42, 7, 3, 1, SQ_DROP_ATTN_OUT, (uint32_t)e, p);
    double rate = (double)kept / n;
    assert_true(rate > 0.897 && rate < 0.903);
    assert_true(sq_dropout_keep(42, 7, 3, 1, SQ_DROP_ATTN_OUT, 5, 0.0f));
}

/* Masks of 4096 elements that differ in one key part agree on about
 * p^2 + (1-p)^2 of the elements, never on all of them. */
static void test_keys_independent(void **state) {
    const float p = 0.5f;
    const uint32_t base[5] = {7, 3, 1, SQ_DROP_FFN_OUT, 0};
    for (int part = 0; part < 5; part++) {
        int same = 0;
        for (uint32_t e = 0; e < 4096; e++) {
            uint32_t k[5] = {base[0], base[1], base[2], base[3], e};
            uint32_t j[5] = {base[0], base[1], base[2], base[3], e};
            if (part < 4) j[part] += 1;
            else j[4] = e + 4096;
            same += sq_dropout_keep(1, k[0], k[1], k[2], k[3], k[4], p) ==
                    sq_dropout_keep(1, j[0], j[1], j[2], j[3], j[4], p);
        }
        assert_true(same > 1800 && same < 2300);
    }
    int same = 0;
    for (uint32_t e = 0; e < 4096; e++)
        same += sq_dropout_keep(1, 7, 3, 1, 2, e, p) == sq_dropout_keep(2, 7, 3, 1, 2, e, p);
    assert_true(same > 1800 && same < 2300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_keep_rate),
        cmocka_unit_test(test_keys_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
