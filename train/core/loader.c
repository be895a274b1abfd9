/* The batch producer: one thread fills a ring of two micro-batches ahead of
 * the trainer.  A data error stops the producer; the trainer sees it at its
 * next call. */
#include "core/loader.h"

#include "sq/error.h"
#include "sq/philox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 2

struct sq_loader {
    sq_loader_cfg c;
    size_t n;
    long spe;            /* steps per epoch */
    int max_rows;
    uint32_t pad_id;
    uint32_t *perm;      /* order of perm_epoch */
    long perm_epoch;
    uint32_t *global;    /* the current global batch */
    sq_batch slot[RING];
    long slot_step[RING];
    int slot_micro[RING];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long produced, consumed; /* micro-batches */
    bool stop, failed, started;
    char error[512];
};

long sq_steps_per_epoch(size_t n, long global_batch) {
    return (long)((n + (size_t)global_batch - 1) / (size_t)global_batch);
}

void sq_epoch_order(uint64_t seed, long epoch, size_t n, uint32_t *perm) {
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    /* Fisher-Yates; counter words 2-3 keep these draws apart from dropout's
     * and initialisation's. */
    for (size_t i = n; i > 1; i--) {
        sq_philox_ctr c = {{(uint32_t)(i - 1), (uint32_t)epoch, 0xFFFFFFFEu, 0xFFFFFFFEu}};
        sq_philox_ctr r = sq_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
        uint64_t x = ((uint64_t)r.v[0] << 32) | r.v[1];
        size_t j = (size_t)(x % i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

int sq_loader_max_rows(const sq_loader_cfg *c) {
    long k = (long)c->world * c->accum;
    return (int)((c->global_batch + k - 1) / k);
}

/* Global batch of step s into l->global; returns its size. */
static size_t global_batch(sq_loader *l, long s) {
    long epoch = l->c.shuffle ? s / l->spe : 0, i = l->c.shuffle ? s % l->spe : s;
    size_t lo = (size_t)i * (size_t)l->c.global_batch, hi = lo + (size_t)l->c.global_batch;
    if (hi > l->n) hi = l->n;
    if (l->c.shuffle && epoch != l->perm_epoch) {
        sq_epoch_order(l->c.seed, epoch, l->n, l->perm);
        l->perm_epoch = epoch;
    }
    for (size_t k = lo; k < hi; k++) l->global[k - lo] = l->c.shuffle ? l->perm[k] : (uint32_t)k;
    return hi - lo;
}

static int fill(sq_loader *l, sq_batch *b, long s, int a) {
    size_t nb = global_batch(l, s);
    long K = (long)l->c.world * l->c.accum, j = (long)a * l->c.world + l->c.rank;
    size_t lo = (size_t)j * nb / (size_t)K, hi = (size_t)(j + 1) * nb / (size_t)K;
    sq_feature f;
    b->n_start = b->n_end = 0;
    for (size_t k = 0; k < nb; k++) { /* label counts over the global batch */
        if (sq_features_get(l->c.features, l->global[k], &f)) return -1;
        b->n_start += f.start_position < f.len;
        b->n_end += f.end_position < f.len;
    }
    b->B = (int)(hi - lo);
    b->T = 1;
    b->step = (uint32_t)s;
    b->seed = l->c.seed;
    b->hf_padded_logits = false;
    for (size_t k = lo; k < hi; k++) {
        if (sq_features_get(l->c.features, l->global[k], &f)) return -1;
        if (f.len > b->T) b->T = f.len;
    }
    for (size_t k = lo; k < hi; k++) {
        int r = (int)(k - lo);
        if (sq_features_get(l->c.features, l->global[k], &f)) return -1;
        int32_t *ids = b->ids + (size_t)r * b->T, *tt = b->types + (size_t)r * b->T;
        for (int t = 0; t < b->T; t++) {
            ids[t] = t < f.len ? f.ids[t] : (int32_t)l->pad_id;
            tt[t] = t < f.len && t >= f.type1_start; /* HF pads token_type_ids with 0 */
        }
        b->len[r] = f.len;
        b->start[r] = f.start_position;
        b->end[r] = f.end_position;
        b->sample[r] = l->global[k];
    }
    return 0;
}

static void *produce(void *arg) {
    sq_loader *l = arg;
    long total = (l->c.end_step - l->c.first_step) * l->c.accum;
    for (long m = 0; m < total; m++) {
        pthread_mutex_lock(&l->mu);
        /* Slot m % RING is free once the trainer has taken item m - 1: it
         * holds at most the item before. */
        while (!l->stop && l->produced - l->consumed >= RING - 1)
            pthread_cond_wait(&l->cv, &l->mu);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop) break;
        int i = (int)(m % RING);
        long s = l->c.first_step + m / l->c.accum;
        int a = (int)(m % l->c.accum);
        int rc = fill(l, &l->slot[i], s, a);
        pthread_mutex_lock(&l->mu);
        if (rc) {
            snprintf(l->error, sizeof l->error, "%s", sq_errmsg());
            l->failed = true;
        } else {
            l->slot_step[i] = s;
            l->slot_micro[i] = a;
            l->produced++;
        }
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (rc) break;
    }
    return NULL;
}

int sq_loader_open(const sq_loader_cfg *c, sq_loader **out) {
    if (c->global_batch < 1 || c->world < 1 || c->accum < 1 || c->rank < 0 || c->rank >= c->world)
        return sq_err("invalid batch split");
    sq_loader *l = sq_calloc(1, sizeof *l);
    if (!l) return -1;
    l->c = *c;
    l->n = sq_features_count(c->features);
    const sq_features_info *info = sq_features_info_get(c->features);
    if (!l->n) {
        free(l);
        return sq_err("no features");
    }
    l->pad_id = info->pad_id;
    l->spe = sq_steps_per_epoch(l->n, c->global_batch);
    l->max_rows = sq_loader_max_rows(c);
    l->perm_epoch = -1;
    int T = (int)info->max_len > 0 ? (int)info->max_len : info->max_seq;
    l->perm = sq_malloc(l->n * sizeof *l->perm);
    l->global = sq_malloc((size_t)c->global_batch * sizeof *l->global);
    bool ok = l->perm && l->global;
    for (int i = 0; i < RING && ok; i++) ok = !sq_batch_alloc(&l->slot[i], l->max_rows, T);
    if (!ok) {
        sq_loader_close(l);
        return -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, produce, l)) {
        sq_loader_close(l);
        return sq_err("cannot start the data loading thread");
    }
    l->started = true;
    *out = l;
    return 0;
}

int sq_loader_next(sq_loader *l, const sq_batch **out, long *step, int *micro) {
    pthread_mutex_lock(&l->mu);
    long want = l->consumed;
    while (l->produced <= want && !l->failed) pthread_cond_wait(&l->cv, &l->mu);
    if (l->produced <= want) {
        pthread_mutex_unlock(&l->mu);
        return sq_err("%s", l->error);
    }
    int i = (int)(want % RING);
    *out = &l->slot[i];
    *step = l->slot_step[i];
    *micro = l->slot_micro[i];
    l->consumed++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void sq_loader_close(sq_loader *l) {
    if (!l) return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    for (int i = 0; i < RING; i++) sq_batch_free(&l->slot[i]);
    free(l->perm);
    free(l->global);
    free(l);
}
