/* Checkpoints of a distributed run.  single and ddp: rank 0 writes the whole
 * model with sq_ckpt_save.  zero1, zero2, fsdp: in
 * RUNDIR/checkpoints/step-NNNNNNNN.partial/ each rank writes
 * shard-RRRRR.safetensors (1-D F32 "params", "exp_avg", "exp_avg_sq" of its
 * range), then rank 0 adds manifest.json (world, strategy, parameter count,
 * each shard's file and [begin, end)) and state.json (sq_ckpt_save's keys)
 * and renames the directory to step-NNNNNNNN, so a directory with the final
 * name is complete (sq_ckpt_latest skips the partial one); the newest two
 * are kept.  Loading reads every shard, so it works at any world size. */
#include "dist/dist_internal.h"

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

static int write_shard(const sq_dist *d, const char *dir) {
    const sq_model *m = d->be->model;
    int r = d->launch.rank;
    size_t lo = d->shard[r], hi = d->shard[r + 1];
    int64_t shape[1] = {(int64_t)(hi - lo)};
    char path[4400];
    snprintf(path, sizeof path, "%s/shard-%05d.safetensors", dir, r);
    sq_stw *w = sq_stw_new();
    if (!w) return -1;
    int rc = sq_stw_add(w, "params", SQ_F32, 1, shape, m->params + lo) ||
             sq_stw_add(w, "exp_avg", SQ_F32, 1, shape, m->m + lo) ||
             sq_stw_add(w, "exp_avg_sq", SQ_F32, 1, shape, m->v + lo) || sq_stw_write(w, path)
                 ? -1
                 : 0;
    sq_stw_free(w);
    return rc;
}

static int write_meta(const sq_dist *d, const char *dir, const sq_ckpt_state *s) {
    char path[4400];
    json_t *shards = json_array();
    for (int r = 0; shards && r < d->launch.world; r++) {
        char file[64];
        snprintf(file, sizeof file, "shard-%05d.safetensors", r);
        if (json_array_append_new(shards, json_pack("{s:s, s:I, s:I}", "file", file, "begin",
                                                     (json_int_t)d->shard[r], "end", (json_int_t)d->shard[r + 1]))) {
            json_decref(shards);
            shards = NULL;
        }
    }
    json_t *man = shards ? json_pack("{s:I, s:s, s:I, s:o}", "world_size", (json_int_t)d->launch.world, "strategy",
                                     sq_strategy_name(d->strat), "parameters", (json_int_t)d->n, "shards", shards)
                         : NULL;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    int rc = !man || sq_json_save(path, man, JSON_INDENT(1)) ? -1 : 0;
    json_decref(man);
    if (rc) return sq_err_ctx("%s", path);
    return sq_ckpt_state_save(dir, s);
}

static int older_first(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Keeps the newest KEEP complete checkpoints (step-NNNNNNNN exactly) and
 * removes the partial ones that crashed attempts left (no rank is writing
 * one now). */
static int prune(const char *dir) {
    DIR *dh = opendir(dir);
    if (!dh) return sq_err_sys("%s", dir);
    long *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dh))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (!strncmp(s, "step-", 5) && len > 8 && !strcmp(s + len - 8, ".partial")) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, s);
            rc = sq_rmtree(p);
            continue;
        }
        if (strncmp(s, "step-", 5) || len != 13 || strspn(s + 5, "0123456789") != 8) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            long *t = sq_realloc(steps, cap * sizeof *t);
            if (!t) {
                rc = -1;
                break;
            }
            steps = t;
        }
        steps[n++] = strtol(s + 5, NULL, 10);
    }
    closedir(dh);
    if (!rc && n > KEEP) qsort(steps, n, sizeof *steps, older_first);
    for (size_t i = 0; !rc && n > KEEP && i < n - KEEP; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/step-%08ld", dir, steps[i]);
        rc = sq_rmtree(p);
    }
    free(steps);
    return rc;
}

/* Every rank learns whether any failed (the ranks stay in step). */
static int agree(sq_dist *d, int rc, const char *what) {
    int bad;
    if (sq_dist_any(d, rc != 0, &bad)) return -1;
    if (rc) return -1;
    return bad ? sq_err("checkpoint: another rank failed to %s", what) : 0;
}

