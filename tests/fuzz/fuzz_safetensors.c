/* libFuzzer target: sq_st_parse on arbitrary bytes, then everything a
 * caller may do with an accepted file (find, metadata, every conversion),
 * and the float16/bfloat16 conversions on the input's bytes read as floats. */
#include "sq/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_half_conversions(const uint8_t *data, size_t size) {
    for (size_t i = 0; i + 4 <= size && i < 256; i += 4) {
        float f;
        memcpy(&f, data + i, 4);
        /* Converting a converted value again changes nothing. */
        float b = sq_bf16_to_f32(sq_f32_to_bf16(f)), h = sq_f16_to_f32(sq_f32_to_f16(f));
        if (!isnan(b) && sq_f32_to_bf16(b) != sq_f32_to_bf16(f)) abort();
        if (!isnan(h) && sq_f32_to_f16(h) != sq_f32_to_f16(f)) abort();
        if (isnan(f) != isnan(b) || isnan(f) != isnan(h)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_half_conversions(data, size);
    sq_st *st;
    if (sq_st_parse("fuzz", data, size, &st)) return 0;
    size_t total = 0;
    for (size_t i = 0; i < sq_st_count(st); i++) {
        const sq_tensor *t = sq_st_tensor(st, i);
        if (sq_st_find(st, t->name) != t) abort();
        if (t->nbytes != t->numel * sq_dtype_size(t->dtype) || t->ndim < 0 || t->ndim > SQ_MAX_DIMS) abort();
        total += t->nbytes;
        size_t n = t->numel ? t->numel : 1;
        float *f = malloc(n * sizeof *f);
        int64_t *i64 = malloc(n * sizeof *i64);
        int32_t *i32 = malloc(n * sizeof *i32);
        if (!f || !i64 || !i32) abort();
        if (sq_tensor_to_f32(t, f)) abort();
        int is_int = t->dtype == SQ_I32 || t->dtype == SQ_I64;
        if ((sq_tensor_to_i64(t, i64) == 0) != is_int) abort();
        sq_tensor_to_i32(t, i32);
        free(f);
        free(i64);
        free(i32);
    }
    if (total > size) abort();
    for (size_t i = 0; i < sq_st_meta_count(st); i++)
        if (!sq_st_meta(st, sq_st_meta_key(st, i))) abort();
    sq_st_free(st);
    return 0;
}
