/* The --profile trace (see trace.h).  Events are kept in memory while a few
 * steps are recorded and written at close as Chrome trace-event JSON
 * ("X" complete events, microseconds; one thread per track), which Perfetto
 * and chrome://tracing open.  The summary groups time by track and family,
 * like torch.profiler's key_averages().table().
 *
 * With CUDA the host phases are also NVTX ranges and each step an NVTX mark,
 * for Nsight Systems users: those are emitted on every step, with or without
 * a trace (a NULL trace), since nsys decides what it records.  Without an
 * attached tool an NVTX call is an empty function. */
#include "report/trace.h"

#include "sq/error.h"
#include "sq/cli.h"
#include "sq/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(SQ_HAVE_CUDA) && defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define SQ_NVTX 1
#endif
#endif

enum { NAME_BYTES = 64, MAX_DEPTH = 32, MAX_TRACKS = 8 };
/* Fixed track numbers: the ones the trainer uses, then steps.  Other track
 * names get the next free numbers. */
enum { TRACK_STEPS, TRACK_HOST, TRACK_GPU, TRACK_COMM, N_FIXED_TRACKS };

typedef struct {
    char name[NAME_BYTES], family[NAME_BYTES];
    int track, layer;
    long step;
    double t0, t1, flops, bytes;
} event;

struct sq_trace {
    char *path;
    long first_step, n_steps;
    double t_open;
    long step;
    double step_t0;
    bool recording;
    /* Spans that start inside [rec_t0, rec_t1) belong to the recorded steps,
     * even when the trainer reports them (from CUDA events) later. */
    double rec_t0, rec_t1;
    struct {
        char phase[NAME_BYTES];
        double t0;
    } stack[MAX_DEPTH];
    int depth;
    char tracks[MAX_TRACKS][NAME_BYTES];
    int n_tracks;
    event *ev;
    size_t n_ev, cap_ev;
    bool out_of_memory;
};

sq_trace *sq_trace_open(const char *path, long first_step, long n_steps)
{
    if (n_steps < 1 || first_step < 0) {
        sq_err("%s: profile steps must be at least 1, from step 0 or later", path);
        return NULL;
    }
    sq_trace *t = sq_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->path = sq_strdup(path);
    if (!t->path) {
        free(t);
        return NULL;
    }
    t->first_step = first_step;
    t->n_steps = n_steps;
    t->t_open = sq_now();
    t->step = -1;
    t->rec_t0 = INFINITY;
    t->rec_t1 = INFINITY;
    static const char *fixed[N_FIXED_TRACKS] = {"steps", "host", "gpu", "comm"};
    for (int i = 0; i < N_FIXED_TRACKS; i++)
        snprintf(t->tracks[i], NAME_BYTES, "%s", fixed[i]);
    t->n_tracks = N_FIXED_TRACKS;
    return t;
}

static double since_open(const sq_trace *t)
{
    return sq_now() - t->t_open;
}

static void add_event(sq_trace *t, int track, const char *name, const char *family, int layer,
                      double t0, double t1, double flops, double bytes)
{
    if (t->n_ev == t->cap_ev) {
        size_t cap = t->cap_ev ? 2 * t->cap_ev : 1024;
        event *ev = realloc(t->ev, cap * sizeof *ev);
        if (!ev) {
            t->out_of_memory = true;
            return;
        }
        t->ev = ev;
        t->cap_ev = cap;
    }
    event *e = &t->ev[t->n_ev++];
    snprintf(e->name, NAME_BYTES, "%s", name);
    snprintf(e->family, NAME_BYTES, "%s", family && *family ? family : name);
    e->track = track;
    e->layer = layer;
    e->step = t->step;
    e->t0 = t0;
    e->t1 = t1 > t0 ? t1 : t0;
    e->flops = flops > 0 ? flops : 0;
    e->bytes = bytes > 0 ? bytes : 0;
}

