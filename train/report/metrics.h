/* Where a training run reports (contract between the trainer and the
 * reporting code): RUNDIR/metrics.jsonl, TensorBoard scalars in RUNDIR/tb/,
 * and the progress shown on stderr (a redrawn bar on a terminal, a plain line
 * every log_every steps otherwise; nothing when quiet; only rank 0 prints).
 * The trainer calls sq_metrics_step after every optimizer step. */
#ifndef SQ_TRAIN_METRICS_H
#define SQ_TRAIN_METRICS_H

#include <stdbool.h>

typedef struct {
    long step;             /* optimizer steps done, 1-based */
    long total_steps;
    double epoch;          /* fractional epoch: epochs done + position in this one */
    double loss, lr, grad_norm;
    double samples_per_s, tokens_per_s; /* over the last logging interval */
    double mfu;            /* 0 when unknown (CPU) */
    double comm_bytes, comm_s; /* per step, 0 for one process */
    double gpu_mem_gib;    /* 0 on the CPU */
} sq_step_metrics;

typedef struct sq_metrics sq_metrics;

/* rundir must exist.  from_step: the step the run starts from (0 when
 * fresh); what metrics.jsonl and tb/ hold of later steps (an earlier
 * attempt's) is removed first, then they are appended to. */
sq_metrics *sq_metrics_open(const char *rundir, int rank, bool quiet, int log_every, long from_step);
/* Writes a metrics.jsonl line every log_every steps (and on the last step). */
int sq_metrics_step(sq_metrics *m, const sq_step_metrics *s);
/* Dev EM/F1 at step (epoch: its fractional epoch, as the step lines'). */
int sq_metrics_eval(sq_metrics *m, long step, double epoch, double exact_match, double f1);
/* Flushes everything (the progress bar ends with a newline). */
int sq_metrics_close(sq_metrics *m);

#endif
