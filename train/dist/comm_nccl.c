/* The nccl communication backend: NCCL collectives on device memory, on a
 * stream of their own ordered by an event after the work already queued on
 * the stream that produces the buffers (bind_stream: the backend's compute
 * stream; unbound, the legacy default stream), and waited for by polling the
 * call's event and ncclCommGetAsyncError against a deadline (the bound
 * stream then waits for the call's event too); on an error or a timeout the
 * communicator is aborted (ncclCommAbort), so no rank blocks for ever.  The
 * communicator is non-blocking (ncclConfig_t.blocking = 0) so that even its
 * creation has a deadline.  Uneven parts go through grouped ncclReduce /
 * ncclBroadcast calls; even ones through ncclReduceScatter / ncclAllGather.
 *
 * Not verified on a GPU yet: it compiles and links where nvcc and libnccl
 * exist (SQ_HAVE_NCCL), the CPU tests exercise only the mpi backend, and
 * tests/cuda/gpu-dist.sh checks it at world size 1 on one GPU. */
#include "dist/comm.h"

#include "sq/error.h"

#ifdef SQ_HAVE_NCCL
#include "sq/cli.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 256

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    cudaStream_t follow;       /* bind_stream's (NULL: the legacy default stream) */
    cudaEvent_t ready;         /* recorded on follow (or the default stream) before each call */
    cudaEvent_t done[SLOTS];
    bool busy[SLOTS];
    const char *what[SLOTS];
    void *scratch;             /* device staging for host buffers */
    size_t scratch_bytes;
    sq_comm *id_comm;          /* the MPI communicator that carried the id, kept until the end */
} nccl;

static int cuda_fail(cudaError_t e, const char *what) {
    return sq_err("nccl: %s: %s", what, cudaGetErrorString(e));
}

static int nccl_fail(ncclResult_t r, const char *what) {
    return sq_err("nccl: %s: %s", what, ncclGetErrorString(r));
}

static void pause_poll(long spins) {
    if (spins >= 200) nanosleep(&(struct timespec){0, (spins < 1000 ? 20 : 1000) * 1000}, NULL);
}

/* Waits until the communicator has no call in progress (non-blocking
 * communicators return ncclInProgress from creation and enqueue calls). */
static int settle(sq_comm *c, const char *what) {
    nccl *p = c->impl;
    double t0 = sq_now();
    for (long spins = 0;; spins++) {
        ncclResult_t st;
        ncclResult_t r = ncclCommGetAsyncError(p->comm, &st);
        if (r != ncclSuccess) return nccl_fail(r, what);
        if (st == ncclSuccess) return 0;
        if (st != ncclInProgress) {
            ncclCommAbort(p->comm);
            p->comm = NULL;
            return nccl_fail(st, what);
        }
        if (sq_now() - t0 > c->timeout_s) {
            ncclCommAbort(p->comm);
            p->comm = NULL;
            return sq_err("nccl: %s did not finish within %g s: a rank died or hangs", what, c->timeout_s);
        }
        pause_poll(spins);
    }
}

static int wait_slot(sq_comm *c, int i, double t0) {
    nccl *p = c->impl;
    for (long spins = 0;; spins++) {
        cudaError_t e = cudaEventQuery(p->done[i]);
        if (e == cudaSuccess) break;
        if (e != cudaErrorNotReady) return cuda_fail(e, p->what[i]);
        ncclResult_t st;
        if (ncclCommGetAsyncError(p->comm, &st) == ncclSuccess && st != ncclSuccess && st != ncclInProgress) {
            ncclCommAbort(p->comm);
            p->comm = NULL;
            return nccl_fail(st, p->what[i]);
        }
        if (sq_now() - t0 > c->timeout_s) {
            ncclCommAbort(p->comm);
            p->comm = NULL;
            return sq_err("nccl: %s did not finish within %g s: a rank died or hangs", p->what[i], c->timeout_s);
        }
        pause_poll(spins);
    }
    p->busy[i] = false;
    /* Later work on the bound stream reads what the call wrote (the poll
     * above already saw it end; this keeps the order on the device too). */
    cudaError_t e = cudaStreamWaitEvent(p->follow, p->done[i], 0);
    return e == cudaSuccess ? 0 : cuda_fail(e, p->what[i]);
}

