/* Atomic outputs: a committed file appears whole under its final name, an
 * aborted one leaves nothing, and a directory commit replaces the old
 * directory without leaving temporaries behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "sq/error.h"

static char dir[64];

static int setup_dir(void **state) {
    strcpy(dir, "/tmp/sq-test-atomic-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown_dir(void **state) {
    assert_int_equal(sq_rmtree(dir), 0);
    return 0;
}

static char *join(const char *a, const char *b) {
    char *p = malloc(strlen(a) + strlen(b) + 2);
    sprintf(p, "%s/%s", a, b);
    return p;
}

/* Number of entries in d (besides . and ..). */
static int entries(const char *d) {
    DIR *dp = opendir(d);
    assert_non_null(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

static void expect_content(const char *path, const char *want) {
    char *data;
    size_t len;
    assert_int_equal(sq_read_file(path, 1 << 20, &data, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    free(data);
}

static void test_commit(void **state) {
    char *p = join(dir, "out.txt");
    sq_afile *f = sq_afile_open(p);
    assert_non_null(f);
    fputs("hello\n", sq_afile_fp(f));
    /* until commit, only the temporary exists */
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(access(sq_afile_tmpname(f), F_OK), 0);
    assert_non_null(strstr(sq_afile_tmpname(f), "out.txt.tmp-"));
    assert_int_equal(sq_afile_commit(f), 0);
    expect_content(p, "hello\n");
    assert_int_equal(entries(dir), 1);
    /* a second commit replaces the content */
    assert_int_equal(sq_write_file_atomic(p, "bye", 3), 0);
    expect_content(p, "bye");
    assert_int_equal(entries(dir), 1);
    unlink(p);
    free(p);
}

static void test_abort(void **state) {
    char *p = join(dir, "aborted.txt");
    assert_int_equal(sq_write_file_atomic(p, "old", 3), 0);
    sq_afile *f = sq_afile_open(p);
    fputs("new but unfinished", sq_afile_fp(f));
    sq_afile_abort(f);
    expect_content(p, "old"); /* the previous file is untouched */
    assert_int_equal(entries(dir), 1);
    sq_afile_abort(NULL);
    unlink(p);
    free(p);
}

static void test_open_errors(void **state) {
    char *p = join(dir, "missing/x.txt");
    assert_null(sq_afile_open(p));
    assert_non_null(strstr(sq_errmsg(), "missing/x.txt"));
    assert_int_equal(entries(dir), 0);
    free(p);
    char *data;
    size_t len;
    p = join(dir, "big");
    assert_int_equal(sq_write_file_atomic(p, "0123456789", 10), 0);
    assert_int_equal(sq_read_file(p, 9, &data, &len), -1);
    assert_non_null(strstr(sq_errmsg(), "larger than 9 bytes"));
    assert_int_equal(sq_read_file(p, 10, &data, &len), 0);
    assert_int_equal(data[len], 0);
    free(data);
    unlink(p);
    free(p);
}

static void test_dir_commit(void **state) {
    char *final = join(dir, "features");
    /* first version */
    char *tmp = sq_dir_begin(final);
    assert_non_null(tmp);
    char *f = join(tmp, "a");
    assert_int_equal(sq_write_file_atomic(f, "1", 1), 0);
    free(f);
    assert_int_equal(access(final, F_OK), -1);
    assert_int_equal(sq_dir_commit(tmp, final), 0);
    free(tmp);
    f = join(final, "a");
    expect_content(f, "1");
    free(f);
    /* second version replaces the first entirely */
    tmp = sq_dir_begin(final);
    f = join(tmp, "b");
    assert_int_equal(sq_write_file_atomic(f, "2", 1), 0);
    free(f);
    assert_int_equal(sq_dir_commit(tmp, final), 0);
    free(tmp);
    f = join(final, "a");
    assert_int_equal(access(f, F_OK), -1);
    free(f);
    f = join(final, "b");
    expect_content(f, "2");
    free(f);
    assert_int_equal(entries(dir), 1); /* no .tmp- or .old- leftovers */
    assert_int_equal(entries(final), 1);
    /* an abandoned build is removed with sq_rmtree */
    tmp = sq_dir_begin(final);
    f = join(tmp, "c");
    assert_int_equal(sq_write_file_atomic(f, "3", 1), 0);
    free(f);
    assert_int_equal(sq_rmtree(tmp), 0);
    free(tmp);
    assert_int_equal(entries(dir), 1);
    assert_int_equal(sq_rmtree(final), 0);
    assert_int_equal(sq_rmtree(final), 0); /* already gone is fine */
    free(final);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_dir_commit),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
