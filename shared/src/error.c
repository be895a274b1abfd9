#include "sq/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char msg[1024];

int sq_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return -1;
}

int sq_err_ctx(const char *fmt, ...) {
    char ctx[512], old[sizeof msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, msg, sizeof msg);
    size_t n = strlen(ctx);
    if (n > sizeof msg - 3) n = sizeof msg - 3;
    memcpy(msg, ctx, n);
    memcpy(msg + n, ": ", 2);
    size_t rest = sizeof msg - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(msg + n + 2, old, m);
    msg[n + 2 + m] = 0;
    return -1;
}

int sq_err_sys(const char *fmt, ...) {
    int e = errno;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
    return -1;
}

const char *sq_errmsg(void) { return msg[0] ? msg : "unknown error"; }
void sq_err_clear(void) { msg[0] = 0; }

void *sq_malloc(size_t n) {
    void *p = n ? malloc(n) : NULL;
    if (!p) sq_err("out of memory: cannot allocate %zu bytes", n);
    return p;
}

void *sq_calloc(size_t count, size_t size) {
    void *p = count && size ? calloc(count, size) : NULL;
    if (!p) sq_err("out of memory: cannot allocate %zu x %zu bytes", count, size);
    return p;
}

void *sq_realloc(void *p, size_t n) {
    void *q = n ? realloc(p, n) : NULL;
    if (!q) sq_err("out of memory: cannot allocate %zu bytes", n);
    return q;
}

char *sq_strdup(const char *s) {
    char *p = strdup(s);
    if (!p) sq_err("out of memory: cannot copy a string");
    return p;
}
