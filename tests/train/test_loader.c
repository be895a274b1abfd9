/* The data order: an epoch is a permutation drawn from (seed, epoch), the
 * same on every call, different across epochs and seeds; the step count
 * keeps the last partial batch; micro-batches hold at most
 * ceil(batch / (world * accum)) rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader.h"

static void test_epoch_order(void **state) {
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N], d[N];
    sq_epoch_order(42, 0, N, a);
    sq_epoch_order(42, 0, N, b);
    sq_epoch_order(42, 1, N, c);
    sq_epoch_order(43, 0, N, d);
    assert_memory_equal(a, b, sizeof a);
    int seen[N] = {0}, fixed = 0, same_c = 0, same_d = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] < N);
        seen[a[i]]++;
        fixed += a[i] == (uint32_t)i;
        same_c += a[i] == c[i];
        same_d += a[i] == d[i];
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_true(fixed < 10 && same_c < 10 && same_d < 10);
    uint32_t one[1];
    sq_epoch_order(1, 0, 1, one);
    assert_int_equal(one[0], 0);
}

static void test_counts(void **state) {
    assert_int_equal(sq_steps_per_epoch(100, 32), 4);
    assert_int_equal(sq_steps_per_epoch(96, 32), 3);
    assert_int_equal(sq_steps_per_epoch(1, 32), 1);
    sq_loader_cfg c = {.global_batch = 32, .world = 3, .accum = 2};
    assert_int_equal(sq_loader_max_rows(&c), 6);
    c.world = 1;
    c.accum = 1;
    assert_int_equal(sq_loader_max_rows(&c), 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_order),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
