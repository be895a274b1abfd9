#include "pyjson.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* CPython's float_repr: the shortest digits that read back as x, then
 * fixed notation when -4 < decpt <= 16 (decpt: x = 0.DIGITS * 10^decpt),
 * else d.ddde+XX with at least two exponent digits. */
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
    char buf[40];
    for (int p = 0; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf: [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0;
    const char *s = buf;
    char *o = out;
    if (*s == '-') *o++ = *s++;
    for (; *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = atoi(s + 1) + 1;
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
