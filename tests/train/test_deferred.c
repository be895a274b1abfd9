/* Deferred step numbers (core/backend.h, SQ_DEVICE_NORM=1): the contract
 * between the optimizer (core/optim.c) and a backend that keeps the loss
 * and the gradient norm on its device.  The CUDA backend implements it (its
 * check is tests/cuda/kernels.cu device_norm, on a GPU); here the CPU
 * backend is given a host implementation of the same contract, so that the
 * optimizer's side is checked on every machine: who turns it on, what
 * sq_optimizer_step hands adamw_clipped, that the deferred steps give the
 * host steps' bits, and how a non-finite norm is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/model.h"
#include "core/optim.h"
#include "sq/error.h"

static const sq_bert_config cfg = {.vocab_size = 29, .hidden = 8, .layers = 2, .heads = 2, .intermediate = 12,
                                   .max_position = 12, .type_vocab = 2, .pad_token_id = 0, .layer_norm_eps = 1e-12,
                                   .initializer_range = 0.3, .hidden_dropout = 0.1, .attention_dropout = 0.1};
enum { B = 3, T = 10 };

/* The contract on the host: what the CUDA backend does on its device. */
static struct {
    double loss_sum, loss, norm, bad_norm;
    long bad_step, calls;
    sq_adamw_args last;
    double last_max_norm;
    int (*cpu_forward)(sq_backend *, const sq_batch *, bool, double *);
} dev;

static int fake_forward(sq_backend *be, const sq_batch *b, bool train, double *loss) {
    double l;
    if (dev.cpu_forward(be, b, train, loss ? &l : NULL)) return -1;
    if (loss && be->deferred) {
        dev.loss_sum += l;
        *loss = NAN;
    } else if (loss) {
        *loss = l;
    }
    return 0;
}

static int fake_adamw_clipped(sq_backend *be, const sq_adamw_args *a, double max_norm) {
    double ss;
    dev.calls++;
    dev.last = *a;
    dev.last_max_norm = max_norm;
    if (be->grad_sumsq(be, 0, be->model->n_params, &ss)) return -1;
    dev.loss = dev.loss_sum;
    dev.loss_sum = 0;
    dev.norm = sqrt(ss);
    if (!isfinite(dev.norm) && !dev.bad_step) dev.bad_step = a->t, dev.bad_norm = dev.norm;
    if (dev.bad_step) return 0;
    sq_adamw_args s = *a;
    s.grad_scale = max_norm > 0 ? sq_clip_coef(dev.norm, max_norm) : 1.0;
    return be->adamw(be, &s, 0, be->model->n_params);
}

static int fake_read(sq_backend *be, double *loss, double *norm, long *bad_step, double *bad_norm) {
    (void)be;
    *loss = dev.loss, *norm = dev.norm, *bad_step = dev.bad_step, *bad_norm = dev.bad_norm;
    return 0;
}

static void fill(sq_batch *b, int k) {
    b->B = B;
    b->T = T;
    for (int r = 0; r < B; r++) {
        b->len[r] = T - (3 * r + k) % 5;
        for (int t = 0; t < T; t++) {
            b->ids[r * T + t] = t < b->len[r] ? 1 + (r * 5 + t * 3 + k) % 28 : 0;
            b->types[r * T + t] = t < b->len[r] && t > 3;
        }
        b->start[r] = 1 + r;
        b->end[r] = 2 + r;
        b->sample[r] = (uint32_t)(B * k + r);
    }
    b->step = (uint32_t)k;
    b->seed = 7;
    b->n_start = b->n_end = 2 * B;
}

static sq_backend *open_fake(sq_model **m) {
    sq_backend *be;
    assert_int_equal(sq_model_new(&cfg, true, m), 0);
    sq_model_init(*m, 3);
    assert_int_equal(sq_backend_cpu_new(*m, B, T, &be), 0);
    memset(&dev, 0, sizeof dev);
    dev.cpu_forward = be->forward;
    be->forward = fake_forward;
    be->adamw_clipped = fake_adamw_clipped;
    be->read_numbers = fake_read;
    return be;
}

/* SQ_DEVICE_NORM=1 turns it on, and only for a backend that offers it. */
static void who_turns_it_on(void **state) {
    (void)state;
    sq_model *m, *m2;
    sq_backend *be = open_fake(&m), *cpu;
    assert_int_equal(sq_model_new(&cfg, true, &m2), 0);
    assert_int_equal(sq_backend_cpu_new(m2, B, T, &cpu), 0);
    unsetenv("SQ_DEVICE_NORM");
    assert_false(sq_backend_defer_numbers(be));
    setenv("SQ_DEVICE_NORM", "0", 1);
    assert_false(sq_backend_defer_numbers(be));
    setenv("SQ_DEVICE_NORM", "1", 1);
    assert_false(sq_backend_defer_numbers(cpu)); /* the CPU backend reads its numbers in place */
    assert_false(cpu->deferred);
    assert_true(sq_backend_defer_numbers(be));
    assert_true(be->deferred);
    unsetenv("SQ_DEVICE_NORM");
    double loss, gn;
    assert_int_not_equal(sq_optimizer_read(cpu, &loss, &gn), 0); /* nothing deferred: nothing to read */
    cpu->free(cpu);
    be->free(be);
    sq_model_free(m);
    sq_model_free(m2);
}

