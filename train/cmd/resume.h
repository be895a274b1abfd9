/* --resume: the run's settings come from RUNDIR/run.json, so that
 * `sq-train -o RUNDIR --resume` alone continues it.  An option given again
 * must agree with the run (the data by its manifest's sha256) or the resume
 * is refused naming every difference; threads, logging and checkpointing
 * may change, and --max-steps may grow (the run gets more steps).  Nothing
 * is written. */
#ifndef SQ_TRAIN_RESUME_H
#define SQ_TRAIN_RESUME_H

#include "cmd/train_opts.h"

typedef struct {
    long total_steps;   /* the run's, as run.json has it */
    bool complete;      /* RUNDIR/model.safetensors is there: the run ended */
    long done_step;     /* when complete: the step it ended at */
    bool stopped_early; /* when complete: by --early-stop */
} sq_resume;

/* Fills the options not given from RUNDIR/run.json (o->max_steps is then
 * the number of steps the run is to reach); -1 naming each option given
 * again that differs. */
int sq_resume_settings(train_opts *o, sq_resume *r);
/* sha256 of FEATDIR/manifest.json in hex ("" when unreadable). */
void sq_features_hash(const char *featdir, char hex[65]);

#endif
