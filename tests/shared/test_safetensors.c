/* safetensors: round trip of every dtype with metadata, the malformed headers
 * the reference reader rejects (each with the message that names the
 * problem), and the float16/bfloat16 conversions at their edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sq/atomic_file.h"
#include "sq/error.h"
#include "sq/safetensors.h"

static char dir[64];

static int setup(void **state) {
    strcpy(dir, "/tmp/sq-test-st-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    sq_rmtree(dir);
    return 0;
}

static const char *path_in(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void test_round_trip(void **state) {
    float f32[6] = {1.5f, -2.25f, 0.0f, 3.0e38f, -1e-30f, 42.0f};
    uint16_t f16[4] = {sq_f32_to_f16(1.0f), sq_f32_to_f16(-0.5f), sq_f32_to_f16(65504.0f), sq_f32_to_f16(1e-7f)};
    uint16_t bf16[3] = {sq_f32_to_bf16(1.0f), sq_f32_to_bf16(-3.0e38f), sq_f32_to_bf16(0.1f)};
    int32_t i32[2][2] = {{1, -2}, {INT32_MAX, INT32_MIN}};
    int64_t i64[3] = {INT64_MIN, 0, (int64_t)1 << 40};
    float scalar = 7.0f;
    sq_stw *w = sq_stw_new();
    assert_non_null(w);
    assert_int_equal(sq_stw_add(w, "z.f32", SQ_F32, 2, (int64_t[]){2, 3}, f32), 0);
    assert_int_equal(sq_stw_add(w, "a.f16", SQ_F16, 1, (int64_t[]){4}, f16), 0);
    assert_int_equal(sq_stw_add(w, "m.bf16", SQ_BF16, 3, (int64_t[]){1, 3, 1}, bf16), 0);
    assert_int_equal(sq_stw_add(w, "i32", SQ_I32, 2, (int64_t[]){2, 2}, i32), 0);
    assert_int_equal(sq_stw_add(w, "i64", SQ_I64, 1, (int64_t[]){3}, i64), 0);
    assert_int_equal(sq_stw_add(w, "scalar", SQ_F32, 0, NULL, &scalar), 0);
    assert_int_equal(sq_stw_add(w, "empty", SQ_F32, 2, (int64_t[]){0, 5}, NULL), 0);
    assert_int_equal(sq_stw_meta(w, "format", "pt"), 0);
    assert_int_equal(sq_stw_meta(w, "note", "h\xc3\xa9llo \"quoted\"\n"), 0);
    assert_int_equal(sq_stw_write(w, path_in("rt.safetensors")), 0);
    sq_stw_free(w);

    /* data starts 8-byte aligned: the header is padded with spaces */
    char *raw;
    size_t rawlen;
    assert_int_equal(sq_read_file(path_in("rt.safetensors"), 1 << 20, &raw, &rawlen), 0);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    assert_int_equal(hlen % 8, 0);
    assert_true(raw[8 + hlen - 1] == '}' || raw[8 + hlen - 1] == ' ');
    free(raw);

    sq_st *st;
    assert_int_equal(sq_st_read(path_in("rt.safetensors"), &st), 0);
    assert_int_equal(sq_st_count(st), 7);
    const char *order[] = {"z.f32", "a.f16", "m.bf16", "i32", "i64", "scalar", "empty"};
    for (size_t i = 0; i < 7; i++) {
        /* "empty" has 0 bytes at the same offset as the end: ties keep header order */
        assert_string_equal(sq_st_tensor(st, i)->name, order[i]);
        assert_ptr_equal(sq_st_find(st, order[i]), sq_st_tensor(st, i));
    }
    assert_null(sq_st_find(st, "nope"));
    assert_null(sq_st_tensor(st, 7));
    const sq_tensor *t = sq_st_find(st, "z.f32");
    assert_int_equal(t->dtype, SQ_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->nbytes, 24);
    assert_memory_equal(t->data, f32, sizeof f32);
    float out[6];
    assert_int_equal(sq_tensor_to_f32(t, out), 0);
    assert_memory_equal(out, f32, sizeof f32);

    t = sq_st_find(st, "a.f16");
    assert_int_equal(sq_tensor_to_f32(t, out), 0);
    assert_true(out[0] == 1.0f && out[1] == -0.5f && out[2] == 65504.0f);
    assert_true(fabsf(out[3] - 1e-7f) < 3e-8f);
    t = sq_st_find(st, "m.bf16");
    assert_int_equal(t->ndim, 3);
    assert_int_equal(sq_tensor_to_f32(t, out), 0);
    assert_true(out[0] == 1.0f && out[2] == sq_bf16_to_f32(sq_f32_to_bf16(0.1f)));

    int32_t o32[4];
    int64_t o64[4];
    t = sq_st_find(st, "i32");
    assert_int_equal(sq_tensor_to_i32(t, o32), 0);
    assert_memory_equal(o32, i32, sizeof i32);
    assert_int_equal(sq_tensor_to_i64(t, o64), 0);
    assert_true(o64[3] == INT32_MIN);
    assert_int_equal(sq_tensor_to_f32(t, out), 0);
    assert_true(out[1] == -2.0f);
    t = sq_st_find(st, "i64");
    assert_int_equal(sq_tensor_to_i64(t, o64), 0);
    assert_memory_equal(o64, i64, sizeof i64);
    assert_int_equal(sq_tensor_to_i32(t, o32), -1);
    assert_string_equal(sq_errmsg(), "tensor 'i64': element 0 (-9223372036854775808) does not fit in int32");
    assert_int_equal(sq_tensor_to_i32(sq_st_find(st, "z.f32"), o32), -1);
    assert_string_equal(sq_errmsg(), "tensor 'z.f32': F32 cannot be read as integers");

    t = sq_st_find(st, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    t = sq_st_find(st, "empty");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);

    assert_int_equal(sq_st_meta_count(st), 2);
    assert_string_equal(sq_st_meta_key(st, 0), "format");
    assert_string_equal(sq_st_meta(st, "format"), "pt");
    assert_string_equal(sq_st_meta(st, "note"), "h\xc3\xa9llo \"quoted\"\n");
    assert_null(sq_st_meta(st, "other"));
    sq_st_free(st);
}

