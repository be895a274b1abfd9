#include "cmd/resume.h"

#include "core/checkpoint.h"

#include "sq/error.h"
#include "sq/hash.h"
#include "sq/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* run.json, kept for the process: the options taken from it point into it. */
static json_t *run_json;

typedef struct {
    train_opts *o;
    json_t *opts;  /* run.json's "options" */
    char diff[900];
    size_t len;
} merge;

static void differ(merge *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differ(merge *m, const char *fmt, ...) {
    if (m->len >= sizeof m->diff - 1) return;
    if (m->len) m->len += (size_t)snprintf(m->diff + m->len, sizeof m->diff - m->len, "; ");
    if (m->len >= sizeof m->diff - 1) return;
    va_list ap;
    va_start(ap, fmt);
    m->len += (size_t)vsnprintf(m->diff + m->len, sizeof m->diff - m->len, fmt, ap);
    va_end(ap);
}

void sq_features_hash(const char *featdir, char hex[65]) {
    char p[4200];
    uint8_t h[32];
    hex[0] = 0;
    snprintf(p, sizeof p, "%s/manifest.json", featdir);
    if (!sq_sha256_file(p, h)) sq_hex(h, 32, hex);
    sq_err_clear();
}

/* The same file by device and inode, else by name (one may be gone). */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!stat(a, &sa) && !stat(b, &sb)) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return !strcmp(a, b);
}

static json_t *stored(merge *m, const char *key) {
    json_t *v = json_object_get(m->opts, key);
    return v ? v : json_object_get(run_json, key); /* precision, strategy... sit at the top */
}

/* A path option: taken from the run when not given; given, it must name the
 * same file. */
static void path_opt(merge *m, int id, const char *key, const char *flag, const char **field) {
    const char *was = json_string_value(stored(m, key));
    if (!SQ_GIVEN(m->o, id)) {
        *field = was;
        return;
    }
    if (!was || !same_file(*field, was)) differ(m, "%s %s (the run: %s)", flag, *field, was ? was : "none");
}

static void str_opt(merge *m, int id, const char *key, const char *flag, const char **field) {
    const char *was = json_string_value(stored(m, key));
    if (!SQ_GIVEN(m->o, id)) {
        if (was) *field = was;
    } else if (!was || strcmp(*field, was)) {
        differ(m, "%s %s (the run: %s)", flag, *field, was ? was : "none");
    }
}

/* agree: given again it must be the run's; otherwise (threads, logging,
 * checkpoints) it may change. */
static void long_opt(merge *m, int id, const char *key, const char *flag, long *field, bool agree) {
    json_t *v = stored(m, key);
    if (!SQ_GIVEN(m->o, id)) {
        if (json_is_integer(v)) *field = (long)json_integer_value(v);
    } else if (agree && (json_is_integer(v) ? json_integer_value(v) : 0) != *field) {
        differ(m, "%s %ld (the run: %lld)", flag, *field, json_is_integer(v) ? (long long)json_integer_value(v) : 0LL);
    }
}

static void double_opt(merge *m, int id, const char *key, const char *flag, double *field) {
    json_t *v = stored(m, key);
    if (!SQ_GIVEN(m->o, id)) {
        if (json_is_number(v)) *field = json_number_value(v);
    } else if (!json_is_number(v) || json_number_value(v) != *field) {
        differ(m, "%s %g (the run: %g)", flag, *field, json_number_value(v));
    }
}

static void bool_opt(merge *m, int id, const char *key, const char *flag, bool *field) {
    json_t *v = stored(m, key);
    if (!SQ_GIVEN(m->o, id)) {
        *field = json_is_true(v);
    } else if (*field != json_is_true(v)) {
        differ(m, "%s (the run: without it)", flag);
    }
}

/* Data is the same when its manifest (which holds every shard's sha256) is. */
static void data_opt(merge *m, int id, const char *key, const char *hash_key, const char *flag, const char **field) {
    const char *was = json_string_value(stored(m, key)), *want = json_string_value(json_object_get(run_json, hash_key));
    if (!want || !*want) { /* an older run.json: by name */
        path_opt(m, id, key, flag, field);
        return;
    }
    bool given = SQ_GIVEN(m->o, id);
    if (!given) *field = was;
    if (!*field) return;
    char hex[65];
    sq_features_hash(*field, hex);
    if (!strcmp(hex, want)) return;
    if (!given) /* moved or rebuilt since the run began */
        differ(m, "the run's %s %s %s", flag, *field, *hex ? "holds other features now" : "is gone (give it anew)");
    else if (!*hex)
        differ(m, "%s %s (no manifest.json: not a feature folder)", flag, *field);
    else
        differ(m, "%s %s (manifest sha256 %.12s, the run's %.12s)", flag, *field, hex, want);
}

/* Steps: the run's total, or more with a larger --max-steps; --epochs given
 * again must make the same total. */
