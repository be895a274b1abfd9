/* Whether an existing OUTDIR can stand for this run: Slurm chains rerun
 * sq-pack on every job, and an unchanged input with unchanged options must
 * cost well under a second and rewrite nothing. */
#ifndef PACK_REUSE_H
#define PACK_REUSE_H

#include <stddef.h>

#include "writer.h"

typedef enum {
    PACK_BUILD,      /* no OUTDIR, or an empty one */
    PACK_UP_TO_DATE, /* same input (sha256) and options, every file intact */
    PACK_DIFFERENT,  /* built from another input or with other options */
    PACK_DAMAGED,    /* a feature directory that cannot be read back as it is */
} pack_reuse;

/* Decides for outdir; why (for DIFFERENT and DAMAGED) names the first
 * difference.  -1 (library error set) when outdir is something sq-pack must
 * never replace: a file, or a non-empty directory without manifest.json. */
int pack_reuse_check(const char *outdir, const pack_config *c, const pack_input *in, char *why, size_t why_len,
                     pack_reuse *out);

#endif
