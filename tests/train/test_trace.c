/* The --profile trace: only the recorded steps' phases and spans are kept,
 * trace.json is Chrome trace-event JSON with one thread per track, the
 * summary on stderr has per-family rows with TFLOP/s and GB/s, a NULL trace
 * is a no-op, and a failed write is reported.  With SQ_TRACE_KEEP=<path> the
 * trace is also written there for test_report.sh's jq checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/json.h"
#include "report/trace.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/sq-test-trace-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    sq_rmtree(dir);
    return 0;
}

/* sq_trace_close with stderr (where the summary goes) caught in
 * dir/name: its return code, and the text in *text (malloc'd). */
static int close_capturing(sq_trace *t, const char *name, char **text)
{
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/%s", dir, name);
    fflush(stderr);
    int saved = dup(2), fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = sq_trace_close(t);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    assert_int_equal(sq_read_file(errpath, 1 << 20, text, &len), 0);
    return rc;
}

/* Seven steps, 2..4 recorded.  Every step has five host phases (comm nested
 * in backward), two GPU matmuls of 2 GFLOP in 1 ms and one all-reduce of
 * 100 MB in 10 ms; one span before recording must be dropped. */
static int record(const char *path, char *summary, size_t cap)
{
    double t_open = sq_now();
    sq_trace *t = sq_trace_open(path, 2, 3);
    assert_non_null(t);
    sq_trace_span(t, "gpu", "early", "matmul", 0, 0.0, 0.001, 2e9, 0);
    for (long s = 0; s < 7; s++) {
        sq_trace_step(t, s);
        assert_int_equal(sq_trace_recording(t), s >= 2 && s <= 4);
        sq_trace_begin(t, "data");
        sq_trace_end(t, "data");
        sq_trace_begin(t, "forward");
        double now = sq_now() - t_open;
        sq_trace_span(t, "gpu", "layer0.qkv", "matmul", 0, now, now + 0.001, 2e9, 0);
        sq_trace_span(t, "gpu", "layer1.qkv", "matmul", 1, now, now + 0.001, 2e9, 0);
        sq_trace_end(t, "forward");
        sq_trace_begin(t, "backward");
        sq_trace_begin(t, "comm");
        now = sq_now() - t_open;
        sq_trace_span(t, "comm", "allreduce bucket 0", "allreduce", -1, now, now + 0.01, 0, 1e8);
        sq_trace_end(t, "comm");
        sq_trace_end(t, "backward");
        sq_trace_begin(t, "optimizer");
        sq_trace_end(t, "optimizer");
    }
    char *text;
    int rc = close_capturing(t, "stderr", &text);
    snprintf(summary, cap, "%s", text);
    free(text);
    return rc;
}

static int count_events(json_t *events, const char *ph, int tid, const char *name)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "ph")), ph) != 0)
            continue;
        if (tid >= 0 && json_integer_value(json_object_get(e, "tid")) != tid)
            continue;
        if (name && strcmp(json_string_value(json_object_get(e, "name")), name) != 0)
            continue;
        n++;
    }
    return n;
}

static const char *line_of(const char *text, const char *word)
{
    static char line[256];
    const char *p = strstr(text, word);
    assert_non_null(p);
    while (p > text && p[-1] != '\n')
        p--;
    size_t n = strcspn(p, "\n");
    snprintf(line, sizeof line, "%.*s", (int)n, p);
    return line;
}

static void test_trace(void **state)
{
    char path[128], summary[4096];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    assert_int_equal(record(path, summary, sizeof summary), 0);
    json_t *doc = sq_json_load(path);
    assert_non_null(doc);
    json_t *events = json_object_get(doc, "traceEvents");
    assert_true(json_is_array(events));
    /* Tracks 0..3: steps, host, gpu, comm. */
    assert_int_equal(count_events(events, "M", -1, "thread_name"), 4);
    assert_int_equal(count_events(events, "X", 0, NULL), 3);
    assert_int_equal(count_events(events, "X", 0, "step 2"), 1);
    assert_int_equal(count_events(events, "X", 0, "step 4"), 1);
    assert_int_equal(count_events(events, "X", 1, NULL), 15);
    assert_int_equal(count_events(events, "X", 1, "comm"), 3);
    assert_int_equal(count_events(events, "X", 2, NULL), 6);
    assert_int_equal(count_events(events, "X", 2, "early"), 0);
    assert_int_equal(count_events(events, "X", 3, NULL), 3);
    /* A GPU event carries its family, layer and work. */
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        if (json_integer_value(json_object_get(e, "tid")) != 2 ||
            strcmp(json_string_value(json_object_get(e, "ph")), "X") != 0)
            continue;
        json_t *args = json_object_get(e, "args");
        assert_string_equal(json_string_value(json_object_get(args, "family")), "matmul");
        assert_float_equal(json_real_value(json_object_get(args, "flops")), 2e9, 0);
        assert_float_equal(json_real_value(json_object_get(e, "dur")), 1000, 1e-6);
        long step = json_integer_value(json_object_get(args, "step"));
        assert_true(step >= 2 && step <= 4);
    }
    json_decref(doc);

    assert_non_null(strstr(summary, "profile of 3 steps"));
    assert_non_null(strstr(summary, "TFLOP/s"));
    const char *mm = line_of(summary, "matmul");
    assert_non_null(strstr(mm, " 6 "));
    assert_non_null(strstr(mm, " 2.00 "));
    const char *ar = line_of(summary, "allreduce");
    assert_non_null(strstr(ar, " 10.0"));
    assert_non_null(strstr(line_of(summary, "forward"), "host"));

    const char *keep = getenv("SQ_TRACE_KEEP");
    if (keep && *keep)
        assert_int_equal(record(keep, summary, sizeof summary), 0);
}

