/* Errors in the sq library: a function that can fail returns -1 (or NULL)
 * and leaves one message, "<what>: <why>", in a thread-local buffer; only a
 * tool's main() prints it (sq_die_lib in sq/cli.h) and exits. */
#ifndef SQ_ERROR_H
#define SQ_ERROR_H

#include <stddef.h>

/* Sets the current message; returns -1 so that `return sq_err(...)` reads well. */
int sq_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepends "<context>: " to the current message; returns -1. */
int sq_err_ctx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the message from errno: "<what>: strerror(errno)"; returns -1. */
int sq_err_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *sq_errmsg(void);
void sq_err_clear(void);

/* malloc/calloc/realloc that set an error message on failure (and refuse a
 * zero-size or overflowing request with a message rather than UB). */
void *sq_malloc(size_t n);
void *sq_calloc(size_t count, size_t size);
void *sq_realloc(void *p, size_t n);
char *sq_strdup(const char *s);

#endif
