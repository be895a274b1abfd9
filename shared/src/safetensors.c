/* Reading safetensors files, validated as strictly as the reference Rust
 * implementation (huggingface/safetensors, SafeTensors::deserialize): the
 * header is a JSON object, every tensor's byte range matches dtype x shape,
 * and the ranges tile the data section exactly (no overlap, no gap, no
 * trailing bytes).  Everything is checked before an sq_st is returned. */
#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/safetensors.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The Rust reader's own bound on the header (MAX_HEADER_SIZE). */
#define MAX_HEADER ((uint64_t)100000000)
/* Checkpoints with optimizer state are a few GB; the file is read whole. */
#define MAX_FILE ((size_t)1 << 40)

typedef struct {
    char *key, *value;
} meta_entry;

struct sq_st {
    uint8_t *buf;
    size_t len;
    sq_tensor *tensors; /* sorted by data offset */
    size_t n;
    size_t *by_name; /* indices into tensors, sorted by name */
    meta_entry *meta;
    size_t n_meta;
    char *names; /* storage of tensor names */
};

typedef struct {
    size_t begin, end, order;
} range;

static int cmp_range(const void *a, const void *b, void *unused) {
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_name(const void *a, const void *b, void *tensors) {
    const sq_tensor *t = tensors;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

/* "[2, 3]" for messages. */
static void shape_str(const sq_tensor *t, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < t->ndim && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

/* A JSON integer in [0, max], or an error naming what it is. */
static int get_uint(const json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i > max) return -1;
    *out = (uint64_t)i;
    return 0;
}

static int parse_shape(const char *name, const json_t *shape, sq_tensor *t) {
    if (!json_is_array(shape)) return sq_err("tensor '%s': shape is not an array", name);
    size_t nd = json_array_size(shape);
    if (nd > SQ_MAX_DIMS) return sq_err("tensor '%s': %zu dimensions, sq allows at most %d", name, nd, SQ_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (get_uint(json_array_get(shape, i), INT64_MAX, &d))
            return sq_err("tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        t->shape[i] = (int64_t)d;
        if (d && numel > SIZE_MAX / 8 / d) overflow = 1;
        else numel *= d;
    }
    /* A zero dimension makes the product 0 even after an "overflow". */
    for (size_t i = 0; i < nd; i++)
        if (t->shape[i] == 0) numel = 0, overflow = 0;
    if (overflow) return sq_err("tensor '%s': shape is too large", name);
    t->numel = (size_t)numel;
    t->nbytes = t->numel * sq_dtype_size(t->dtype);
    return 0;
}

static int parse_tensor(const char *name, const json_t *v, size_t data_len, sq_tensor *t, range *r) {
    if (!json_is_object(v)) return sq_err("tensor '%s': entry is not an object", name);
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)v, key, f) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return sq_err("tensor '%s': unknown field '%s'", name, key);
    }
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offs = json_object_get(v, "data_offsets");
    if (!dtype || !shape || !offs)
        return sq_err("tensor '%s': missing '%s'", name, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype)) return sq_err("tensor '%s': dtype is not a string", name);
    if (sq_dtype_parse(json_string_value(dtype), &t->dtype)) return sq_err_ctx("tensor '%s'", name);
    if (parse_shape(name, shape, t)) return -1;
    uint64_t b, e;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || get_uint(json_array_get(offs, 0), UINT64_MAX, &b) ||
        get_uint(json_array_get(offs, 1), UINT64_MAX, &e))
        return sq_err("tensor '%s': data_offsets is not [begin, end] with non-negative integers", name);
    if (b > e) return sq_err("tensor '%s': data_offsets [%llu, %llu] end before they begin", name,
                             (unsigned long long)b, (unsigned long long)e);
    if (e > data_len)
        return sq_err("tensor '%s': data_offsets [%llu, %llu] run past the data section (%zu bytes)", name,
                      (unsigned long long)b, (unsigned long long)e, data_len);
    if (e - b != t->nbytes) {
        char s[256];
        shape_str(t, s, sizeof s);
        return sq_err("tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %zu", name,
                      (unsigned long long)b, (unsigned long long)e, (unsigned long long)(e - b),
                      sq_dtype_name(t->dtype), s, t->nbytes);
    }
    r->begin = (size_t)b;
    r->end = (size_t)e;
    return 0;
}

static int parse_meta(sq_st *st, const json_t *m) {
    if (!json_is_object(m)) return sq_err("__metadata__ is not an object");
    size_t n = json_object_size(m);
    if (!n) return 0;
    st->meta = sq_calloc(n, sizeof *st->meta);
    if (!st->meta) return -1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)m, key, v) {
        if (!json_is_string(v)) return sq_err("__metadata__: value of '%s' is not a string", key);
        meta_entry *e = &st->meta[st->n_meta++];
        e->key = sq_strdup(key);
        e->value = sq_strdup(json_string_value(v));
        if (!e->key || !e->value) return -1;
    }
    return 0;
}

