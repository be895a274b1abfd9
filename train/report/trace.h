/* The --profile trace (contract between the trainer and the profiler):
 * host phases are recorded between begin/end calls while recording is on
 * (a few steps after warm-up) and written as Chrome trace-event JSON
 * (RUNDIR/trace.json).  All calls are no-ops on a NULL trace, except that a
 * build with CUDA also makes the phases NVTX ranges and the steps NVTX marks,
 * trace or not, for Nsight Systems. */
#ifndef SQ_TRAIN_TRACE_H
#define SQ_TRAIN_TRACE_H

#include <stdbool.h>

typedef struct sq_trace sq_trace;

/* Records steps [first_step, first_step + n_steps). */
sq_trace *sq_trace_open(const char *path, long first_step, long n_steps);
/* The step now starting; recording turns on and off by it. */
void sq_trace_step(sq_trace *t, long step);
/* Host phases: "data", "forward", "backward", "optimizer", "checkpoint", "comm". */
void sq_trace_begin(sq_trace *t, const char *phase);
void sq_trace_end(sq_trace *t, const char *phase);
/* A finished GPU kernel or communication interval (times in seconds since
 * the trace opened), on track "gpu" or "comm". */
void sq_trace_span(sq_trace *t, const char *track, const char *name, const char *family,
                   int layer, double t0, double t1, double flops, double bytes);
bool sq_trace_recording(const sq_trace *t);
/* Seconds since the trace opened, the clock of sq_trace_span (0 for NULL). */
double sq_trace_now(const sq_trace *t);
/* Writes trace.json atomically and prints the per-family summary table. */
int sq_trace_close(sq_trace *t);

#endif
