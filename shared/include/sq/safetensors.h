/* safetensors files (HuggingFace's tensor format): an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}, optional
 * "__metadata__": {str: str}}, then the raw little-endian data.
 *
 * Reading validates everything before use (offsets in bounds, no overlap or
 * gap, dtype x shape = byte size, sizes bounded) and names what is wrong.  An
 * sq_st owns its buffer; tensor data pointers live as long as it does. */
#ifndef SQ_SAFETENSORS_H
#define SQ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SQ_F32, SQ_F16, SQ_BF16, SQ_I32, SQ_I64, SQ_DTYPE_COUNT } sq_dtype;

#define SQ_MAX_DIMS 8

typedef struct {
    char *name;
    sq_dtype dtype;
    int ndim;
    int64_t shape[SQ_MAX_DIMS];
    size_t numel, nbytes;
    const void *data; /* inside the file's buffer; may be unaligned */
} sq_tensor;

typedef struct sq_st sq_st;

const char *sq_dtype_name(sq_dtype d); /* "F32", ... */
size_t sq_dtype_size(sq_dtype d);
int sq_dtype_parse(const char *name, sq_dtype *out);

/* Reads and validates a file; errors are "<path>: <why>". */
int sq_st_read(const char *path, sq_st **out);
/* Parses an in-memory file; the buffer is copied.  name is used in errors. */
int sq_st_parse(const char *name, const void *buf, size_t len, sq_st **out);
void sq_st_free(sq_st *st);

size_t sq_st_count(const sq_st *st);
const sq_tensor *sq_st_tensor(const sq_st *st, size_t i); /* in file (offset) order */
const sq_tensor *sq_st_find(const sq_st *st, const char *name);
/* __metadata__ value or NULL. */
const char *sq_st_meta(const sq_st *st, const char *key);
size_t sq_st_meta_count(const sq_st *st);
const char *sq_st_meta_key(const sq_st *st, size_t i);

/* Converts any float dtype to float32, or an integer dtype to float/int32/int64. */
int sq_tensor_to_f32(const sq_tensor *t, float *out);
int sq_tensor_to_i32(const sq_tensor *t, int32_t *out);
int sq_tensor_to_i64(const sq_tensor *t, int64_t *out);

/* Writing: add tensors (data is borrowed until sq_stw_write returns), then
 * write atomically.  Tensors are stored in the order added. */
typedef struct sq_stw sq_stw;
sq_stw *sq_stw_new(void);
int sq_stw_add(sq_stw *w, const char *name, sq_dtype dtype, int ndim, const int64_t *shape, const void *data);
int sq_stw_meta(sq_stw *w, const char *key, const char *value);
int sq_stw_write(sq_stw *w, const char *path);
void sq_stw_free(sq_stw *w);

/* float <-> bfloat16 / half, round to nearest even. */
uint16_t sq_f32_to_bf16(float f);
float sq_bf16_to_f32(uint16_t h);
uint16_t sq_f32_to_f16(float f);
float sq_f16_to_f32(uint16_t h);

#endif
