/* What both communication backends share: the deadline, the byte formulas
 * and the split of a range into per-rank parts. */
#include "dist/comm.h"

#include <stdlib.h>

double sq_comm_timeout(void) {
    const char *s = getenv("SQ_COMM_TIMEOUT");
    char *end;
    double t = s ? strtod(s, &end) : 0;
    return s && end != s && !*end && t > 0 ? t : SQ_COMM_TIMEOUT_DEFAULT;
}

/* Ring all-reduce: a reduce-scatter then an all-gather, each moving
 * (N-1)/N of the buffer through every rank (the NCCL tests' bus bandwidth). */
double sq_comm_bytes_allreduce(int world, double bytes) { return 2.0 * (world - 1) / world * bytes; }
double sq_comm_bytes_sharded(int world, double bytes) { return (double)(world - 1) / world * bytes; }

void sq_comm_split(const size_t *shard, int world, size_t lo, size_t hi, size_t *counts) {
    for (int r = 0; r < world; r++) {
        size_t a = shard[r] > lo ? shard[r] : lo, b = shard[r + 1] < hi ? shard[r + 1] : hi;
        counts[r] = b > a ? b - a : 0;
    }
}
