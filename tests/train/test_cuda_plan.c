/* The CUDA backend's activation plan (train/cuda/cuda_backend.cu plan(),
 * through sq_cuda_plan_bytes, which needs no GPU): SQ_MEM_PLAN=1, the
 * first row of docs/cuda.md's memory plan, makes the fp32 LayerNorm outputs
 * h0, h1, h2 of every layer two shared buffers where no backward reads them
 * (bf16 training, inference) and changes nothing in fp32 training.  The GPU
 * check (tests/cuda/kernels.cu backend) compares the same numbers with what
 * the backend allocates, and its results with the default's bits.  Skipped
 * in a build without the CUDA backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda/cuda_backend.h"

static const sq_bert_config bert_base = {30522, 768, 12, 12, 3072, 512, 2, 0, 1e-12, 0.02, 0.1, 0.1};
static const sq_bert_config small = {1000, 128, 2, 2, 512, 96, 2, 0, 1e-12, 0.02, 0.1, 0.1};

/* bytes(default) - bytes(SQ_MEM_PLAN=1) for one configuration */
static long long saved(const sq_bert_config *c, int B, int T, int bf16, int train) {
    size_t a = sq_cuda_plan_bytes(c, B, T, bf16, train, 0), b = sq_cuda_plan_bytes(c, B, T, bf16, train, 1);
    assert_true(a > 0 && b > 0);
    return (long long)a - (long long)b;
}

static void first_row_of_the_plan(void **state) {
    (void)state;
    const sq_bert_config *cfgs[2] = {&bert_base, &small};
    int shapes[3][2] = {{32, 384}, {4, 80}, {3, 48}};
    for (int i = 0; i < 2; i++) {
        for (int s = 0; s < 3; s++) {
            const sq_bert_config *c = cfgs[i];
            int B = shapes[s][0], T = shapes[s][1];
            /* an N x C fp32 tensor, N = B x T: 2L - 1 of them (2L + 1 outputs in two buffers) */
            long long nc4 = (long long)B * T * c->hidden * 4, want = (2LL * c->layers - 1) * nc4;
            assert_int_equal(saved(c, B, T, 1, 1), want);
            assert_int_equal(saved(c, B, T, 1, 0), want);
            assert_int_equal(saved(c, B, T, 0, 0), want);
            assert_int_equal(saved(c, B, T, 0, 1), 0); /* fp32 backward reads the fp32 outputs */
        }
    }
    /* BERT-base at 32 x 384: 23 x 36 MiB */
    long long s = saved(&bert_base, 32, 384, 1, 1);
    printf("SQ_MEM_PLAN=1 at 32 x 384, bf16 training: %lld bytes = %.3f GiB less of %.3f GiB\n", s,
           s / 1073741824.0, sq_cuda_plan_bytes(&bert_base, 32, 384, 1, 1, 0) / 1073741824.0);
}

int main(void) {
    if (!sq_cuda_plan_bytes) {
        printf("SKIP: built without the CUDA backend\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(first_row_of_the_plan)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
