/* Where a training run reports (see metrics.h): metrics.jsonl, TensorBoard
 * scalars and the progress display.  Only rank 0 reports; other ranks get a
 * handle that does nothing, since all ranks share one RUNDIR.
 *
 * Each metrics.jsonl line also carries "elapsed_s", the training seconds so
 * far (continued across a resume), which the report uses for training time.
 * A resume first cuts both files back to the checkpoint's step, so that no
 * step is reported twice. */
#include "report/metrics.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"
#include "sq/progress.h"
#include "sq/tfevents.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sq_metrics {
    bool active;          /* rank 0 */
    char *jsonl_path;
    FILE *jsonl;
    sq_tfevents *tb;
    sq_progress *progress;
    int log_every;
    double t_open, elapsed_before; /* elapsed_s continues from the resumed run */
};

/* Files of a run's metrics are at most this large (a line every step of a
 * million-step run is ~250 MB). */
#define MAX_METRICS ((size_t)1 << 31)

/* A resumed run continues from its checkpoint's step: metrics.jsonl keeps
 * its complete lines of steps <= keep (none for a fresh run), so that no
 * step is there twice, and *elapsed is the elapsed_s of the last one kept
 * (0 if none).  A line torn by a crash is dropped. */
static int trim_jsonl(const char *path, long keep, double *elapsed)
{
    *elapsed = 0;
    char *buf;
    size_t n;
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : sq_err_sys("%s", path);
    if (sq_read_file(path, MAX_METRICS, &buf, &n) != 0)
        return -1;
    size_t out = 0;
    bool dropped = false;
    for (size_t at = 0; at < n;) {
        char *nl = memchr(buf + at, '\n', n - at);
        if (!nl) {
            dropped = true; /* torn */
            break;
        }
        size_t len = (size_t)(nl - (buf + at)) + 1;
        json_t *j = json_loadb(buf + at, len - 1, 0, NULL);
        json_t *step = json_object_get(j, "step"), *e = json_object_get(j, "elapsed_s");
        if (json_is_integer(step) && json_integer_value(step) <= keep) {
            if (json_is_number(e))
                *elapsed = json_number_value(e);
            memmove(buf + out, buf + at, len);
            out += len;
        } else {
            dropped = true;
        }
        json_decref(j);
        at += len;
    }
    int rc = dropped ? sq_write_file_atomic(path, buf, out) : 0;
    free(buf);
    return rc;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *i < n; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* An Event's step (field 2) and whether it holds a summary (field 5), as
 * sq_tfevents writes them; -1 if it does not parse. */
static int event_step(const uint8_t *p, size_t n, long *step, bool *summary)
{
    *step = 0;
    *summary = false;
    for (size_t i = 0; i < n;) {
        uint64_t key, v;
        if (varint(p, n, &i, &key))
            return -1;
        switch (key & 7) {
        case 0:
            if (varint(p, n, &i, &v))
                return -1;
            if (key >> 3 == 2)
                *step = (long)(int64_t)v;
            break;
        case 1:
            if (n - i < 8)
                return -1;
            i += 8;
            break;
        case 2:
            if (varint(p, n, &i, &v) || v > n - i)
                return -1;
            *summary |= key >> 3 == 5;
            i += v;
            break;
        case 5:
            if (n - i < 4)
                return -1;
            i += 4;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* The TensorBoard side of trim_jsonl: each event file in dir keeps its
 * records (copied as they are, CRCs and all) of steps <= keep; a file left
 * with no scalar is removed.  Records after a torn one are dropped. */
static int trim_event_file(const char *path, long keep)
{
    char *buf;
    size_t n;
    if (sq_read_file(path, MAX_METRICS, &buf, &n) != 0)
        return -1;
    const uint8_t *b = (const uint8_t *)buf;
    size_t out = 0, at = 0;
    long scalars = 0;
    while (n - at >= 16) {
        uint64_t len = get_u64(b + at);
        if (len > n - at - 16)
            break;
        long step;
        bool summary;
        if (event_step(b + at + 12, (size_t)len, &step, &summary))
            break;
        size_t rec = 16 + (size_t)len;
        if (step <= keep) {
            memmove(buf + out, buf + at, rec);
            out += rec;
            scalars += summary;
        }
        at += rec;
    }
    int rc = 0;
    if (scalars == 0) {
        if (unlink(path) != 0)
            rc = sq_err_sys("%s", path);
    } else if (out != n) {
        rc = sq_write_file_atomic(path, buf, out);
    }
    free(buf);
    return rc;
}

static int trim_events(const char *dir, long keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : sq_err_sys("%s", dir);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        rc = trim_event_file(path, keep);
    }
    closedir(d);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = sq_malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void metrics_free(sq_metrics *m)
{
    if (m->jsonl)
        fclose(m->jsonl);
    sq_tfevents_close(m->tb);
    sq_progress_close(m->progress);
    free(m->jsonl_path);
    free(m);
}

sq_metrics *sq_metrics_open(const char *rundir, int rank, bool quiet, int log_every, long from_step)
{
    sq_metrics *m = sq_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->log_every = log_every > 0 ? log_every : 1;
    m->t_open = sq_now();
    if (rank != 0)
        return m;
    m->active = true;
    char *tbdir = join(rundir, "tb");
    m->jsonl_path = join(rundir, "metrics.jsonl");
    if (!tbdir || !m->jsonl_path)
        goto fail;
    if (trim_jsonl(m->jsonl_path, from_step, &m->elapsed_before) != 0 ||
        trim_events(tbdir, from_step) != 0)
        goto fail;
    m->jsonl = fopen(m->jsonl_path, "a");
    if (!m->jsonl) {
        sq_err_sys("%s", m->jsonl_path);
        goto fail;
    }
    m->tb = sq_tfevents_open(tbdir);
    if (!m->tb)
        goto fail;
    m->progress = sq_progress_open(stderr, quiet ? SQ_PROGRESS_OFF : SQ_PROGRESS_AUTO, "step", 0,
                                   m->log_every);
    if (!m->progress)
        goto fail;
    free(tbdir);
    return m;
fail:
    free(tbdir);
    metrics_free(m);
    return NULL;
}

/* One reported value: its metrics.jsonl key and TensorBoard tag (NULL: none);
 * optional ones are left out while zero (unknown). */
typedef struct {
    const char *key, *tag;
    double value;
    bool optional;
} field;

/* Appends the fields to line (which holds the integer keys already) and
 * writes it to metrics.jsonl, then the tagged fields to TensorBoard.  JSON has
 * no NaN or infinity: a diverged loss is written as null. */
static int write_fields(sq_metrics *m, json_t *line, long step, const field *f, int n)
{
    int bad = line == NULL;
    for (int i = 0; i < n && !bad; i++) {
        if (f[i].optional && f[i].value == 0)
            continue;
        bad |= json_object_set_new(line, f[i].key,
                                   isfinite(f[i].value) ? json_real(f[i].value) : json_null());
    }
    if (bad) {
        json_decref(line);
        return sq_err("%s: out of memory", m->jsonl_path);
    }
    int rc = 0;
    if (json_dumpf(line, m->jsonl, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0 ||
        fputc('\n', m->jsonl) == EOF || fflush(m->jsonl) != 0)
        rc = sq_err_sys("%s", m->jsonl_path);
    json_decref(line);
    for (int i = 0; i < n && rc == 0; i++)
        if (f[i].tag && !(f[i].optional && f[i].value == 0))
            rc = sq_tfevents_scalar(m->tb, f[i].tag, step, f[i].value);
    return rc == 0 ? sq_tfevents_flush(m->tb) : rc;
}

static void show_progress(sq_metrics *m, const sq_step_metrics *s)
{
    if (sq_progress_get_mode(m->progress) == SQ_PROGRESS_OFF)
        return;
    char status[256];
    int n = snprintf(status, sizeof status, "ep %.2f loss %.4f lr %.2e | %.1f samples/s ",
                     s->epoch, s->loss, s->lr, s->samples_per_s);
    if (s->tokens_per_s >= 1e4)
        n += snprintf(status + n, sizeof status - n, "%.1fk tok/s", s->tokens_per_s / 1e3);
    else
        n += snprintf(status + n, sizeof status - n, "%.0f tok/s", s->tokens_per_s);
    if (s->mfu > 0)
        n += snprintf(status + n, sizeof status - n, " | MFU %.1f%%", 100 * s->mfu);
    if (s->gpu_mem_gib > 0)
        snprintf(status + n, sizeof status - n, " %.1f GiB", s->gpu_mem_gib);
    sq_progress_set_total(m->progress, s->total_steps);
    sq_progress_update(m->progress, s->step, status);
}

int sq_metrics_step(sq_metrics *m, const sq_step_metrics *s)
{
    if (!m->active)
        return 0;
    show_progress(m, s);
    if (s->step % m->log_every != 0 && s->step != s->total_steps)
        return 0;
    const field f[] = {
        {"epoch", "train/epoch", s->epoch, false},
        {"loss", "train/loss", s->loss, false},
        {"lr", "train/lr", s->lr, false},
        {"grad_norm", "train/grad_norm", s->grad_norm, false},
        {"samples_per_s", "perf/samples_per_s", s->samples_per_s, false},
        {"tokens_per_s", "perf/tokens_per_s", s->tokens_per_s, false},
        {"mfu", "perf/mfu", s->mfu, true},
        {"comm_bytes", "comm/bytes", s->comm_bytes, true},
        {"comm_s", "comm/seconds", s->comm_s, true},
        {"gpu_mem_gib", "perf/gpu_mem_gib", s->gpu_mem_gib, true},
        {"elapsed_s", NULL, m->elapsed_before + (sq_now() - m->t_open), false},
    };
    json_t *line = json_pack("{s:I}", "step", (json_int_t)s->step);
    return write_fields(m, line, s->step, f, (int)(sizeof f / sizeof f[0]));
}

int sq_metrics_eval(sq_metrics *m, long step, double epoch, double exact_match, double f1)
{
    if (!m->active)
        return 0;
    /* The trainer reports the evaluation on stderr: its line must not land
     * after a half-drawn bar. */
    sq_progress_clear(m->progress);
    const field f[] = {
        {"epoch", NULL, epoch, false},
        {"exact_match", "eval/exact_match", exact_match, false},
        {"f1", "eval/f1", f1, false},
    };
    json_t *line = json_pack("{s:I}", "step", (json_int_t)step);
    return write_fields(m, line, step, f, 3);
}

int sq_metrics_close(sq_metrics *m)
{
    if (!m)
        return 0;
    int rc = 0;
    if (m->jsonl && fclose(m->jsonl) != 0)
        rc = sq_err_sys("%s", m->jsonl_path);
    m->jsonl = NULL;
    if (sq_tfevents_close(m->tb) != 0 && rc == 0)
        rc = -1;
    m->tb = NULL;
    metrics_free(m);
    return rc;
}