void sq_trace_step(sq_trace *t, long step)
{
#ifdef SQ_NVTX
    char mark[32];
    snprintf(mark, sizeof mark, "step %ld", step);
    nvtxMarkA(mark);
#endif
    if (!t)
        return;
    double now = since_open(t);
    if (t->recording) {
        char name[NAME_BYTES];
        snprintf(name, sizeof name, "step %ld", t->step);
        add_event(t, TRACK_STEPS, name, "step", -1, t->step_t0, now, 0, 0);
    }
    bool was = t->recording;
    t->recording = step >= t->first_step && step - t->first_step < t->n_steps;
    t->step = step;
    t->step_t0 = now;
    if (t->recording && !was && isinf(t->rec_t0))
        t->rec_t0 = now;
    if (!t->recording && was)
        t->rec_t1 = now;
}

bool sq_trace_recording(const sq_trace *t)
{
    return t && t->recording;
}

double sq_trace_now(const sq_trace *t)
{
    return t ? since_open(t) : 0;
}

void sq_trace_begin(sq_trace *t, const char *phase)
{
#ifdef SQ_NVTX
    nvtxRangePushA(phase);
#endif
    if (!t || !t->recording)
        return;
    /* Deeper nesting than any trainer uses is dropped, not recorded wrongly. */
    if (t->depth < MAX_DEPTH) {
        snprintf(t->stack[t->depth].phase, NAME_BYTES, "%s", phase);
        t->stack[t->depth].t0 = since_open(t);
    }
    t->depth++;
}

/* Ends the innermost phase; phase names it for NVTX and readers, the
 * recorded name is the one begun. */
void sq_trace_end(sq_trace *t, const char *phase)
{
#ifdef SQ_NVTX
    nvtxRangePop();
#endif
    if (!t || t->depth == 0)
        return;
    t->depth--;
    if (t->depth >= MAX_DEPTH)
        return;
    /* A phase begun while recording is kept even if it ends just after. */
    double now = since_open(t);
    const char *begun = t->stack[t->depth].phase;
    add_event(t, TRACK_HOST, begun, begun, -1, t->stack[t->depth].t0, now, 0, 0);
}

static int track_id(sq_trace *t, const char *track)
{
    for (int i = 0; i < t->n_tracks; i++)
        if (strncmp(t->tracks[i], track, NAME_BYTES - 1) == 0)
            return i;
    if (t->n_tracks == MAX_TRACKS)
        return -1;
    snprintf(t->tracks[t->n_tracks], NAME_BYTES, "%s", track);
    return t->n_tracks++;
}

void sq_trace_span(sq_trace *t, const char *track, const char *name, const char *family,
                   int layer, double t0, double t1, double flops, double bytes)
{
    if (!t || !(t0 >= t->rec_t0 && t0 < t->rec_t1))
        return;
    int id = track_id(t, track);
    if (id >= 0)
        add_event(t, id, name, family, layer, t0, t1, flops, bytes);
}

static json_t *meta(const char *what, int tid, json_t *args)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "name", what, "ph", "M", "pid", 1);
    if (o && tid >= 0)
        json_object_set_new(o, "tid", json_integer(tid));
    if (o)
        json_object_set_new(o, "args", args);
    else
        json_decref(args);
    return o;
}

