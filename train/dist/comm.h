/* The communication layer of distributed sq-train: one small interface
 * (all-reduce, reduce-scatter, all-gather, broadcast, barrier) over fp32
 * buffers, asynchronous with a wait, with two backends: mpi (host memory:
 * CPU tensors, or GPU tensors staged through host memory) and nccl (device
 * memory, its own stream).  Every wait has a deadline, so a dead or hung
 * rank ends the job with an error instead of a silent hang.
 *
 * Layout of the sharded calls: a range of S floats is cut into world
 * consecutive parts of counts[0..world) floats (counts may differ, and may
 * be 0); rank r owns part r.  The caller owns every buffer; a buffer handed
 * to an asynchronous call must stay untouched until its wait returns. */
#ifndef SQ_TRAIN_COMM_H
#define SQ_TRAIN_COMM_H

#include "dist/launch.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sq_comm sq_comm;
struct sq_comm {
    const char *name; /* "mpi" or "nccl" */
    int rank, world;
    double timeout_s; /* a wait longer than this is an error */
    /* What the calls moved since the counters were last reset: bytes each
     * rank sends in the ring algorithms that NCCL and Open MPI use for large
     * messages (all-reduce 2(N-1)/N S, reduce-scatter and all-gather
     * (N-1)/N S, broadcast S, for S bytes), and the seconds spent blocked in
     * waits and synchronous calls. */
    double bytes, seconds;
    void *impl;
    /* In place: buf[n] becomes the sum over ranks.  *req names the call for
     * wait (NULL: the call waits itself). */
    int (*allreduce)(sq_comm *c, float *buf, size_t n, int *req);
    /* send holds the whole range; recv gets this rank's part summed over
     * ranks.  recv may be this rank's part of send (in place); the rest of
     * send is undefined after an in-place call. */
    int (*reduce_scatter)(sq_comm *c, const float *send, float *recv, const size_t *counts, int *req);
    /* In place: buf holds the whole range, this rank's part filled; every
     * part becomes the owner's. */
    int (*allgather)(sq_comm *c, float *buf, const size_t *counts, int *req);
    /* Raw bytes from root; buf is host memory on every backend. */
    int (*bcast)(sq_comm *c, void *buf, size_t bytes, int root);
    /* Host doubles, in place: sum (max_op false) or maximum over ranks. */
    int (*allreduce_host)(sq_comm *c, double *buf, size_t n, bool max_op);
    int (*barrier)(sq_comm *c);
    /* Lets pending calls advance (MPI makes progress only inside its calls). */
    void (*progress)(sq_comm *c);
    int (*wait)(sq_comm *c, int req);
    int (*wait_all)(sq_comm *c);
    void (*free)(sq_comm *c);
    /* Optional (NULL: host memory, nothing to order; mpi): the stream (a
     * cudaStream_t, sq_backend.stream) that writes and reads the device
     * buffers handed to allreduce, reduce_scatter and allgather.  Each such
     * call then starts after the work queued on that stream when it is made,
     * and its wait (wait or wait_all) also makes that stream's later work
     * start after it; unbound, both sides are the legacy default stream.  The
     * host-buffer calls (bcast, allreduce_host, barrier) are synchronous and
     * follow the default stream either way. */
    int (*bind_stream)(sq_comm *c, void *stream);
};

/* Seconds a collective may take before the job is declared hung
 * (SQ_COMM_TIMEOUT overrides). */
#define SQ_COMM_TIMEOUT_DEFAULT 600.0
double sq_comm_timeout(void);

/* Opens the mpi backend for launch l: MPI_Init (when l came from an MPI
 * launcher) and checks that MPI sees the same rank and world.  A world of one
 * without a launcher needs no MPI at all. */
int sq_comm_mpi_open(const sq_launch *l, sq_comm **out);
/* Opens the nccl backend on device l->local_rank: the unique id travels by
 * MPI_Bcast under an MPI launcher, else through the rendezvous file (NULL:
 * an error unless world is 1).  An error where NCCL is not compiled in. */
int sq_comm_nccl_open(const sq_launch *l, const char *rendezvous, sq_comm **out);

/* Bus bytes per rank of each call (the counters' formulas), for the
 * scaling model's check. */
double sq_comm_bytes_allreduce(int world, double bytes);
double sq_comm_bytes_sharded(int world, double bytes);

/* Counts of the parts of [lo, hi) owned by each rank when rank r owns
 * [shard[r], shard[r + 1]) of the flat buffer. */
void sq_comm_split(const size_t *shard, int world, size_t lo, size_t hi, size_t *counts);

#endif