static int nc_wait(sq_comm *c, int req) {
    nccl *p = c->impl;
    if (req < 0 || req >= SLOTS || !p->busy[req]) return 0;
    double t0 = sq_now();
    int rc = wait_slot(c, req, t0);
    c->seconds += sq_now() - t0;
    return rc;
}

static int nc_wait_all(sq_comm *c) {
    nccl *p = c->impl;
    double t0 = sq_now();
    int rc = 0;
    for (int i = 0; i < SLOTS && !rc; i++)
        if (p->busy[i]) rc = wait_slot(c, i, t0);
    c->seconds += sq_now() - t0;
    return rc;
}

static void nc_progress(sq_comm *c) {}

/* A free slot (with all taken, the calls in flight are waited for first),
 * with the stream ordered after the work queued so far on the bound stream
 * (device: a call on the backend's buffers) or on the default stream (the
 * staging copies of a host buffer). */
static int begin(sq_comm *c, const char *what, bool device) {
    nccl *p = c->impl;
    if (!p->comm) return sq_err("nccl: %s after the communicator was aborted", what);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SLOTS; i++) {
            if (p->busy[i]) continue;
            cudaError_t e = cudaEventRecord(p->ready, device ? p->follow : 0);
            if (e == cudaSuccess) e = cudaStreamWaitEvent(p->stream, p->ready, 0);
            if (e != cudaSuccess) return cuda_fail(e, what);
            p->what[i] = what;
            return i;
        }
        if (pass == 0 && nc_wait_all(c)) return -1;
    }
    return sq_err("nccl: no collective slot free after waiting");
}

/* After the enqueue calls of slot i: record its event; wait unless req. */
static int end(sq_comm *c, int i, ncclResult_t r, int *req) {
    nccl *p = c->impl;
    if (r != ncclSuccess && r != ncclInProgress) return nccl_fail(r, p->what[i]);
    if (settle(c, p->what[i])) return -1;
    cudaError_t e = cudaEventRecord(p->done[i], p->stream);
    if (e != cudaSuccess) return cuda_fail(e, p->what[i]);
    p->busy[i] = true;
    if (req) {
        *req = i;
        return 0;
    }
    return nc_wait(c, i);
}

static int nc_allreduce(sq_comm *c, float *buf, size_t n, int *req) {
    nccl *p = c->impl;
    int i = begin(c, "all-reduce", true);
    if (i < 0) return -1;
    c->bytes += sq_comm_bytes_allreduce(c->world, 4.0 * (double)n);
    return end(c, i, ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, p->comm, p->stream), req);
}

static bool even(const sq_comm *c, const size_t *counts) {
    for (int r = 1; r < c->world; r++)
        if (counts[r] != counts[0]) return false;
    return true;
}

static int nc_reduce_scatter(sq_comm *c, const float *send, float *recv, const size_t *counts, int *req) {
    nccl *p = c->impl;
    int i = begin(c, "reduce-scatter", true);
    if (i < 0) return -1;
    size_t total = 0;
    for (int r = 0; r < c->world; r++) total += counts[r];
    c->bytes += sq_comm_bytes_sharded(c->world, 4.0 * (double)total);
    ncclResult_t res;
    if (even(c, counts)) {
        res = ncclReduceScatter(send, recv, counts[0], ncclFloat, ncclSum, p->comm, p->stream);
    } else {
        res = ncclGroupStart();
        size_t off = 0;
        for (int r = 0; r < c->world && (res == ncclSuccess || res == ncclInProgress); r++) {
            if (counts[r]) res = ncclReduce(send + off, recv, counts[r], ncclFloat, ncclSum, r, p->comm, p->stream);
            off += counts[r];
        }
        ncclResult_t g = ncclGroupEnd();
        if (res == ncclSuccess || res == ncclInProgress) res = g;
    }
    return end(c, i, res, req);
}

