#include "dist/launch.h"

#include "sq/atomic_file.h"
#include "sq/cli.h"
#include "sq/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The integer value of environment variable name: 1 and *v when set, 0 when
 * not, -1 (error) when set to anything but an integer in [0, 2^30). */
static int env_int(const char *name, int *v) {
    const char *s = getenv(name);
    if (!s) return 0;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < 0 || x >= 1L << 30)
        return sq_err("%s: '%s' is not a non-negative integer", name, s);
    *v = (int)x;
    return 1;
}

/* Reads the three variables of one launcher; 1 when its rank is set. */
static int from(const char *rank, const char *size, const char *local, sq_launch *l) {
    int r = env_int(rank, &l->rank);
    if (r <= 0) return r;
    int s = env_int(size, &l->world), lr = 0;
    if (s < 0 || (lr = env_int(local, &l->local_rank)) < 0) return -1;
    if (!s) return sq_err("%s is set but %s is not", rank, size);
    if (!lr) l->local_rank = 0;
    return 1;
}

int sq_launch_detect(sq_launch *l) {
    *l = (sq_launch){0, 1, 0, "none", false};
    static const struct {
        const char *rank, *size, *local, *source;
        bool mpi;
    } launchers[] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "mpirun", true},
        {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "pmi", true},
        {"PMIX_RANK", "SLURM_NTASKS", "SLURM_LOCALID", "pmi", true},
        {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "slurm", false},
        {"SQ_RANK", "SQ_WORLD_SIZE", "SQ_LOCAL_RANK", "env", false},
    };
    for (size_t i = 0; i < sizeof launchers / sizeof *launchers; i++) {
        int rc = from(launchers[i].rank, launchers[i].size, launchers[i].local, l);
        if (rc < 0) return -1;
        if (!rc) continue;
        l->source = launchers[i].source;
        l->mpi = launchers[i].mpi;
        if (l->world < 1 || l->rank >= l->world)
            return sq_err("%s: rank %d outside a world of %d", launchers[i].rank, l->rank, l->world);
        if (l->local_rank >= l->world)
            return sq_err("%s: local rank %d outside a world of %d", launchers[i].local, l->local_rank, l->world);
        return 0;
    }
    return 0;
}

#define MAGIC "sq-rendezvous 1"

static int write_blob(const char *path, const sq_launch *l, const unsigned char *blob, size_t n) {
    size_t cap = 64 + 2 * n;
    char *text = sq_malloc(cap);
    if (!text) return -1;
    size_t k = (size_t)snprintf(text, cap, "%s world %d\n", MAGIC, l->world);
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(text + k, cap - k, "%02x", blob[i]);
    text[k++] = '\n';
    int rc = sq_write_file_atomic(path, text, k);
    free(text);
    return rc ? sq_err_ctx("rendezvous") : 0;
}

/* 1 when path holds a complete blob for this world, 0 when it does not exist
 * yet, -1 when it holds something else. */
static int read_blob(const char *path, const sq_launch *l, unsigned char *blob, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : sq_err_sys("rendezvous %s", path);
    char head[64];
    int world = -1, rc = 1;
    if (!fgets(head, sizeof head, f) || sscanf(head, MAGIC " world %d", &world) != 1)
        rc = sq_err("rendezvous %s: not a rendezvous file", path);
    else if (world != l->world)
        rc = sq_err("rendezvous %s: written for a world of %d, this one has %d (a previous launch's file?)", path,
                    world, l->world);
    for (size_t i = 0; rc == 1 && i < n; i++) {
        unsigned x;
        if (fscanf(f, "%2x", &x) != 1) rc = sq_err("rendezvous %s: truncated", path);
        blob[i] = (unsigned char)x;
    }
    fclose(f);
    return rc;
}

int sq_rendezvous(const char *path, const sq_launch *l, void *blob, size_t n, double timeout_s) {
    if (l->rank == 0) return write_blob(path, l, blob, n);
    double t0 = sq_now();
    for (;;) {
        int rc = read_blob(path, l, blob, n);
        if (rc) return rc < 0 ? -1 : 0;
        if (sq_now() - t0 > timeout_s)
            return sq_err("rendezvous %s: rank 0 did not write it within %g s (is the path on a filesystem "
                          "every node shares?)", path, timeout_s);
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
}
