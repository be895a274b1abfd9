/* JSON scalars for sq-inspect's output lines. */
#include "inspect.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

void emit_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p < 0x20) {
            fprintf(out, "\\u%04x", *p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

void emit_float(FILE *out, float f) {
    if (isnan(f)) {
        fputs("\"NaN\"", out);
        return;
    }
    if (isinf(f)) {
        fputs(f > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
        return;
    }
    /* "-0" would read back as the integer 0 in most JSON readers. */
    if (f == 0 && signbit(f)) {
        fputs("-0.0", out);
        return;
    }
    /* Nine significant digits always read back exactly; fewer usually do,
     * and 0.1 reads better than 0.100000001. */
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, f);
        if (strtof(buf, NULL) == f) break;
    }
    fputs(buf, out);
}

/* Whitespace outside strings is dropped, everything else copied: numbers
 * keep their digits (re-serialising through jansson would print 0.1 as
 * 0.10000000000000001). */
void emit_json_text(FILE *out, const char *s) {
    bool in_string = false;
    for (const char *p = s; *p; p++) {
        if (in_string) {
            fputc(*p, out);
            if (*p == '\\' && p[1]) fputc(*++p, out);
            else if (*p == '"') in_string = false;
        } else if (*p == '"') {
            in_string = true;
            fputc(*p, out);
        } else if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            fputc(*p, out);
        }
    }
}

void emit_json_or_string(FILE *out, const char *s) {
    json_error_t err;
    /* Only objects and arrays: a string "1" stays the string it was written as. */
    json_t *j = json_loads(s, 0, &err);
    if (!j) {
        emit_string(out, s);
        return;
    }
    json_decref(j);
    emit_json_text(out, s);
}

void emit_double(FILE *out, double d) {
    if (!isfinite(d)) {
        fputs(isnan(d) ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"", out);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    fputs(buf, out);
}
