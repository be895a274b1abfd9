/* JSON through jansson, with sq's error messages: a parse error names the
 * file, line and column; writes are atomic.  Returned json_t* are owned by the
 * caller (json_decref). */
#ifndef SQ_JSON_H
#define SQ_JSON_H

#include <jansson.h>
#include <stddef.h>

/* path "-" reads stdin.  NULL on error: "<path>:<line>:<col>: <why>". */
json_t *sq_json_load(const char *path);
json_t *sq_json_loadb(const char *name, const char *buf, size_t len);
/* Writes compactly (flags as jansson's json_dumpf) plus a newline, atomically. */
int sq_json_save(const char *path, const json_t *j, size_t flags);

#endif