/* The Chrome trace-event document. */
static json_t *to_json(const sq_trace *t)
{
    json_t *events = json_array();
    json_t *doc = json_pack("{s:o, s:s, s:{s:I, s:I}}", "traceEvents", events, "displayTimeUnit",
                            "ms", "otherData", "first_step", (json_int_t)t->first_step,
                            "n_steps", (json_int_t)t->n_steps);
    if (!doc)
        return NULL;
    int ok = json_array_append_new(events, meta("process_name", -1,
                                                json_pack("{s:s}", "name", sq_tool_name())));
    for (int i = 0; i < t->n_tracks; i++) {
        ok |= json_array_append_new(events, meta("thread_name", i,
                                                 json_pack("{s:s}", "name", t->tracks[i])));
        ok |= json_array_append_new(events, meta("thread_sort_index", i,
                                                 json_pack("{s:i}", "sort_index", i)));
    }
    for (size_t i = 0; i < t->n_ev && ok == 0; i++) {
        const event *e = &t->ev[i];
        json_t *args = json_pack("{s:I}", "step", (json_int_t)e->step);
        if (args && strcmp(e->family, e->name) != 0)
            json_object_set_new(args, "family", json_string(e->family));
        if (args && e->layer >= 0)
            json_object_set_new(args, "layer", json_integer(e->layer));
        if (args && e->flops > 0)
            json_object_set_new(args, "flops", json_real(e->flops));
        if (args && e->bytes > 0)
            json_object_set_new(args, "bytes", json_real(e->bytes));
        json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:i, s:o}", "name", e->name, "cat",
                              t->tracks[e->track], "ph", "X", "ts", e->t0 * 1e6, "dur",
                              (e->t1 - e->t0) * 1e6, "pid", 1, "tid", e->track, "args", args);
        ok |= json_array_append_new(events, o);
    }
    if (ok != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

typedef struct {
    int track;
    const char *family;
    long calls;
    double total, flops, bytes;
} family_sum;

static int by_track_then_total(const void *a, const void *b)
{
    const family_sum *x = a, *y = b;
    if (x->track != y->track)
        return x->track - y->track;
    return (x->total < y->total) - (x->total > y->total);
}

/* The summary table on stderr. */
static int print_summary(const sq_trace *t)
{
    double step_total = 0;
    long steps = 0;
    family_sum *sums = calloc(t->n_ev ? t->n_ev : 1, sizeof *sums);
    if (!sums)
        return sq_err("%s: out of memory for the summary", t->path);
    size_t n = 0;
    for (size_t i = 0; i < t->n_ev; i++) {
        const event *e = &t->ev[i];
        if (e->track == TRACK_STEPS) {
            step_total += e->t1 - e->t0;
            steps++;
            continue;
        }
        size_t k = 0;
        while (k < n && !(sums[k].track == e->track && strcmp(sums[k].family, e->family) == 0))
            k++;
        if (k == n)
            sums[n++] = (family_sum){.track = e->track, .family = e->family};
        sums[k].calls++;
        sums[k].total += e->t1 - e->t0;
        sums[k].flops += e->flops;
        sums[k].bytes += e->bytes;
    }
    qsort(sums, n, sizeof *sums, by_track_then_total);
    fprintf(stderr, "%s: profile of %ld step%s", sq_tool_name(), steps, steps == 1 ? "" : "s");
    if (steps > 0)
        fprintf(stderr, ", %.3f ms per step", 1e3 * step_total / steps);
    fprintf(stderr, " (trace: %s)\n", t->path);
    fprintf(stderr, "%-6s %-24s %8s %11s %10s %7s %9s %9s\n", "track", "family", "calls",
            "total ms", "mean ms", "% step", "TFLOP/s", "GB/s");
    for (size_t k = 0; k < n; k++) {
        const family_sum *s = &sums[k];
        char share[16] = "-", tflops[16] = "-", gbps[16] = "-";
        if (step_total > 0)
            snprintf(share, sizeof share, "%.1f%%", 100 * s->total / step_total);
        if (s->flops > 0 && s->total > 0)
            snprintf(tflops, sizeof tflops, "%.2f", s->flops / s->total / 1e12);
        if (s->bytes > 0 && s->total > 0)
            snprintf(gbps, sizeof gbps, "%.1f", s->bytes / s->total / 1e9);
        fprintf(stderr, "%-6s %-24.24s %8ld %11.3f %10.4f %7s %9s %9s\n", t->tracks[s->track],
                s->family, s->calls, 1e3 * s->total, 1e3 * s->total / s->calls, share, tflops,
                gbps);
    }
    free(sums);
    return 0;
}

int sq_trace_close(sq_trace *t)
{
    if (!t)
        return 0;
    if (t->recording)
        sq_trace_step(t, t->first_step + t->n_steps);
    int rc = 0;
    if (t->out_of_memory) {
        rc = sq_err("%s: out of memory while recording", t->path);
    } else {
        json_t *doc = to_json(t);
        if (!doc)
            rc = sq_err("%s: out of memory building the trace", t->path);
        else
            rc = sq_json_save(t->path, doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (rc == 0)
            rc = print_summary(t);
    }
    free(t->ev);
    free(t->path);
    free(t);
    return rc;
}
