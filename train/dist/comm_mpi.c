/* The mpi communication backend: non-blocking MPI collectives on host
 * memory, each wait a polling loop (MPI_Test) with a deadline, so that a rank
 * that died or hangs ends the job with an error (the process exits without
 * MPI_Finalize and the launcher takes the others down) instead of a hang.
 * A world of one without an MPI launcher runs without MPI. */
#include "dist/comm.h"

#include "sq/cli.h"
#include "sq/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* World of one: nothing to exchange. */
static int one_allreduce(sq_comm *c, float *buf, size_t n, int *req) {
    if (req) *req = -1;
    return 0;
}
static int one_reduce_scatter(sq_comm *c, const float *send, float *recv, const size_t *counts, int *req) {
    if (req) *req = -1;
    if (send != recv) memmove(recv, send, counts[0] * sizeof(float));
    return 0;
}
static int one_allgather(sq_comm *c, float *buf, const size_t *counts, int *req) {
    if (req) *req = -1;
    return 0;
}
static int one_bcast(sq_comm *c, void *buf, size_t bytes, int root) { return 0; }
static int one_allreduce_host(sq_comm *c, double *buf, size_t n, bool max_op) { return 0; }
static int one_barrier(sq_comm *c) { return 0; }
static void one_progress(sq_comm *c) {}
static int one_wait(sq_comm *c, int req) { return 0; }
static int one_wait_all(sq_comm *c) { return 0; }
static void one_free(sq_comm *c) { free(c); }

static sq_comm *one_open(void) {
    sq_comm *c = sq_calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (sq_comm){.name = "mpi", .rank = 0, .world = 1, .timeout_s = sq_comm_timeout(),
                   .allreduce = one_allreduce, .reduce_scatter = one_reduce_scatter, .allgather = one_allgather,
                   .bcast = one_bcast, .allreduce_host = one_allreduce_host, .barrier = one_barrier,
                   .progress = one_progress, .wait = one_wait, .wait_all = one_wait_all, .free = one_free};
    return c;
}

#ifdef SQ_HAVE_MPI
#include <mpi.h>

#define SLOTS 256

typedef struct {
    MPI_Comm comm;
    bool finalize;             /* we called MPI_Init */
    MPI_Request req[SLOTS];
    const char *what[SLOTS];
    int *counts, *displs;      /* [SLOTS][world]: v-collectives read them until done */
    /* An in-place reduce-scatter leaves this rank's part at the start of
     * the range (MPI_IN_PLACE); it moves to its place when the call ends. */
    float *move_to[SLOTS], *move_from[SLOTS];
    size_t move_n[SLOTS];
} mpi;

static int mpi_fail(int code, const char *what) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", code);
    return sq_err("mpi: %s: %s", what, s);
}

static int mpi_wait_all(sq_comm *c);

/* A free request slot; with all taken (thousands of tiny buckets), the
 * calls in flight are waited for first. */
static int slot(sq_comm *c, const char *what) {
    mpi *p = c->impl;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SLOTS; i++) {
            if (p->req[i] == MPI_REQUEST_NULL && !p->move_n[i]) {
                p->what[i] = what;
                return i;
            }
        }
        if (pass == 0 && mpi_wait_all(c)) return -1;
    }
    return sq_err("mpi: no request slot free after waiting");
}

static void pause_poll(long spins) {
    if (spins < 200) return;
    /* Back off to 1 ms: ranks oversubscribing few cores need the CPU. */
    long us = spins < 1000 ? 20 : 1000;
    nanosleep(&(struct timespec){0, us * 1000}, NULL);
}

static void finished(mpi *p, int i) {
    if (!p->move_n[i]) return;
    memmove(p->move_to[i], p->move_from[i], p->move_n[i] * sizeof(float));
    p->move_n[i] = 0;
}

static int wait_slot(sq_comm *c, int i, double t0) {
    mpi *p = c->impl;
    for (long spins = 0;; spins++) {
        int done = 0, rc = MPI_Test(&p->req[i], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, p->what[i]);
        if (done) {
            finished(p, i);
            return 0;
        }
        if (sq_now() - t0 > c->timeout_s)
            return sq_err("mpi: %s did not finish within %g s: a rank died or hangs", p->what[i], c->timeout_s);
        pause_poll(spins);
    }
}

