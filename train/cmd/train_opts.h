/* sq-train's training options, shared by the command (train.c), the HF
 * names it accepts (hf_args.c) and --resume (resume.c), which fills the
 * options not given from RUNDIR/run.json and checks those given again.
 * `given` has bit (O_x - O_FIRST) set for every option on the command line. */
#ifndef SQ_TRAIN_OPTS_H
#define SQ_TRAIN_OPTS_H

#include "dist/dist.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    O_FIRST = 256,
    O_DATA = O_FIRST, O_STRATEGY, O_COMM, O_BUCKET, O_RDV, O_EDATA, O_EDS, O_INIT, O_CONFIG, O_EPOCHS, O_MAXSTEPS,
    O_BATCH, O_ACCUM, O_LR, O_WARMUP, O_WSTEPS, O_WD, O_CLIP, O_HD, O_AD, O_SEED, O_DEV, O_THR, O_CKPT,
    O_RESUME, O_LOG, O_PROF, O_PREC, O_PADDED, O_EVERY, O_BEST, O_EARLY,
    O_LAST
};
#define SQ_GIVEN(o, opt) (((o)->given >> ((opt) - O_FIRST)) & 1)

typedef struct {
    const char *data, *eval_data, *eval_dataset, *init, *config, *out, *device, *precision;
    long epochs, max_steps, batch, accum, warmup_steps, seed, threads, ckpt_every, log_every, profile;
    long eval_every, early_stop; /* 0: per epoch; 0: never */
    double lr, warmup, wd, clip, hdrop, adrop;
    bool resume, quiet, verbose, padded, save_best;
    int world, rank;
    sq_dist_opts dist;
    uint64_t given;
} train_opts;

/* Rewrites HF Trainer / run_qa option names in argv to sq's where the
 * meaning is the same; exits 2 naming sq's option where it differs. */
void sq_train_hf_args(int argc, char **argv);

#endif
