/* Dev EM/F1 during training (--eval-data FEATDIR --eval-dataset DEV.json):
 * logits of every dev feature from the training backend, answers by the
 * shared HF post-processing (sq/postprocess.h), scores by the official
 * scripts' rules (sq/score.h) -- what sq-eval reports for the same logits. */
#ifndef SQ_TRAIN_DEV_EVAL_H
#define SQ_TRAIN_DEV_EVAL_H

#include "core/backend.h"

typedef struct sq_dev_eval sq_dev_eval;

/* Opens and checks both inputs; *max_T is the longest dev feature (the
 * backend must be sized for it). */
int sq_dev_eval_open(const char *featdir, const char *dataset, sq_dev_eval **out, int *max_T);
/* Runs micro-batches of up to max_B rows through be (inference mode). */
int sq_dev_eval_run(sq_dev_eval *e, sq_backend *be, int max_B, double *exact, double *f1);
void sq_dev_eval_close(sq_dev_eval *e);

#endif
