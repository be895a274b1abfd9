/* Element types of safetensors tensors and the conversions between them:
 * float32 <-> bfloat16 / half with round-to-nearest-even (what PyTorch's
 * .to(torch.bfloat16) / .half() do), and whole-tensor widening. */
#include "sq/error.h"
#include "sq/safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sq reads tensor data in place and assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[SQ_DTYPE_COUNT] = {
    [SQ_F32] = {"F32", 4}, [SQ_F16] = {"F16", 2}, [SQ_BF16] = {"BF16", 2},
    [SQ_I32] = {"I32", 4}, [SQ_I64] = {"I64", 8},
};

const char *sq_dtype_name(sq_dtype d) { return (unsigned)d < SQ_DTYPE_COUNT ? dtypes[d].name : "?"; }
size_t sq_dtype_size(sq_dtype d) { return (unsigned)d < SQ_DTYPE_COUNT ? dtypes[d].size : 0; }

int sq_dtype_parse(const char *name, sq_dtype *out) {
    for (int d = 0; d < SQ_DTYPE_COUNT; d++)
        if (strcmp(name, dtypes[d].name) == 0) {
            *out = (sq_dtype)d;
            return 0;
        }
    return sq_err("dtype '%s' is not supported (sq reads F32, F16, BF16, I32, I64)", name);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sq_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    /* A NaN stays a (quiet) NaN: rounding could carry it into infinity. */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float sq_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t sq_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((x >> 13) & 0x3ffu);
    /* 65520 is halfway between 65504 (odd mantissa) and 2^16: ties go to even, i.e. infinity. */
    if (x >= 0x477ff000u) return sign | 0x7c00u;
    if (x < 0x38800000u) {
        /* Below 2^-14: a half subnormal, m * 2^-24.  |f| = m32 * 2^(e-150). */
        if (x < 0x33000000u) return sign; /* below 2^-25: rounds to zero */
        uint32_t e = x >> 23, m = (x & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) h++;
        return sign | (uint16_t)h;
    }
    x -= 112u << 23; /* rebias the exponent from 127 to 15 */
    x += 0xfffu + ((x >> 13) & 1u);
    return sign | (uint16_t)(x >> 13);
}

float sq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31) return bits_f32(sign | 0x7f800000u | (m << 13));
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

int sq_tensor_to_f32(const sq_tensor *t, float *out) {
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case SQ_F32: memcpy(&out[i], p + 4 * i, 4); break;
        case SQ_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = sq_f16_to_f32(h);
            break;
        }
        case SQ_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = sq_bf16_to_f32(h);
            break;
        }
        case SQ_I32: {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = (float)v;
            break;
        }
        case SQ_I64: {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            out[i] = (float)v;
            break;
        }
        default: return sq_err("tensor '%s': bad dtype", t->name);
        }
    }
    return 0;
}

int sq_tensor_to_i64(const sq_tensor *t, int64_t *out) {
    const uint8_t *p = t->data;
    if (t->dtype == SQ_I64) {
        if (t->numel) memcpy(out, p, t->numel * 8);
        return 0;
    }
    if (t->dtype != SQ_I32)
        return sq_err("tensor '%s': %s cannot be read as integers", t->name, sq_dtype_name(t->dtype));
    for (size_t i = 0; i < t->numel; i++) {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        out[i] = v;
    }
    return 0;
}

int sq_tensor_to_i32(const sq_tensor *t, int32_t *out) {
    const uint8_t *p = t->data;
    if (t->dtype == SQ_I32) {
        if (t->numel) memcpy(out, p, t->numel * 4);
        return 0;
    }
    if (t->dtype != SQ_I64)
        return sq_err("tensor '%s': %s cannot be read as integers", t->name, sq_dtype_name(t->dtype));
    for (size_t i = 0; i < t->numel; i++) {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        if (v < INT32_MIN || v > INT32_MAX)
            return sq_err("tensor '%s': element %zu (%" PRId64 ") does not fit in int32", t->name, i, v);
        out[i] = (int32_t)v;
    }
    return 0;
}