int sq_dist_checkpoint(sq_dist *d, const char *rundir, const sq_ckpt_state *s) {
    sq_backend *be = d->be;
    int rank = d->launch.rank;
    if (!sq_dist_sharded(d)) {
        if (rank) return 0;
        if (be->pull(be, SQ_BUF_PARAMS | SQ_BUF_MOMENTS)) return -1;
        return sq_ckpt_save(rundir, be->model, s);
    }
    char dir[4096], partial[4300], final[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints", rundir);
    snprintf(final, sizeof final, "%s/step-%08ld", dir, s->step);
    snprintf(partial, sizeof partial, "%s.partial", final);
    int rc = be->pull(be, SQ_BUF_PARAMS | SQ_BUF_MOMENTS);
    if (!rc && rank == 0) {
        struct stat st;
        if (mkdir(dir, 0755) && errno != EEXIST) rc = sq_err_sys("%s", dir);
        if (!rc && !stat(partial, &st)) rc = sq_rmtree(partial); /* a crashed attempt's */
        if (!rc && mkdir(partial, 0755)) rc = sq_err_sys("%s", partial);
    }
    if (agree(d, rc, "prepare the checkpoint")) return -1;
    if (agree(d, write_shard(d, partial), "write its shard")) return -1;
    rc = 0;
    if (rank == 0) rc = write_meta(d, partial, s) || sq_dir_commit(partial, final) || prune(dir) ? -1 : 0;
    return agree(d, rc, "commit the checkpoint");
}

static int get_size(json_t *j, const char *key, size_t *out) {
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return sq_err("%s: expected a non-negative integer", key);
    *out = (size_t)json_integer_value(v);
    return 0;
}

static int load_shard(const char *path, const char *file, size_t lo, size_t hi, sq_model *m) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", path, file);
    sq_st *st;
    if (sq_st_read(p, &st)) return -1;
    static const char *names[] = {"params", "exp_avg", "exp_avg_sq"};
    float *dst[] = {m->params + lo, m->m + lo, m->v + lo};
    int rc = 0;
    for (int k = 0; k < 3 && !rc; k++) {
        const sq_tensor *t = sq_st_find(st, names[k]);
        if (!t || t->dtype != SQ_F32 || t->numel != hi - lo)
            rc = sq_err("%s: %s: missing, or not F32 of %zu elements", p, names[k], hi - lo);
        else
            rc = sq_tensor_to_f32(t, dst[k]);
    }
    sq_st_free(st);
    return rc;
}

int sq_dist_ckpt_load(const char *path, sq_model *m, sq_ckpt_state *s) {
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/manifest.json", path);
    if (stat(p, &sb)) return sq_ckpt_load(path, m, s);
    json_t *man = sq_json_load(p);
    if (!man) return -1;
    json_t *shards = json_object_get(man, "shards");
    size_t n = 0, at = 0;
    int rc = get_size(man, "parameters", &n);
    if (!rc && n != m->n_params) rc = sq_err("%zu parameters, the model has %zu", n, m->n_params);
    if (!rc && !json_is_array(shards)) rc = sq_err("shards: expected an array");
    for (size_t i = 0; !rc && i < json_array_size(shards); i++) {
        json_t *sh = json_array_get(shards, i);
        const char *file = json_string_value(json_object_get(sh, "file"));
        size_t lo, hi;
        if (get_size(sh, "begin", &lo) || get_size(sh, "end", &hi)) rc = -1;
        else if (!file || strchr(file, '/') || lo != at || hi < lo || hi > n)
            rc = sq_err("shard %zu: not the next range of the buffer", i);
        else
            rc = load_shard(path, file, lo, hi, m);
        at = rc ? at : hi;
    }
    if (!rc && at != n) rc = sq_err("the shards cover %zu of %zu parameters", at, n);
    json_decref(man);
    if (rc) return sq_err_ctx("%s", p);
    return sq_ckpt_state_load(path, s);
}
