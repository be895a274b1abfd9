/* sq-inspect for feature directories (or one shard): one line per feature,
 *   {"type":"feature","index":i,"example":"<question id>","input_ids":[...],
 *    "token_type_ids":[...],"start_position":s,"end_position":e,
 *    "offsets":[null|[start,end],...]}
 * unpadded, in feature order; "example" is null for a shard without its
 * directory.  Every shard is read and checked before the first line.  The
 * lines are formatted by hand: the whole train set is ~15 M numbers. */
#include "inspect.h"
#include "sq/error.h"
#include "sq/features.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Appends v in decimal at p; returns the new end. */
static char *put_uint(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s) {
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* Worst case per token: ",[4294967295,4294967295]" and ",65535" and ",1". */
#define PER_TOKEN 48
#define LINE_FIXED 256

static void print_feature(FILE *out, char *buf, uint64_t index, const char *example, const sq_feature *f) {
    char *p = put_str(buf, "{\"type\":\"feature\",\"index\":");
    p = put_uint(p, index);
    p = put_str(p, ",\"example\":");
    fwrite(buf, 1, (size_t)(p - buf), out);
    if (example) emit_string(out, example);
    else fputs("null", out);
    p = put_str(buf, ",\"input_ids\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        p = put_uint(p, f->ids[k]);
    }
    p = put_str(p, "],\"token_type_ids\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        *p++ = k >= f->type1_start ? '1' : '0';
    }
    p = put_str(p, "],\"start_position\":");
    p = put_uint(p, f->start_position);
    p = put_str(p, ",\"end_position\":");
    p = put_uint(p, f->end_position);
    p = put_str(p, ",\"offsets\":[");
    for (uint32_t k = 0; k < f->len; k++) {
        if (k) *p++ = ',';
        if (f->offsets[2 * k] == SQ_NO_OFFSET && f->offsets[2 * k + 1] == SQ_NO_OFFSET) {
            p = put_str(p, "null");
        } else {
            *p++ = '[';
            p = put_uint(p, f->offsets[2 * k]);
            *p++ = ',';
            p = put_uint(p, f->offsets[2 * k + 1]);
            *p++ = ']';
        }
    }
    p = put_str(p, "]}\n");
    fwrite(buf, 1, (size_t)(p - buf), out);
}

int inspect_features(const char *path, FILE *out, bool values) {
    sq_features *f;
    if (sq_features_open(path, &f)) return -1;
    int rc = sq_features_load_all(f);
    size_t n = sq_features_count(f);
    uint64_t base = sq_features_base(f);
    char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        sq_feature x;
        if ((rc = sq_features_get(f, i, &x))) break;
        size_t need = LINE_FIXED + (size_t)x.len * PER_TOKEN;
        if (need > cap) {
            free(buf);
            if (!(buf = sq_malloc(cap = need))) {
                rc = -1;
                break;
            }
        }
        print_feature(out, buf, base + i, sq_features_example_id(f, x.example), &x);
    }
    free(buf);
    sq_features_close(f);
    if (!rc && ferror(out)) rc = sq_err("%s: write error", path);
    return rc;
}
