/* Where a distributed sq-train process sits: rank, world size and local rank
 * from the launcher's environment (read before MPI starts), and the
 * rendezvous file that carries a small blob (the NCCL unique id) from rank 0
 * to the others when no MPI launcher can. */
#ifndef SQ_TRAIN_LAUNCH_H
#define SQ_TRAIN_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int rank, world, local_rank;
    const char *source; /* "mpirun", "pmi", "slurm", "env" or "none" */
    bool mpi;           /* an MPI launcher started us: MPI_Init knows the world */
} sq_launch;

/* In order: Open MPI's mpirun (OMPI_COMM_WORLD_*), a PMI launcher (PMI_RANK /
 * PMI_SIZE, PMIX_RANK with Slurm's sizes), Slurm (SLURM_PROCID, SLURM_NTASKS,
 * SLURM_LOCALID), SQ_RANK / SQ_WORLD_SIZE / SQ_LOCAL_RANK, else one process.
 * An inconsistent environment is an error. */
int sq_launch_detect(sq_launch *l);

/* Rank 0 writes blob[n] to path atomically (temporary name, fsync, rename)
 * tagged with the world size; the other ranks wait for it up to timeout_s
 * seconds and read it.  The path must be new for each launch (Slurm: job id
 * and restart count in the name). */
int sq_rendezvous(const char *path, const sq_launch *l, void *blob, size_t n, double timeout_s);

#endif