static void test_empty_file(void **state) {
    sq_stw *w = sq_stw_new();
    assert_int_equal(sq_stw_write(w, path_in("none.safetensors")), 0);
    sq_stw_free(w);
    sq_st *st;
    assert_int_equal(sq_st_read(path_in("none.safetensors"), &st), 0);
    assert_int_equal(sq_st_count(st), 0);
    assert_int_equal(sq_st_meta_count(st), 0);
    sq_st_free(st);
}

static void test_writer_errors(void **state) {
    float x[2] = {0};
    sq_stw *w = sq_stw_new();
    assert_int_equal(sq_stw_add(w, "a", SQ_F32, 1, (int64_t[]){2}, x), 0);
    assert_int_equal(sq_stw_add(w, "a", SQ_F32, 1, (int64_t[]){2}, x), -1);
    assert_string_equal(sq_errmsg(), "tensor 'a' added twice");
    assert_int_equal(sq_stw_add(w, "__metadata__", SQ_F32, 1, (int64_t[]){2}, x), -1);
    assert_int_equal(sq_stw_add(w, "b", SQ_F32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, x), -1);
    assert_string_equal(sq_errmsg(), "tensor 'b': 9 dimensions, sq allows 0 to 8");
    assert_int_equal(sq_stw_add(w, "b", SQ_F32, 1, (int64_t[]){-2}, x), -1);
    assert_int_equal(sq_stw_add(w, "b", SQ_F32, 2, (int64_t[]){INT64_MAX, INT64_MAX}, x), -1);
    assert_string_equal(sq_errmsg(), "tensor 'b': shape is too large");
    assert_int_equal(sq_stw_add(w, "b", SQ_F32, 1, (int64_t[]){2}, NULL), -1);
    assert_int_equal(sq_stw_add(w, "bad\xff", SQ_F32, 1, (int64_t[]){2}, x), 0);
    assert_int_equal(sq_stw_write(w, path_in("bad.safetensors")), -1);
    assert_non_null(strstr(sq_errmsg(), "not valid UTF-8"));
    assert_int_equal(access(path_in("bad.safetensors"), F_OK), -1);
    sq_stw_free(w);
    w = sq_stw_new();
    assert_int_equal(sq_stw_write(w, path_in("no/such/dir.safetensors")), -1);
    sq_stw_free(w);
}