static int mpi_wait(sq_comm *c, int req) {
    if (req < 0 || req >= SLOTS) return 0;
    double t0 = sq_now();
    int rc = wait_slot(c, req, t0);
    c->seconds += sq_now() - t0;
    return rc;
}

static int mpi_wait_all(sq_comm *c) {
    mpi *p = c->impl;
    double t0 = sq_now();
    int rc = 0;
    for (int i = 0; i < SLOTS && !rc; i++)
        if (p->req[i] != MPI_REQUEST_NULL || p->move_n[i]) rc = wait_slot(c, i, t0);
    c->seconds += sq_now() - t0;
    return rc;
}

static void mpi_progress(sq_comm *c) {
    mpi *p = c->impl;
    for (int i = 0; i < SLOTS; i++) {
        int done = 0;
        if (p->req[i] != MPI_REQUEST_NULL && MPI_Test(&p->req[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done)
            finished(p, i);
    }
}

/* Starts the call in slot i; waits for it when the caller wants no handle. */
static int issued(sq_comm *c, int i, int rc, int *req) {
    if (rc != MPI_SUCCESS) return mpi_fail(rc, ((mpi *)c->impl)->what[i]);
    if (req) {
        *req = i;
        return 0;
    }
    return mpi_wait(c, i);
}

static int fits_int(size_t n, const char *what) {
    return n > (size_t)0x7fffffff ? sq_err("mpi: %s of %zu floats exceeds MPI's int count", what, n) : 0;
}

static int mpi_allreduce(sq_comm *c, float *buf, size_t n, int *req) {
    mpi *p = c->impl;
    int i = slot(c, "all-reduce");
    if (i < 0 || fits_int(n, "all-reduce")) return -1;
    c->bytes += sq_comm_bytes_allreduce(c->world, 4.0 * (double)n);
    return issued(c, i, MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, p->comm, &p->req[i]), req);
}

/* counts/displs of slot i as MPI ints; *total the sum. */
static int v_args(sq_comm *c, int i, const size_t *counts, size_t *total) {
    mpi *p = c->impl;
    int *ic = p->counts + (size_t)i * c->world, *id = p->displs + (size_t)i * c->world;
    *total = 0;
    for (int r = 0; r < c->world; r++) {
        if (fits_int(*total + counts[r], p->what[i])) return -1;
        ic[r] = (int)counts[r];
        id[r] = (int)*total;
        *total += counts[r];
    }
    return 0;
}

static int mpi_reduce_scatter(sq_comm *c, const float *send, float *recv, const size_t *counts, int *req) {
    mpi *p = c->impl;
    int i = slot(c, "reduce-scatter");
    size_t total;
    if (i < 0 || v_args(c, i, counts, &total)) return -1;
    c->bytes += sq_comm_bytes_sharded(c->world, 4.0 * (double)total);
    int *ic = p->counts + (size_t)i * c->world;
    int rc;
    if (recv >= send && recv < send + total) { /* in place: recv is this rank's part of send */
        float *buf = (float *)send;
        rc = MPI_Ireduce_scatter(MPI_IN_PLACE, buf, ic, MPI_FLOAT, MPI_SUM, p->comm, &p->req[i]);
        if (rc == MPI_SUCCESS && recv != buf && counts[c->rank]) {
            p->move_to[i] = recv;
            p->move_from[i] = buf;
            p->move_n[i] = counts[c->rank];
        }
    } else {
        rc = MPI_Ireduce_scatter(send, recv, ic, MPI_FLOAT, MPI_SUM, p->comm, &p->req[i]);
    }
    return issued(c, i, rc, req);
}

static int mpi_allgather(sq_comm *c, float *buf, const size_t *counts, int *req) {
    mpi *p = c->impl;
    int i = slot(c, "all-gather");
    size_t total;
    if (i < 0 || v_args(c, i, counts, &total)) return -1;
    c->bytes += sq_comm_bytes_sharded(c->world, 4.0 * (double)total);
    int *ic = p->counts + (size_t)i * c->world, *id = p->displs + (size_t)i * c->world;
    return issued(c, i, MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, ic, id, MPI_FLOAT, p->comm, &p->req[i]),
                  req);
}

