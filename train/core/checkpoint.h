/* Training checkpoints: RUNDIR/checkpoints/step-NNNNNNNN/ holding
 *   model.safetensors      parameters (HF names, F32, config in the metadata;
 *                          usable as --init)
 *   optimizer.safetensors  AdamW moments "exp_avg.<name>", "exp_avg_sq.<name>"
 *   state.json             steps done, epoch position, what must not
 *                          change on resume (seed, global batch, total steps),
 *                          the dev-F1 history that --save-best and
 *                          --early-stop go on from, and whether the run ended
 *                          there
 * built under a temporary name and renamed, so a directory with the final
 * name is complete; the newest two are kept.  The shuffle (keyed by seed and
 * epoch) and dropout (keyed by seed and step) have no state of their own. */
#ifndef SQ_TRAIN_CHECKPOINT_H
#define SQ_TRAIN_CHECKPOINT_H

#include "core/model.h"

typedef struct {
    long step;          /* optimizer steps done */
    long total_steps;
    long global_batch;
    long steps_per_epoch;
    uint64_t seed;
    double best_f1;        /* the best dev F1 so far, when best_step > 0 */
    long best_step;        /* its step; 0: no evaluation yet */
    long evals_since_best; /* evaluations since, without a better F1 */
    bool complete;         /* the run's last checkpoint (its end, or an early stop) */
} sq_ckpt_state;

/* Writes the host buffers of m (pull them first). */
int sq_ckpt_save(const char *rundir, const sq_model *m, const sq_ckpt_state *s);
/* *path: the newest complete checkpoint (malloc'd), NULL when there is none. */
int sq_ckpt_latest(const char *rundir, char **path);
/* Loads params and moments into m (push them after) and the state. */
int sq_ckpt_load(const char *path, sq_model *m, sq_ckpt_state *s);
/* state.json of the checkpoint folder dir alone (every strategy writes the
 * same one); keys added after the first release are optional. */
int sq_ckpt_state_save(const char *dir, const sq_ckpt_state *s);
int sq_ckpt_state_load(const char *dir, sq_ckpt_state *s);

#endif
