/* metrics.jsonl and the TensorBoard files of a run: lines every log_every
 * steps and at the last, optional fields only when nonzero, null for a
 * non-finite loss, eval lines with fractional epochs, a resume cutting both
 * back to its checkpoint's step (no step twice, CRCs intact) after dropping
 * a torn line, a fresh run replacing both, and other ranks writing nothing.  With
 * SQ_METRICS_KEEP=<dir> the run is left in <dir> for test_tensorboard.sh,
 * which checks every TensorBoard value against metrics.jsonl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/metrics.h"
#include "../../shared/src/crc32c.h"
#include "sq/atomic_file.h"
#include "sq/error.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/sq-test-metrics-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    sq_rmtree(dir);
    return 0;
}

static const char *rundir(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    mkdir(p, 0755);
    return p;
}

static sq_step_metrics step_at(long step, long total)
{
    return (sq_step_metrics){
        .step = step,
        .total_steps = total,
        .epoch = step / 4.0,
        .loss = 6.0 / step,
        .lr = 3e-5 * (1 - (double)step / total),
        .grad_norm = 1.0 + step * 0.01,
        .samples_per_s = 12.5 * step,
        .tokens_per_s = 12.5 * step * 384,
    };
}

/* The lines of RUNDIR/metrics.jsonl, parsed; returns how many (at most cap). */
static int read_lines(const char *rd, json_t **lines, int cap)
{
    char path[160];
    snprintf(path, sizeof path, "%s/metrics.jsonl", rd);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char buf[4096];
    int n = 0;
    while (fgets(buf, sizeof buf, fp)) {
        assert_true(n < cap);
        assert_non_null(strchr(buf, '\n'));
        json_error_t e;
        lines[n] = json_loads(buf, 0, &e);
        assert_non_null(lines[n]);
        n++;
    }
    fclose(fp);
    return n;
}

static void free_lines(json_t **lines, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(lines[i]);
}

static int count_event_files(const char *rd)
{
    char path[160];
    snprintf(path, sizeof path, "%s/tb", rd);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strncmp(de->d_name, "events.out.tfevents.", 20) == 0;
    closedir(d);
    return n;
}

static uint64_t varint(const uint8_t *p, size_t *i)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

/* Scalar events at step in RUNDIR/tb/, over every event file, each record's
 * frame and CRCs checked on the way. */
static int events_at(const char *rd, long step)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tb", rd);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0)
            continue;
        snprintf(path, sizeof path, "%s/tb/%s", rd, de->d_name);
        char *buf;
        size_t len;
        assert_int_equal(sq_read_file(path, 1 << 24, &buf, &len), 0);
        const uint8_t *b = (const uint8_t *)buf;
        for (size_t at = 0; at < len;) {
            assert_true(len - at >= 16);
            uint64_t rl = 0;
            for (int i = 7; i >= 0; i--)
                rl = rl << 8 | b[at + i];
            assert_true(rl <= len - at - 16);
            uint32_t hcrc, dcrc;
            memcpy(&hcrc, b + at + 8, 4);
            memcpy(&dcrc, b + at + 12 + rl, 4);
            assert_int_equal(hcrc, sq_crc32c_mask(sq_crc32c(0, b + at, 8)));
            assert_int_equal(dcrc, sq_crc32c_mask(sq_crc32c(0, b + at + 12, rl)));
            const uint8_t *e = b + at + 12;
            long s = 0;
            bool summary = false;
            for (size_t i = 0; i < rl;) {
                uint64_t key = varint(e, &i);
                if ((key & 7) == 0) {
                    uint64_t v = varint(e, &i);
                    if (key >> 3 == 2)
                        s = (long)v;
                } else if ((key & 7) == 1) {
                    i += 8;
                } else {
                    assert_int_equal(key & 7, 2);
                    uint64_t l = varint(e, &i);
                    summary |= key >> 3 == 5;
                    i += l;
                }
            }
            n += summary && s == step;
            at += 16 + rl;
        }
        free(buf);
    }
    closedir(d);
    return n;
}

/* Steps from+1..5 with log_every 2 log steps 2, 4 and the last, 5, which is
 * evaluated too (epoch 1.25). */
static void run_steps(const char *rd, long from)
{
    sq_metrics *m = sq_metrics_open(rd, 0, true, 2, from);
    assert_non_null(m);
    for (long s = from + 1; s <= 5; s++) {
        sq_step_metrics sm = step_at(s, 5);
        if (s == 4) {
            sm.mfu = 0.25;
            sm.comm_bytes = 4.4e8;
            sm.comm_s = 0.125;
            sm.gpu_mem_gib = 10.5;
        }
        assert_int_equal(sq_metrics_step(m, &sm), 0);
    }
    assert_int_equal(sq_metrics_eval(m, 5, 1.25, 80.5, 88.25), 0);
    assert_int_equal(sq_metrics_close(m), 0);
}

static void run_five(const char *rd) { run_steps(rd, 0); }