static void steps_opt(merge *m, long *total) {
    train_opts *o = m->o;
    json_t *t = json_object_get(run_json, "total_steps");
    *total = json_is_integer(t) ? (long)json_integer_value(t) : 0;
    long features = (long)json_integer_value(json_object_get(run_json, "features"));
    long spe = o->batch > 0 ? (features + o->batch - 1) / o->batch : 0;
    if (SQ_GIVEN(o, O_MAXSTEPS)) {
        if (o->max_steps < *total)
            differ(m, "--max-steps %ld (the run has %ld steps: it can be extended, not shortened)", o->max_steps, *total);
        return;
    }
    if (SQ_GIVEN(o, O_EPOCHS) && o->epochs * spe != *total)
        differ(m, "--epochs %ld (%ld steps; the run has %ld: a larger --max-steps adds steps)", o->epochs,
               o->epochs * spe, *total);
    o->max_steps = *total;
}

int sq_resume_settings(train_opts *o, sq_resume *r) {
    char p[4200];
    *r = (sq_resume){0};
    snprintf(p, sizeof p, "%s/run.json", o->out);
    json_decref(run_json);
    if (!(run_json = sq_json_load(p))) return -1;
    merge m = {.o = o, .opts = json_object_get(run_json, "options")};
    if (!json_is_object(m.opts)) return sq_err("%s: no \"options\" object", p);

    data_opt(&m, O_DATA, "data", "data_manifest_sha256", "--data", &o->data);
    data_opt(&m, O_EDATA, "eval_data", "eval_data_manifest_sha256", "--eval-data", &o->eval_data);
    path_opt(&m, O_EDS, "eval_dataset", "--eval-dataset", &o->eval_dataset);
    path_opt(&m, O_INIT, "init", "--init", &o->init);
    path_opt(&m, O_CONFIG, "config", "--config", &o->config);
    long_opt(&m, O_BATCH, "batch_size", "--batch-size", &o->batch, true);
    long_opt(&m, O_ACCUM, "grad_accum", "--grad-accum", &o->accum, true);
    long_opt(&m, O_SEED, "seed", "--seed", &o->seed, true);
    double_opt(&m, O_LR, "lr", "--lr", &o->lr);
    double_opt(&m, O_WARMUP, "warmup", "--warmup", &o->warmup);
    /* The warm-up in steps as the run resolved it: a larger --max-steps
     * must not move it. */
    long_opt(&m, O_WSTEPS, "warmup_steps", "--warmup-steps", &o->warmup_steps, true);
    double_opt(&m, O_WD, "weight_decay", "--weight-decay", &o->wd);
    double_opt(&m, O_CLIP, "max_grad_norm", "--max-grad-norm", &o->clip);
    double_opt(&m, O_HD, "hidden_dropout", "--hidden-dropout", &o->hdrop);
    double_opt(&m, O_AD, "attention_dropout", "--attention-dropout", &o->adrop);
    str_opt(&m, O_DEV, "device", "--device", &o->device);
    str_opt(&m, O_PREC, "precision", "--precision", &o->precision);
    bool_opt(&m, O_PADDED, "padded", "--padded", &o->padded);
    str_opt(&m, O_STRATEGY, "strategy", "--strategy", &o->dist.strategy);
    long_opt(&m, O_EVERY, "eval_every", "--eval-every", &o->eval_every, true);
    bool_opt(&m, O_BEST, "save_best", "--save-best", &o->save_best);
    long_opt(&m, O_EARLY, "early_stop", "--early-stop", &o->early_stop, true);
    long_opt(&m, O_EPOCHS, "epochs", "--epochs", &o->epochs, false); /* steps_opt checks it */
    long_opt(&m, O_THR, "threads", "--threads", &o->threads, false);
    long_opt(&m, O_LOG, "log_every", "--log-every", &o->log_every, false);
    long_opt(&m, O_CKPT, "checkpoint_every", "--checkpoint-every", &o->ckpt_every, false);
    steps_opt(&m, &r->total_steps);
    if (m.len)
        return sq_err("%s: --resume with options that differ from the run's (run.json): %s; give the run's values, or "
                      "start a new run in another -o", o->out, m.diff);

    /* Complete: the model is written and the newest checkpoint is the one
     * written at the end (an early stop ends before the last step).  An
     * interrupted run that was given more steps has a newer one; runs of
     * older versions wrote none at the end. */
    struct stat st;
    snprintf(p, sizeof p, "%s/model.safetensors", o->out);
    if (stat(p, &st)) return 0;
    char *latest;
    if (sq_ckpt_latest(o->out, &latest)) return -1;
    json_t *state = NULL;
    if (latest) {
        snprintf(p, sizeof p, "%s/state.json", latest);
        state = sq_json_load(p);
        free(latest);
        if (!state) return -1;
    }
    json_t *complete = json_object_get(state, "complete");
    r->complete = !json_is_boolean(complete) || json_is_true(complete);
    r->done_step = r->total_steps;
    if (json_is_true(complete)) {
        r->done_step = (long)json_integer_value(json_object_get(state, "step"));
        r->stopped_early = r->done_step < (long)json_integer_value(json_object_get(state, "total_steps"));
    }
    json_decref(state);
    return 0;
}