/* The CUDA backend reports a step's kernels after a sync, on the trace's
 * clock (sq_trace_now): a span starting inside the recorded steps is kept
 * even when reported after recording stopped, one starting later is not,
 * and a memory-bound family gets GB/s in the summary. */
static void test_late_gpu_spans(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/late.json", dir);
    sq_trace *t = sq_trace_open(path, 1, 1);
    assert_non_null(t);
    assert_true(sq_trace_now(NULL) == 0);
    double a = sq_trace_now(t);
    assert_true(a >= 0);
    sq_trace_step(t, 0);
    sq_trace_step(t, 1);
    double t0 = sq_trace_now(t);
    assert_true(t0 >= a);
    sq_trace_step(t, 2);
    double after = sq_trace_now(t) + 1;
    sq_trace_span(t, "gpu", "layer 0 attention layernorm", "layernorm", 0, t0, t0 + 0.002, 0, 4e6);
    sq_trace_span(t, "gpu", "layer 0 output layernorm", "layernorm", 0, after, after + 0.002, 0, 4e6);
    char *text;
    assert_int_equal(close_capturing(t, "late.err", &text), 0);
    const char *ln = line_of(text, "layernorm");
    assert_non_null(strstr(ln, "gpu"));
    assert_non_null(strstr(ln, " 1 "));   /* one call kept */
    size_t n = strlen(ln); /* GB/s, the last column: 4 MB in 2 ms */
    assert_true(n > 4 && strcmp(ln + n - 4, " 2.0") == 0);
    free(text);
    json_t *doc = sq_json_load(path);
    assert_non_null(doc);
    json_t *events = json_object_get(doc, "traceEvents");
    assert_int_equal(count_events(events, "X", 2, "layer 0 attention layernorm"), 1);
    assert_int_equal(count_events(events, "X", 2, "layer 0 output layernorm"), 0);
    json_decref(doc);
}

static void test_null_trace(void **state)
{
    sq_trace_step(NULL, 1);
    sq_trace_begin(NULL, "forward");
    sq_trace_end(NULL, "forward");
    sq_trace_span(NULL, "gpu", "k", "f", 0, 0, 1, 1, 1);
    assert_false(sq_trace_recording(NULL));
    assert_int_equal(sq_trace_close(NULL), 0);
}

static void test_errors(void **state)
{
    assert_null(sq_trace_open("x.json", 0, 0));
    assert_non_null(strstr(sq_errmsg(), "x.json"));
    char path[128], summary[4096];
    snprintf(path, sizeof path, "%s/no/such/dir/trace.json", dir);
    assert_int_equal(record(path, summary, sizeof summary), -1);
    assert_non_null(strstr(sq_errmsg(), "no/such/dir"));
}

static void test_unbalanced(void **state)
{
    /* Ends without begins, a phase left open, recording that never starts:
     * nothing crashes and the trace is still written. */
    char path[128];
    snprintf(path, sizeof path, "%s/odd.json", dir);
    sq_trace *t = sq_trace_open(path, 0, 1);
    assert_non_null(t);
    sq_trace_end(t, "forward");
    sq_trace_step(t, 0);
    sq_trace_end(t, "forward");
    sq_trace_begin(t, "forward");
    for (int i = 0; i < 100; i++)
        sq_trace_begin(t, "deep");
    for (int i = 0; i < 100; i++)
        sq_trace_end(t, "deep");
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = sq_trace_close(t);
    dup2(saved, 2);
    close(saved);
    close(null);
    assert_int_equal(rc, 0);
    json_t *doc = sq_json_load(path);
    assert_non_null(doc);
    json_decref(doc);
}

int main(void)
{
    sq_tool_init("sq-train");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_late_gpu_spans),
        cmocka_unit_test(test_null_trace),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unbalanced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
