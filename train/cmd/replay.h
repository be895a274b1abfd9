/* sq-train replay as a function, for the command and the tests. */
#ifndef SQ_TRAIN_REPLAY_H
#define SQ_TRAIN_REPLAY_H

#include "core/optim.h"

typedef struct {
    const char *init, *config, *batches, *device, *out;
    int steps;
    sq_optim optim;        /* warmup_steps and total_steps (= steps) included */
    double hidden_dropout, attention_dropout;
    uint64_t seed;
} sq_replay_opts;

/* Writes out/ (forward, grads, final .safetensors and losses.json) atomically. */
int sq_replay(const sq_replay_opts *r);

#endif