static int mpi_bcast(sq_comm *c, void *buf, size_t bytes, int root) {
    mpi *p = c->impl;
    int i = slot(c, "broadcast");
    if (i < 0 || fits_int(bytes, "broadcast")) return -1;
    c->bytes += (double)bytes;
    return issued(c, i, MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, p->comm, &p->req[i]), NULL);
}

static int mpi_allreduce_host(sq_comm *c, double *buf, size_t n, bool max_op) {
    mpi *p = c->impl;
    int i = slot(c, "all-reduce");
    if (i < 0 || fits_int(n, "all-reduce")) return -1;
    c->bytes += sq_comm_bytes_allreduce(c->world, 8.0 * (double)n);
    return issued(c, i,
                  MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, max_op ? MPI_MAX : MPI_SUM, p->comm,
                                 &p->req[i]),
                  NULL);
}

static int mpi_barrier(sq_comm *c) {
    mpi *p = c->impl;
    int i = slot(c, "barrier");
    if (i < 0) return -1;
    return issued(c, i, MPI_Ibarrier(p->comm, &p->req[i]), NULL);
}

static void mpi_free(sq_comm *c) {
    if (!c) return;
    mpi *p = c->impl;
    if (p) {
        if (p->comm != MPI_COMM_NULL) MPI_Comm_free(&p->comm);
        if (p->finalize) MPI_Finalize();
        free(p->counts);
        free(p->displs);
        free(p);
    }
    free(c);
}

int sq_comm_mpi_open(const sq_launch *l, sq_comm **out) {
    if (!l->mpi) {
        if (l->world == 1) return (*out = one_open()) ? 0 : -1;
        return sq_err("--comm mpi: %d ranks from %s, but no MPI launcher: start them with mpirun, or srun "
                      "--mpi=pmix|pmi2 (by hand or by srun --mpi=none only --comm nccl works)",
                      l->world, l->source);
    }
    sq_comm *c = sq_calloc(1, sizeof *c);
    mpi *p = sq_calloc(1, sizeof *p);
    if (!c || !p) goto fail;
    c->impl = p;
    p->comm = MPI_COMM_NULL;
    for (int i = 0; i < SLOTS; i++) p->req[i] = MPI_REQUEST_NULL;
    int init = 0, provided, rank, world, rc;
    MPI_Initialized(&init);
    if (!init) {
        /* Only the main thread calls MPI (the loader thread does not). */
        if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
            mpi_fail(rc, "MPI_Init_thread");
            goto fail;
        }
        p->finalize = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &p->comm)) != MPI_SUCCESS) {
        mpi_fail(rc, "MPI_Comm_dup");
        goto fail;
    }
    MPI_Comm_set_errhandler(p->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(p->comm, &rank);
    MPI_Comm_size(p->comm, &world);
    if (rank != l->rank || world != l->world) {
        sq_err("mpi: MPI says rank %d of %d, the %s environment rank %d of %d", rank, world, l->source, l->rank,
               l->world);
        goto fail;
    }
    p->counts = sq_calloc((size_t)SLOTS * world, sizeof *p->counts);
    p->displs = sq_calloc((size_t)SLOTS * world, sizeof *p->displs);
    if (!p->counts || !p->displs) goto fail;
    c->name = "mpi";
    c->rank = rank;
    c->world = world;
    c->timeout_s = sq_comm_timeout();
    c->allreduce = mpi_allreduce;
    c->reduce_scatter = mpi_reduce_scatter;
    c->allgather = mpi_allgather;
    c->bcast = mpi_bcast;
    c->allreduce_host = mpi_allreduce_host;
    c->barrier = mpi_barrier;
    c->progress = mpi_progress;
    c->wait = mpi_wait;
    c->wait_all = mpi_wait_all;
    c->free = mpi_free;
    *out = c;
    return 0;
fail:
    if (!c) free(p);
    mpi_free(c);
    return -1;
}

#else

int sq_comm_mpi_open(const sq_launch *l, sq_comm **out) {
    if (l->world == 1) return (*out = one_open()) ? 0 : -1;
    return sq_err("--comm mpi: this sq-train was built without MPI, so it cannot run ranks under mpirun (install "
                  "Open MPI's mpicc and rebuild)");
}

#endif