/* Three steps (the second of two micro-batches) with the clip acting:
 * deferred, the step returns no number and hands adamw_clipped the
 * schedule's rate, step t and max_grad_norm; read afterwards, the loss and
 * norm and the parameters are the host steps' bits. */
static void same_bits_as_host_steps(void **state) {
    (void)state;
    sq_optim o;
    sq_optim_defaults(&o);
    o.lr = 1e-2, o.max_grad_norm = 0.1, o.warmup_steps = 1, o.total_steps = 5;
    sq_batch b;
    assert_int_equal(sq_batch_alloc(&b, B, T), 0);
    double loss[2][3], gn[2][3];
    float *params[2];
    for (int deferred = 0; deferred < 2; deferred++) {
        sq_model *m;
        sq_backend *be = open_fake(&m);
        be->deferred = deferred;
        for (long s = 0; s < 3; s++) {
            double l, total = 0, lr;
            assert_int_equal(be->zero_grads(be), 0);
            for (int micro = 0; micro < 1 + (s == 1); micro++) {
                fill(&b, (int)(2 * s + micro));
                assert_int_equal(be->forward(be, &b, true, &l), 0);
                assert_int_equal(be->backward(be, &b, NULL), 0);
                total += l;
            }
            long calls = dev.calls;
            assert_int_equal(sq_optimizer_step(be, &o, s, &lr, &gn[deferred][s]), 0);
            assert_true(lr == sq_lr_at(o.lr, s, o.warmup_steps, o.total_steps));
            loss[deferred][s] = total;
            if (!deferred) {
                assert_int_equal(dev.calls, calls);
                continue;
            }
            assert_true(isnan(total) && isnan(gn[1][s]));
            assert_int_equal(dev.calls, calls + 1);
            assert_int_equal(dev.last.t, s + 1);
            assert_true(dev.last.lr == lr && dev.last.grad_scale == 1.0 && dev.last_max_norm == o.max_grad_norm);
            assert_int_equal(sq_optimizer_read(be, &loss[1][s], &gn[1][s]), 0);
        }
        params[deferred] = malloc(m->n_params * sizeof(float));
        assert_non_null(params[deferred]);
        memcpy(params[deferred], m->params, m->n_params * sizeof(float));
        if (deferred) assert_memory_equal(params[0], params[1], m->n_params * sizeof(float));
        be->free(be);
        sq_model_free(m);
    }
    for (int s = 0; s < 3; s++) {
        assert_true(loss[0][s] == loss[1][s]);
        assert_true(gn[0][s] == gn[1][s]);
        assert_true(gn[0][s] > o.max_grad_norm); /* the clip acted */
    }
    free(params[0]);
    free(params[1]);
    sq_batch_free(&b);
}

/* A non-finite norm: the host step refuses it at once; deferred, the read
 * reports the same error with the step it happened at, and the parameters
 * are those before it. */
static void non_finite_norm_reported_at_its_step(void **state) {
    (void)state;
    sq_optim o;
    sq_optim_defaults(&o);
    o.total_steps = 10;
    sq_batch b;
    assert_int_equal(sq_batch_alloc(&b, B, T), 0);
    sq_model *m;
    sq_backend *be = open_fake(&m);
    double l, lr, gn, loss;
    assert_int_equal(be->zero_grads(be), 0);
    fill(&b, 0);
    assert_int_equal(be->forward(be, &b, true, &l), 0);
    assert_int_equal(be->backward(be, &b, NULL), 0);
    m->grads[5] = INFINITY;
    assert_int_not_equal(sq_optimizer_step(be, &o, 3, &lr, &gn), 0);
    char host_msg[256];
    snprintf(host_msg, sizeof host_msg, "%s", sq_errmsg());
    assert_non_null(strstr(host_msg, "step 4: the gradient norm is not finite"));

    be->deferred = true;
    float *before = malloc(m->n_params * sizeof(float));
    assert_non_null(before);
    memcpy(before, m->params, m->n_params * sizeof(float));
    assert_int_equal(sq_optimizer_step(be, &o, 3, &lr, &gn), 0); /* queued: nothing known yet */
    m->grads[5] = 0.5f;                                           /* a later step is finite again */
    assert_int_equal(sq_optimizer_step(be, &o, 4, &lr, &gn), 0);
    assert_int_not_equal(sq_optimizer_read(be, &loss, &gn), 0);
    assert_string_equal(sq_errmsg(), host_msg); /* the first bad step, as the host said it */
    assert_memory_equal(before, m->params, m->n_params * sizeof(float));
    free(before);
    be->free(be);
    sq_model_free(m);
    sq_batch_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(who_turns_it_on),
        cmocka_unit_test(same_bits_as_host_steps),
        cmocka_unit_test(non_finite_norm_reported_at_its_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