static int nc_allgather(sq_comm *c, float *buf, const size_t *counts, int *req) {
    nccl *p = c->impl;
    int i = begin(c, "all-gather", true);
    if (i < 0) return -1;
    size_t total = 0, mine = 0;
    for (int r = 0; r < c->world; r++) {
        if (r == c->rank) mine = total;
        total += counts[r];
    }
    c->bytes += sq_comm_bytes_sharded(c->world, 4.0 * (double)total);
    ncclResult_t res;
    if (even(c, counts)) {
        res = ncclAllGather(buf + mine, buf, counts[0], ncclFloat, p->comm, p->stream);
    } else {
        res = ncclGroupStart();
        size_t off = 0;
        for (int r = 0; r < c->world && (res == ncclSuccess || res == ncclInProgress); r++) {
            if (counts[r]) res = ncclBroadcast(buf + off, buf + off, counts[r], ncclFloat, r, p->comm, p->stream);
            off += counts[r];
        }
        ncclResult_t g = ncclGroupEnd();
        if (res == ncclSuccess || res == ncclInProgress) res = g;
    }
    return end(c, i, res, req);
}

static int staging(nccl *p, size_t bytes) {
    if (bytes <= p->scratch_bytes) return 0;
    if (p->scratch) cudaFree(p->scratch);
    p->scratch = NULL;
    p->scratch_bytes = 0;
    cudaError_t e = cudaMalloc(&p->scratch, bytes);
    if (e != cudaSuccess) return cuda_fail(e, "staging buffer");
    p->scratch_bytes = bytes;
    return 0;
}

