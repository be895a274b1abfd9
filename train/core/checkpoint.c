#include "core/checkpoint.h"

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/json.h"
#include "sq/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEEP 2

static int ensure_dir(const char *path) {
    if (mkdir(path, 0755) && errno != EEXIST) return sq_err_sys("%s", path);
    return 0;
}

/* step-NNNNNNNN exactly: anything else (temporaries) is not a checkpoint. */
static long step_of(const char *name) {
    if (strncmp(name, "step-", 5) || strlen(name) != 13) return -1;
    long s = 0;
    for (int i = 5; i < 13; i++) {
        if (name[i] < '0' || name[i] > '9') return -1;
        s = s * 10 + (name[i] - '0');
    }
    return s;
}

static int newest_first(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Steps of the complete checkpoints in dir, newest first (*steps malloc'd). */
static int list(const char *dir, long **steps, size_t *n) {
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : sq_err_sys("%s", dir);
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        long s = step_of(e->d_name);
        if (s < 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            long *t = sq_realloc(*steps, cap * sizeof *t);
            if (!t) {
                rc = -1;
                break;
            }
            *steps = t;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (rc) {
        free(*steps);
        *steps = NULL;
        return -1;
    }
    if (*n) qsort(*steps, *n, sizeof **steps, newest_first);
    return 0;
}

/* What a process stopped while writing a checkpoint left (a second Ctrl-C
 * exits at once): "step-N.tmp-*" and "step-N.old-*" folders.  Only one
 * process writes checkpoints to a run, so none of them is in use. */
static int remove_torn(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return sq_err_sys("%s", dir);
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (strncmp(e->d_name, "step-", 5) || (!strstr(e->d_name, ".tmp-") && !strstr(e->d_name, ".old-"))) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = sq_rmtree(path);
    }
    closedir(d);
    return rc;
}

int sq_ckpt_save(const char *rundir, const sq_model *m, const sq_ckpt_state *s) {
    char dir[4096], final[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/checkpoints", rundir);
    snprintf(final, sizeof final, "%s/step-%08ld", dir, s->step);
    if (ensure_dir(dir)) return -1;
    char *tmp = sq_dir_begin(final);
    if (!tmp) return -1;
    int rc = 0;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    rc = sq_model_save(m, m->params, path);
    sq_stw *w = rc ? NULL : sq_stw_new();
    char (*names)[96] = rc ? NULL : sq_calloc((size_t)m->n_tensors * 2, sizeof *names);
    if (!rc && (!w || !names)) rc = -1;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const sq_param_info *t = &m->table[i];
        snprintf(names[2 * i], sizeof names[0], "exp_avg.%s", t->name);
        snprintf(names[2 * i + 1], sizeof names[0], "exp_avg_sq.%s", t->name);
        rc = sq_stw_add(w, names[2 * i], SQ_F32, t->ndim, t->shape, m->m + t->offset) ||
             sq_stw_add(w, names[2 * i + 1], SQ_F32, t->ndim, t->shape, m->v + t->offset);
    }
    snprintf(path, sizeof path, "%s/optimizer.safetensors", tmp);
    if (!rc) rc = sq_stw_write(w, path);
    sq_stw_free(w);
    free(names);
    if (!rc) rc = sq_ckpt_state_save(tmp, s);
    if (!rc) rc = sq_dir_commit(tmp, final);
    if (rc) sq_rmtree(tmp);
    free(tmp);
    if (rc) return -1;
    long *steps;
    size_t n;
    if (list(dir, &steps, &n)) return -1;
    for (size_t i = KEEP; i < n && !rc; i++) {
        snprintf(path, sizeof path, "%s/step-%08ld", dir, steps[i]);
        rc = sq_rmtree(path);
    }
    free(steps);
    return rc ? rc : remove_torn(dir);
}

int sq_ckpt_latest(const char *rundir, char **path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/checkpoints", rundir);
    long *steps;
    size_t n;
    *path = NULL;
    if (list(dir, &steps, &n)) return -1;
    size_t len = strlen(dir) + 32;
    if (n && (*path = sq_malloc(len))) snprintf(*path, len, "%s/step-%08ld", dir, steps[0]);
    int rc = n && !*path ? -1 : 0;
    free(steps);
    return rc;
}

int sq_ckpt_state_save(const char *dir, const sq_ckpt_state *s) {
    char path[4200];
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:b}", "step", (json_int_t)s->step,
                          "total_steps", (json_int_t)s->total_steps, "global_batch", (json_int_t)s->global_batch,
                          "steps_per_epoch", (json_int_t)s->steps_per_epoch, "seed", (json_int_t)s->seed,
                          "epoch", (double)s->step / (double)s->steps_per_epoch, "best_f1", s->best_f1,
                          "best_step", (json_int_t)s->best_step, "evals_since_best", (json_int_t)s->evals_since_best,
                          "complete", s->complete);
    if (!j) return sq_err("%s: cannot build state.json", dir);
    snprintf(path, sizeof path, "%s/state.json", dir);
    int rc = sq_json_save(path, j, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(j);
    return rc;
}

static int get_long(json_t *j, const char *key, long *out) {
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return sq_err("%s: expected a non-negative integer", key);
    *out = (long)json_integer_value(v);
    return 0;
}

int sq_ckpt_state_load(const char *dir, sq_ckpt_state *s) {
    char p[4200];
    snprintf(p, sizeof p, "%s/state.json", dir);
    json_t *j = sq_json_load(p);
    if (!j) return -1;
    long seed = 0;
    *s = (sq_ckpt_state){0};
    int rc = get_long(j, "step", &s->step) || get_long(j, "total_steps", &s->total_steps) ||
             get_long(j, "global_batch", &s->global_batch) || get_long(j, "steps_per_epoch", &s->steps_per_epoch) ||
             get_long(j, "seed", &seed) ? -1 : 0;
    s->seed = (uint64_t)seed;
    /* Written since --save-best and --early-stop: absent in older runs. */
    if (!rc && json_object_get(j, "best_step")) {
        json_t *f1 = json_object_get(j, "best_f1"), *c = json_object_get(j, "complete");
        rc = get_long(j, "best_step", &s->best_step) || get_long(j, "evals_since_best", &s->evals_since_best) ? -1 : 0;
        if (!rc && (!json_is_number(f1) || !json_is_boolean(c))) rc = sq_err("best_f1 or complete: missing");
        s->best_f1 = json_number_value(f1);
        s->complete = json_is_true(c);
    }
    json_decref(j);
    return rc ? sq_err_ctx("%s", p) : 0;
}

int sq_ckpt_load(const char *path, sq_model *m, sq_ckpt_state *s) {
    char p[4200];
    bool qa_new;
    snprintf(p, sizeof p, "%s/model.safetensors", path);
    if (sq_model_load(m, p, 0, &qa_new)) return -1;
    if (qa_new) return sq_err("%s: no qa_outputs", p);
    snprintf(p, sizeof p, "%s/optimizer.safetensors", path);
    sq_st *st;
    if (sq_st_read(p, &st)) return -1;
    int rc = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const sq_param_info *t = &m->table[i];
        char name[96];
        for (int k = 0; k < 2 && !rc; k++) {
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", t->name);
            const sq_tensor *x = sq_st_find(st, name);
            if (!x || x->dtype != SQ_F32 || x->numel != t->numel)
                rc = sq_err("%s: %s: missing, or not F32 of %zu elements", p, name, t->numel);
            else
                rc = sq_tensor_to_f32(x, (k ? m->v : m->m) + t->offset);
        }
    }
    sq_st_free(st);
    return rc ? -1 : sq_ckpt_state_load(path, s);
}
