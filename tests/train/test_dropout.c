/* The dropout masks of the CPU layers are the documented function of
 * (seed, step, global sample index, layer, site, element) -- the contract a
 * CUDA kernel or another rank reproduces: hidden-state element t * C + c,
 * attention element (head * max_pos + query) * max_pos + key, independent of
 * the batch's padded length and of the row's position in the batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/layers.h"
#include "sq/philox.h"

static void test_hidden(void **state) {
    enum { B = 3, T = 5, C = 6 };
    float in[B * T * C], out[B * T * C];
    uint32_t sample[B] = {17, 4, 1000003};
    for (int i = 0; i < B * T * C; i++) in[i] = 1.0f + (float)i;
    sq_dropout d = {.seed = 12345, .step = 9, .sample = sample, .layer = 2, .site = SQ_DROP_FFN_OUT, .p = 0.3f,
                    .max_pos = 64};
    dropout_forward(out, in, NULL, &d, B, T, C);
    int dropped = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                int i = (b * T + t) * C + c;
                int keep = sq_dropout_keep(12345, 9, sample[b], 2, SQ_DROP_FFN_OUT, (uint32_t)(t * C + c), 0.3f);
                assert_true(out[i] == (keep ? in[i] * (1.0f / 0.7f) : 0.0f));
                dropped += !keep;
            }
    assert_true(dropped > 0 && dropped < B * T * C);
    /* the same sample in another batch, padded longer, at another row */
    enum { T2 = 7 };
    float in2[2 * T2 * C], out2[2 * T2 * C];
    uint32_t sample2[2] = {99, 4};
    for (int i = 0; i < 2 * T2 * C; i++) in2[i] = 1.0f;
    d.sample = sample2;
    dropout_forward(out2, in2, NULL, &d, 2, T2, C);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            assert_int_equal(out2[(T2 + t) * C + c] != 0.0f, out[(T + t) * C + c] != 0.0f);
}

static void test_attention(void **state) {
    enum { B = 2, T = 6, C = 4, NH = 2, P = 16 };
    float q[B * T * C], k[B * T * C], v[B * T * C], ctx[B * T * C];
    float probs[B * NH * T * T], drop[B * NH * T * T];
    int32_t len[B] = {6, 4};
    uint32_t sample[B] = {3, 8};
    for (int i = 0; i < B * T * C; i++) {
        q[i] = sinf((float)i);
        k[i] = cosf((float)i * 0.7f);
        v[i] = (float)(i % 5);
    }
    sq_dropout d = {.seed = 5, .step = 2, .sample = sample, .layer = 1, .site = SQ_DROP_ATTN_PROBS, .p = 0.4f,
                    .max_pos = P};
    attention_forward(ctx, probs, drop, q, k, v, len, &d, B, T, C, NH);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    size_t x = (((size_t)b * NH + h) * T + i) * T + j;
                    sum += probs[x];
                    if (j >= len[b]) {
                        assert_true(probs[x] == 0.0f && drop[x] == 0.0f);
                        continue;
                    }
                    uint32_t e = (uint32_t)((h * P + i) * P + j);
                    int keep = sq_dropout_keep(5, 2, sample[b], 1, SQ_DROP_ATTN_PROBS, e, 0.4f);
                    assert_true(drop[x] == (keep ? probs[x] * (1.0f / 0.6f) : 0.0f));
                }
                assert_true(fabs(sum - 1.0) < 1e-6);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hidden),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
