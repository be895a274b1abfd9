#include "sq/json.h"
#include "sq/atomic_file.h"
#include "sq/error.h"

#include <stdio.h>
#include <string.h>

/* The largest JSON document sq reads: SQuAD train is 30 MB. */
#define SQ_JSON_MAX ((size_t)1 << 31)

static json_t *fail(const char *name, const json_error_t *e) {
    sq_err("%s:%d:%d: %s", name, e->line, e->column, e->text);
    return NULL;
}

json_t *sq_json_loadb(const char *name, const char *buf, size_t len) {
    json_error_t e;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    return j ? j : fail(name, &e);
}

json_t *sq_json_load(const char *path) {
    char *buf;
    size_t len;
    if (sq_read_file(path, SQ_JSON_MAX, &buf, &len)) return NULL;
    json_t *j = sq_json_loadb(strcmp(path, "-") ? path : "<stdin>", buf, len);
    free(buf);
    return j;
}

int sq_json_save(const char *path, const json_t *j, size_t flags) {
    sq_afile *f = sq_afile_open(path);
    if (!f) return -1;
    if (json_dumpf(j, sq_afile_fp(f), flags) || fputc('\n', sq_afile_fp(f)) == EOF) {
        sq_err("%s: cannot write JSON", path);
        sq_afile_abort(f);
        return -1;
    }
    return sq_afile_commit(f);
}
