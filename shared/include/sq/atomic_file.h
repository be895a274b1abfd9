/* Outputs that never appear half-written: data goes to a temporary file in
 * the target's directory, which is fsynced and renamed over the final name on
 * commit, and removed on abort.  "-" names standard output (written directly). */
#ifndef SQ_ATOMIC_FILE_H
#define SQ_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct sq_afile sq_afile;

/* NULL on error (sq_errmsg says why).  The sq_afile owns the FILE. */
sq_afile *sq_afile_open(const char *path);
FILE *sq_afile_fp(sq_afile *f);
const char *sq_afile_tmpname(const sq_afile *f);
/* Flushes, fsyncs, renames and fsyncs the directory; frees f either way. */
int sq_afile_commit(sq_afile *f);
/* Removes the temporary file and frees f (NULL is allowed). */
void sq_afile_abort(sq_afile *f);

/* Whole-buffer convenience: write len bytes atomically to path. */
int sq_write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file ("-" = stdin) into a malloc'd buffer with a NUL after
 * the data; refuses files larger than max_bytes. */
int sq_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/* Directories built under a temporary name, then swapped in: create
 * "<final>.tmp-<pid>-<n>" (returned, caller frees), fill it, then
 * sq_dir_commit() fsyncs it and renames it over final (an existing final is
 * moved aside and removed only after the new one is in place). */
char *sq_dir_begin(const char *final);
int sq_dir_commit(const char *tmp, const char *final);
/* Removes a directory tree (for aborts and replaced outputs). */
int sq_rmtree(const char *path);
/* fsync a file or directory by path. */
int sq_fsync_path(const char *path);

#endif
