/* Private to squad.c and squad_scan.c: what an sq_squad keeps behind its
 * priv pointer, and the fast reader.  Loading tries squad_scan first; it
 * handles well-formed SQuAD files only and answers SQUAD_SCAN_FALLBACK on
 * anything else, and then jansson parses the same bytes and the checked
 * walk in squad.c names the error (line:column, or the JSON path). */
#ifndef SQ_SQUAD_PRIV_H
#define SQ_SQUAD_PRIV_H

#include "sq/squad.h"

#include <jansson.h>

typedef struct {
    json_t *root;       /* the jansson tree the strings point into, or NULL */
    char *text;         /* the scanned buffer the strings point into, or NULL */
    uint32_t *slots;    /* id hash table: question index + 1, 0 = empty */
    uint32_t (*where)[2]; /* per paragraph: its article, its place in it */
    size_t mask;
    sq_squad_answer *answers;
} squad_priv;

enum { SQUAD_SCAN_OK = 0, SQUAD_SCAN_ERROR = -1, SQUAD_SCAN_FALLBACK = 1 };

/* Scans buf[0..len) (buf[len] must be 0; buf is modified in place and, on
 * SQUAD_SCAN_OK, owned by *out).  On FALLBACK buf is unchanged. */
int squad_scan(char *buf, size_t len, sq_squad **out);
/* The checked path alone: jansson and the schema walk (the ids are not
 * indexed yet).  Tests compare it with squad_scan. */
int squad_load_checked(const char *name, const char *buf, size_t len, sq_squad **out);
/* Shared by both readers. */
/* The official files write "1.1" and "v2.0": v2.0 rules for 2.x with or without the 'v'. */
bool squad_version_is_v2(const char *version);
int squad_alloc(sq_squad **out, uint64_t n_par, uint64_t n_q, uint64_t n_ans);
int squad_index_ids(sq_squad *s, const char *name);

#endif
