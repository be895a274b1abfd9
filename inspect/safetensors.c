/* sq-inspect for safetensors files. */
#include "inspect.h"
#include "sq/safetensors.h"

#include <inttypes.h>

/* Values are converted a chunk at a time, so a huge tensor needs no huge buffer. */
enum { CHUNK = 4096 };

static int print_values(FILE *out, const sq_tensor *t) {
    float f[CHUNK];
    int64_t v[CHUNK];
    int is_int = t->dtype == SQ_I32 || t->dtype == SQ_I64;
    size_t esize = sq_dtype_size(t->dtype);
    fputs(",\"values\":[", out);
    for (size_t at = 0; at < t->numel; at += CHUNK) {
        sq_tensor part = *t;
        part.numel = t->numel - at < CHUNK ? t->numel - at : CHUNK;
        part.data = (const char *)t->data + at * esize;
        if (is_int ? sq_tensor_to_i64(&part, v) : sq_tensor_to_f32(&part, f)) return -1;
        for (size_t i = 0; i < part.numel; i++) {
            if (at + i) fputc(',', out);
            if (is_int)
                fprintf(out, "%" PRId64, v[i]);
            else
                emit_float(out, f[i]);
        }
    }
    fputc(']', out);
    return 0;
}

int inspect_safetensors(const char *path, FILE *out, bool values) {
    sq_st *st;
    if (sq_st_read(path, &st)) return -1;
    size_t nm = sq_st_meta_count(st);
    if (nm) {
        fputs("{\"type\":\"metadata\",\"metadata\":{", out);
        for (size_t i = 0; i < nm; i++) {
            const char *k = sq_st_meta_key(st, i);
            if (i) fputc(',', out);
            emit_string(out, k);
            fputc(':', out);
            emit_json_or_string(out, sq_st_meta(st, k));
        }
        fputs("}}\n", out);
    }
    int rc = 0;
    for (size_t i = 0; i < sq_st_count(st) && !rc; i++) {
        const sq_tensor *t = sq_st_tensor(st, i);
        fputs("{\"type\":\"tensor\",\"name\":", out);
        emit_string(out, t->name);
        fprintf(out, ",\"dtype\":\"%s\",\"shape\":[", sq_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) fprintf(out, "%s%" PRId64, d ? "," : "", t->shape[d]);
        fputc(']', out);
        if (values) rc = print_values(out, t);
        fputs("}\n", out);
    }
    sq_st_free(st);
    return rc;
}
