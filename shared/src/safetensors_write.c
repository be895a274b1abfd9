/* Writing safetensors files: "__metadata__" first, then the tensors in the
 * order added, their data back to back; the header is padded with spaces so
 * the data starts 8-byte aligned (as the Python safetensors package does),
 * and the file appears atomically. */
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Same bound as the reader's, so whatever is written can be read back. */
#define MAX_HEADER 100000000u

typedef struct {
    char *name;
    sq_dtype dtype;
    int ndim;
    int64_t shape[SQ_MAX_DIMS];
    size_t nbytes;
    const void *data;
} entry;

struct sq_stw {
    entry *t;
    size_t n, cap;
    json_t *meta; /* object, insertion-ordered */
};

sq_stw *sq_stw_new(void) {
    sq_stw *w = sq_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->meta = json_object();
    if (!w->meta) {
        free(w);
        sq_err("out of memory");
        return NULL;
    }
    return w;
}

int sq_stw_add(sq_stw *w, const char *name, sq_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (strcmp(name, "__metadata__") == 0) return sq_err("'__metadata__' cannot name a tensor");
    if ((unsigned)dtype >= SQ_DTYPE_COUNT) return sq_err("tensor '%s': bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > SQ_MAX_DIMS)
        return sq_err("tensor '%s': %d dimensions, sq allows 0 to %d", name, ndim, SQ_MAX_DIMS);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0) return sq_err("tensor '%s' added twice", name);
    size_t nbytes = sq_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return sq_err("tensor '%s': negative dimension %lld", name, (long long)shape[i]);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && nbytes > SIZE_MAX / (uint64_t)shape[i]) return sq_err("tensor '%s': shape is too large", name);
        nbytes *= (size_t)shape[i];
    }
    if (nbytes && !data) return sq_err("tensor '%s': no data", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        entry *p = sq_realloc(w->t, cap * sizeof *p);
        if (!p) return -1;
        w->t = p;
        w->cap = cap;
    }
    entry *e = &w->t[w->n];
    *e = (entry){.dtype = dtype, .ndim = ndim, .nbytes = nbytes, .data = data};
    if (ndim) memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    e->name = sq_strdup(name);
    if (!e->name) return -1;
    w->n++;
    return 0;
}

int sq_stw_meta(sq_stw *w, const char *key, const char *value) {
    json_t *v = json_string(value);
    if (!v || json_object_set_new(w->meta, key, v))
        return sq_err("__metadata__ '%s': cannot store (invalid UTF-8 or out of memory)", key);
    return 0;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static char *build_header(const sq_stw *w, size_t *len) {
    json_t *h = json_object(), *tmp = NULL;
    char *s = NULL;
    if (!h) goto oom;
    if (json_object_size(w->meta) && json_object_set(h, "__metadata__", w->meta)) goto oom;
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const entry *e = &w->t[i];
        json_t *shape = json_array();
        tmp = json_pack("{s:s, s:o, s:[I, I]}", "dtype", sq_dtype_name(e->dtype), "shape", shape, "data_offsets",
                        (json_int_t)off, (json_int_t)(off + e->nbytes));
        if (!tmp) goto oom;
        for (int d = 0; d < e->ndim; d++)
            if (json_array_append_new(shape, json_integer(e->shape[d]))) goto oom;
        if (json_object_set_new(h, e->name, tmp)) {
            tmp = NULL;
            sq_err("tensor '%s': name is not valid UTF-8", e->name);
            goto fail;
        }
        tmp = NULL;
        off += e->nbytes;
    }
    s = json_dumps(h, JSON_COMPACT);
    if (!s) goto oom;
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7;
    if (padded > MAX_HEADER) {
        sq_err("header is %zu bytes, more than the %u-byte limit", padded, MAX_HEADER);
        goto fail;
    }
    char *out = sq_malloc(padded);
    if (!out) goto fail;
    memcpy(out, s, n);
    memset(out + n, ' ', padded - n);
    free(s);
    json_decref(h);
    *len = padded;
    return out;
oom:
    sq_err("out of memory building a safetensors header");
fail:
    json_decref(tmp);
    free(s);
    json_decref(h);
    return NULL;
}

int sq_stw_write(sq_stw *w, const char *path) {
    size_t hlen;
    char *header = build_header(w, &hlen);
    if (!header) return sq_err_ctx("%s", path);
    sq_afile *f = sq_afile_open(path);
    if (!f) {
        free(header);
        return -1;
    }
    FILE *fp = sq_afile_fp(f);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
    for (size_t i = 0; ok && i < w->n; i++)
        ok = !w->t[i].nbytes || fwrite(w->t[i].data, 1, w->t[i].nbytes, fp) == w->t[i].nbytes;
    free(header);
    if (!ok) {
        sq_err_sys("%s: write", path);
        sq_afile_abort(f);
        return -1;
    }
    return sq_afile_commit(f);
}

void sq_stw_free(sq_stw *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    free(w);
}
