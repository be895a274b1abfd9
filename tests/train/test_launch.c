/* Launch detection and the pieces of the communication layer that need no
 * second process: rank and world from each launcher's environment (and the
 * errors for inconsistent ones), the rendezvous file between two forked
 * "ranks" (rank 0 late, a rank 0 that never comes: a timeout, a previous
 * launch's file: an error), the split of a range into shard parts, the byte
 * formulas, and the world-of-one communicator that runs without MPI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dist/comm.h"
#include "dist/launch.h"
#include "sq/error.h"

static const char *launch_vars[] = {
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK", "PMI_SIZE",
    "MPI_LOCALRANKID", "PMIX_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SQ_RANK", "SQ_WORLD_SIZE",
    "SQ_LOCAL_RANK"};

static void clear_env(void) {
    for (size_t i = 0; i < sizeof launch_vars / sizeof *launch_vars; i++) unsetenv(launch_vars[i]);
}

static void test_detect_none(void **state) {
    clear_env();
    sq_launch l;
    assert_int_equal(sq_launch_detect(&l), 0);
    assert_int_equal(l.rank, 0);
    assert_int_equal(l.world, 1);
    assert_false(l.mpi);
    assert_string_equal(l.source, "none");
}

static void test_detect_order(void **state) {
    clear_env();
    sq_launch l;
    setenv("SQ_RANK", "1", 1);
    setenv("SQ_WORLD_SIZE", "4", 1);
    setenv("SQ_LOCAL_RANK", "1", 1);
    assert_int_equal(sq_launch_detect(&l), 0);
    assert_int_equal(l.rank, 1);
    assert_int_equal(l.world, 4);
    assert_int_equal(l.local_rank, 1);
    assert_string_equal(l.source, "env");
    /* Slurm before SQ_*, mpirun before both. */
    setenv("SLURM_PROCID", "2", 1);
    setenv("SLURM_NTASKS", "3", 1);
    assert_int_equal(sq_launch_detect(&l), 0);
    assert_int_equal(l.rank, 2);
    assert_int_equal(l.world, 3);
    assert_int_equal(l.local_rank, 0);
    assert_string_equal(l.source, "slurm");
    assert_false(l.mpi);
    setenv("OMPI_COMM_WORLD_RANK", "0", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
    assert_int_equal(sq_launch_detect(&l), 0);
    assert_int_equal(l.world, 2);
    assert_true(l.mpi);
    assert_string_equal(l.source, "mpirun");
    clear_env();
}

static void test_detect_errors(void **state) {
    sq_launch l;
    clear_env();
    setenv("SQ_RANK", "2", 1);
    setenv("SQ_WORLD_SIZE", "2", 1);
    assert_int_equal(sq_launch_detect(&l), -1);
    assert_non_null(strstr(sq_errmsg(), "rank 2 outside a world of 2"));
    setenv("SQ_RANK", "one", 1);
    assert_int_equal(sq_launch_detect(&l), -1);
    assert_non_null(strstr(sq_errmsg(), "SQ_RANK"));
    unsetenv("SQ_WORLD_SIZE");
    setenv("SQ_RANK", "0", 1);
    assert_int_equal(sq_launch_detect(&l), -1);
    assert_non_null(strstr(sq_errmsg(), "SQ_WORLD_SIZE"));
    clear_env();
}

static void test_rendezvous(void **state) {
    char path[] = "/tmp/sq-test-rdv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    unsigned char blob[128];
    for (int i = 0; i < 128; i++) blob[i] = (unsigned char)(i * 37 + 11);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* rank 1: waits for rank 0's file */
        unsigned char got[128] = {0};
        sq_launch l1 = {1, 2, 1, "env", false};
        int rc = sq_rendezvous(path, &l1, got, sizeof got, 20);
        _exit(rc == 0 && !memcmp(got, blob, sizeof got) ? 0 : 1);
    }
    usleep(300 * 1000); /* rank 0 comes late */
    sq_launch l0 = {0, 2, 0, "env", false};
    assert_int_equal(sq_rendezvous(path, &l0, blob, sizeof blob, 20), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* A file from a launch of another size is refused, not used. */
    sq_launch l3 = {1, 3, 0, "env", false};
    assert_int_equal(sq_rendezvous(path, &l3, blob, sizeof blob, 1), -1);
    assert_non_null(strstr(sq_errmsg(), "written for a world of 2"));
    unlink(path);

    /* No rank 0: an error naming the path within the timeout. */
    sq_launch l1 = {1, 2, 0, "env", false};
    assert_int_equal(sq_rendezvous(path, &l1, blob, sizeof blob, 0.3), -1);
    assert_non_null(strstr(sq_errmsg(), "did not write it within"));
    assert_non_null(strstr(sq_errmsg(), path));
}

static void test_split(void **state) {
    size_t shard[4] = {0, 3, 6, 10}, counts[3];
    sq_comm_split(shard, 3, 0, 10, counts);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 3);
    assert_int_equal(counts[2], 4);
    sq_comm_split(shard, 3, 4, 7, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
    assert_true(sq_comm_bytes_allreduce(4, 100) == 150);
    assert_true(sq_comm_bytes_sharded(4, 100) == 75);
    assert_true(sq_comm_bytes_allreduce(1, 100) == 0);
}

static void test_world_of_one(void **state) {
    sq_launch l = {0, 1, 0, "none", false};
    sq_comm *c;
    assert_int_equal(sq_comm_mpi_open(&l, &c), 0);
    float buf[4] = {1, 2, 3, 4}, out[4] = {0};
    size_t counts[1] = {4};
    int req;
    assert_int_equal(c->allreduce(c, buf, 4, &req), 0);
    assert_int_equal(c->reduce_scatter(c, buf, out, counts, NULL), 0);
    assert_true(out[3] == 4 && buf[0] == 1);
    assert_int_equal(c->wait_all(c), 0);
    assert_true(c->bytes == 0);
    c->free(c);
    /* More ranks but no MPI launcher: the mpi backend says how to start them. */
    sq_launch two = {0, 2, 0, "env", false};
    assert_int_equal(sq_comm_mpi_open(&two, &c), -1);
    assert_non_null(strstr(sq_errmsg(), "mpirun"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_none),   cmocka_unit_test(test_detect_order), cmocka_unit_test(test_detect_errors),
        cmocka_unit_test(test_rendezvous),    cmocka_unit_test(test_split),        cmocka_unit_test(test_world_of_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
