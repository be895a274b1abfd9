#include "pyjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* The p+1 significant digits that read back as x > 0, if any: the two
 * candidates bracketing x are the correctly rounded ones and its neighbour
 * on the other side of x, which wins only where the rounding interval is
 * lopsided (x a power of two).  x ~ *m * 10^*e. */
static bool digits_at(double x, int p, uint64_t *m, int *e) {
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", p, x);
    uint64_t r = 0;
    const char *c = buf;
    for (; *c != 'e'; c++)
        if (*c != '.') r = r * 10 + (uint64_t)(*c - '0');
    *e = atoi(c + 1) - p;
    *m = r;
    double y = strtod(buf, NULL);
    if (y == x) return true;
    *m = y < x ? r + 1 : r - 1;
    snprintf(buf, sizeof buf, "%" PRIu64 "e%d", *m, *e);
    return strtod(buf, NULL) == x;
}

/* The shortest digits that read back as x > 0, the closest to x among them
 * (David Gay's mode 0, which CPython's repr uses).  Some string of n digits
 * reads back as x iff one of the two bracketing x does, and then so does one
 * of n + 1 digits: a binary search over the length.  Returns the digit
 * count; x = 0.DIGITS * 10^decpt. */
static int shortest(double x, char digits[24], int *decpt) {
    int lo = 0, hi = 16;
    uint64_t m;
    int e;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (digits_at(x, mid, &m, &e))
            hi = mid;
        else
            lo = mid + 1;
    }
    digits_at(x, lo, &m, &e);
    int nd = snprintf(digits, 24, "%" PRIu64, m);
    *decpt = nd + e;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    return nd;
}

/* CPython's float_repr: fixed notation when -4 < decpt <= 16, else
 * d.ddde+XX with at least two exponent digits. */
void sq_pyfloat(double x, char out[32]) {
    if (isnan(x)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(x)) {
        strcpy(out, x < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (x == 0) {
        strcpy(out, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char *o = out;
    if (x < 0) *o++ = '-';
    char digits[24];
    int decpt, nd = shortest(fabs(x), digits, &decpt);
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            memcpy(o, digits, (size_t)nd);
            o += nd;
        } else if (decpt >= nd) {
            memcpy(o, digits, (size_t)nd);
            o += nd;
            for (int i = nd; i < decpt; i++) *o++ = '0';
            o += sprintf(o, ".0");
        } else {
            memcpy(o, digits, (size_t)decpt);
            o += decpt;
            *o++ = '.';
            memcpy(o, digits + decpt, (size_t)(nd - decpt));
            o += nd - decpt;
        }
        *o = 0;
        return;
    }
    *o++ = digits[0];
    if (nd > 1) {
        *o++ = '.';
        memcpy(o, digits + 1, (size_t)(nd - 1));
        o += nd - 1;
    }
    int e = decpt - 1;
    sprintf(o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
}

/* json.encoder's ascii_escape_unichar: printable ASCII but \ and " as is,
 * short escapes, \u00XX otherwise, astral characters as surrogate pairs. */
void sq_pystring(FILE *f, const char *s, size_t len) {
    putc('"', f);
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (m <= 0) {
            c = 0xfffd;
            m = 1;
        }
        i += (size_t)m;
        switch (c) {
        case '\\': fputs("\\\\", f); continue;
        case '"': fputs("\\\"", f); continue;
        case '\b': fputs("\\b", f); continue;
        case '\f': fputs("\\f", f); continue;
        case '\n': fputs("\\n", f); continue;
        case '\r': fputs("\\r", f); continue;
        case '\t': fputs("\\t", f); continue;
        default: break;
        }
        if (c >= ' ' && c <= '~') {
            putc(c, f);
        } else if (c >= 0x10000) {
            c -= 0x10000;
            fprintf(f, "\\u%04x\\u%04x", 0xd800 | (c >> 10), 0xdc00 | (c & 0x3ff));
        } else {
            fprintf(f, "\\u%04x", (unsigned)c);
        }
    }
    putc('"', f);
}