/* Host buffer through the device staging buffer: in, the call, out. */
static int via_device(sq_comm *c, void *buf, size_t bytes, int root, ncclDataType_t type, size_t n, bool max_op) {
    nccl *p = c->impl;
    if (staging(p, bytes)) return -1;
    cudaError_t e = cudaMemcpy(p->scratch, buf, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) return cuda_fail(e, "staging");
    int i = begin(c, root >= 0 ? "broadcast" : "all-reduce", false);
    if (i < 0) return -1;
    c->bytes += root >= 0 ? (double)bytes : sq_comm_bytes_allreduce(c->world, (double)bytes);
    ncclResult_t r = root >= 0 ? ncclBroadcast(p->scratch, p->scratch, n, type, root, p->comm, p->stream)
                               : ncclAllReduce(p->scratch, p->scratch, n, type, max_op ? ncclMax : ncclSum, p->comm,
                                               p->stream);
    if (end(c, i, r, NULL)) return -1;
    e = cudaMemcpy(buf, p->scratch, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : cuda_fail(e, "staging");
}

static int nc_bcast(sq_comm *c, void *buf, size_t bytes, int root) {
    return via_device(c, buf, bytes, root, ncclUint8, bytes, false);
}

static int nc_allreduce_host(sq_comm *c, double *buf, size_t n, bool max_op) {
    return via_device(c, buf, n * sizeof *buf, -1, ncclFloat64, n, max_op);
}

static int nc_barrier(sq_comm *c) {
    double x = 0;
    return nc_allreduce_host(c, &x, 1, false);
}

static int nc_bind_stream(sq_comm *c, void *stream) {
    nccl *p = c->impl;
    p->follow = (cudaStream_t)stream;
    return 0;
}

static void nc_free(sq_comm *c) {
    if (!c) return;
    nccl *p = c->impl;
    if (p) {
        if (p->comm) {
            nc_wait_all(c);
            ncclCommFinalize(p->comm);
            settle(c, "finalize");
            if (p->comm) ncclCommDestroy(p->comm);
        }
        for (int i = 0; i < SLOTS; i++)
            if (p->done[i]) cudaEventDestroy(p->done[i]);
        if (p->ready) cudaEventDestroy(p->ready);
        if (p->stream) cudaStreamDestroy(p->stream);
        if (p->scratch) cudaFree(p->scratch);
        if (p->id_comm) p->id_comm->free(p->id_comm);
        free(p);
    }
    free(c);
}

/* The unique id from rank 0: by MPI under an MPI launcher, else through the
 * rendezvous file. */
static int share_id(const sq_launch *l, const char *rendezvous, nccl *p, ncclUniqueId *id, double timeout) {
    if (l->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(id);
        if (r != ncclSuccess) return nccl_fail(r, "ncclGetUniqueId");
    }
    if (l->world == 1) return 0;
    if (l->mpi) {
        if (sq_comm_mpi_open(l, &p->id_comm)) return -1;
        return p->id_comm->bcast(p->id_comm, id, sizeof *id, 0);
    }
    if (!rendezvous)
        return sq_err("--comm nccl: %d ranks from %s and no MPI launcher: give --rendezvous PATH on a filesystem "
                      "every rank sees", l->world, l->source);
    return sq_rendezvous(rendezvous, l, id, sizeof *id, timeout);
}

int sq_comm_nccl_open(const sq_launch *l, const char *rendezvous, sq_comm **out) {
    sq_comm *c = sq_calloc(1, sizeof *c);
    nccl *p = sq_calloc(1, sizeof *p);
    if (!c || !p) {
        free(c);
        free(p);
        return -1;
    }
    c->impl = p;
    c->name = "nccl";
    c->rank = l->rank;
    c->world = l->world;
    c->timeout_s = sq_comm_timeout();
    c->allreduce = nc_allreduce;
    c->reduce_scatter = nc_reduce_scatter;
    c->allgather = nc_allgather;
    c->bcast = nc_bcast;
    c->allreduce_host = nc_allreduce_host;
    c->barrier = nc_barrier;
    c->progress = nc_progress;
    c->wait = nc_wait;
    c->wait_all = nc_wait_all;
    c->free = nc_free;
    c->bind_stream = nc_bind_stream;
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev < 1) {
        sq_err("--comm nccl: no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        goto fail;
    }
    /* Each rank binds its GPU by local rank. */
    if ((e = cudaSetDevice(l->local_rank % ndev)) != cudaSuccess) {
        cuda_fail(e, "cudaSetDevice");
        goto fail;
    }
    if ((e = cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaEventCreateWithFlags(&p->ready, cudaEventDisableTiming)) != cudaSuccess) {
        cuda_fail(e, "stream");
        goto fail;
    }
    for (int i = 0; i < SLOTS; i++) {
        if ((e = cudaEventCreateWithFlags(&p->done[i], cudaEventDisableTiming)) != cudaSuccess) {
            cuda_fail(e, "events");
            goto fail;
        }
    }
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (share_id(l, rendezvous, p, &id, c->timeout_s)) goto fail;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&p->comm, l->world, id, l->rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) {
        nccl_fail(r, "ncclCommInitRankConfig");
        p->comm = NULL;
        goto fail;
    }
    if (settle(c, "communicator set-up")) goto fail;
    /* Every rank has read the id now: the file has served. */
    if (rendezvous && l->rank == 0 && l->world > 1 && !l->mpi) remove(rendezvous);
    *out = c;
    return 0;
fail:
    nc_free(c);
    return -1;
}

#else

int sq_comm_nccl_open(const sq_launch *l, const char *rendezvous, sq_comm **out) {
    return sq_err("--comm nccl: this sq-train was built without NCCL (needs nvcc and libnccl at build time)");
}

#endif
