#include "sq/atomic_file.h"
#include "sq/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sq_afile {
    FILE *fp;
    char *path, *tmp;
    int is_stdout;
};

static atomic_uint tmp_counter;

static char *dir_of(const char *path) {
    char *copy = sq_strdup(path);
    if (!copy) return NULL;
    char *d = sq_strdup(dirname(copy));
    free(copy);
    return d;
}

int sq_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sq_err_sys("%s", path);
    int rc = fsync(fd);
    /* Some filesystems refuse fsync on directories; the rename is still ordered. */
    if (rc && errno != EINVAL && errno != EBADF) {
        close(fd);
        return sq_err_sys("%s: fsync", path);
    }
    close(fd);
    return 0;
}

sq_afile *sq_afile_open(const char *path) {
    sq_afile *f = sq_calloc(1, sizeof *f);
    if (!f) return NULL;
    if (strcmp(path, "-") == 0) {
        f->fp = stdout;
        f->is_stdout = 1;
        return f;
    }
    f->path = sq_strdup(path);
    size_t n = strlen(path) + 64;
    f->tmp = sq_malloc(n);
    if (!f->path || !f->tmp) goto fail;
    snprintf(f->tmp, n, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        sq_err_sys("%s", path);
        goto fail;
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        sq_err_sys("%s", path);
        close(fd);
        unlink(f->tmp);
        goto fail;
    }
    return f;
fail:
    free(f->path);
    free(f->tmp);
    free(f);
    return NULL;
}

FILE *sq_afile_fp(sq_afile *f) { return f->fp; }
const char *sq_afile_tmpname(const sq_afile *f) { return f->tmp ? f->tmp : "-"; }

int sq_afile_commit(sq_afile *f) {
    int rc = 0;
    if (f->is_stdout) {
        if (fflush(stdout) || ferror(stdout)) rc = sq_err_sys("standard output");
        free(f);
        return rc;
    }
    if (fflush(f->fp) || ferror(f->fp)) rc = sq_err_sys("%s: write", f->path);
    if (!rc && fsync(fileno(f->fp))) rc = sq_err_sys("%s: fsync", f->path);
    if (fclose(f->fp) && !rc) rc = sq_err_sys("%s: close", f->path);
    if (!rc && rename(f->tmp, f->path)) rc = sq_err_sys("%s: rename", f->path);
    if (rc) {
        unlink(f->tmp);
    } else {
        char *d = dir_of(f->path);
        if (d) {
            rc = sq_fsync_path(d);
            free(d);
        }
    }
    free(f->path);
    free(f->tmp);
    free(f);
    return rc;
}

void sq_afile_abort(sq_afile *f) {
    if (!f) return;
    if (!f->is_stdout) {
        fclose(f->fp);
        unlink(f->tmp);
    }
    free(f->path);
    free(f->tmp);
    free(f);
}

int sq_write_file_atomic(const char *path, const void *data, size_t len) {
    sq_afile *f = sq_afile_open(path);
    if (!f) return -1;
    if (len && fwrite(data, 1, len, sq_afile_fp(f)) != len) {
        sq_err_sys("%s: write", path);
        sq_afile_abort(f);
        return -1;
    }
    return sq_afile_commit(f);
}

int sq_read_file(const char *path, size_t max_bytes, char **data, size_t *len) {
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp) return sq_err_sys("%s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = sq_malloc(cap + 1);
    if (!buf) goto fail;
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) {
                sq_err("%s: file is larger than %zu bytes", path, max_bytes);
                goto fail;
            }
            cap *= 2;
            char *nb = sq_realloc(buf, cap + 1);
            if (!nb) goto fail;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                sq_err_sys("%s: read", path);
                goto fail;
            }
            break;
        }
    }
    if (n > max_bytes) {
        sq_err("%s: file is larger than %zu bytes", path, max_bytes);
        goto fail;
    }
    if (fp != stdin) fclose(fp);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    if (fp != stdin) fclose(fp);
    return -1;
}

char *sq_dir_begin(const char *final) {
    size_t n = strlen(final) + 64;
    char *tmp = sq_malloc(n);
    if (!tmp) return NULL;
    snprintf(tmp, n, "%s.tmp-%ld-%u", final, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
    if (mkdir(tmp, 0755)) {
        sq_err_sys("%s", tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

int sq_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? 0 : sq_err_sys("%s", path);
    if (!S_ISDIR(st.st_mode)) return unlink(path) ? sq_err_sys("%s", path) : 0;
    DIR *d = opendir(path);
    if (!d) return sq_err_sys("%s", path);
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *p = sq_malloc(n);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, n, "%s/%s", path, e->d_name);
        rc = sq_rmtree(p);
        free(p);
    }
    closedir(d);
    if (!rc && rmdir(path)) rc = sq_err_sys("%s", path);
    return rc;
}

int sq_dir_commit(const char *tmp, const char *final) {
    if (sq_fsync_path(tmp)) return -1;
    struct stat st;
    char *old = NULL;
    if (stat(final, &st) == 0) {
        size_t n = strlen(final) + 64;
        old = sq_malloc(n);
        if (!old) return -1;
        snprintf(old, n, "%s.old-%ld-%u", final, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
        if (rename(final, old)) {
            free(old);
            return sq_err_sys("%s: rename", final);
        }
    }
    if (rename(tmp, final)) {
        int rc = sq_err_sys("%s: rename", final);
        if (old) rename(old, final);
        free(old);
        return rc;
    }
    char *d = dir_of(final);
    int rc = d ? sq_fsync_path(d) : -1;
    free(d);
    if (old) {
        sq_rmtree(old);
        free(old);
    }
    return rc;
}