/* Fills st from its buffer; errors carry no file name (the caller adds it). */
static int parse(sq_st *st) {
    if (st->len < 8)
        return sq_err("truncated: %zu bytes, a safetensors file starts with an 8-byte header length", st->len);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)st->buf[i] << (8 * i);
    if (hlen > MAX_HEADER)
        return sq_err("header length %llu is larger than the %llu-byte limit", (unsigned long long)hlen,
                      (unsigned long long)MAX_HEADER);
    if (hlen > st->len - 8)
        return sq_err("header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)hlen,
                      st->len);
    /* The Rust reader insists on an object: the first byte must be '{'. */
    if (hlen == 0 || st->buf[8] != '{') return sq_err("header is not a JSON object");
    json_error_t je;
    json_t *h = json_loadb((const char *)st->buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!h) return sq_err("header is not valid JSON: byte %d of the header: %s", je.position, je.text);
    int rc = -1;
    size_t data_len = st->len - 8 - (size_t)hlen;
    range *ranges = NULL;
    sq_tensor *unsorted = NULL;
    if (!json_is_object(h)) {
        sq_err("header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(h) - (json_object_get(h, "__metadata__") ? 1 : 0);
    size_t names_len = 1;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) names_len += strlen(key) + 1;
    st->names = sq_malloc(names_len);
    if (!st->names) goto out;
    if (n) {
        ranges = sq_calloc(n, sizeof *ranges);
        unsorted = sq_calloc(n, sizeof *unsorted);
        st->tensors = sq_calloc(n, sizeof *st->tensors);
        st->by_name = sq_calloc(n, sizeof *st->by_name);
        if (!ranges || !unsorted || !st->tensors || !st->by_name) goto out;
    }
    size_t i = 0;
    char *np = st->names;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_meta(st, v)) goto out;
            continue;
        }
        sq_tensor *t = &unsorted[i];
        if (parse_tensor(key, v, data_len, t, &ranges[i])) goto out;
        size_t kl = strlen(key) + 1;
        memcpy(np, key, kl);
        t->name = np;
        t->data = st->buf + 8 + hlen + ranges[i].begin;
        np += kl;
        ranges[i].order = i;
        i++;
    }
    /* Byte ranges must tile [0, data_len): the reference reader's
     * "InvalidOffset" and "MetadataIncompleteBuffer" errors. */
    if (n) qsort_r(ranges, n, sizeof *ranges, cmp_range, NULL);
    size_t pos = 0;
    for (i = 0; i < n; i++) {
        const sq_tensor *t = &unsorted[ranges[i].order];
        if (ranges[i].begin < pos) {
            sq_err("tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s'", t->name, ranges[i].begin,
                   ranges[i].end, st->tensors[i - 1].name);
            goto out;
        }
        if (ranges[i].begin > pos) {
            sq_err("tensor '%s': %zu unused bytes before its data_offsets [%zu, %zu]", t->name, ranges[i].begin - pos,
                   ranges[i].begin, ranges[i].end);
            goto out;
        }
        st->tensors[i] = *t;
        pos = ranges[i].end;
    }
    if (pos != data_len) {
        sq_err("%zu bytes after the last tensor's data (data section is %zu bytes, tensors cover %zu)",
               data_len - pos, data_len, pos);
        goto out;
    }
    st->n = n;
    for (i = 0; i < n; i++) st->by_name[i] = i;
    if (n) qsort_r(st->by_name, n, sizeof *st->by_name, cmp_name, st->tensors);
    rc = 0;
out:
    free(ranges);
    free(unsorted);
    json_decref(h);
    return rc;
}

static int parse_owned(const char *name, uint8_t *buf, size_t len, sq_st **out) {
    sq_st *st = sq_calloc(1, sizeof *st);
    if (!st) {
        free(buf);
        return -1;
    }
    st->buf = buf;
    st->len = len;
    if (parse(st)) {
        sq_err_ctx("%s", name);
        sq_st_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

int sq_st_read(const char *path, sq_st **out) {
    char *buf;
    size_t len;
    if (sq_read_file(path, MAX_FILE, &buf, &len)) return -1;
    return parse_owned(path, (uint8_t *)buf, len, out);
}

int sq_st_parse(const char *name, const void *buf, size_t len, sq_st **out) {
    uint8_t *copy = sq_malloc(len ? len : 1);
    if (!copy) return -1;
    if (len) memcpy(copy, buf, len);
    return parse_owned(name, copy, len, out);
}

void sq_st_free(sq_st *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    free(st->tensors);
    free(st->by_name);
    free(st->names);
    free(st->buf);
    free(st);
}

size_t sq_st_count(const sq_st *st) { return st->n; }
const sq_tensor *sq_st_tensor(const sq_st *st, size_t i) { return i < st->n ? &st->tensors[i] : NULL; }

const sq_tensor *sq_st_find(const sq_st *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sq_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *sq_st_meta(const sq_st *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

size_t sq_st_meta_count(const sq_st *st) { return st->n_meta; }
const char *sq_st_meta_key(const sq_st *st, size_t i) { return i < st->n_meta ? st->meta[i].key : NULL; }
