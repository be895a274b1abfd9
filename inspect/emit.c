/* JSON scalars for sq-inspect's output lines. */
#include "inspect.h"

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
