/* Distributed training strategies around a backend (--strategy):
 *   single  one process, no communication;
 *   ddp     gradients all-reduced in buckets of --bucket-mb, in reverse layer
 *           order, each started by the backward's gradient hook as soon as
 *           its layers are done (overlapped with the rest of backward);
 *   zero1   gradients reduce-scattered after backward; each rank updates its
 *           shard of the flat buffer ([shard[r], shard[r+1])) with the
 *           backend's AdamW and keeps only that shard's moments; the updated
 *           parameters are all-gathered;
 *   zero2   as zero1, with the buckets reduce-scattered during backward;
 *   fsdp    parameters sharded too: each layer's are all-gathered before
 *           its forward and again before its backward (the next layer's
 *           gather started as one finishes), its gradients reduce-scattered
 *           right after.
 * The loop calls sq_dist_forward/backward instead of the backend's, and
 * sq_dist_step instead of sq_optimizer_step.  The batch is global and the
 * loss normalised over it (sq_batch), so gradients are summed, not averaged.
 * On the non-final micro-steps of --grad-accum no gradient moves. */
#ifndef SQ_TRAIN_DIST_H
#define SQ_TRAIN_DIST_H

#include "core/checkpoint.h"
#include "dist/comm.h"
#include "dist/launch.h"
#include "core/model.h"
#include "core/optim.h"

typedef enum { SQ_SINGLE, SQ_DDP, SQ_ZERO1, SQ_ZERO2, SQ_FSDP } sq_strategy;

typedef struct {
    const char *strategy;   /* NULL: single for one process, else ddp */
    const char *comm;       /* NULL: nccl on cuda, mpi on cpu */
    const char *rendezvous; /* NULL: none */
    double bucket_mb;       /* default 25 */
} sq_dist_opts;

typedef struct sq_dist sq_dist;

/* Parses a --strategy / --comm value; -1 with a message for anything else. */
int sq_strategy_parse(const char *s, sq_strategy *out);
const char *sq_strategy_name(sq_strategy s);

/* Where this process sits (environment only: usable while parsing options). */
int sq_dist_launch(sq_launch *l);
/* Starts the communication for device; before the model exists, so that the
 * ranks can meet (sq_dist_barrier) before touching the run directory. */
int sq_dist_open(const sq_dist_opts *o, const char *device, sq_dist **out);
int sq_dist_rank(const sq_dist *d);
int sq_dist_world(const sq_dist *d);
sq_strategy sq_dist_strategy(const sq_dist *d);
int sq_dist_barrier(sq_dist *d);
/* Binds the backend (after push): shards, buckets, rank 0's parameters to
 * every rank, and the memory report on stderr (every rank, unless quiet:
 * sq-train reports only with -v or --profile);
 * micro_rows x max_T is the largest micro-batch. */
int sq_dist_attach(sq_dist *d, sq_backend *be, int micro_rows, int max_T, bool quiet);

/* One micro-batch: forward (train), and backward with the strategy's hook;
 * final: the last micro-batch of the step, whose backward moves gradients. */
int sq_dist_forward(sq_dist *d, const sq_batch *b, double *loss);
int sq_dist_backward(sq_dist *d, const sq_batch *b, bool final);
/* sq_optimizer_step on the strategy's shard: waits for the gradients, the
 * global norm (reduced over shards), clipping, AdamW, the parameters back.
 * *loss: this rank's share of the step's loss in, the global batch's out. */
int sq_dist_step(sq_dist *d, const sq_optim *o, long step, double *loss, double *lr, double *grad_norm);
/* The whole parameter buffer on every rank (fsdp gathers it), in the
 * backend; before evaluation and the final save. */
int sq_dist_full_params(sq_dist *d);
/* Communication since the last call: bytes this rank moved and seconds it
 * waited. */
void sq_dist_take_stats(sq_dist *d, double *bytes, double *seconds);
/* v[n] summed over ranks, in place (throughput counters). */
int sq_dist_sum(sq_dist *d, double *v, int n);
/* True when any rank has flag set: the ranks stop together. */
int sq_dist_any(sq_dist *d, int flag, int *any);

/* Checkpoints: single and ddp as sq_ckpt_save (rank 0 writes the whole
 * model); zero and fsdp each rank its shard (shard-RRRRR.safetensors: params,
 * exp_avg, exp_avg_sq of its range) plus manifest.json and state.json from
 * rank 0, committed by rank 0's rename once every shard is written. */
int sq_dist_checkpoint(sq_dist *d, const char *rundir, const sq_ckpt_state *s);
/* Loads either kind into m's host buffers (a sharded one at any world size:
 * every rank reads every shard). */
int sq_dist_ckpt_load(const char *path, sq_model *m, sq_ckpt_state *s);

void sq_dist_close(sq_dist *d);

#endif