static void test_lines(void **state)
{
    const char *rd = rundir("lines");
    run_five(rd);
    json_t *l[8];
    int n = read_lines(rd, l, 8);
    assert_int_equal(n, 4);
    static const long steps[] = {2, 4, 5, 5};
    for (int i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(l[i], "step")), steps[i]);
    /* Keys in the documented order. */
    static const char *keys[] = {"step", "epoch", "loss", "lr", "grad_norm", "samples_per_s",
                                 "tokens_per_s", "elapsed_s"};
    const char *key;
    json_t *v;
    int k = 0;
    json_object_foreach(l[0], key, v) {
        assert_true(k < 8);
        assert_string_equal(key, keys[k]);
        k++;
    }
    assert_int_equal(k, 8);
    sq_step_metrics want = step_at(2, 5);
    assert_float_equal(json_real_value(json_object_get(l[0], "loss")), want.loss, 1e-9);
    assert_float_equal(json_real_value(json_object_get(l[0], "lr")), want.lr, 1e-15);
    assert_float_equal(json_real_value(json_object_get(l[0], "tokens_per_s")), want.tokens_per_s,
                       1e-6);
    /* Optional fields only when nonzero. */
    assert_null(json_object_get(l[0], "mfu"));
    assert_float_equal(json_real_value(json_object_get(l[1], "mfu")), 0.25, 0);
    assert_float_equal(json_real_value(json_object_get(l[1], "comm_bytes")), 4.4e8, 0);
    assert_float_equal(json_real_value(json_object_get(l[1], "comm_s")), 0.125, 0);
    assert_float_equal(json_real_value(json_object_get(l[1], "gpu_mem_gib")), 10.5, 0);
    /* The eval line. */
    assert_int_equal(json_object_size(l[3]), 4);
    assert_true(json_real_value(json_object_get(l[3], "epoch")) == 1.25);
    assert_float_equal(json_real_value(json_object_get(l[3], "exact_match")), 80.5, 0);
    assert_float_equal(json_real_value(json_object_get(l[3], "f1")), 88.25, 0);
    free_lines(l, n);
    assert_int_equal(count_event_files(rd), 1);
}

static void test_non_finite(void **state)
{
    const char *rd = rundir("nan");
    sq_metrics *m = sq_metrics_open(rd, 0, true, 1, 0);
    assert_non_null(m);
    sq_step_metrics sm = step_at(1, 2);
    sm.loss = NAN;
    sm.grad_norm = INFINITY;
    assert_int_equal(sq_metrics_step(m, &sm), 0);
    assert_int_equal(sq_metrics_close(m), 0);
    json_t *l[2];
    assert_int_equal(read_lines(rd, l, 2), 1);
    assert_true(json_is_null(json_object_get(l[0], "loss")));
    assert_true(json_is_null(json_object_get(l[0], "grad_norm")));
    free_lines(l, 1);
}

static void test_resume_and_replace(void **state)
{
    const char *rd = rundir("resume");
    run_five(rd);
    /* A crash tore the last line. */
    char path[160];
    snprintf(path, sizeof path, "%s/metrics.jsonl", rd);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs("{\"step\":6,\"epo", fp);
    fclose(fp);
    /* Resumed from a checkpoint of step 3: what steps 4 and 5 wrote goes,
     * and they are logged again, once. */
    json_t *l[16];
    run_steps(rd, 3);
    int n = read_lines(rd, l, 16);
    assert_int_equal(n, 4);
    static const long steps[] = {2, 4, 5, 5};
    for (int i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(l[i], "step")), steps[i]);
    /* elapsed_s goes on from the last line kept. */
    double before = json_real_value(json_object_get(l[0], "elapsed_s"));
    double after = json_real_value(json_object_get(l[1], "elapsed_s"));
    assert_true(after >= before);
    free_lines(l, n);
    for (long s = 1; s <= 5; s++)
        assert_int_equal(events_at(rd, s), s == 5 ? 8 : s == 4 ? 10 : s == 2 ? 6 : 0);
    assert_int_equal(count_event_files(rd), 2);

    /* Resumed at step 1: the first file keeps no scalar and goes. */
    run_steps(rd, 1);
    assert_int_equal(count_event_files(rd), 1);
    for (long s = 1; s <= 5; s++)
        assert_int_equal(events_at(rd, s), s == 5 ? 8 : s == 4 ? 10 : s == 2 ? 6 : 0);

    /* A fresh run in the same RUNDIR replaces both. */
    run_five(rd);
    n = read_lines(rd, l, 16);
    assert_int_equal(n, 4);
    free_lines(l, n);
    assert_int_equal(count_event_files(rd), 1);
}

static void test_resume_without_file(void **state)
{
    const char *rd = rundir("resume-new");
    run_steps(rd, 3);
    json_t *l[8];
    int n = read_lines(rd, l, 8);
    assert_int_equal(n, 3); /* steps 4, 5 and the evaluation */
    free_lines(l, n);
}

static void test_other_ranks_write_nothing(void **state)
{
    const char *rd = rundir("rank1");
    sq_metrics *m = sq_metrics_open(rd, 1, false, 1, 0);
    assert_non_null(m);
    sq_step_metrics sm = step_at(1, 1);
    assert_int_equal(sq_metrics_step(m, &sm), 0);
    assert_int_equal(sq_metrics_eval(m, 1, 1, 1, 1), 0);
    assert_int_equal(sq_metrics_close(m), 0);
    char path[160];
    snprintf(path, sizeof path, "%s/metrics.jsonl", rd);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_event_files(rd), 0);
}

static void test_missing_rundir(void **state)
{
    char path[160];
    snprintf(path, sizeof path, "%s/absent", dir);
    assert_null(sq_metrics_open(path, 0, true, 1, 0));
    assert_non_null(strstr(sq_errmsg(), "absent"));
    assert_int_equal(sq_metrics_close(NULL), 0);
}

static void test_keep(void **state)
{
    const char *keep = getenv("SQ_METRICS_KEEP");
    if (!keep || !*keep)
        skip();
    run_five(keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_resume_and_replace),
        cmocka_unit_test(test_resume_without_file),
        cmocka_unit_test(test_other_ranks_write_nothing),
        cmocka_unit_test(test_missing_rundir),
        cmocka_unit_test(test_keep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