/* A file from a header and a data section of data_len zero bytes. */
static char *make(const char *json, size_t data_len, size_t *len) {
    size_t h = strlen(json);
    *len = 8 + h + data_len;
    char *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    return b;
}

static void expect_bad(const char *json, size_t data_len, const char *msg) {
    size_t len;
    char *b = make(json, data_len, &len);
    sq_st *st = NULL;
    int rc = sq_st_parse("bad.st", b, len, &st);
    free(b);
    if (rc == 0) {
        sq_st_free(st);
        fail_msg("accepted: %s", json);
    }
    if (strncmp(sq_errmsg(), "bad.st: ", 8) || !strstr(sq_errmsg(), msg))
        fail_msg("header %s: error '%s' does not contain '%s'", json, sq_errmsg(), msg);
}

#define T1(name, body) "{\"" name "\":" body "}"
#define F32_1 "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"

static void test_malformed_headers(void **state) {
    /* JSON and structure */
    expect_bad("", 0, "header is not a JSON object");
    expect_bad("[1, 2]", 0, "header is not a JSON object");
    expect_bad("{\"a\":", 0, "header is not valid JSON");
    expect_bad(T1("a", F32_1) " x", 4, "header is not valid JSON");
    expect_bad("{\"a\":1, \"a\":2}", 0, "duplicate");
    expect_bad("{\"\xff\": 1}", 0, "header is not valid JSON");
    expect_bad("{\"a\\u0000b\":" F32_1 "}", 4, "header is not valid JSON");
    expect_bad(T1("a", "3"), 0, "tensor 'a': entry is not an object");
    expect_bad(T1("a", "{\"dtype\":\"F32\",\"shape\":[1]}"), 4, "tensor 'a': missing 'data_offsets'");
    expect_bad(T1("a", "{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "tensor 'a': missing 'dtype'");
    expect_bad(T1("a", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}"), 4,
               "tensor 'a': unknown field 'x'");
    /* dtype */
    expect_bad(T1("w", "{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}"), 8,
               "tensor 'w': dtype 'F64' is not supported");
    expect_bad(T1("w", "{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "dtype 'f32' is not supported");
    expect_bad(T1("w", "{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "tensor 'w': dtype is not a string");
    /* shape */
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4,
               "tensor 's': shape[0] is not a non-negative integer");
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":[1, 2.0],\"data_offsets\":[0,8]}"), 8,
               "tensor 's': shape[1] is not a non-negative integer");
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}"), 8,
               "shape[0] is not a non-negative integer");
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,12]}"), 12, "tensor 's': shape is not an array");
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"), 4,
               "tensor 's': 9 dimensions, sq allows at most 8");
    expect_bad(T1("s", "{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],"
                       "\"data_offsets\":[0,4]}"),
               4, "tensor 's': shape is too large");
    /* offsets */
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}"), 4,
               "tensor 'o': data_offsets [4, 0] end before they begin");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), 4,
               "tensor 'o': data_offsets [0, 8] run past the data section (4 bytes)");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"), 8,
               "tensor 'o': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
    expect_bad(T1("o", "{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}"), 4,
               "hold 4 bytes, but I64 [] needs 8");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), 4,
               "tensor 'o': data_offsets is not [begin, end]");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}"), 4,
               "data_offsets is not [begin, end]");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4,
               "data_offsets is not [begin, end]");
    expect_bad(T1("o", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}"), 4,
               "header is not valid JSON");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               4, "tensor 'b': data_offsets [0, 4] overlap tensor 'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, "tensor 'b': 4 unused bytes before its data_offsets [8, 12]");
    expect_bad(T1("g", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), 8,
               "tensor 'g': 4 unused bytes before");
    expect_bad(T1("t", F32_1), 12, "8 bytes after the last tensor's data");
    expect_bad("{}", 3, "3 bytes after the last tensor's data");
    /* metadata */
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__: value of 'k' is not a string");
    expect_bad("{\"__metadata__\":{\"k\":null}}", 0, "__metadata__: value of 'k' is not a string");
    expect_bad("{\"__metadata__\":\"pt\"}", 0, "__metadata__ is not an object");
    expect_bad("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate");
}

