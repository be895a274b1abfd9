/* Where a training run reports (see metrics.h): metrics.jsonl, TensorBoard
 * scalars and the progress display.  Only rank 0 reports; other ranks get a
 * handle that does nothing, since all ranks share one RUNDIR.
 *
 * Each metrics.jsonl line also carries "elapsed_s", the training seconds so
 * far (continued across a resume), which the report uses for training time. */
#include "report/metrics.h"

#include "sq/cli.h"
#include "sq/error.h"
#include "sq/progress.h"
#include "sq/tfevents.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
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

/* Keeps lines complete after a crash: drops a partial last line, and
 * returns the elapsed_s of the last complete one (0 if none). */
static int repair_jsonl(const char *path, double *elapsed)
{
    *elapsed = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return errno == ENOENT ? 0 : sq_err_sys("%s", path);
    /* Only the tail matters: the last line is short. */
    char tail[4096];
    if (fseeko(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return sq_err_sys("%s", path);
    }
    off_t size = ftello(fp);
    off_t start = size > (off_t)sizeof tail - 1 ? size - (off_t)(sizeof tail - 1) : 0;
    size_t n = 0;
    if (fseeko(fp, start, SEEK_SET) == 0)
        n = fread(tail, 1, (size_t)(size - start), fp);
    int read_err = ferror(fp);
    fclose(fp);
    if (read_err || n != (size_t)(size - start))
        return sq_err_sys("%s", path);
    tail[n] = '\0';
    size_t keep = n;
    while (keep > 0 && tail[keep - 1] != '\n')
        keep--;
    if (keep == 0 && start > 0)
        return sq_err("%s: last line longer than %zu bytes", path, sizeof tail);
    if (keep < n && truncate(path, start + (off_t)keep) != 0)
        return sq_err_sys("%s", path);
    /* The newest line with elapsed_s (eval lines have none). */
    tail[keep] = '\0';
    while (keep > 0) {
        tail[keep - 1] = '\0';
        char *nl = strrchr(tail, '\n');
        char *line = nl ? nl + 1 : tail;
        json_t *j = json_loads(line, 0, NULL);
        json_t *e = json_object_get(j, "elapsed_s");
        bool found = json_is_number(e);
        if (found)
            *elapsed = json_number_value(e);
        json_decref(j);
        if (found || !nl)
            break;
        keep = (size_t)(nl - tail) + 1;
    }
    return 0;
}

/* A fresh run replaces the event files of an earlier one in RUNDIR/tb (and
 * nothing else there). */
static int remove_event_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : sq_err_sys("%s", dir);
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0) {
            rc = sq_err_sys("%s", path);
            break;
        }
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

sq_metrics *sq_metrics_open(const char *rundir, int rank, bool quiet, int log_every, bool resume)
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
    if (resume) {
        if (repair_jsonl(m->jsonl_path, &m->elapsed_before) != 0)
            goto fail;
    } else if (remove_event_files(tbdir) != 0) {
        goto fail;
    }
    m->jsonl = fopen(m->jsonl_path, resume ? "a" : "w");
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

int sq_metrics_eval(sq_metrics *m, long step, int epoch, double exact_match, double f1)
{
    if (!m->active)
        return 0;
    /* The trainer reports the evaluation on stderr: its line must not land
     * after a half-drawn bar. */
    sq_progress_clear(m->progress);
    const field f[] = {
        {"exact_match", "eval/exact_match", exact_match, false},
        {"f1", "eval/f1", f1, false},
    };
    json_t *line = json_pack("{s:I, s:i}", "step", (json_int_t)step, "epoch", epoch);
    return write_fields(m, line, step, f, 2);
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