static void test_raw_length(void **state) {
    sq_st *st;
    assert_int_equal(sq_st_parse("x", "", 0, &st), -1);
    assert_string_equal(sq_errmsg(), "x: truncated: 0 bytes, a safetensors file starts with an 8-byte header length");
    assert_int_equal(sq_st_parse("x", "\x02\0\0\0", 4, &st), -1);
    assert_non_null(strstr(sq_errmsg(), "x: truncated: 4 bytes"));
    assert_int_equal(sq_st_parse("x", "\xc8\0\0\0\0\0\0\0{}", 10, &st), -1);
    assert_string_equal(sq_errmsg(), "x: header length 200 runs past the end of the file (10 bytes)");
    assert_int_equal(sq_st_parse("x", "\0\0\0\0\0\x01\0\0{}", 10, &st), -1);
    assert_string_equal(sq_errmsg(), "x: header length 1099511627776 is larger than the 100000000-byte limit");
    assert_int_equal(sq_st_parse("x", "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, &st), -1);
    assert_non_null(strstr(sq_errmsg(), "is larger than the 100000000-byte limit"));
    /* valid: "{}" padded with spaces, as the Python package writes it */
    assert_int_equal(sq_st_parse("x", "\x08\0\0\0\0\0\0\0{}      ", 16, &st), 0);
    assert_int_equal(sq_st_count(st), 0);
    sq_st_free(st);
    assert_int_equal(sq_st_read(path_in("does-not-exist"), &st), -1);
    assert_non_null(strstr(sq_errmsg(), "does-not-exist: No such file"));
}

/* Cutting a valid file anywhere, or flipping a length byte, is an error, never a crash. */
static void test_every_truncation(void **state) {
    float v[3] = {1, 2, 3};
    sq_stw *w = sq_stw_new();
    assert_int_equal(sq_stw_add(w, "v", SQ_F32, 1, (int64_t[]){3}, v), 0);
    assert_int_equal(sq_stw_add(w, "e", SQ_I64, 1, (int64_t[]){2}, (int64_t[]){5, 6}), 0);
    assert_int_equal(sq_stw_meta(w, "k", "v"), 0);
    assert_int_equal(sq_stw_write(w, path_in("cut.safetensors")), 0);
    sq_stw_free(w);
    char *buf;
    size_t len;
    assert_int_equal(sq_read_file(path_in("cut.safetensors"), 1 << 20, &buf, &len), 0);
    sq_st *st;
    for (size_t n = 0; n < len; n++) assert_int_equal(sq_st_parse("cut", buf, n, &st), -1);
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x40;
        if (sq_st_parse("cut", buf, len, &st) == 0) sq_st_free(st);
        buf[i] ^= 0x40;
    }
    free(buf);
}

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_bf16(void **state) {
    assert_int_equal(sq_f32_to_bf16(0.0f), 0x0000);
    assert_int_equal(sq_f32_to_bf16(-0.0f), 0x8000);
    assert_int_equal(sq_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(sq_f32_to_bf16(-2.0f), 0xc000);
    /* ties to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 */
    assert_int_equal(sq_f32_to_bf16(bits_f(0x3f808000)), 0x3f80);
    assert_int_equal(sq_f32_to_bf16(bits_f(0x3f818000)), 0x3f82);
    assert_int_equal(sq_f32_to_bf16(bits_f(0x3f808001)), 0x3f81);
    assert_int_equal(sq_f32_to_bf16(0.1f), 0x3dcd); /* torch.tensor(0.1).bfloat16() */
    assert_int_equal(sq_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(sq_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(sq_f32_to_bf16(bits_f(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds up to inf */
    assert_true(isnan(sq_bf16_to_f32(sq_f32_to_bf16(NAN))));
    assert_true(isnan(sq_bf16_to_f32(sq_f32_to_bf16(bits_f(0x7f800001))))); /* payload only in low bits */
    assert_true(isnan(sq_bf16_to_f32(sq_f32_to_bf16(bits_f(0xffffffff)))));
    assert_int_equal(sq_f32_to_bf16(bits_f(0x00000001)), 0x0000); /* denormals round like the rest */
    assert_int_equal(sq_f32_to_bf16(bits_f(0x00010000)), 0x0001);
    /* every bf16 survives the trip through float */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = sq_bf16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(sq_f32_to_bf16(f), h);
    }
}

static void test_f16(void **state) {
    assert_int_equal(sq_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(sq_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(sq_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(sq_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(sq_f32_to_f16(0.1f), 0x2e66);
    assert_int_equal(sq_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(sq_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(sq_f32_to_f16(65520.0f), 0x7c00); /* the tie goes to even: infinity */
    assert_int_equal(sq_f32_to_f16(1e6f), 0x7c00);
    assert_int_equal(sq_f32_to_f16(-INFINITY), 0xfc00);
    assert_true(isnan(sq_f16_to_f32(sq_f32_to_f16(NAN))));
    assert_true(isnan(sq_f16_to_f32(sq_f32_to_f16(bits_f(0x7f800001)))));
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    assert_int_equal(sq_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
    assert_int_equal(sq_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    /* normal / subnormal boundary and the subnormal range */
    assert_int_equal(sq_f32_to_f16(ldexpf(1, -14)), 0x0400);
    assert_int_equal(sq_f32_to_f16(ldexpf(1023, -24)), 0x03ff);
    assert_int_equal(sq_f32_to_f16(ldexpf(2047, -25)), 0x0400); /* rounds up into the normals */
    assert_int_equal(sq_f32_to_f16(ldexpf(1, -24)), 0x0001);
    assert_int_equal(sq_f32_to_f16(ldexpf(1, -25)), 0x0000);               /* tie to even: 0 */
    assert_int_equal(sq_f32_to_f16(ldexpf(1, -25) * 1.0001f), 0x0001);
    assert_int_equal(sq_f32_to_f16(ldexpf(3, -25)), 0x0002);               /* 1.5 units: even is 2 */
    assert_int_equal(sq_f32_to_f16(ldexpf(5, -25)), 0x0002);               /* 2.5 units: even is 2 */
    assert_int_equal(sq_f32_to_f16(-ldexpf(1, -30)), 0x8000);
    assert_true(sq_f16_to_f32(0x0001) == ldexpf(1, -24));
    assert_true(sq_f16_to_f32(0x83ff) == -ldexpf(1023, -24));
    assert_true(sq_f16_to_f32(0x7c00) == INFINITY);
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = sq_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(sq_f32_to_f16(f), h);
    }
#ifdef __FLT16_MAX__
    /* The compiler's own conversion rounds to nearest even too: compare on
     * random bit patterns across the whole float range. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        float f = bits_f((uint32_t)x);
        if (i & 1) f = bits_f(((uint32_t)x & 0x87ffffffu) | 0x30000000u); /* the half range */
        if (isnan(f)) continue;
        _Float16 g = (_Float16)f;
        uint16_t want;
        memcpy(&want, &g, 2);
        if (sq_f32_to_f16(f) != want) fail_msg("f16(%a) = %#x, compiler says %#x", f, sq_f32_to_f16(f), want);
    }
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_writer_errors),   cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_raw_length),      cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_bf16),            cmocka_unit_test(test_f16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
